"""The wheel users install: built from the repository, checked file by file, then run from outside the repo."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(REPO)], check=True, capture_output=True, text=True)
    return next(out.glob("llmopt-*.whl"))


def test_wheel_holds_every_package_under_the_llmopt_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"llmopt"}                      # no top-level flows/ or tasks/ to collide with
    source_packages = {str(p.parent.relative_to(REPO / "src")) for p in (REPO / "src").rglob("__init__.py")}
    source_packages |= {"llmopt/flows", "llmopt/tasks"}
    wheel_packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert source_packages <= wheel_packages, source_packages - wheel_packages
    for flow in ("hourly_optimization", "experiment_analysis", "post_change_monitor"):
        assert f"llmopt/flows/{flow}.py" in names
    for contract in ("llm_requests.suite.json", "service_config.schema.json", "exports/litellm.schema.json",
                     "exports/portkey.schema.json"):
        assert f"llmopt/validate/contracts/{contract}" in names
    assert "llmopt/data/model_prices.json" in names
    entry_points = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "llmopt = llmopt.cli:run_command" in entry_points
    assert "hourly-optimization = llmopt.flows.hourly_optimization:hourly_optimization" in entry_points


def test_installed_wheel_runs_the_demo_from_outside_the_repository(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "llmopt.yaml").write_text(json.dumps({"database_url": f"sqlite:///{work}/requests.db",
                                                  "config_store_uri": f"file://{work}/configs",
                                                  "mlflow_tracking_uri": f"sqlite:///{work}/mlflow.db",
                                                  "mlflow_artifact_location": str(work / "mlartifacts")}))
    # the wheel's copy comes first on the path; the checkout is not importable from here
    env = {**os.environ, "PYTHONPATH": str(site), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    where = subprocess.run([sys.executable, "-c", "import llmopt, llmopt.settings as s; "
                            "print(llmopt.__file__); print(s.Settings().contracts_dir)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(p.startswith(str(site)) for p in where), where
    demo = subprocess.run([sys.executable, "-m", "llmopt", "demo", "--rows", "120000", "--config", "llmopt.yaml"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "\npublished     " in demo.stdout, demo.stdout[-2000:]
    assert list((work / "configs").glob("*/latest.json"))
    run = subprocess.run([sys.executable, "-m", "llmopt", "run", "--config", "llmopt.yaml", "--json", "--dry-run",
                          "--start", "2026-11-20T10:00:00Z", "--end", "2026-11-20T11:00:00Z"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["status"] == "no traffic"
