"""statsmodels Logit and MNLogit results (arrays and formulas) exported and checked against statsmodels itself: the
runtime's probabilities against ``results.predict``, ``logreg info``'s coefficient table against ``results.summary()``,
the refused terms and results types, and a wrong mapping that the verification catches."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import VerificationFailed, export, from_statsmodels
from logreg_onnx.exporter.errors import ExportOptionError
from logreg_onnx.runtime import contract, load

from logreg_onnx.cli import main

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"
ATOL = 1e-6


@pytest.fixture(scope="module")
def spector() -> pd.DataFrame:
    return sm.datasets.spector.load_pandas().data


@pytest.fixture(scope="module")
def spector_text(spector) -> pd.DataFrame:
    """Spector with PSI as text: a categorical column for the formula API."""
    return spector.assign(PSI=spector["PSI"].astype(int).map({0: "no", 1: "yes"}))


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    frame = pd.read_csv(PENGUINS).dropna().reset_index(drop=True)
    return frame.assign(species_code=pd.Categorical(frame["species"]).codes)


def _fit(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of statsmodels, not under test
        return fit(disp=0)


def _random_rows(frame: pd.DataFrame, columns: list[str], n: int, seed: int = 0) -> pd.DataFrame:
    """Fresh rows inside the data's range, column by column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.uniform(frame[c].min(), frame[c].max(), n) for c in columns})


def test_logit_arrays_equal_statsmodels_on_data_and_fresh_rows(spector, tmp_path):
    X = sm.add_constant(spector[["GPA", "TUCE", "PSI"]])
    results = _fit(sm.Logit(spector["GRADE"], X).fit)
    export(results, tmp_path / "m.onnx")
    model = load(tmp_path / "m.onnx")
    assert model.feature_names == ["GPA", "TUCE", "PSI"] and model.classes == ["0", "1"]
    fresh = _random_rows(spector, ["GPA", "TUCE", "PSI"], 500).assign(PSI=lambda f: f["PSI"].round())
    for rows in (spector[["GPA", "TUCE", "PSI"]], fresh):
        expected = np.asarray(results.predict(sm.add_constant(rows, has_constant="add")))
        probabilities = model.predict_proba(rows)
        np.testing.assert_allclose(probabilities[:, 1], expected, rtol=0, atol=ATOL)
        np.testing.assert_allclose(probabilities[:, 0], 1 - expected, rtol=0, atol=ATOL)
        np.testing.assert_array_equal(model.predict(rows), np.where(expected > 0.5, "1", "0"))


def test_logit_arrays_without_constant_take_feature_names_and_threshold(spector, tmp_path):
    X = spector[["GPA", "TUCE", "PSI"]].to_numpy()
    results = _fit(sm.Logit(spector["GRADE"].to_numpy(), X).fit)  # no names, no constant: x1, x2, x3, no bias
    result = export(results, tmp_path / "m.onnx", feature_names=["gpa", "tuce", "psi"], threshold=0.3)
    model = load(tmp_path / "m.onnx")
    assert model.feature_names == ["gpa", "tuce", "psi"] and model.threshold == pytest.approx(0.3)
    assert any("no bias" in note for note in result.report.notes)
    expected = results.predict(X)
    np.testing.assert_allclose(model.predict_proba(X.astype(np.float32))[:, 1], expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(model.predict(X.astype(np.float32)), np.where(expected > 0.3, "1", "0"))


def test_formula_logit_with_treatment_reference_and_unseen_levels(spector_text, tmp_path):
    results = _fit(smf.logit("GRADE ~ GPA + TUCE + C(PSI, Treatment(reference='yes'))", spector_text).fit)
    result = export(results, tmp_path / "m.onnx")
    model = load(tmp_path / "m.onnx")
    assert model.feature_names == ["GPA", "TUCE", "PSI"]
    assert [c.reference for c in model.columns if c.kind == "categorical"] == ["yes"]
    rows = spector_text[["GPA", "TUCE", "PSI"]]
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], results.predict(rows), rtol=0, atol=ATOL)
    fresh = _random_rows(spector_text, ["GPA", "TUCE"], 300).assign(PSI=np.resize(["no", "yes"], 300))
    np.testing.assert_allclose(model.predict_proba(fresh)[:, 1], results.predict(fresh), rtol=0, atol=ATOL)
    # an unseen level: statsmodels (patsy) refuses the row, the ONNX model scores it as the reference level
    unseen = fresh.head(5).assign(PSI="maybe")
    with pytest.raises(Exception, match="maybe"):
        results.predict(unseen)
    np.testing.assert_allclose(
        model.predict_proba(unseen)[:, 1], results.predict(unseen.assign(PSI="yes")), rtol=0, atol=ATOL
    )
    assert any("reference level 'yes'" in note for note in result.report.notes)
    assert any("refuses" in note for note in result.report.notes)  # the unseen probe rows were left out, said so


