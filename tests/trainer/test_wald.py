"""Wald tests of linear hypotheses (``logreg test RUN "..."``, ``FitResult.wald_test``) against statsmodels'
``wald_test`` on the same fit and covariance: classical and robust, numbers only, text columns, multinomial."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from click.testing import CliRunner
from logreg_onnx.trainer.stats.wald import HypothesisError

from logreg_onnx import trainer
from logreg_onnx.cli import main

from .references import quiet

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "penguins" / "penguins.csv"


@pytest.mark.parametrize(("se", "cov_type"), [("classical", "nonrobust"), ("hc0", "HC0")])
def test_spector_hypotheses_match_statsmodels(se, cov_type):
    data = sm.datasets.spector.load_pandas().data
    result = trainer.fit(data[["GPA", "TUCE", "PSI"]], data["GRADE"], l2=0, val_fraction=0, se=se)
    reference = quiet(lambda: smf.logit("GRADE ~ GPA + TUCE + PSI", data).fit(disp=0, cov_type=cov_type))
    for text in ("GPA = 0", "GPA = 0, TUCE = 2*PSI - 0.1", "Intercept + 3 = 0.5*GPA"):
        ours = result.wald_test(text)
        theirs = reference.wald_test(text, scalar=True, use_f=False)
        assert math.isclose(ours.statistic, float(theirs.statistic), rel_tol=1e-5), text
        assert math.isclose(ours.p_value, float(theirs.pvalue), rel_tol=1e-5), text
        assert ours.df == text.count(",") + 1 and ours.covariance == se


def test_text_columns_terms_and_backticks_match_statsmodels_by_matrix():
    frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
    X = frame[["island", "species", "bill_length_mm", "flipper_length_mm"]]
    result = trainer.fit(X, frame["sex"], l2=0, val_fraction=0, se="hc1")
    reference = quiet(
        lambda: smf.logit(
            "y ~ C(island) + C(species) + bill_length_mm + flipper_length_mm",
            X.assign(y=(frame["sex"] == "male").astype(int)),
        ).fit(disp=0, cov_type="HC0")
    )
    names = list(reference.params.index)
    R = np.zeros((2, len(names)))
    R[0, names.index("C(species)[T.Gentoo]")] = 1.0
    R[1, names.index("C(island)[T.Dream]")], R[1, names.index("C(island)[T.Torgersen]")] = 1.0, -1.0
    theirs = reference.wald_test((R, np.array([0.0, 0.25])), scalar=True, use_f=False)
    ours = result.wald_test("species[T.Gentoo] = 0, `island[T.Dream]` - island[T.Torgersen] = 0.25")
    n, k = len(X), len(names)
    assert math.isclose(ours.statistic, float(theirs.statistic) * (n - k) / n, rel_tol=1e-5)  # hc1 = hc0 * n/(n-k)


def test_a_multinomial_hypothesis_holds_for_every_class_or_one():
    data = sm.datasets.anes96.load_pandas().data
    columns = ["logpopul", "selfLR", "age", "educ"]
    classes = [f"p{int(v)}" for v in data["PID"]]
    result = trainer.fit(data[columns], classes, l2=0, val_fraction=0)
    codes = pd.Series(classes).map({name: i for i, name in enumerate(result.class_names)}).to_numpy()
    reference = quiet(lambda: sm.MNLogit(codes, sm.add_constant(data[columns])).fit(method="newton", disp=0))
    index = list(reference.cov_params().index)  # (equation, term), equation by equation
    equations = list(dict.fromkeys(e for e, _ in index))
    R = np.zeros((len(equations), len(index)))
    for i, equation in enumerate(equations):
        R[i, index.index((equation, "age"))] = 1.0
    theirs = reference.wald_test(R, scalar=True, use_f=False)
    ours = result.wald_test("age = 0")
    assert ours.df == len(result.class_names) - 1 == len(equations)
    assert math.isclose(ours.statistic, float(theirs.statistic), rel_tol=1e-5)
    one = result.wald_test(f"{result.class_names[2]}:age = 0")
    se = next(
        r["std_error"] for r in result.coefficients.rows if r["class"] == result.class_names[2] and r["term"] == "age"
    )
    estimate = next(
        r["estimate"] for r in result.coefficients.rows if r["class"] == result.class_names[2] and r["term"] == "age"
    )
    assert one.df == 1 and math.isclose(one.statistic, (estimate / se) ** 2, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("GPA", "expected one '=' in each hypothesis"),
        ("GPA = 0,", "expected hypotheses separated by commas"),
        ("SAT = 0", "no term 'SAT' in the coefficient table"),
        ("3 = 4", "restricts no coefficient"),
        ("GPA = 0, 2*GPA = 0", "are not independent"),
    ],
)
def test_a_bad_hypothesis_is_refused_in_one_line(text, said):
    data = sm.datasets.spector.load_pandas().data
    result = trainer.fit(data[["GPA", "TUCE", "PSI"]], data["GRADE"], l2=0, val_fraction=0)
    with pytest.raises(HypothesisError, match=said):
        result.wald_test(text)


def test_the_cli_tests_a_run_and_refuses_a_run_without_standard_errors(tmp_path):
    data = tmp_path / "spector.csv"
    sm.datasets.spector.load_pandas().data.to_csv(data, index=False)
    base = ["train", str(data), "--label", "GRADE", "--val-fraction", "0", "-q"]
    run, penalized = tmp_path / "run", tmp_path / "penalized"
    assert CliRunner().invoke(main, [*base, "--l2", "0", "--se", "hc0", "--out", str(run)]).exit_code == 0
    assert CliRunner().invoke(main, [*base, "--out", str(penalized)]).exit_code == 0
    result = CliRunner().invoke(main, ["test", str(run), "GPA = 0, TUCE = PSI", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    expected = trainer.fit(
        sm.datasets.spector.load_pandas().data[["GPA", "TUCE", "PSI"]],
        sm.datasets.spector.load_pandas().data["GRADE"], l2=0, val_fraction=0, se="hc0",
    ).wald_test("GPA = 0, TUCE = PSI")  # fmt: skip
    assert answer["df"] == 2 and answer["covariance"] == "hc0"
    assert math.isclose(answer["statistic"], expected.statistic, rel_tol=1e-6)
    result = CliRunner().invoke(main, ["test", str(penalized), "GPA = 0"])
    assert result.exit_code == 2 and "a Wald test needs the table's standard errors" in result.output
    assert "Traceback" not in result.output
