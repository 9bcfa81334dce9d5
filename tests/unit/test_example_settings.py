"""The documented example settings file loads and means what the README says."""

from pathlib import Path

from llmopt.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_example_settings_load():
    settings = Settings.load(REPO / "llmopt.example.yaml")
    assert settings.config_store_uri == "s3://gateway-configs/llmopt"
    assert settings.policy.for_service("support").latency_p95_ms == 4000
    assert settings.policy.for_service("search").latency_p95_ms is None
    assert settings.policy.approval_timeout_minutes == 60
    assert settings.policy.for_service("search").lookback_hours == 72
    assert settings.policy.for_service("support").lookback_hours == 24 and settings.rollups_dir.startswith("s3://")
    assert settings.policy.for_service("support").canary_steps == [0.1, 0.5]
    assert settings.strategies == ["routing", "exploration"]
    [experiment] = settings.experiments
    assert experiment.treatments[0].model == "gpt-4o-mini" and experiment.guardrails[1].relative is False