@pytest.mark.parametrize(
    "formula",
    [
        "species_code ~ body_mass_g + C(year, Treatment(reference=2009))",  # levels that are numbers
        "species_code ~ body_mass_g + sex",  # a text column: categorical without C()
    ],
)
def test_formula_mnlogit_on_penguins_equals_statsmodels(penguins, formula, tmp_path):
    """Fresh rows are the data's rows with numbers moved at random by a tenth of their spread: far from the data,
    statsmodels' raw-unit parameters (an intercept of 100 against 10 per millimetre) cancel in the logits and
    float32 alone moves probabilities by a few 1e-6, which the export's verification allows for and 1e-6 would not."""
    results = _fit(smf.mnlogit(formula, penguins).fit)
    classes = list(pd.Categorical(penguins["species"]).categories)
    export(results, tmp_path / "m.onnx", class_names=classes)
    model = load(tmp_path / "m.onnx")
    assert model.classes == classes
    columns = model.feature_names
    expected = np.asarray(results.predict(penguins))
    probabilities = model.predict_proba(penguins[columns])
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(model.predict(penguins[columns]), np.array(classes)[expected.argmax(axis=1)])
    rng = np.random.default_rng(1)
    fresh = penguins.sample(300, replace=True, random_state=1).reset_index(drop=True)
    for column in [c for c in columns if c not in ("sex", "year")]:
        fresh[column] += rng.normal(0, 0.1 * penguins[column].std(), len(fresh))
    np.testing.assert_allclose(model.predict_proba(fresh[columns]), results.predict(fresh), rtol=0, atol=ATOL)


def test_mnlogit_arrays_with_a_text_outcome_name_their_classes(penguins, tmp_path):
    X = sm.add_constant(penguins[["body_mass_g", "bill_depth_mm"]])
    results = _fit(sm.MNLogit(penguins["species"], X).fit)
    export(results, tmp_path / "m.onnx")
    model = load(tmp_path / "m.onnx")
    assert model.classes == ["Adelie", "Chinstrap", "Gentoo"]  # statsmodels' own names of the outcome's levels
    rows = penguins[["body_mass_g", "bill_depth_mm"]]
    np.testing.assert_allclose(model.predict_proba(rows), results.predict(X), rtol=0, atol=ATOL)


def _parse_rows(text: str, n_numbers: int) -> list[tuple[str, list[str]]]:
    """Table rows of ``text`` that end in ``n_numbers`` numbers: (the text before them, the numbers as printed)."""
    number = r"(-?\d+(?:\.\d*)?(?:e[-+]?\d+)?|nan|<1e-300)"
    pattern = re.compile(r"^(\S.*?)" + r"\s+" + r"\s+".join([number] * n_numbers) + r"\s*$")
    return [(m.group(1).strip(), list(m.groups()[1:])) for m in map(pattern.match, text.splitlines()) if m]


def _assert_printed(printed: str, exact: float, what: str) -> None:
    """``printed`` is ``exact`` rounded to the digits shown (half a unit of the last one, and a hair)."""
    if printed == "<1e-300":
        assert exact < 1e-300, what
        return
    mantissa, _, exponent = printed.partition("e")
    decimals = len(mantissa.partition(".")[2])
    half_unit = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    assert abs(float(printed) - exact) <= half_unit * 1.001 + 1e-12 * abs(exact), f"{what}: {printed} vs {exact!r}"


