"""Drift against the training profile stored in a model: PSI, KS and chi-square checked against scipy on the same
binned data, rows drawn from the training data stay stable, one shifted column (and only it) crosses 0.25, and
`logreg drift` says so (and gates with --fail-above)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.runtime import drift

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, PENGUINS

scipy_stats = pytest.importorskip("scipy.stats")


def test_ks_and_chi_square_equal_scipy_on_the_same_binned_data():
    rng = np.random.default_rng(0)
    train, new = rng.normal(size=5000), rng.normal(0.3, 1.2, size=800)
    edges = drift.quantile_edges(train)
    a, b = drift.bin_numeric(train, edges), drift.bin_numeric(new, edges)
    bins = np.searchsorted(np.asarray(edges), train), np.searchsorted(np.asarray(edges), new)
    assert drift.ks_statistic(a[:-1], b[:-1]) == pytest.approx(scipy_stats.ks_2samp(*bins).statistic, abs=1e-12)
    shares = np.array([0.5, 0.3, 0.15, 0.05, 0.0])  # the last bin: unseen in training
    observed = np.array([380.0, 260.0, 90.0, 60.0, 7.0])
    statistic, p = drift.chi_square(shares, observed)
    expected = shares[:4] / shares[:4].sum() * observed[:4].sum()
    reference = scipy_stats.chisquare(observed[:4], expected)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert p == pytest.approx(reference.pvalue, rel=1e-9)
    for x, dof in ((0.5, 1), (3.0, 2), (10.3, 2), (40.0, 7), (300.0, 20), (1e-3, 30)):
        assert drift.chi2_sf(x, dof) == pytest.approx(scipy_stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


def test_psi_of_a_histogram_against_itself_is_zero_and_grows_with_the_shift():
    counts = np.array([10.0, 20.0, 30.0, 40.0, 0.0])
    assert drift.psi(counts, counts * 3) == pytest.approx(0.0, abs=1e-12)
    by_hand = sum((n - t) * np.log(n / t) for t, n in ((0.1, 0.4), (0.2, 0.3), (0.3, 0.2), (0.4, 0.1)))
    assert drift.psi(counts, counts[[3, 2, 1, 0, 4]]) == pytest.approx(by_hand, rel=1e-12)
    assert [drift.band(v) for v in (0.05, 0.1, 0.2, 0.3)] == [
        "stable",
        "moderate shift",
        "moderate shift",
        "major shift",
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Models exported with their training profile: name -> (path, training frame)."""
    pytest.importorskip("torch")
    pandas = pytest.importorskip("pandas")
    from logreg_onnx import trainer

    folder = tmp_path_factory.mktemp("drift")
    models = {}
    for name, data, label in (("penguins", PENGUINS, "species"), ("breast_cancer", BREAST_CANCER, "diagnosis")):
        frame = pandas.read_csv(data)
        labels = frame.pop(label).to_numpy()
        path = folder / f"{name}.onnx"
        trainer.fit(frame, labels).export(path)
        models[name] = (path, frame)
    return models


@pytest.mark.parametrize(("name", "shifted"), [("penguins", "body_mass_g"), ("breast_cancer", "mean_radius")])
def test_training_rows_are_stable_and_one_shifted_column_alone_crosses_the_major_band(exported, name, shifted):
    path, frame = exported[name]
    model = runtime.load(path)
    same = frame.sample(3000, replace=True, random_state=4)
    report = model.drift(same)
    assert report["rows"] == 3000 and report["training_rows"] == len(frame)
    assert all(c["psi"] < 0.1 for c in report["columns"]), report["columns"]
    assert report["score"]["psi"] < 0.1
    moved = same.copy()
    moved[shifted] = moved[shifted] + frame[shifted].std()
    report = model.drift(moved)
    crossed = [c["column"] for c in report["columns"] if c["psi"] > 0.25]
    assert crossed == [shifted], [(c["column"], round(c["psi"], 3)) for c in report["columns"]]


def test_missing_rates_and_unseen_levels_are_counted(exported):
    path, frame = exported["penguins"]
    rows = frame.sample(400, replace=True, random_state=5).reset_index(drop=True)
    rows.loc[:99, "island"] = "Atlantis"
    rows.loc[:199, "bill_length_mm"] = np.nan
    report = runtime.load(path).drift(rows)
    by_name = {c["column"]: c for c in report["columns"]}
    assert by_name["island"]["unseen"] == 100 and by_name["island"]["psi"] > 0.25
    assert by_name["bill_length_mm"]["missing_after"] == pytest.approx(rows["bill_length_mm"].isna().mean())
    assert by_name["bill_length_mm"]["missing_before"] == pytest.approx(frame["bill_length_mm"].isna().mean())


def test_logreg_drift_prints_a_table_json_and_gates_with_fail_above(exported, tmp_path):
    path, frame = exported["penguins"]
    same, moved = tmp_path / "same.csv", tmp_path / "moved.csv"
    sample = frame.sample(1000, replace=True, random_state=6)
    sample.to_csv(same, index=False)
    sample.assign(body_mass_g=sample["body_mass_g"] + frame["body_mass_g"].std()).to_csv(moved, index=False)
    table = CliRunner().invoke(main, ["drift", str(path), str(same)])
    assert table.exit_code == 0, table.output
    body = table.output.splitlines()[2:-1]
    assert any(line.startswith("body_mass_g") for line in body) and not any("major shift" in line for line in body)
    as_json = CliRunner().invoke(main, ["drift", str(path), str(moved), "--format", "json"])
    assert as_json.exit_code == 0
    document = json.loads(as_json.output)
    expected = runtime.load(path).drift(sample.assign(body_mass_g=sample["body_mass_g"] + frame["body_mass_g"].std()))
    got = {c["column"]: c["psi"] for c in document["columns"]}
    for column in expected["columns"]:
        assert got[column["column"]] == pytest.approx(column["psi"], abs=1e-9)
    gated = CliRunner().invoke(main, ["drift", str(path), str(moved), "--fail-above", "0.25"])
    assert gated.exit_code == 1 and "above --fail-above 0.25" in gated.output
    assert CliRunner().invoke(main, ["drift", str(path), str(same), "--fail-above", "0.25"]).exit_code == 0


def test_a_model_without_a_profile_says_how_to_get_one(tmp_path):
    from ..conftest import EXAMPLE_MODEL_DIR

    rows = tmp_path / "rows.csv"
    rows.write_text(BREAST_CANCER.read_text())
    result = CliRunner().invoke(main, ["drift", str(EXAMPLE_MODEL_DIR / "model.onnx"), str(rows)])
    assert result.exit_code == 2
    assert "holds no training profile" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_profile_stays_small():
    """The size the docs state: a 200-column model's profile, 20 bins a column."""
    rng = np.random.default_rng(1)
    numeric = rng.normal(size=(20_000, 200)).astype(np.float32)
    probabilities = rng.dirichlet([1, 1], size=20_000)
    profile = drift.make_profile(
        [f"x{j}" for j in range(200)], numeric, [], np.empty((20_000, 0), object), {}, probabilities
    )
    size = len(json.dumps(profile, separators=(",", ":")))
    assert all(len(c["edges"]) == drift.PROFILE_BINS - 1 for c in profile["columns"])
    assert size < 100_000, size
