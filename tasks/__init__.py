"""Thin Prefect tasks: each wraps one llmopt library call, with retries and timeouts in the decorator.

Caching: the tasks carry window-sized frames and read external state (database, config store),
so they use NO_CACHE; re-runs are made safe by idempotent publishing instead.
"""
