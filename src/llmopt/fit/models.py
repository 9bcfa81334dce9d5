"""Fit the window's cost, latency, completion-length and quality models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from llmopt.prices import PriceMap
from llmopt.extract.schema import SHADOW_VARIANT

TOKENS = ("prompt_tokens", "completion_tokens")
HOLDOUT_SHARE = 0.2
CELL_KEYS = ["service", "task_type", "model"]

if TYPE_CHECKING:
    from llmopt.fit.grouped import GroupedRegressor
# scikit-learn is imported where a model is built (~0.8 s a run with no traffic does not pay)


def latency_quantile_model(quantile: float) -> GroupedRegressor:
    """Per-model gradient-boosted quantile regression of latency on tokens (monotone increasing)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from llmopt.fit.grouped import GroupedRegressor

    return GroupedRegressor(
        HistGradientBoostingRegressor(loss="quantile", quantile=quantile, max_iter=60,
                                      learning_rate=0.15, max_leaf_nodes=15, monotonic_cst=[1, 1],
                                      early_stopping=False, random_state=0),
        group_columns=("model",), feature_columns=TOKENS)


def completion_length_model() -> GroupedRegressor:
    """Per (task_type, model) Poisson GLM: E[completion] = exp(β₀ + β₁·log(1 + prompt_tokens))."""
    from sklearn.linear_model import PoissonRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from llmopt.fit.grouped import GroupedRegressor

    return GroupedRegressor(
        make_pipeline(FunctionTransformer(np.log1p), PoissonRegressor(alpha=1e-6, solver="newton-cholesky")),
        group_columns=("task_type", "model"), feature_columns=("prompt_tokens",))


@dataclass(frozen=True)
class FittedModels:
    """What the evaluate step needs, fitted on one window.

    Attributes:
        latency_p50: per-model p50 latency (ms) from prompt and completion tokens.
        latency_p95: per-model p95 latency (ms).
        completion_tokens: per (task_type, model) expected completion tokens from prompt tokens.
        cells: per (service, task_type, model) sufficient statistics: requests, errors,
            scored requests, quality sum and sum of squares, observed cost.
        scores: hold-out scores (MAE, pinball loss, p95 coverage) for MLflow.
    """

    latency_p50: GroupedRegressor
    latency_p95: GroupedRegressor
    completion_tokens: GroupedRegressor
    cells: pd.DataFrame
    scores: dict[str, float] = field(default_factory=dict)


def cell_statistics(valid: pd.DataFrame, prices: PriceMap) -> pd.DataFrame:
    """Per (service, task_type, model) sufficient statistics of the window's valid rows."""
    ok = valid["status"] == "ok"
    score = valid["quality_score"].where(ok)
    frame = pd.DataFrame({
        **{k: valid[k] for k in CELL_KEYS + ["provider"]},
        "requests": 1,
        "production_requests": (valid["variant"] != SHADOW_VARIANT).astype(int) if "variant" in valid else 1,
        "errors": (~ok).astype(int),
        "scored": score.notna().astype(int),
        "quality_sum": score.fillna(0.0),
        "quality_sum_squares": (score ** 2).fillna(0.0),
        "cost_usd": prices.fill_cost(valid),
    })
    cells = frame.groupby(CELL_KEYS, sort=True).agg(
        provider=("provider", "first"), requests=("requests", "sum"),
        production_requests=("production_requests", "sum"), errors=("errors", "sum"),
        scored=("scored", "sum"), quality_sum=("quality_sum", "sum"),
        quality_sum_squares=("quality_sum_squares", "sum"), cost_usd=("cost_usd", "sum"))
    return cells.reset_index()


def _split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    holdout = rng.random(n) < HOLDOUT_SHARE
    return np.flatnonzero(~holdout), np.flatnonzero(holdout)


def fit_models(valid: pd.DataFrame, prices: PriceMap, sample_rows: int = 20_000,
               seed: int = 0, cells: pd.DataFrame | None = None) -> FittedModels:
    """Fit all models on the valid rows of a window.

    `cells`: pooled per-cell statistics (default: those of `valid`).
    Latency and completion models use successful requests only (failed ones carry no answer),
    at most `sample_rows` per group, with a random 20% hold-out for the recorded scores.
    """
    from sklearn.metrics import mean_absolute_error, mean_pinball_loss

    rng = np.random.default_rng(seed)
    ok = valid.loc[valid["status"] == "ok", ["task_type", "model", *TOKENS, "latency_ms"]]
    # Cap rows per (task, model) so 1M-row hours fit in seconds; the sample stays stratified.
    ok = ok.sample(frac=1.0, random_state=seed)
    ok = ok[ok.groupby(["task_type", "model"], sort=False).cumcount() < sample_rows].reset_index(drop=True)
    train, test = _split(len(ok), rng)
    tr, te = ok.iloc[train], ok.iloc[test]

    p50 = latency_quantile_model(0.5).fit(tr, tr["latency_ms"])
    p95 = latency_quantile_model(0.95).fit(tr, tr["latency_ms"])
    completion = completion_length_model().fit(tr, tr["completion_tokens"])

    scores: dict[str, float] = {}
    if len(te):
        pred50, pred95, predc = p50.predict(te), p95.predict(te), completion.predict(te)
        lat, comp = te["latency_ms"].to_numpy(), te["completion_tokens"].to_numpy(dtype=float)
        m50, m95, mc = ~np.isnan(pred50), ~np.isnan(pred95), ~np.isnan(predc)
        if m50.any():
            scores["latency_p50_mae_ms"] = float(mean_absolute_error(lat[m50], pred50[m50]))
            scores["latency_p50_pinball_loss"] = float(mean_pinball_loss(lat[m50], pred50[m50], alpha=0.5))
        if m95.any():
            scores["latency_p95_pinball_loss"] = float(mean_pinball_loss(lat[m95], pred95[m95], alpha=0.95))
            scores["latency_p95_coverage"] = float(np.mean(lat[m95] <= pred95[m95]))
        if mc.any():
            scores["completion_tokens_mae"] = float(mean_absolute_error(comp[mc], predc[mc]))
        scores["holdout_rows"] = float(len(te))
    return FittedModels(p50, p95, completion, cell_statistics(valid, prices) if cells is None else cells, scores)
