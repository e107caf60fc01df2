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


def treatment_design(frame, terms: list[str]):
    """The design matrix of a coefficient table's ``terms`` for statsmodels: the intercept, each numeric column as
    the model reads it (float32), and a text column's level ``name[T.level]`` as its indicator (treatment coding)."""
    import numpy as np

    columns = []
    for term in terms:
        if term == "Intercept":
            columns.append(np.ones(len(frame)))
        elif "[T." in term:
            name, level = term[:-1].split("[T.")
            columns.append((frame[name].astype(str) == level).to_numpy(float))
        else:
            columns.append(frame[term].to_numpy(np.float32).astype(float))
    return np.column_stack(columns)
