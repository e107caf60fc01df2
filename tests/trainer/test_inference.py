"""The coefficient table against statsmodels' Logit and MNLogit (an independent implementation of the same maximum
likelihood fit and its observed information): estimates, standard errors, p-values, intervals and fit statistics."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from logreg_onnx.trainer.stats.coefficients import coefficient_table

from logreg_onnx import trainer

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"
RTOL = 1e-4


def _table(result, **kwargs):
    rows = result.train_indices
    return coefficient_table(
        result.model,
        result.dataset.X[rows],
        result.dataset.y[rows],
        result.class_names,
        list(result.dataset.feature_names),
        **kwargs,
    )


def _statsmodels(formula: str, data: pd.DataFrame, multinomial: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (smf.mnlogit if multinomial else smf.logit)(formula, data=data).fit(method="newton", maxiter=200, disp=0)


def _ours_by_key(table) -> dict:
    return {(row["class"], row["term"]): row for row in table.rows}


def _assert_matches(table, reference, class_names: list[str]) -> int:
    """Every (class, term) of statsmodels' fit against ours; returns how many were compared."""
    ours = _ours_by_key(table)
    params = reference.params if isinstance(reference.params, pd.DataFrame) else reference.params.to_frame()
    bse = reference.bse if isinstance(reference.bse, pd.DataFrame) else reference.bse.to_frame()
    pvalues = reference.pvalues if isinstance(reference.pvalues, pd.DataFrame) else reference.pvalues.to_frame()
    intervals = reference.conf_int()
    multinomial = params.shape[1] > 1
    compared = 0
    for column_index, column in enumerate(params.columns):
        label = class_names[column_index + 1] if multinomial else ""
        for term in params.index:
            ours_term = re.sub(r"C\((\w+)\)", r"\1", term)
            row = ours[(label, ours_term)]
            estimate, se = params.loc[term, column], bse.loc[term, column]
            assert math.isclose(row["estimate"], estimate, rel_tol=RTOL, abs_tol=1e-9), (label, term, row, estimate)
            assert math.isclose(row["std_error"], se, rel_tol=RTOL), (label, term, row["std_error"], se)
            assert math.isclose(row["z"], estimate / se, rel_tol=RTOL, abs_tol=1e-6)
            assert math.isclose(row["p_value"], pvalues.loc[term, column], rel_tol=RTOL, abs_tol=1e-300)
            if multinomial:  # MNLogit labels each equation by its class's value, in the params' column order
                equations = list(dict.fromkeys(intervals.index.get_level_values(0)))
                low, high = intervals.loc[(equations[column_index], term)]
            else:
                low, high = intervals.loc[term]
            assert math.isclose(row["ci_low"], low, rel_tol=RTOL, abs_tol=1e-9)
            assert math.isclose(row["ci_high"], high, rel_tol=RTOL, abs_tol=1e-9)
            assert math.isclose(row["odds_ratio"], math.exp(estimate), rel_tol=RTOL)
            compared += 1
    fit = table.fit
    assert math.isclose(fit["log_likelihood"], reference.llf, rel_tol=1e-7)
    assert math.isclose(fit["null_log_likelihood"], reference.llnull, rel_tol=1e-9)
    assert math.isclose(fit["pseudo_r2"], reference.prsquared, rel_tol=1e-6)
    assert math.isclose(fit["aic"], reference.aic, rel_tol=1e-7)
    assert math.isclose(fit["bic"], reference.bic, rel_tol=1e-7)
    assert math.isclose(fit["llr_p_value"], reference.llr_pvalue, rel_tol=RTOL, abs_tol=1e-300)
    assert len(table.rows) == compared  # no term of ours that statsmodels lacks
    return compared


def test_binary_with_text_columns_matches_logit():
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    X = frame[["island", "species", "bill_length_mm", "flipper_length_mm"]]
    result = trainer.fit(X, frame["sex"], l2=0, val_fraction=0)
    reference = _statsmodels(
        "y ~ C(island) + C(species) + bill_length_mm + flipper_length_mm",
        X.assign(y=(frame["sex"] == "male").astype(int)),
        multinomial=False,
    )
    table = _table(result)
    assert table.classical and table.reference_class is None
    assert _assert_matches(table, reference, result.class_names) == 7


def test_binary_numbers_only_matches_logit_on_statsmodels_spector():
    data = sm.datasets.spector.load_pandas().data
    result = trainer.fit(data[["GPA", "TUCE", "PSI"]], data["GRADE"].map({0: "no", 1: "yes"}), l2=0, val_fraction=0)
    reference = _statsmodels("GRADE ~ GPA + TUCE + PSI", data, multinomial=False)
    assert _assert_matches(_table(result), reference, result.class_names) == 4


