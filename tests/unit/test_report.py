"""The run report renders: markdown names every call and blocker; plots are real PNG images."""

import io

import pandas as pd
import pytest
from matplotlib import image

from llmopt.track.report import markdown_report, plot_cost_vs_quality, plot_latency_by_model
from tests.unit.test_routing import evaluate, window  # noqa: F401 - fixture reuse


def test_markdown_report_states_the_call_and_why_others_were_blocked(window, prices):  # noqa: F811
    result, _ = evaluate(window, prices)
    text = markdown_report("run", {"status": "published"}, [result])
    assert "### svc / t: switch gpt-4o → gpt-4o-mini: saves $221.09/day" in text
    assert "max_error_rate: upper bound of error rate 0.1333 > 0.05" in text


def test_plots_render_as_png(window, prices):  # noqa: F811
    result, _ = evaluate(window, prices)
    frame, _ = window
    for png in (plot_cost_vs_quality([result, result]), plot_latency_by_model(frame[["model", "latency_ms"]])):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = image.imread(io.BytesIO(png))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert pixels[..., :3].std() > 0.05            # not a blank canvas
    assert plot_latency_by_model(pd.DataFrame({"model": [], "latency_ms": []}))[:4] == b"\x89PNG"


def test_html_report_embeds_readable_plots_and_marks_the_pareto_frontier(window, prices):  # noqa: F811
    import base64
    import re

    from llmopt.track.report_html import html_report, pareto_models

    result, _ = evaluate(window, prices)
    frontier = pareto_models(result)
    cheapest = min((result.current, *result.candidates), key=lambda c: c.predicted_cost_usd_per_day)
    best = max((result.current, *result.candidates), key=lambda c: c.quality.estimate)
    assert {cheapest.model, best.model} <= frontier           # the extremes are never dominated
    page = html_report("run", {"status": "published"}, {"Changes": [{"task": "t", "to": "gpt-4o-mini"}]},
                       [result], {"cost_vs_quality.png": plot_cost_vs_quality([result])})
    [encoded] = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    pixels = image.imread(io.BytesIO(base64.b64decode(encoded)))
    assert pixels.shape[1] > 300 and pixels[..., :3].std() > 0.05
    assert page.count("<td>yes</td>") == len(frontier) and "gpt-4o-mini" in page


@pytest.mark.slow
def test_the_report_page_renders_in_headless_chromium_with_its_plots(window, prices, tmp_path):  # noqa: F811
    """What a person sees: the page as Chromium draws it has headings, the change in words, and both plots."""
    import shutil
    import subprocess

    from llmopt.track.report_html import html_report

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium not found: apt-get install chromium (.ci/run does)"
    result, _ = evaluate(window, prices)
    frame, _ = window
    page = html_report("llmopt run report", {"status": "published"},
                       {"Changes": [{"service": "svc", "task_type": "t", "strategy": "max_tokens",
                                     "change": "max_tokens 1024 → 960 on gpt-4o"}]},
                       [result], {"cost_vs_quality.png": plot_cost_vs_quality([result]),
                                  "latency_by_model.png": plot_latency_by_model(frame[["model", "latency_ms"]])})
    assert "<h2>Cost vs quality per task</h2>" in page and "cost_vs_quality.png" not in page.split("<img")[0]
    assert "max_tokens 1024 → 960 on gpt-4o" in page
    (tmp_path / "report.html").write_text(page)
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,1400",
                    f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (1400, 1280)
    assert (pixels.min(axis=2) < 0.9).mean() > 0.02          # not a blank page: text, tables and plots drawn

    def drawn(rgb) -> int:
        return int((abs(pixels - [c / 255 for c in rgb]).max(axis=2) < 0.06).sum())

    assert drawn((31, 119, 180)) > 20       # tab:blue: the current model's point in the cost–quality plot
    assert drawn((255, 127, 14)) > 20       # tab:orange: the medians of the latency box plot