def _assert_info_matches_summary(path: Path, results, class_names: list[str] | None) -> None:
    """``logreg info --summary`` prints the terms of ``results.summary()`` in its order, and each number (estimate,
    std err, z, p, interval, odds ratio) is statsmodels' own, to the digits printed; so are the summary's."""
    printed = CliRunner().invoke(main, ["info", str(path), "--summary"])
    assert printed.exit_code == 0, printed.output
    ours = _parse_rows(printed.output.split("\n\n", 1)[1], 7)  # after the model facts: the coefficient table
    theirs = _parse_rows(results.summary().as_text(), 6)  # coef, std err, z, P>|z|, [0.025, 0.975]
    names = list(results.model.exog_names)
    n_free = 1 if class_names is None else len(class_names) - 1
    assert len(ours) == len(theirs) == len(names) * n_free
    columns = [
        np.asarray(v, dtype=np.float64).reshape(len(names), n_free)
        for v in (results.params, results.bse, results.tvalues, results.pvalues)
    ]
    interval = np.asarray(results.conf_int(), dtype=np.float64).reshape(n_free, len(names), 2)
    for i, ((label, values), (term, reference)) in enumerate(zip(ours, theirs, strict=True)):
        c, t = divmod(i, len(names))
        assert term == names[t] and label.endswith(term)
        if class_names is not None:
            assert label.startswith(class_names[1 + c])
        exact = [column[t, c] for column in columns] + [interval[c, t, 0], interval[c, t, 1]]
        for what, mine, summary, value in zip(
            ["coef", "std err", "z", "p", "ci low", "ci high"], values, reference, exact, strict=False
        ):
            _assert_printed(mine, value, f"logreg info {label} {what}")
            _assert_printed(summary, value, f"summary {term} {what}")
        _assert_printed(values[6], math.exp(exact[0]), f"logreg info {label} odds ratio")


def _coefficients(model) -> dict:
    table = model.metadata[contract.KEY_COEFFICIENTS]
    return json.loads(table) if isinstance(table, str) else table


def test_info_prints_the_summary_table_of_a_logit(spector, tmp_path):
    results = _fit(sm.Logit(spector["GRADE"], sm.add_constant(spector[["GPA", "TUCE", "PSI"]])).fit)
    export(results, tmp_path / "m.onnx")
    _assert_info_matches_summary(tmp_path / "m.onnx", results, None)
    table = _coefficients(load(tmp_path / "m.onnx"))
    assert [r["term"] for r in table["rows"]] == ["const", "GPA", "TUCE", "PSI"]
    for column, values in (("estimate", results.params), ("std_error", results.bse), ("p_value", results.pvalues)):
        np.testing.assert_allclose([r[column] for r in table["rows"]], values, rtol=1e-12)
    np.testing.assert_allclose([[r["ci_low"], r["ci_high"]] for r in table["rows"]], results.conf_int(), rtol=1e-12)
    fit = table["fit"]
    assert (fit["log_likelihood"], fit["null_log_likelihood"], fit["pseudo_r2"]) == pytest.approx(
        (results.llf, results.llnull, results.prsquared), rel=1e-12
    )
    assert (fit["aic"], fit["bic"], fit["llr_p_value"]) == pytest.approx(
        (results.aic, results.bic, results.llr_pvalue), rel=1e-12
    )
    assert table["classical"] is True and table["reference_class"] is None


def test_info_prints_the_summary_table_of_an_mnlogit(penguins, tmp_path):
    formula = "species_code ~ bill_depth_mm + C(sex) + C(year, Treatment(reference=2009))"
    results = _fit(smf.mnlogit(formula, penguins).fit)
    classes = list(pd.Categorical(penguins["species"]).categories)
    export(results, tmp_path / "m.onnx", class_names=classes)
    _assert_info_matches_summary(tmp_path / "m.onnx", results, classes)
    table = _coefficients(load(tmp_path / "m.onnx"))
    assert table["reference_class"] == "Adelie"
    estimates = np.array([r["estimate"] for r in table["rows"]]).reshape(len(classes) - 1, -1).T
    np.testing.assert_allclose(estimates, results.params, rtol=1e-12)
    std_errors = np.array([r["std_error"] for r in table["rows"]]).reshape(len(classes) - 1, -1).T
    np.testing.assert_allclose(std_errors, results.bse, rtol=1e-12)


