"""A/B/n experiments on live traffic: definitions, per-variant statistics, and the hourly call."""
