"""A report a person can read: the routing calls with their evidence, and two plots."""

from __future__ import annotations

import io
import math

import pandas as pd

from llmopt.evaluate.routing import RoutingEvaluation


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.4f}"


def recommendation_rows(evaluations: list[RoutingEvaluation]) -> list[dict]:
    """One row per (service, task_type): the call, and the evidence behind the chosen candidate."""
    rows = []
    for ev in evaluations:
        rec = ev.recommended
        rows.append({
            "service": ev.service, "task_type": ev.task_type, "current_model": ev.current_model,
            "recommended_model": rec.model if rec else "",
            "verdict": ev.verdict,
            "expected_savings_usd_per_day": round(rec.expected_savings_usd_per_day, 2) if rec else 0.0,
            "quality_diff_ci": (f"[{_pct(rec.quality_difference.low)}, {_pct(rec.quality_difference.high)}]"
                                if rec else ""),
            "scored_current/candidate": (f"{ev.current.scored_requests}/{rec.scored_requests}" if rec
                                         else str(ev.current.scored_requests)),
            "error_rate_upper": round(rec.error_rate.high, 4) if rec else None,
            "predicted_p95_ms": round(rec.predicted_latency_p95_ms) if rec else
            (round(ev.current.predicted_latency_p95_ms) if math.isfinite(ev.current.predicted_latency_p95_ms)
             else None),
        })
    return rows


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown_report(title: str, facts: dict[str, str], evaluations: list[RoutingEvaluation]) -> str:
    """The run report: facts, the calls table, and per task why each candidate was or was not taken."""
    out = [f"# {title}\n"]
    out += [f"- **{k}**: {v}" for k, v in facts.items()]
    out.append("\n## Routing calls\n")
    out.append(markdown_table(recommendation_rows(evaluations)))
    out.append("\n## Evidence per task\n")
    for ev in evaluations:
        out.append(f"### {ev.service} / {ev.task_type}: {ev.verdict}\n")
        out.append(f"Current model `{ev.current_model}` (from {ev.current_source}); "
                   f"{ev.task_requests} requests in {ev.window_hours:g} h.\n")
        rows = [{"model": c.model, "scored": c.scored_requests, "quality": round(c.quality.estimate, 4),
                 "quality_diff_low": _pct(c.quality_difference.low) if c.quality_difference else "",
                 "error_rate_upper": round(c.error_rate.high, 4),
                 "p95_ms": round(c.predicted_latency_p95_ms) if math.isfinite(c.predicted_latency_p95_ms) else None,
                 "cost_usd_per_day": _money(c.predicted_cost_usd_per_day),
                 "blocked_by": "; ".join(c.blocked_by) or ("eligible" if c.eligible else "")}
                for c in (ev.current, *ev.candidates)]
        out.append(markdown_table(rows))
    out.append("\nPlots: `cost_vs_quality.png` (one panel per task) and `latency_by_model.png`.\n")
    return "\n".join(out)


def _money(x: float) -> float | str:
    # a priced model can still lack a cost prediction: too few successful rows for its completion-length model
    return round(x, 2) if math.isfinite(x) else "no prediction (too few rows)"


