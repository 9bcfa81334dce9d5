"""Who serves each task, version after version: the route's model, its canary, an exploration's variants."""

from __future__ import annotations

import pandas as pd

from llmopt.domain import ConfigKeys
from llmopt.publish.config_model import ServiceConfig
from llmopt.publish.publishing import ConfigStore, published_versions, read_config

HISTORY_VERSIONS = 200          # the newest versions a report reads per service


def task_shares(config: ServiceConfig) -> list[dict]:
    """Per task of one version: the share of its traffic each model is configured to get."""
    rows = []
    running = {e.task_type: e for e in config.experiments if e.status == "running"}
    for task, route in config.routes.items():
        shares: dict[str, float] = {}
        if task in running:
            total = sum(v.weight for v in running[task].variants)
            for v in running[task].variants:
                shares[v.model] = shares.get(v.model, 0.0) + v.weight / total
        elif route.canary is not None:
            shares = {route.model: 1 - route.canary.weight, route.canary.model: route.canary.weight}
        else:
            shares = {route.model: 1.0}
        rows += [{"service": config.service, "task_type": task, "version": config.version,
                  "at": config.lineage.window_end, "model": m, "share": s} for m, s in shares.items()]
    return rows


def share_history(store: ConfigStore, services: list[str]) -> pd.DataFrame:
    """Configured shares per (service, task, version) over the newest HISTORY_VERSIONS versions of `services`."""
    rows = []
    for service in services:
        for version in published_versions(store, service)[-HISTORY_VERSIONS:]:
            config = read_config(store, ConfigKeys.version(service, version))
            rows += task_shares(config) if config else []
    return pd.DataFrame(rows, columns=["service", "task_type", "version", "at", "model", "share"])


def moving_tasks(history: pd.DataFrame) -> list[tuple[str, str]]:
    """Tasks whose traffic was ever split (exploration, canary) or moved between models."""
    if history.empty:
        return []
    models = history.groupby(["service", "task_type"])["model"].nunique()
    return [key for key, n in models.items() if n > 1]


def plot_share_history(history: pd.DataFrame, what: str = "configured share of traffic per model, by version",
                       xlabel: str | None = None) -> bytes | None:
    """Per task whose traffic was ever split or moved: each model's share over time (step plot, symlog scale so a
    3% exploration and a 100% route both read). `at` is a timestamp or, e.g. in the closed loop, an hour number."""
    tasks = moving_tasks(history)
    if not tasks:
        return None
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tasks), 1, figsize=(10, 2.2 * len(tasks)), squeeze=False)
    for ax, (service, task) in zip(axes[:, 0], tasks):
        rows = history[(history["service"] == service) & (history["task_type"] == task)]
        wide = rows.pivot_table(index="at", columns="model", values="share", aggfunc="sum").fillna(0.0)
        if not pd.api.types.is_numeric_dtype(wide.index):
            wide.index = pd.to_datetime(wide.index, utc=True, format="ISO8601")   # with and without µs
        for model in wide.columns:
            ax.step(wide.index, wide[model], where="post", label=model)
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{service}/{task}: {what}", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="center right", ncol=2)
    if xlabel:
        axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