@pytest.mark.parametrize(
    ("formula", "named"),
    [
        ("GRADE ~ GPA:TUCE + PSI", "'GPA:TUCE' is an interaction"),
        ("GRADE ~ GPA * TUCE", "'GPA:TUCE' is an interaction"),
        ("GRADE ~ I(GPA ** 2) + TUCE", "'I(GPA ** 2)' transforms its variable"),
        ("GRADE ~ np.log(GPA) + TUCE", "'np.log(GPA)' transforms its variable"),
        ("GRADE ~ GPA + C(PSI, Sum)", "uses the contrast Sum; only Treatment coding"),
    ],
)
def test_refuses_terms_naming_them(spector_text, formula, named, tmp_path):
    results = _fit(smf.logit(formula, spector_text).fit)
    with pytest.raises(ExportOptionError, match=re.escape(named)) as caught:
        export(results, tmp_path / "m.onnx")
    assert caught.value.parameter == "model"
    assert not (tmp_path / "m.onnx").exists()


def test_refuses_other_results_and_arguments(spector, penguins, tmp_path):
    X = sm.add_constant(spector[["GPA", "TUCE", "PSI"]])
    probit = _fit(sm.Probit(spector["GRADE"], X).fit)
    with pytest.raises(ExportOptionError, match=r"Probit model .*only the logistic link"):
        export(probit, tmp_path / "m.onnx")
    with pytest.raises(ExportOptionError, match=re.escape("unfitted Logit model; export model.fit()")):
        export(sm.Logit(spector["GRADE"], X), tmp_path / "m.onnx")
    logit = _fit(sm.Logit(spector["GRADE"], X).fit)
    with pytest.raises(ExportOptionError, match=r"expected 3 distinct names .*got 2") as caught:
        export(logit, tmp_path / "m.onnx", feature_names=["a", "b"])
    assert caught.value.parameter == "feature_names"
    mnlogit = _fit(smf.mnlogit("species_code ~ bill_depth_mm", penguins).fit)
    with pytest.raises(ExportOptionError, match=r"expected 3 distinct names .*\['0', '1', '2'\]") as caught:
        export(mnlogit, tmp_path / "m.onnx", class_names=["a", "b"])
    assert caught.value.parameter == "class_names"
    with pytest.raises(ExportOptionError, match="binary Logit only") as caught:
        export(mnlogit, tmp_path / "m.onnx", threshold=0.3)
    assert caught.value.parameter == "threshold"
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("kind", ["arrays", "formula"])
def test_a_wrong_mapping_fails_the_export(spector_text, penguins, kind, monkeypatch, tmp_path):
    """Two design columns' weights swapped on purpose (two numeric columns; two levels of C(year)): the comparison
    with results.predict catches it and nothing is written."""
    if kind == "arrays":
        frame = spector_text.assign(PSI=(spector_text["PSI"] == "yes").astype(float))
        results = _fit(sm.Logit(frame["GRADE"], sm.add_constant(frame[["GPA", "TUCE", "PSI"]])).fit)
        builder, first, second = "_array_design", 0, 1
    else:
        results = _fit(smf.mnlogit("species_code ~ bill_depth_mm + C(year)", penguins).fit)
        builder, first, second = "_formula_design", 1, 2  # year's two design columns (2008, 2009)
    original = getattr(from_statsmodels, builder)

    def swapped(*args, **kwargs):
        design = original(*args, **kwargs)
        index = design.exog_index
        index[first], index[second] = index[second], index[first]
        return design

    monkeypatch.setattr(from_statsmodels, builder, swapped)
    with pytest.raises(VerificationFailed, match="does not compute what the statsmodels"):
        export(results, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists() and (tmp_path / "m.rejected.onnx").exists()
