"""What the tests against statsmodels share: its bundled data sets, and its fits without their convergence chatter."""

from __future__ import annotations

import warnings

import statsmodels.api as sm


def quiet(call):
    """``call()`` with statsmodels' warnings (convergence, perfect prediction) silenced: the values are compared."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def spector():
    """statsmodels' spector data: features GPA, TUCE, PSI and the 0/1 label GRADE (32 rows)."""
    data = sm.datasets.spector.load_pandas().data
    return data[["GPA", "TUCE", "PSI"]], data["GRADE"]
