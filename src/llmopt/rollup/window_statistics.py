"""Statistics of a window for experiments, the post-change monitor and the budget, on every source.

`SqlStatistics` aggregates the SQL request table in the database (exact to the second). `RollupStatistics` sums
the partitions' stored statistics (`rollup.statistics`), rolling up on demand — and storing — any partition of
the window without a rollup yet, so a Parquet lake, LiteLLM's objects or OpenTelemetry spans give experiments,
monitoring and budgets too, and late scores (`feedback:`) count in them. Its windows are cut on the partition
grid: a partition counts in [start, end) when it starts in [start, end) rounded down to the grid (the partition
in progress at `end` is left out: it is not complete).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pandas as pd

from llmopt.domain import Window, utc
from llmopt.experiments.analysis import VariantStats
from llmopt.prices import PriceMap
from llmopt.stats import MeanStats, ProportionStats

log = logging.getLogger(__name__)


class SqlStatistics:
    """Statistics aggregated in the SQL request log's database (`extract.sql_statistics`)."""

    def __init__(self, request_log):
        self.log = request_log

    def variant_statistics(self, experiment_id: str, start: datetime, end: datetime, prices: PriceMap,
                           models: list[str]) -> dict[str, VariantStats]:
        from llmopt.extract.sql_statistics import read_variant_statistics

        return read_variant_statistics(self.log, experiment_id, start, end, prices, models)

    def route_statistics(self, service: str, task_type: str, model: str, start: datetime, end: datetime,
                         prices: PriceMap) -> VariantStats:
        from llmopt.extract.sql_statistics import read_route_statistics

        return read_route_statistics(self.log, service, task_type, model, start, end, prices)

    def hourly_spend(self, start: datetime, end: datetime, prices: PriceMap) -> pd.DataFrame:
        from llmopt.extract.sql_statistics import read_hourly_spend

        return read_hourly_spend(self.log, start, end, prices)


class RollupStatistics:
    """Statistics summed from the partition rollups of the configured source (see the module docstring)."""

    def __init__(self, res, spend: SqlStatistics | None = None):
        self.res = res
        self.spend = spend          # where hourly spend is summed instead (the SQL table: no need to roll up)
        # (partition key, fingerprint) → (statistics, excluded): a fingerprint names its input, so a kept entry is
        # never stale; the experiments and the monitor of one run ask for overlapping windows
        self._read: dict[tuple[str, str], tuple[pd.DataFrame, str | None]] = {}

    def _grid(self, moment: datetime) -> datetime:
        minutes = self.res.settings.partition_minutes
        moment = utc(moment)
        return moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)

    def rows(self, start: datetime, end: datetime) -> pd.DataFrame:
        """The statistics rows of every partition of the window, with the partition's `hour`."""
        from llmopt.rollup.lookback import plan_range, rollup_partition
        from llmopt.rollup.statistics import empty_statistics

        start, end = self._grid(start), self._grid(end)
        if end <= start:
            return empty_statistics().assign(hour=pd.Series(dtype="datetime64[ns, UTC]"))
        store, frames = self.res.rollup_store, []
        partitions, fingerprints, counts = plan_range(self.res, start, end)
        made = 0
        for part, fingerprint, count in zip(partitions, fingerprints, counts):
            if count == 0:
                continue
            found = self._read.get((part.key, fingerprint)) or store.load_statistics(part, fingerprint)
            if found is None:       # every partition counts as an earlier one: a breach leaves it out, named
                rollup = rollup_partition(self.res, part, fingerprint, Window(end, end + timedelta(hours=1)))
                store.save(rollup)
                made += 1
                found = (rollup.statistics, rollup.excluded)
            self._read[(part.key, fingerprint)] = found
            statistics, excluded = found
            if excluded:
                log.warning("statistics %s/%s: %s left out: %s", start.isoformat(), end.isoformat(), part.key,
                            excluded)
            elif statistics is not None and len(statistics):
                frames.append(statistics.assign(hour=pd.Timestamp(part.start).floor("h")))
        if made:
            log.info("statistics %s/%s: rolled up %d partitions not yet stored", start.isoformat(),
                     end.isoformat(), made)
        return pd.concat(frames, ignore_index=True) if frames else \
            empty_statistics().assign(hour=pd.Series(dtype="datetime64[ns, UTC]"))

    def variant_statistics(self, experiment_id: str, start: datetime, end: datetime, prices: PriceMap,
                           models: list[str]) -> dict[str, VariantStats]:
        rows = self.rows(start, end)
        chosen = rows[rows["experiment_id"].eq(experiment_id) & rows["variant"].notna()]
        return {str(variant): _variant_stats(str(variant), group) for variant, group in chosen.groupby("variant")}

    def route_statistics(self, service: str, task_type: str, model: str, start: datetime, end: datetime,
                         prices: PriceMap) -> VariantStats:
        rows = self.rows(start, end)
        chosen = rows[rows["service"].eq(service) & rows["task_type"].eq(task_type) & rows["model"].eq(model)]
        return _variant_stats(model, chosen) if len(chosen) else VariantStats(model, 0, {})

    def hourly_spend(self, start: datetime, end: datetime, prices: PriceMap) -> pd.DataFrame:
        if self.spend is not None:
            return self.spend.hourly_spend(start, end, prices)
        rows = self.rows(start, end)
        spend = rows.groupby(["service", "hour"], sort=True)["cost_per_request_sum"].sum().reset_index()
        return spend.rename(columns={"cost_per_request_sum": "spend_usd"})[["service", "hour", "spend_usd"]]


def _variant_stats(name: str, rows: pd.DataFrame) -> VariantStats:
    """Summed statistics rows as experiments and the monitor read them (n, Σx, Σx² per metric)."""
    from llmopt.rollup.statistics import METRICS

    total = rows.drop(columns=[c for c in rows.columns if rows[c].dtype == object or c == "hour"]).sum()
    metrics = {m: MeanStats(int(total[f"{m}_n"]), float(total[f"{m}_sum"]), float(total[f"{m}_sum_squares"]))
               for m in METRICS}
    metrics["error_rate"] = ProportionStats(int(total["requests"]), int(total["failed"]))
    return VariantStats(name, int(total["requests"]), metrics)
