"""The coefficient table as `logreg info` prints it, from its JSON form (runtime/coefficients.py)."""

from __future__ import annotations

from logreg_onnx.runtime.coefficients import format_coefficients


def _row(term: str, estimate: float, se: float | None) -> dict:
    values = dict.fromkeys(("z", "p_value", "ci_low", "ci_high", "odds_ratio"))
    if se is not None:
        z = estimate / se
        values = {"z": z, "p_value": 0.5, "ci_low": estimate - 2 * se, "ci_high": estimate + 2 * se, "odds_ratio": 2.0}
    return {"class": "", "term": term, "estimate": estimate, "std_error": se, **values}


def test_a_standard_error_that_was_not_finite_prints_as_nan_and_the_rest_stays():
    # separated classes: the JSON holds null where a standard error (and what follows from it) was not finite
    fit = {"log_likelihood": -0.0, "null_log_likelihood": -300.0, "pseudo_r2": 1.0, "aic": 62.0, "bic": 189.8}
    table = {"classical": True, "fit": fit, "rows": [_row("Intercept", 1.5, 0.25), _row("x", 1e5, None)]}
    text = format_coefficients(table)
    lines = text.splitlines()
    assert lines[0].split() == ["term", "estimate", "std", "err", "z", "p", "[0.025", "0.975]", "odds", "ratio"]
    assert lines[1].split()[:4] == ["Intercept", "1.5", "0.25", "6.000"]
    assert lines[2].split() == ["x", "1e+05", "nan", "nan", "nan", "nan", "nan", "nan"]
