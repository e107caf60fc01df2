"""The verification report as a dataclass (issue 18, structure point 7) that reads every parity.json written so far,
and verification through the paths users run (defect 2): dict rows, the server's request handling, the test-vector
replay of ``logreg info``."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")

from logreg_onnx.exporter.from_toolkit import source_of_run
from logreg_onnx.exporter.parity import (
    DICT_ROWS,
    REFERENCE,
    RUNTIME,
    SERVER_INFER,
    SERVER_PREDICT,
    VerificationReport,
    check_test_vectors,
    format_report,
    verify_file,
)
from logreg_onnx.exporter.rundir import load_run
from logreg_onnx.exporter.write import test_vectors as make_test_vectors

from logreg_onnx import runtime

from ..conftest import REPO


@pytest.mark.parametrize("folder", ["example", "example-penguins"])
def test_committed_parity_files_read_and_write_back_unchanged(folder):
    document = json.loads((REPO / "artifacts" / folder / "parity.json").read_text())
    report = VerificationReport.from_json(document)
    assert report.passed is document["passed"] is True
    assert report.to_json() == document
    assert json.loads(report.to_text()) == document


def test_passed_is_derived_from_the_checks():
    report = VerificationReport(atol=1e-6, rtol=1e-6)
    assert not report.passed  # nothing compared is nothing proven
    report.add([{"runtime": "a", "batch": "1", "output": "label", "passed": True}])
    assert report.passed and report.to_json()["passed"] is True
    report.contract.append({"name": "input names", "passed": False, "detail": "inputs ['x']"})
    assert not report.passed and report.to_json()["passed"] is False
    assert report.failures() == [{"name": "input names", "passed": False, "detail": "inputs ['x']"}]


def test_verification_runs_the_users_paths_and_catches_a_broken_one(penguins_run_master, monkeypatch):
    run = load_run(penguins_run_master)
    path = penguins_run_master / "model.onnx"
    report = verify_file(path, run.model, data_rows=run.data_rows(), threshold=run.threshold)
    assert report.passed
    assert {r["runtime"] for r in report.results} == {RUNTIME, REFERENCE, DICT_ROWS, SERVER_PREDICT, SERVER_INFER}

    # the runtime as it was before issue 18: dict rows of a model with text columns failed in the input conversion
    original = runtime.Model.run

    def broken(self, X, **kwargs):
        if isinstance(X, (dict, list)):
            raise ValueError("cannot reshape array of size 0 into shape (0)")
        return original(self, X, **kwargs)

    monkeypatch.setattr(runtime.Model, "run", broken)
    report = verify_file(path, run.model, data_rows=run.data_rows(), threshold=run.threshold)
    assert not report.passed
    failed = {(r["runtime"], r["batch"]) for r in report.failures()}
    assert {name for name, _ in failed} == {DICT_ROWS, SERVER_PREDICT}  # the graph itself is right
    dict_failure = next(r for r in report.results if r["runtime"] == DICT_ROWS and not r["passed"])
    assert dict_failure["detail"] == "ValueError: cannot reshape array of size 0 into shape (0)"
    assert "verification FAILED" in format_report(report)


def test_the_test_vector_replay_is_part_of_the_export(penguins_run_master, tmp_path):
    run = load_run(penguins_run_master)
    model = tmp_path / "model.onnx"
    shutil.copy(penguins_run_master / "model.onnx", model)
    vectors = make_test_vectors(source_of_run(run), model.read_bytes())
    (result,) = check_test_vectors(model, vectors)
    assert result["passed"], result
    assert result["detail"].startswith(f"{len(vectors['cases'])} test vectors passed (graph inputs and raw rows)")
    assert list(tmp_path.iterdir()) == [model]  # nothing left beside the model
    vectors["cases"][0]["row"]["bill_length_mm"] = "forty"
    (result,) = check_test_vectors(model, vectors)
    assert not result["passed"]
    assert result["detail"].endswith(
        "; the raw rows cannot be scored: row 0, column 1 ('bill_length_mm'): 'forty' is a str, not a number"
    )
