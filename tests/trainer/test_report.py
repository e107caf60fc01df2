"""``logreg report`` and ``logreg train --report``: one self-contained HTML file, opened in Debian's headless Chromium
(through playwright-core): it renders with no console error and no network request, every section is there, and a
screenshot is kept in build/test-artifacts/."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from click.testing import CliRunner

from logreg_onnx.cli import main

from ..conftest import PENGUINS
from ..examples.conftest import ARTIFACTS, CHROMIUM, browser_ready


def _open(html: Path, name: str) -> dict:
    scripts = browser_ready()
    screenshot = ARTIFACTS / f"report-{name}.png"
    out = subprocess.run(
        ["node", str(scripts / "open_page.mjs"), html.resolve().as_uri(), str(screenshot), str(CHROMIUM)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert screenshot.stat().st_size > 50_000
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_train_report_for_a_binary_model_renders_every_section(tmp_path):
    run = tmp_path / "sex"
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(PENGUINS),
            "--label",
            "sex",
            "--l2",
            "0",
            "--threshold",
            "f1",
            "--out",
            str(run),
            "-q",
            "--report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {run / 'report.html'}" in result.output
    text = (run / "report.html").read_text()
    assert "<script" not in text
    # no address but the SVG namespaces' identifiers (never fetched)
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    seen = _open(run / "report.html", "binary")
    assert seen["console"] == [] and seen["pageErrors"] == [] and seen["failedRequests"] == [], seen
    assert seen["headings"] == [
        "Data",
        "Metrics",
        "Confusion matrix",
        "Curves",
        "Coefficients",
        "Training curve",
        "Decision threshold",
    ]
    assert seen["svgs"] == 5  # ROC, precision-recall, reliability, the forest plot of odds ratios, training curve
    assert "species[T.Gentoo]" in text and "Brier score" in text


def test_report_command_for_a_multiclass_run(tmp_path):
    run = tmp_path / "species"
    trained = CliRunner().invoke(main, ["train", str(PENGUINS), "--label", "species", "--out", str(run), "-q"])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "elsewhere.html"
    result = CliRunner().invoke(main, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    seen = _open(out, "multiclass")
    assert seen["console"] == [] and seen["pageErrors"] == [] and seen["failedRequests"] == [], seen
    assert "Coefficients" in seen["headings"] and "Decision threshold" not in seen["headings"]


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path}: no metrics.json; give a run directory written by logreg train"
