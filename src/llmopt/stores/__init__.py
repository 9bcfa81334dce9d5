"""I/O at the edges: the request log (SQL), config stores (local, S3) and the run tracker (MLflow)."""