def test_multinomial_matches_mnlogit_each_class_against_the_first():
    """statsmodels' own MNLogit example: party identification (7 classes) on anes96."""
    data = sm.datasets.anes96.load_pandas().data
    classes = [f"p{int(v)}" for v in data["PID"]]
    columns = ["logpopul", "selfLR", "age", "educ", "income"]
    result = trainer.fit(data[columns], classes, l2=0, val_fraction=0)
    codes = pd.Series(classes).map({name: i for i, name in enumerate(result.class_names)})
    reference = _statsmodels("y ~ " + " + ".join(columns), data[columns].assign(y=codes.to_numpy()), multinomial=True)
    table = _table(result)
    assert table.reference_class == result.class_names[0]
    assert _assert_matches(table, reference, result.class_names) == 6 * 6


def test_multinomial_with_a_text_column_matches_mnlogit():
    rng = np.random.default_rng(11)
    n = 900
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "shape": rng.choice(["round", "square"], n),
        }
    )
    logits = np.stack(
        [
            np.zeros(n),
            0.3 * (frame["size"] - 10) + (frame["colour"] == "red") - 0.5,
            -0.2 * frame["size"] + (frame["shape"] == "round") + 1.5,
        ],
        axis=1,
    )
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[[rng.choice(3, p=p) for p in probabilities]]
    result = trainer.fit(frame, y, l2=0, val_fraction=0)
    reference = _statsmodels(
        "y ~ size + C(colour) + C(shape)", frame.assign(y=pd.Series(y).map({"a": 0, "b": 1, "c": 2})), True
    )
    assert _assert_matches(_table(result), reference, result.class_names) == 2 * 5


def test_a_penalty_or_class_weights_leave_the_classical_columns_out():
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    X = frame[["island", "bill_length_mm", "flipper_length_mm"]]
    for options, why in (({"l2": 0.1}, "l2 penalty (0.1)"), ({"l2": 0, "class_weight": "balanced"}, "class weights")):
        result = trainer.fit(X, frame["sex"], val_fraction=0, **options)
        table = _table(result, l2=options["l2"], weighted="class_weight" in options)
        assert not table.classical and why in table.note and "do not apply" in table.note
        assert all(row["std_error"] is None and row["p_value"] is None for row in table.rows)
        assert all(row["odds_ratio"] == math.exp(row["estimate"]) for row in table.rows)


def test_standardized_units_scale_slopes_and_keep_their_z():
    data = sm.datasets.spector.load_pandas().data
    result = trainer.fit(data[["GPA", "TUCE", "PSI"]], data["GRADE"], l2=0, val_fraction=0)
    original, standardized = _table(result), _table(result, standardized=True)
    scale = result.model.scale.double().numpy()
    for j, term in enumerate(["GPA", "TUCE", "PSI"]):
        a = _ours_by_key(original)[("", term)]
        b = _ours_by_key(standardized)[("", term)]
        assert math.isclose(b["estimate"], a["estimate"] * scale[j], rel_tol=1e-9)
        assert math.isclose(b["z"], a["z"], rel_tol=1e-6)
        assert math.isclose(a["per_sd"], b["estimate"], rel_tol=1e-9)  # what the printed table ranks terms by
    assert standardized.units == "standardized" and original.units == "original"
    np.testing.assert_allclose(standardized.fit["log_likelihood"], original.fit["log_likelihood"], rtol=1e-12)


def test_train_writes_coefficients_csv_and_info_prints_the_table_from_the_model(tmp_path):
    import csv

    from click.testing import CliRunner

    from logreg_onnx.cli import main

    run = tmp_path / "run"
    arguments = ["train", str(PENGUINS), "--label", "sex", "--l2", "0", "--val-fraction", "0", "--drop", "year"]
    result = CliRunner().invoke(main, [*arguments, "--out", str(run), "--summary", "--export"])
    assert result.exit_code == 0, result.output
    assert "species[T.Gentoo]" in result.output and "McFadden pseudo R2" in result.output
    with open(run / "coefficients.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "class",
        "term",
        "estimate",
        "std_error",
        "z",
        "p_value",
        "ci_low",
        "ci_high",
        "odds_ratio",
        "odds_ratio_low",
        "odds_ratio_high",
    ]
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    reference = _statsmodels(
        "y ~ bill_length_mm + bill_depth_mm + flipper_length_mm + body_mass_g + C(species) + C(island)",
        frame.assign(y=(frame["sex"] == "male").astype(int)),
        multinomial=False,
    )
    by_term = {row["term"]: row for row in rows}
    for term, estimate in reference.params.items():
        row = by_term[re.sub(r"C\((\w+)\)", r"\1", term)]
        assert math.isclose(float(row["estimate"]), estimate, rel_tol=RTOL)
        assert math.isclose(float(row["std_error"]), reference.bse[term], rel_tol=RTOL)
    info = CliRunner().invoke(main, ["info", str(run / "model.onnx")])
    assert info.exit_code == 0, info.output
    assert "species[T.Gentoo]" in info.output and f"AIC {reference.aic:.2f}" in info.output
