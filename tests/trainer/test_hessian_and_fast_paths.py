"""The one Hessian routine and the fast paths of a large fit, against independent references: the Hessian written out
row by row in float64 numpy, np.median, direct threshold counts, and statsmodels' Logit on enough rows that the fit
starts from a sample's optimum and sums the information in float32 blocks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
import torch
from logreg_onnx.trainer.data.columns import column_medians
from logreg_onnx.trainer.engine import newton
from logreg_onnx.trainer.stats.calibration import GRID, threshold_table
from logreg_onnx.trainer.stats.hessian import hessian_sum

from logreg_onnx import trainer


def _reference_hessian(X: np.ndarray, P: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """sum_i w_i (diag(p_i) - p_i p_i') kron a_i a_i', a_i = [x_i, 1], in float64, one row at a time."""
    A = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    m, width = P.shape[1], A.shape[1]
    H = np.zeros((m * width, m * width))
    for i in range(len(X)):
        curvature = np.diag(P[i]) - np.outer(P[i], P[i])
        H += (1.0 if weights is None else weights[i]) * np.kron(curvature, np.outer(A[i], A[i]))
    return H


@pytest.mark.parametrize("free", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_hessian_sum_is_the_row_by_row_hessian(free, weighted):
    rng = np.random.default_rng(free)
    X = rng.normal(size=(300, 4))
    logits = rng.normal(size=(300, free + 1))
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    P = P[:, 1:] if free < 3 else P[:, :free]  # binary, reference or softmax parametrizations alike
    weights = rng.uniform(0.5, 2.0, 300) if weighted else None
    ours = hessian_sum(torch.from_numpy(X), torch.from_numpy(P), None if weights is None else torch.from_numpy(weights))
    np.testing.assert_allclose(ours.numpy(), _reference_hessian(X, P, weights), rtol=1e-12, atol=1e-10)


def test_hessian_sum_of_many_models_at_once_is_each_models_hessian():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 3))
    P = rng.uniform(0.05, 0.95, size=(200, 4, 1))  # 4 folds' binary probabilities
    weights = rng.uniform(0, 1, size=(200, 4))
    ours = hessian_sum(torch.from_numpy(X), torch.from_numpy(P), torch.from_numpy(weights))
    for f in range(4):
        np.testing.assert_allclose(ours[f].numpy(), _reference_hessian(X, P[:, f], weights[:, f]), rtol=1e-12)


def test_float32_blocks_summed_in_float64_keep_standard_errors_to_1e_6():
    rng = np.random.default_rng(3)
    n = 300_000
    X = rng.normal(size=(n, 5))
    X[:, 1] = 0.95 * X[:, 0] + 0.3 * X[:, 1]  # correlated terms: the inverse amplifies errors
    p = 1 / (1 + np.exp(-(X @ [0.5, -1.0, 0.2, 0.0, 2.0] + 0.3)))
    blocks = hessian_sum(torch.from_numpy(X.astype(np.float32)), torch.from_numpy(p[:, None]))
    reference = hessian_sum(torch.from_numpy(X.astype(np.float32).astype(np.float64)), torch.from_numpy(p[:, None]))
    se = np.sqrt(np.diag(np.linalg.inv(blocks.numpy())))
    se_reference = np.sqrt(np.diag(np.linalg.inv(reference.numpy())))
    np.testing.assert_allclose(se, se_reference, rtol=1e-6)  # float32 products, float64 sums: nothing that counts lost


@pytest.mark.parametrize("with_rows", [False, True])
def test_column_medians_equal_np_median_whatever_the_column(with_rows):
    rng = np.random.default_rng(5)
    n = 300_001  # more than 4 x 65,536 rows: the sampled window, not a partition of the whole column
    X = np.empty((n, 7), dtype=np.float32)
    X[:, 0] = rng.normal(size=n)
    X[:, 1] = np.sort(rng.normal(size=n))  # sorted: the evenly spread sample is exact
    X[:, 2] = rng.integers(0, 3, n)  # ties at the median
    X[:, 3] = np.where(rng.random(n) < 0.3, np.nan, rng.standard_cauchy(n))  # missing values, heavy tails
    X[:, 4] = np.nan
    X[:3, 4] = [1.0, 2.0, 4.0]  # almost empty
    X[:, 5] = np.tile(np.array([0, 1, 0, 1, 5, 100], dtype=np.float32), n // 6 + 1)[:n]  # periodic
    X[:, 6] = 7.0
    rows = np.sort(rng.choice(n, 200_000, replace=False)) if with_rows else None
    medians, present = column_medians(X, rows)
    chosen = X if rows is None else X[rows]
    for j in range(X.shape[1]):
        values = chosen[:, j][~np.isnan(chosen[:, j])].astype(np.float64)
        assert present[j] == len(values)
        assert medians[j] == np.median(values), j


def test_threshold_table_counts_equal_direct_counts_even_on_the_grid_values():
    rng = np.random.default_rng(9)
    p = rng.random(20_000)
    p[:400] = rng.choice(GRID, 400)  # probabilities exactly on thresholds: p > t must be strict
    y = (rng.random(len(p)) < p).astype(np.int64)
    table = threshold_table(y, p)
    assert [row["threshold"] for row in table] == [float(t) for t in GRID]
    for row in table:
        predicted = p > row["threshold"]
        assert row["tp"] == int((predicted & (y == 1)).sum()) and row["fp"] == int((predicted & (y == 0)).sum())
        assert row["fn"] == int((~predicted & (y == 1)).sum()) and row["tn"] == int((~predicted & (y == 0)).sum())


def test_a_large_fit_reaches_statsmodels_estimates_and_standard_errors():
    """Enough rows for the sample's optimum as the start and float32 blocks for the information."""
    rng = np.random.default_rng(11)
    n = 4 * newton.HESSIAN_ROWS + 20_000
    X = rng.normal(size=(n, 4)) * [0.1, 1.0, 10.0, 3.0] + [5.0, -2.0, 50.0, 0.0]
    z = (X - [5.0, -2.0, 50.0, 0.0]) @ [4.0, -0.5, 0.05, 0.2] + 0.4
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    result = trainer.fit(X, y, l2=0, val_fraction=0)
    assert result.converged
    X64 = X.astype(np.float32).astype(np.float64)  # the model's float32 features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sm.Logit(y, sm.add_constant(X64)).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    rows = {row["term"]: row for row in result.coefficients.rows}
    for t, term in enumerate(["Intercept", *result.feature_names]):
        assert math.isclose(rows[term]["estimate"], reference.params[t], rel_tol=1e-4, abs_tol=1e-6), term
        assert math.isclose(rows[term]["std_error"], reference.bse[t], rel_tol=1e-4), term
    assert result.metrics["train"]["log_loss"] == pytest.approx(-reference.llf / n, rel=1e-9)
    assert result.coefficients.fit["log_likelihood"] == pytest.approx(reference.llf, rel=1e-9)


def test_a_softmax_fit_takes_no_common_shift_of_its_classes():
    """Adding one vector to every class changes no probability: the solver must not drift along it (a drift of
    dozens, harmless in float64, costs the float32 weights their small differences: the table's estimates)."""
    data = sm.datasets.anes96.load_pandas().data
    result = trainer.fit(data[["logpopul", "selfLR", "age", "educ", "income"]], data["PID"], l2=0, val_fraction=0)
    weight = result.model.linear.weight.detach().double()
    assert float(weight.mean(dim=0).abs().max()) <= 1e-6 * float(weight.abs().max())
