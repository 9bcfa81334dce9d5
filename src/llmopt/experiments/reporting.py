"""Experiment calls as people read them: table rows, MLflow metrics and a nested MLflow run per experiment."""

from __future__ import annotations

from llmopt.experiments.analysis import ExperimentCall


def call_rows(calls: list[ExperimentCall]) -> list[dict]:
    """One row per experiment for the summary and the CLI."""
    return [{"experiment": c.experiment_id, "service": c.service, "task_type": c.task_type, "call": c.label,
             "reason": c.reason, "hours_run": round(c.hours_run, 1), "units": c.units,
             "srm_p_value": round(c.srm.p_value, 6) if c.srm.error is None else None,
             "hours_still_needed": None if c.hours_still_needed is None else round(c.hours_still_needed, 1)}
            for c in calls]


def comparison_rows(call: ExperimentCall) -> list[dict]:
    """One row per (treatment, metric): the table a person reads to check the call."""
    return [{"variant": m.variant, "metric": m.metric, "role": m.role,
             "effect": round(m.effect.effect, 5) if m.effect.ok else None,
             "ci_low": round(m.effect.ci_low, 5) if m.effect.ok else None,
             "ci_high": round(m.effect.ci_high, 5) if m.effect.ok else None,
             "relative": m.effect.relative, "p_value_holm": round(m.adjusted_p_value, 6),
             "chance_to_win": round(m.chance_to_win, 4), "margin": m.margin, "verdict": m.verdict}
            for m in call.comparisons]


def call_metrics(call: ExperimentCall) -> dict[str, float]:
    """Flat MLflow metrics: units per variant, SRM p-value and every comparison's numbers."""
    out: dict[str, float] = {f"units.{v}": n for v, n in call.units.items()}
    out["srm_p_value"] = call.srm.p_value
    out["hours_run"] = call.hours_run
    if call.hours_still_needed is not None:
        out["hours_still_needed"] = call.hours_still_needed
    for m in call.comparisons:
        key = f"{m.variant}.{m.metric}"
        out.update({f"{key}.effect": m.effect.effect, f"{key}.ci_low": m.effect.ci_low,
                    f"{key}.ci_high": m.effect.ci_high, f"{key}.p_value": m.effect.p_value,
                    f"{key}.p_value_holm": m.adjusted_p_value, f"{key}.chance_to_win": m.chance_to_win})
    return out


def record_calls(tracker, parent_run_id: str, calls: list[ExperimentCall], definitions: dict) -> list[str]:
    """One nested MLflow run per experiment under the flow run's MLflow run; returns their run ids."""
    run_ids = []
    for call in calls:
        definition = definitions[call.experiment_id]
        run_id = tracker.start_run(f"experiment {call.experiment_id}", definition.model_dump(mode="json"),
                                   {"mlflow.parentRunId": parent_run_id, "llmopt.experiment_id": call.experiment_id,
                                    "llmopt.call": call.label})
        tracker.log_metrics(run_id, call_metrics(call))
        tracker.log_json(run_id, call.to_dict(), "experiment_call.json")
        tracker.end_run(run_id, True)
        run_ids.append(run_id)
    return run_ids
