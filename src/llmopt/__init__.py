"""llmopt: reads LLM request logs, fits cost/latency/quality models and publishes guarded configs."""

__version__ = "0.1.0"
