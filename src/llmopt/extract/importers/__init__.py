"""Importers that map real public LLM traces onto the request log (see README, "Real traffic").

Each returns a frame with every request-log column; `llmopt ingest FILE --format NAME` sends it through
the same data contract, quarantine and de-duplication as any other file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd

from llmopt.extract.importers.llmperf import read_llmperf
from llmopt.extract.importers.routellm import read_routellm_gsm8k, read_routellm_mmlu
from llmopt.extract.importers.traces import read_azure, read_mooncake
from llmopt.prices import PriceMap

Importer = Callable[[Path, datetime, PriceMap], pd.DataFrame]

FORMATS: dict[str, Importer] = {
    "azure": read_azure,
    "llmperf": read_llmperf,
    "mooncake": read_mooncake,
    "routellm-gsm8k": read_routellm_gsm8k,
    "routellm-mmlu": read_routellm_mmlu,
}
