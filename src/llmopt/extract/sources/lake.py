"""The `lake` source: llmopt's own columns in Parquet or CSV files, local or on S3."""

from llmopt.extract.lake_source import LakeRequestLog
from llmopt.extract.sources import register


@register("lake")
def open_lake(config, settings, engine):
    return LakeRequestLog(config.path, config.format, settings.s3_endpoint_url)
