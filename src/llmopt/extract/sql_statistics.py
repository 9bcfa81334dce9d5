"""Per-variant sufficient statistics of an experiment, aggregated in the database (one GROUP BY)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select

from llmopt.experiments.analysis import VariantStats
from llmopt.prices import PriceMap
from llmopt.stats import MeanStats, ProportionStats
from llmopt.extract.sql_source import SqlRequestLog
from llmopt.extract.sql_time import ts_in_window

STATUSES = ("ok", "error", "timeout")


def cost_expression(requests, prices: PriceMap, models: list[str]):
    """cost_usd when logged, else (prompt − cached)·p_in + cached·p_cached + completion·p_out from the price map."""
    whens = {}
    for model in models:
        price = prices.get(model)
        if price is not None:
            whens[model] = ((requests.c.prompt_tokens - requests.c.cached_tokens) * literal(price.input_usd_per_token)
                            + requests.c.cached_tokens * literal(price.cached_input_usd_per_token)
                            + requests.c.completion_tokens * literal(price.output_usd_per_token))
    computed = case(whens, value=requests.c.model, else_=None) if whens else literal(None, Float)
    return func.coalesce(cast(requests.c.cost_usd, Float), cast(computed, Float))


def read_variant_statistics(log: SqlRequestLog, experiment_id: str, start: datetime, end: datetime,
                            prices: PriceMap, models: list[str]) -> dict[str, VariantStats]:
    """Cumulative statistics per variant of `experiment_id` over [start, end).

    Rows that break the contract's row-level rules on these columns (latency ≤ 0, unknown status,
    quality outside [0, 1]) are left out, as validation would quarantine them.
    """
    r = log.requests
    return aggregate(log, r.c.variant, [r.c.experiment_id == experiment_id, r.c.variant.is_not(None)],
                     start, end, prices, models)


def read_route_statistics(log: SqlRequestLog, service: str, task_type: str, model: str, start: datetime,
                          end: datetime, prices: PriceMap) -> VariantStats:
    """Statistics of one task served by one model over [start, end) (before/after a published change)."""
    r = log.requests
    found = aggregate(log, r.c.model, [r.c.service == service, r.c.task_type == task_type, r.c.model == model],
                      start, end, prices, [model])
    return found.get(model) or VariantStats(model, 0, {})


def aggregate(log: SqlRequestLog, group, conditions: list, start: datetime, end: datetime, prices: PriceMap,
              models: list[str]) -> dict[str, VariantStats]:
    """Sufficient statistics of every metric per value of `group`, in one GROUP BY in the database."""
    r = log.requests
    rows = (select(group.label("grp"),
                   cast(r.c.quality_score, Float).label("quality"),
                   cost_expression(r, prices, models).label("cost"),
                   cast(r.c.latency_ms, Float).label("latency"),
                   cast(r.c.ttft_ms, Float).label("ttft"),
                   case((r.c.status == "ok", 0), else_=1).label("failed"))
            .where(*conditions)
            .where(ts_in_window(r.c.ts, start, end, log.engine.dialect.name))
            .where(r.c.latency_ms > 0, r.c.status.in_(STATUSES))
            .where(or_(r.c.quality_score.is_(None), and_(r.c.quality_score >= 0, r.c.quality_score <= 1)))
            .subquery())
    moments = []
    for name in ("quality", "cost", "latency", "ttft"):
        c = rows.c[name]
        moments += [func.count(c), func.coalesce(func.sum(c), 0.0), func.coalesce(func.sum(c * c), 0.0)]
    query = select(rows.c.grp, func.count(), func.sum(rows.c.failed), *moments).group_by(rows.c.grp)
    with log.engine.connect() as conn:
        result = conn.execute(query).all()
    out = {}
    for key, units, failed, *m in result:
        metric = {name: MeanStats(int(m[3 * i]), float(m[3 * i + 1]), float(m[3 * i + 2]))
                  for i, name in enumerate(("quality", "cost_per_request", "latency", "ttft"))}
        metric["error_rate"] = ProportionStats(int(units), int(failed or 0))
        out[key] = VariantStats(key, int(units), metric)
    return out


def read_hourly_spend(log: SqlRequestLog, start: datetime, end: datetime, prices: PriceMap) -> "pd.DataFrame":
    """Spend per service and hour over [start, end), summed in the database (logged cost, else list price)."""
    import pandas as pd

    r = log.requests
    window = [ts_in_window(r.c.ts, start, end, log.engine.dialect.name)]
    with log.engine.connect() as conn:
        models = [m for (m,) in conn.execute(select(r.c.model).where(*window).distinct())]
        if log.engine.dialect.name == "sqlite":
            hour = func.strftime("%Y-%m-%d %H:00:00", r.c.ts)
        else:
            hour = func.date_trunc("hour", r.c.ts)
        cost = cost_expression(r, prices, models)
        rows = conn.execute(select(r.c.service, hour.label("hour"), func.coalesce(func.sum(cost), 0.0))
                            .where(*window).group_by(r.c.service, hour).order_by(r.c.service, hour)).all()
    return pd.DataFrame(rows, columns=["service", "hour", "spend_usd"])