def _png(fig, tight: bool = True) -> bytes:
    """The figure as PNG; `tight` crops it to its contents, at the price of drawing it twice."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def plot_cost_vs_quality(evaluations: list[RoutingEvaluation]) -> bytes:
    """Per task: predicted cost per day vs mean quality (with its interval); current and chosen marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(evaluations))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    for ax, ev in zip(axes.flat, evaluations):
        # the 2-D cost–quality frontier: each point better than every cheaper one (the table adds p95 as a third axis)
        frontier, best = [], -math.inf
        for cost, quality in sorted((c.predicted_cost_usd_per_day, c.quality.estimate)
                                    for c in (ev.current, *ev.candidates) if math.isfinite(c.quality.estimate)):
            if quality > best:
                frontier.append((cost, quality))
                best = quality
        if len(frontier) > 1:
            ax.step(*zip(*frontier), where="post", color="tab:purple", alpha=0.5, lw=1, label="Pareto frontier")
        shown = sorted((c for c in (ev.current, *ev.candidates) if math.isfinite(c.predicted_cost_usd_per_day)),
                       key=lambda c: c.quality.estimate)
        for i, c in enumerate(shown):
            colour = ("tab:blue" if c.model == ev.current_model else
                      "tab:green" if ev.recommended and c.model == ev.recommended.model else
                      "tab:olive" if c.eligible else "lightgrey")
            q = c.quality
            if math.isfinite(q.low):
                ax.errorbar(c.predicted_cost_usd_per_day, q.estimate, yerr=[[q.estimate - q.low], [q.high - q.estimate]],
                            fmt="o", color=colour, capsize=3)
            else:
                ax.plot(c.predicted_cost_usd_per_day, q.estimate, "o", color=colour)
            # neighbours in quality get labels on alternate sides, so close points do not print over each other
            ax.annotate(c.model, (c.predicted_cost_usd_per_day, q.estimate), fontsize=7,
                        xytext=(5, 4) if i % 2 == 0 else (-5, -9), ha="left" if i % 2 == 0 else "right",
                        textcoords="offset points")
        ax.set_title(f"{ev.service}/{ev.task_type}", fontsize=9)
        ax.set_xlabel("predicted cost, USD/day (log)", fontsize=8)
        ax.set_ylabel("mean quality", fontsize=8)
        if shown and min(c.predicted_cost_usd_per_day for c in shown) > 0:
            ax.set_xscale("log")        # log ticks always show, even for one decade
            _plain_log_labels(ax.xaxis)
        ax.margins(x=0.25, y=0.15)
    for ax in list(axes.flat)[len(evaluations):]:
        ax.axis("off")
    fig.suptitle("Cost vs quality per task — blue: current, green: recommended, olive: eligible, grey: blocked; "
                 "purple: cost–quality frontier;\nbars: confidence interval of mean quality at the policy's "
                 "confidence (none: no scored requests)", fontsize=10)
    # fixed margins, in inches of the figure, instead of tight_layout or a tight bbox (each a whole extra draw of
    # every panel): room for the two-line title, the axis labels and a model name past the last point
    height, width = 3.8 * rows, 5 * cols
    fig.subplots_adjust(top=1 - 0.9 / height, bottom=0.55 / height, left=0.75 / width, right=1 - 1.0 / width,
                        hspace=0.45, wspace=0.3)
    data = _png(fig, tight=False)
    plt.close(fig)
    return data


def _plain_log_labels(axis) -> None:
    """Log-axis tick labels as plain text ("300", "2e+04"), chosen as matplotlib's default chooses them, not
    mathtext ("$10^{2}$"): parsing mathtext for every tick was about a third of drawing the report's plots."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def plot_latency_by_model(latency: pd.DataFrame) -> bytes:
    """Observed latency distribution of successful requests per model (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(latency["model"].unique()) if len(latency) else []
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(models)), 3.8))
    if models:
        ax.boxplot([latency.loc[latency["model"] == m, "latency_ms"] for m in models], whis=(5, 95),
                   showfliers=False)
        ax.set_xticks(range(1, len(models) + 1), models, rotation=20, fontsize=8)
        ax.set_yscale("log")
        _plain_log_labels(ax.yaxis)
    ax.set_ylabel("latency, ms (box: p25–p75, whiskers: p5–p95)")
    ax.set_title("Latency by model (successful requests)")
    data = _png(fig)
    plt.close(fig)
    return data


def plot_spend_forecast(forecasts: list) -> bytes:
    """Per service: the last week's hourly spend and the next 24 hours' forecast, with the budget per hour."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(forecasts))
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.8 * n), squeeze=False)
    for ax, f in zip(axes.flat, forecasts):
        history = list(f.hourly_history)
        ax.plot(range(-len(history), 0), history, color="tab:blue", lw=1, label="spend per hour")
        if f.hourly_forecast:
            ax.plot(range(0, len(f.hourly_forecast)), f.hourly_forecast, color="tab:orange", lw=1.5, label="forecast")
        if f.budget_usd_per_day:
            ax.axhline(f.budget_usd_per_day / 24, color="tab:red", ls="--", lw=1, label="budget / 24")
        ax.set_title(f"{f.service}: {f.verdict}", fontsize=9)
        ax.set_xlabel("hours from the window's end", fontsize=8)
        ax.set_ylabel("USD per hour", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data
