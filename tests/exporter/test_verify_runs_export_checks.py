"""``logreg verify MODEL RUN`` runs the checks ``logreg export`` ran before writing MODEL (issue 18, runtime
follow-ups): the same rows of parity.json, the test-vector replay included, so that test vectors tampered with
after export fail verify as they would fail ``logreg info`` and the server's readiness."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from click.testing import CliRunner

from logreg_onnx.cli import main

REPLAY = "logreg info, server ready"


def _checks(parity: dict) -> list[tuple]:
    return [(r["runtime"], r["batch"], r["output"]) for r in parity["results"]]


def _verify(model, run):
    return CliRunner().invoke(main, ["verify", str(model), str(run)])


def test_verify_runs_every_check_export_ran(binary_run):
    exported = json.loads((binary_run / "parity.json").read_text())
    result = _verify(binary_run / "model.onnx", binary_run)
    assert result.exit_code == 0, result.output
    verified = json.loads((binary_run / "parity.json").read_text())
    assert _checks(verified) == _checks(exported)
    assert REPLAY in {r["runtime"] for r in verified["results"]}
    replay = next(r for r in verified["results"] if r["runtime"] == REPLAY)
    cases = json.loads((binary_run / "model.testvectors.json").read_text())["cases"]
    assert replay["passed"] and replay["batch"] == str(len(cases))


def test_tampered_test_vectors_fail_verify(binary_run):
    path = binary_run / "model.testvectors.json"
    document = json.loads(path.read_text())
    case = document["cases"][3]
    p = case["probabilities"]
    case["probabilities"] = [p[0] - 0.01, p[1] + 0.01]  # still sums to 1: only the model's own answer tells
    path.write_text(json.dumps(document))
    result = _verify(binary_run / "model.onnx", binary_run)
    assert result.exit_code == 1, result.output
    assert "verification FAILED" in result.output
    parity = json.loads((binary_run / "parity.json").read_text())
    failed = [r for r in parity["results"] if not r["passed"]]
    assert [r["runtime"] for r in failed] == [REPLAY]  # the model itself still computes what PyTorch computes
    assert failed[0]["detail"].startswith(f"{len(document['cases'])} test vectors failed")
    # and `logreg info` agrees: the same verdict through the runtime alone
    info = CliRunner().invoke(main, ["info", str(binary_run / "model.onnx")])
    assert info.exit_code == 1


def test_unreadable_test_vectors_fail_verify(binary_run):
    (binary_run / "model.testvectors.json").write_text('{"format": "something else"}')
    result = _verify(binary_run / "model.onnx", binary_run)
    assert result.exit_code == 1
    parity = json.loads((binary_run / "parity.json").read_text())
    failed = [r for r in parity["results"] if not r["passed"]]
    assert [(r["runtime"], r["output"]) for r in failed] == [(REPLAY, "test vectors")]
    assert failed[0]["detail"].startswith("test vectors unreadable")


def test_without_test_vectors_verify_says_the_replay_was_skipped(binary_run):
    (binary_run / "model.testvectors.json").unlink()
    result = _verify(binary_run / "model.onnx", binary_run)
    assert result.exit_code == 0, result.output
    assert "note: no test vectors beside the model" in result.output
    parity = json.loads((binary_run / "parity.json").read_text())
    assert REPLAY not in {r["runtime"] for r in parity["results"]}
