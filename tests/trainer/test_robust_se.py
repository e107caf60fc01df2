"""``--se``: robust and clustered standard errors against statsmodels (``cov_type="HC0"``, ``"cluster"``) and glum
(``robust=True``, ``clusters=``), each an independent implementation of the sandwich, on numbers-only and text-column
data, binary and multinomial; HC2 and HC3 against the leverages of statsmodels' GLM influence; the exported graph's
``logit_se`` follows the chosen covariance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from click.testing import CliRunner
from logreg_onnx.trainer.errors import DataError, OptionError

from logreg_onnx import runtime, trainer
from logreg_onnx.cli import main

from .references import quiet, spector

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"
RTOL = 1e-5


def _ours(result) -> np.ndarray:
    return np.array([row["std_error"] for row in result.coefficients.rows])


def _logit(y, X, **fit):
    return quiet(lambda: sm.Logit(np.asarray(y, dtype=float), sm.add_constant(X)).fit(disp=0, **fit))


@pytest.mark.parametrize("se", ["hc0", "HC0"])
def test_hc0_is_statsmodels_hc0_on_spector(se):
    X, y = spector()
    result = trainer.fit(X, y, l2=0, val_fraction=0, se=se)
    np.testing.assert_allclose(_ours(result), _logit(y, X, cov_type="HC0").bse.to_numpy(), rtol=RTOL)
    assert result.coefficients.fit["covariance"] == "hc0"
    # p-values and intervals follow the robust errors
    row = result.coefficients.rows[1]
    assert math.isclose(row["p_value"], math.erfc(abs(row["estimate"] / row["std_error"]) / math.sqrt(2)))
    assert math.isclose(row["ci_high"] - row["estimate"], 1.959963984540054 * row["std_error"])


def test_hc1_is_glums_robust_and_hc0_times_n_over_n_minus_k():
    import glum

    X, y = spector()
    hc1 = _ours(trainer.fit(X, y, l2=0, val_fraction=0, se="robust"))
    hc0 = _ours(trainer.fit(X, y, l2=0, val_fraction=0, se="hc0"))
    np.testing.assert_allclose(hc1, hc0 * math.sqrt(len(y) / (len(y) - 4)), rtol=1e-12)
    model = glum.GeneralizedLinearRegressor(family="binomial", alpha=0, gradient_tol=1e-12, max_iter=1000)
    model.fit(X.to_numpy(), y.to_numpy())
    reference = np.sqrt(np.diag(model.covariance_matrix(X=X.to_numpy(), y=y.to_numpy(), robust=True)))
    np.testing.assert_allclose(hc1, reference, rtol=RTOL)  # glum: intercept first, as our table


@pytest.mark.parametrize("kind", ["hc2", "hc3"])
def test_hc2_and_hc3_divide_each_score_by_its_leverage(kind):
    """The meat sum_i s_i s_i' / (1 - h_i)^a with statsmodels' GLM hat matrix diagonal and response residuals."""
    X, y = spector()
    glm = quiet(lambda: sm.GLM(y.to_numpy(float), sm.add_constant(X), family=sm.families.Binomial()).fit(tol=1e-14))
    h = glm.get_influence().hat_matrix_diag
    Z = sm.add_constant(X).to_numpy()
    scores = (y.to_numpy(float) - glm.fittedvalues.to_numpy())[:, None] * Z
    power = 1 if kind == "hc2" else 2
    meat = (scores / (1 - h)[:, None] ** power).T @ scores
    bread = glm.normalized_cov_params.to_numpy()
    reference = np.sqrt(np.diag(bread @ meat @ bread))
    np.testing.assert_allclose(_ours(trainer.fit(X, y, l2=0, val_fraction=0, se=kind)), reference, rtol=RTOL)


def test_clustered_errors_match_statsmodels_and_glum_and_the_column_is_not_a_feature():
    import glum

    X, y = spector()
    rng = np.random.default_rng(2)
    frame = X.assign(school=rng.choice(["a", "b", "c", "d", "e", "f", "g"], len(X)))
    result = trainer.fit(frame, y, l2=0, val_fraction=0, se="cluster:school")
    assert result.feature_names == ["GPA", "TUCE", "PSI"]  # the cluster column is read, not fitted
    reference = _logit(y, X, cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["school"])[0]})
    np.testing.assert_allclose(_ours(result), reference.bse.to_numpy(), rtol=RTOL)
    model = glum.GeneralizedLinearRegressor(family="binomial", alpha=0, gradient_tol=1e-12, max_iter=1000)
    model.fit(X.to_numpy(), y.to_numpy())
    clusters = pd.factorize(frame["school"])[0]
    glum_se = np.sqrt(np.diag(model.covariance_matrix(X=X.to_numpy(), y=y.to_numpy(), clusters=clusters)))
    np.testing.assert_allclose(_ours(result), glum_se, rtol=RTOL)
    assert result.coefficients.fit["covariance"] == "cluster:school"


def test_text_columns_binary_hc0_and_clustered_by_year_match_statsmodels():
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    X = frame[["island", "species", "bill_length_mm", "flipper_length_mm", "year"]]
    formula = "y ~ C(island) + C(species) + bill_length_mm + flipper_length_mm"
    data = X.assign(y=(frame["sex"] == "male").astype(int))
    for se, fit in (
        ("hc0", {"cov_type": "HC0"}),
        ("cluster:year", {"cov_type": "cluster", "cov_kwds": {"groups": frame["year"].to_numpy()}}),
    ):
        columns = X if se.startswith("cluster") else X.drop(columns=["year"])
        result = trainer.fit(columns, frame["sex"], l2=0, val_fraction=0, se=se)
        reference = quiet(lambda fit=fit: smf.logit(formula, data=data).fit(method="newton", disp=0, **fit))
        ours = {row["term"]: row["std_error"] for row in result.coefficients.rows}
        for term, value in reference.bse.items():
            name = term.replace("C(island)", "island").replace("C(species)", "species")
            assert math.isclose(ours[name], value, rel_tol=RTOL), (se, term, ours[name], value)


def test_multinomial_hc0_and_cluster_match_mnlogit():
    data = sm.datasets.anes96.load_pandas().data
    classes = [f"p{int(v)}" for v in data["PID"]]
    columns = ["logpopul", "selfLR", "age", "educ"]
    groups = data["income"].to_numpy()
    for se, fit in (
        ("hc0", {"cov_type": "HC0"}),
        ("cluster:income", {"cov_type": "cluster", "cov_kwds": {"groups": groups}}),
    ):
        result = trainer.fit(data[[*columns, "income"]] if se.startswith("cluster") else data[columns], classes,
                             l2=0, val_fraction=0, se=se)  # fmt: skip
        codes = pd.Series(classes).map({name: i for i, name in enumerate(result.class_names)}).to_numpy()
        reference = quiet(lambda fit=fit, codes=codes: sm.MNLogit(codes, sm.add_constant(data[columns])).fit(
            method="newton", maxiter=200, disp=0, **fit))  # fmt: skip
        ours = {(row["class"], row["term"]): row["std_error"] for row in result.coefficients.rows}
        bse = reference.bse
        for j, column in enumerate(bse.columns):
            for term in bse.index:
                name = "Intercept" if term == "const" else term
                got = ours[(result.class_names[j + 1], name)]
                assert math.isclose(got, bse.loc[term, column], rel_tol=RTOL), (se, column, term)


def test_hc3_for_a_multinomial_model_and_bad_values_are_refused_in_one_line():
    data = sm.datasets.anes96.load_pandas().data
    with pytest.raises(OptionError, match="hc3 is defined here for a binary model"):
        trainer.fit(data[["age", "educ"]], data["PID"], l2=0, se="hc3")
    with pytest.raises(OptionError, match="must be one of classical, robust, hc0, hc1, hc2, hc3 or cluster:COL"):
        trainer.fit(data[["age", "educ"]], data["PID"], se="sandwich")
    with pytest.raises(DataError, match="no column named 'school' for se='cluster:school'"):
        trainer.fit(data[["age", "educ"]], data["PID"], se="cluster:school")


def test_the_exported_logit_se_follows_the_robust_covariance(tmp_path):
    """The graph's logit_se is the delta method with the chosen covariance: sqrt(z' V z), z = [1, x], V statsmodels'
    HC0 covariance of the original-unit parameters."""
    X, y = spector()
    result = trainer.fit(X, y, l2=0, val_fraction=0, se="hc0")
    path = tmp_path / "model.onnx"
    result.export(path)
    model = runtime.load(path)
    rows = X.to_numpy(np.float32)
    got = model.run_outputs(rows, None, ["logit_se"])["logit_se"][:, 0]
    V = _logit(y, X, cov_type="HC0").cov_params().to_numpy()
    Z = np.concatenate([np.ones((len(rows), 1)), rows.astype(np.float64)], axis=1)
    np.testing.assert_allclose(got, np.sqrt(np.einsum("ni,ij,nj->n", Z, V, Z)), rtol=1e-4)


def test_the_cli_takes_se_and_refuses_a_missing_cluster_column(tmp_path):
    data = tmp_path / "spector.csv"
    frame = sm.datasets.spector.load_pandas().data
    frame.assign(school=np.where(np.arange(len(frame)) % 3 == 0, "a", "b")).to_csv(data, index=False)
    run = tmp_path / "run"
    args = ["train", str(data), "--label", "GRADE", "--l2", "0", "--val-fraction", "0", "--out", str(run), "-q"]
    result = CliRunner().invoke(main, [*args, "--se", "cluster:school"])
    assert result.exit_code == 0, result.output
    assert "school" not in (run / "coefficients.csv").read_text()
    result = CliRunner().invoke(main, [*args, "--se", "cluster:district"])
    assert result.exit_code == 2, result.output
    assert "no column named 'district' for --se cluster:district" in result.output and "Traceback" not in result.output


def test_info_and_the_report_say_which_standard_errors(tmp_path):
    X, y = spector()
    result = trainer.fit(X, y, l2=0, val_fraction=0, se="hc3")
    from logreg_onnx.runtime.coefficients import format_coefficients

    text = format_coefficients(result.coefficients.to_json())
    assert "standard errors robust HC3 (each row's score over 1 - its leverage)" in text
    assert "standard errors" not in format_coefficients(trainer.fit(X, y, l2=0, val_fraction=0).coefficients.to_json())
