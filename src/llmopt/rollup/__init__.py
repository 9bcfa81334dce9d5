"""The engine: partitions of the request log reduced to mergeable rollups, pooled over the lookback."""
