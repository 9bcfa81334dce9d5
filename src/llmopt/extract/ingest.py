"""Load a CSV or Parquet request log through the same data contract as the flow."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from llmopt.extract.schema import REQUEST_COLUMNS
from llmopt.resources import Resources
from llmopt.domain import last_complete_hour

TEXT_COLUMNS = [c for c, t in REQUEST_COLUMNS.items() if c != "ts" and getattr(t, "__name__", "") == "String"]


def read_request_file(path: Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a CSV (text columns kept as text) or Parquet file.

    Raises:
        ValueError: the format is neither csv nor parquet.
    """
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt == "csv":
        header = pd.read_csv(path, nrows=0).columns
        return pd.read_csv(path, dtype={c: "str" for c in TEXT_COLUMNS if c in header})
    if fmt in ("parquet", "pq"):
        return pd.read_parquet(path)
    raise ValueError(f"format: cannot read {path.name!r} (use --format csv, parquet or a trace format: "
                     "azure, llmperf, routellm-mmlu, routellm-gsm8k)")


def ingest_file(res: Resources, path: Path, fmt: str | None = None, end: datetime | None = None) -> dict:
    """Validate a file against the full contract, quarantine bad rows, append new good rows.

    Rows whose request_id the log already holds are skipped, so ingesting a file twice is harmless.
    Nothing is written when the file breaks the contract at batch level.

    Args:
        fmt: csv or parquet (request-log columns), or a real-trace format of `llmopt.extract.importers.FORMATS`.
        end: for traces without timestamps, the end of the hour their rows are spread over
            (default: the end of the last complete hour).
    """
    from llmopt.extract.importers import FORMATS

    if fmt in FORMATS:
        end = end or last_complete_hour() + timedelta(hours=1)
        frame = FORMATS[fmt](path, end, res.prices)
    else:
        frame = read_request_file(path, fmt)
    outcome = res.contract.validate(
        frame, list(REQUEST_COLUMNS), res.prices, res.settings.policy.max_bad_row_share)
    log = res.request_log
    log.ensure_tables()
    present = log.existing_request_ids(outcome.valid["request_id"].astype(str).tolist())
    new = outcome.valid[~outcome.valid["request_id"].isin(present)]
    written = log.append(new) if len(new) else 0
    quarantined = log.replace_quarantine(f"ingest {path.resolve()}", outcome.rejected)
    return {"file": str(path), "rows_read": outcome.rows_read, "rows_written": written,
            "rows_already_present": len(present), "rows_quarantined": quarantined,
            "quarantine_reasons": outcome.reasons}
