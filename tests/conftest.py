"""Shared fixtures: settings on temporary stores, a generated hour of traffic, real servers."""

import os

# Before prefect / mlflow / great_expectations are imported: no network here.
for _key, _value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
                     "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
                     "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1", "PREFECT_LOGGING_LEVEL": "WARNING",
                     "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
    os.environ.setdefault(_key, _value)

from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from llmopt.prices import PriceMap  # noqa: E402
from llmopt.settings import BUNDLED_PRICES, Settings  # noqa: E402
from llmopt.extract.synthetic import generate_requests  # noqa: E402
from tests import services  # noqa: E402

WINDOW_END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
WINDOW_START = WINDOW_END - timedelta(hours=1)


@pytest.fixture(scope="session")
def prices() -> PriceMap:
    return PriceMap.from_file(BUNDLED_PRICES)


@pytest.fixture(scope="session")
def traffic_hour(prices):
    """120,000 requests in [WINDOW_START, WINDOW_END), seed 11, 10% exploration traffic."""
    return generate_requests(120_000, hours=1, seed=11, end=WINDOW_END, prices=prices)


@pytest.fixture
def write_settings(tmp_path):
    """Write an llmopt.yaml on temporary stores (overrides merged in); returns (path, Settings)."""
    def write(**overrides) -> tuple[Path, Settings]:
        values = {"database_url": f"sqlite:///{tmp_path}/requests.db",
                  "config_store_uri": f"file://{tmp_path}/configs",
                  "mlflow_tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
                  "mlflow_artifact_location": str(tmp_path / "mlartifacts"),
                  "mlflow_experiment": "llmopt-tests"}
        values.update(overrides)
        # most flow tests check a switch in one run: ramps are opted into by the tests of canaries
        values["policy"] = {"canary_steps": [], **values.get("policy", {})}
        path = tmp_path / "llmopt.yaml"
        path.write_text(yaml.safe_dump(values))
        return path, Settings.load(path)
    return write


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def postgres_url():
    url, stop = services.start_postgres()
    yield url
    stop()


@pytest.fixture(scope="session")
def s3_endpoint():
    url, stop = services.start_moto()
    yield url
    stop()


@pytest.fixture(scope="session")
def litellm_python(tmp_path_factory):
    """The python of a venv with LiteLLM's real client (installed from PyPI once per session)."""
    from tests.gateway import make_litellm_venv

    return make_litellm_venv(tmp_path_factory.mktemp("litellm"))


@pytest.fixture(scope="session")
def litellm_proxy_python(tmp_path_factory):
    """The python of a venv with LiteLLM's proxy (`litellm[proxy]==1.106.0`, from PyPI once per session)."""
    from tests.gateway import make_litellm_proxy_venv

    return make_litellm_proxy_venv(tmp_path_factory.mktemp("litellm-proxy"))


@pytest.fixture(scope="session")
def otel_python(tmp_path_factory):
    """The python of a venv with the OpenTelemetry SDK, the GenAI OpenAI instrumentation, the OTLP JSON file
    exporter and `openai` (installed from PyPI once per session)."""
    from tests.otel_genai import make_otel_venv

    return make_otel_venv(tmp_path_factory.mktemp("otel"))


SERVER_FIXTURES = {"postgres_url", "s3_endpoint", "prefect_harness", "litellm_python", "litellm_proxy_python",
                   "otel_python"}


def pytest_collection_modifyitems(items):
    """`slow`: starts a server or runs a whole flow (tests/flows, tests/packaging, or a server fixture)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "flows" in parts or "packaging" in parts or SERVER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
