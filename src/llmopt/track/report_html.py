"""The run report as one self-contained HTML page: facts, tables and the plots embedded as PNG."""

from __future__ import annotations

import base64
import html
import math

from llmopt.evaluate.routing import ModelEvidence, RoutingEvaluation

STYLE = """body{font:14px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:12px}th,td{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}code{background:#f6f6f6;padding:0 3px}"""


IMAGE_TITLES = {"cost_vs_quality.png": "Cost vs quality per task",
                "latency_by_model.png": "Latency by model (successful requests)",
                "spend_forecast.png": "Spend per service: history and next-24-hour forecast"}


def pareto_models(ev: RoutingEvaluation) -> set[str]:
    """Models no other model beats on cost (lower), quality (higher) and p95 latency (lower) at once."""
    pts = [(c.model, c.predicted_cost_usd_per_day, c.quality.estimate,
            c.predicted_latency_p95_ms if math.isfinite(c.predicted_latency_p95_ms) else math.inf)
           for c in (ev.current, *ev.candidates) if math.isfinite(c.predicted_cost_usd_per_day)]

    def dominated(a) -> bool:
        q = a[2] if math.isfinite(a[2]) else -math.inf
        return any(b[1] <= a[1] and (b[2] if math.isfinite(b[2]) else -math.inf) >= q and b[3] <= a[3]
                   and (b[1], b[2], b[3]) != (a[1], a[2], a[3]) for b in pts if b is not a)

    return {p[0] for p in pts if not dominated(p)}


def table_html(rows: list[dict]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if r[c] is None else str(r[c]))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def evidence_rows(ev: RoutingEvaluation) -> list[dict]:
    frontier = pareto_models(ev)

    def row(c: ModelEvidence) -> dict:
        return {"model": c.model, "role": "current" if c.model == ev.current_model else
                "recommended" if ev.recommended and c.model == ev.recommended.model else "candidate",
                "pareto": "yes" if c.model in frontier else "", "scored": c.scored_requests,
                "quality": round(c.quality.estimate, 4), "error_rate_upper": round(c.error_rate.high, 4),
                "p95_ms": round(c.predicted_latency_p95_ms) if math.isfinite(c.predicted_latency_p95_ms) else None,
                "cost_usd_per_day": round(c.predicted_cost_usd_per_day, 2) if math.isfinite(c.predicted_cost_usd_per_day)
                else "no prediction (too few rows)",
                "blocked_by": "; ".join(c.blocked_by)}

    return [row(c) for c in (ev.current, *ev.candidates)]


def html_report(title: str, facts: dict[str, str], sections: dict[str, list[dict]],
                evaluations: list[RoutingEvaluation], images: dict[str, bytes]) -> str:
    """A readable page: facts, one table per section, evidence and Pareto frontier per task, the plots."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><ul>"]
    parts += [f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts.items()]
    parts.append("</ul>")
    for name, rows in sections.items():
        parts.append(f"<h2>{html.escape(name)}</h2>{table_html(rows)}")
    for name, png in images.items():
        title = IMAGE_TITLES.get(name, name.rsplit(".", 1)[0].replace("_", " ").capitalize())
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    parts.append("<h2>Evidence per task (pareto: not beaten on cost, quality and p95 at once)</h2>")
    for ev in evaluations:
        parts.append(f"<h3>{html.escape(ev.service)} / {html.escape(ev.task_type)}: {html.escape(ev.verdict)}</h3>"
                     f"{table_html(evidence_rows(ev))}")
    parts.append("</body></html>")
    return "\n".join(parts)
