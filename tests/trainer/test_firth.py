"""``--penalty firth``: Firth's penalized likelihood against the PyPI packages firthlogist (estimates, the standard
errors logistf reports, profile penalized likelihood intervals) and firthmodels (penalized likelihood ratio tests:
firthlogist's null fits take the hat values of the reduced design, logistf's and firthmodels' those of the full one),
on logistf's two data sets: endometrial (quasi-complete separation: ``l2=0`` warns, Firth's estimates are finite) and
sex2 (with text columns, through the CLI). Frequency weights against the fit on repeated rows; the refusals."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.errors import OptionError
from logreg_onnx.trainer.stats.separation import SeparableDataWarning

from logreg_onnx import trainer
from logreg_onnx.cli import main

firthlogist = pytest.importorskip("firthlogist")
firthmodels = pytest.importorskip("firthmodels")


def _firthlogist(X, y):
    """firthlogist 0.5.0 at a tight tolerance; it calls ``_validate_data``, which scikit-learn 1.6 moved to
    ``sklearn.utils.validation.validate_data``."""
    from sklearn.utils.validation import validate_data

    cls = firthlogist.FirthLogisticRegression
    if not hasattr(cls, "_validate_data"):
        cls._validate_data = lambda self, X, y, **kw: validate_data(self, X, y, **kw)
    model = cls(tol=1e-12, max_iter=500, pl_max_iter=1000).fit(np.asarray(X, float), np.asarray(y, float))
    return model  # coef_ then intercept_; bse_, ci_ and pvals_ with the intercept last


def _lrt_pvalues(X, y):
    """firthmodels' penalized likelihood ratio tests. Its 0.8.2 leaves a test NaN when a constrained fit's step
    halving stalls, from a warm start (sex2's vis, in the table's column order) or a cold one (endometrial's
    intercept): each test is taken from the warm start, or else the cold one."""
    pvalues = []
    for warm_start in (True, False):
        model = firthmodels.FirthLogisticRegression(gtol=1e-9, xtol=1e-9, max_iter=500).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its ConvergenceWarning for the stalled test, taken from the other
            model.lrt(warm_start=warm_start)
        pvalues.append(np.asarray(model.lrt_pvalues_, dtype=float))
    combined = np.where(np.isnan(pvalues[0]), pvalues[1], pvalues[0])
    return np.r_[combined[-1], combined[:-1]]  # the table's order: the intercept first


def _column(table: dict, name: str) -> np.ndarray:
    return np.array([row[name] for row in table["rows"]], dtype=float)


def _intercept_first(values: np.ndarray) -> np.ndarray:
    return np.r_[values[-1], values[:-1]]


def _check_against_references(table: dict, X, y):
    reference = _firthlogist(X, y)
    estimates = np.r_[reference.intercept_, reference.coef_]
    np.testing.assert_allclose(_column(table, "estimate"), estimates, rtol=1e-6)
    np.testing.assert_allclose(_column(table, "std_error"), _intercept_first(reference.bse_), rtol=1e-5)
    np.testing.assert_allclose(_column(table, "ci_low"), _intercept_first(reference.ci_[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(_column(table, "ci_high"), _intercept_first(reference.ci_[:, 1]), rtol=1e-6)
    np.testing.assert_allclose(_column(table, "p_value"), _lrt_pvalues(X, y), rtol=1e-5)
    z = _column(table, "z")  # the signed root of the statistic: p = 2 (1 - Phi(|z|))
    np.testing.assert_allclose([math.erfc(abs(v) / math.sqrt(2)) for v in z], _column(table, "p_value"), rtol=1e-12)
    assert table["fit"]["penalty"] == "firth" and table["fit"]["intervals"] == "profile penalized likelihood"


def test_separated_endometrial_data_warn_at_l2_0_and_firth_is_finite():
    X, y, names = firthlogist.load_endometrial()
    with pytest.warns(SeparableDataWarning, match=r"quasi-completely separated.*penalty='firth'"):
        unpenalized = trainer.fit(X, y, feature_names=names, l2=0, val_fraction=0)
    assert unpenalized.separated_classes == ["0", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Firth's estimates are finite: no separation warning
        result = trainer.fit(X, y, feature_names=names, penalty="firth", val_fraction=0)
    table = result.coefficients.to_json()
    nv = table["rows"][1]
    assert nv["term"] == "NV" and 2.9 < nv["estimate"] < 3.0  # logistf's 2.929; maximum likelihood's runs away
    assert math.isfinite(nv["ci_high"]) and nv["ci_low"] > 0
    _check_against_references(table, X, y)
    assert result.options["penalty"] == "firth" and result.options["l2"] == 0 and result.options["solver"] == "firth"


def test_sex2_with_text_columns_through_the_cli(tmp_path):
    X, y, names = firthlogist.load_sex2()
    frame = pd.DataFrame(X.astype(int), columns=names)
    text = ["oc", "vic"]  # two columns as text: treatment-coded, their reference level 'no'
    for name in text:
        frame[name] = np.where(frame[name] == 1, "yes", "no")
    frame.insert(0, "case", np.where(y == 1, "yes", "no"))
    frame.to_csv(tmp_path / "sex2.csv", index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "sex2.csv"), "--label", "case", "--penalty", "firth", "--val-fraction", "0",
               "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "intervals from the profile penalized likelihood" in result.output
    assert "\nfirth: converged" in result.output
    table = json.loads((out / "metrics.json").read_text())["coefficients"]
    terms = [row["term"] for row in table["rows"]]
    assert terms == ["Intercept", "age", "vicl", "vis", "dia", "oc[T.yes]", "vic[T.yes]"]
    order = [names.index(t.split("[")[0]) for t in terms[1:]]  # the reference's columns in the table's order
    _check_against_references(table, X[:, order], y)
    dia = table["rows"][4]
    assert round(dia["estimate"], 4) == 3.0960 and round(dia["ci_high"], 4) == 8.0303  # logistf's published sex2 fit
    exported = CliRunner().invoke(main, ["export", str(out), "--out", str(tmp_path / "sex2.onnx"), "-q"])
    assert exported.exit_code == 0, exported.output  # proven against onnxruntime and the reference evaluator
    info = CliRunner().invoke(main, ["info", str(tmp_path / "sex2.onnx")])
    assert info.exit_code == 0 and "Firth's penalized likelihood" in info.output, info.output


def test_frequency_weights_equal_repeated_rows():
    X, y, names = firthlogist.load_sex2()
    w = np.random.default_rng(0).integers(0, 4, len(y))
    weighted = trainer.fit(X, y, feature_names=names, penalty="firth", val_fraction=0, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w)
    repeated = trainer.fit(X[rows], y[rows], feature_names=names, penalty="firth", val_fraction=0)
    a, b = weighted.coefficients.to_json(), repeated.coefficients.to_json()
    for name in ("estimate", "std_error", "ci_low", "ci_high", "p_value"):
        np.testing.assert_allclose(_column(a, name), _column(b, name), rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(_column(b, "estimate"), np.r_[_firthlogist(X[rows], y[rows]).intercept_,
                               _firthlogist(X[rows], y[rows]).coef_], rtol=1e-6)  # fmt: skip


def test_the_estimator_takes_the_penalty():
    X, y, _ = firthlogist.load_endometrial()
    from logreg_onnx.trainer.estimator import LogisticRegressionClassifier

    estimator = LogisticRegressionClassifier(penalty="firth").fit(X, y)
    reference = _firthlogist(X, y)
    np.testing.assert_allclose(estimator.coef_[0], reference.coef_, rtol=1e-6)
    np.testing.assert_allclose(estimator.intercept_, [reference.intercept_], rtol=1e-6)


@pytest.mark.parametrize(
    ("options", "parameter", "words"),
    [
        ({"l2": 0.5}, "l2", "is not used with penalty=firth"),
        ({"optimizer": "adam"}, "optimizer", "does not fit Firth's penalty"),
        ({"class_weight": "balanced"}, "class_weight", "does not combine with penalty=firth"),
        ({"se": "hc1"}, "se", "does not combine with penalty=firth"),
        ({"penalty": "ridge"}, "penalty", "must be one of l2, firth"),
    ],
)
def test_refusals(options, parameter, words):
    X, y, names = firthlogist.load_sex2()
    with pytest.raises(OptionError, match=words) as caught:
        trainer.fit(X, y, feature_names=names, **{"penalty": "firth", **options})
    assert caught.value.parameter == parameter


def test_multinomial_refused_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(OptionError, match=r"binary models.*have 3"):
        trainer.fit(rng.normal(size=(30, 2)), rng.integers(0, 3, 30), penalty="firth")
    data = tmp_path / "three.csv"
    pd.DataFrame({"x": rng.normal(size=30), "y": rng.integers(0, 3, 30)}).to_csv(data, index=False)
    result = CliRunner().invoke(main, ["train", str(data), "--label", "y", "--penalty", "firth", "--out",
                                       str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2 and "--penalty" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_streamed_fit_refuses_firth_in_one_line(tmp_path):
    X, y, names = firthlogist.load_sex2()
    data = tmp_path / "sex2.csv"
    pd.DataFrame(X, columns=names).assign(case=y).to_csv(data, index=False)
    result = CliRunner().invoke(main, ["train", str(data), "--label", "case", "--stream", "--penalty", "firth",
                                       "--out", str(tmp_path / "run"), "-q"])  # fmt: skip
    assert result.exit_code == 2 and "--penalty firth needs the rows in memory" in result.output, result.output
