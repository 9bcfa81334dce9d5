"""The decision-quality benchmark: simulated worlds with a known truth, scored against an oracle."""
