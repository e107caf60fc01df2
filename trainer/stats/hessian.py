"""The log-loss's Hessian blocks, written once: Newton's steps, the ``--l2 auto`` folds and the coefficient table's
observed information all call :func:`hessian_sum` (the penalty's part: :func:`trainer.engine.optim.penalty_diagonal`).

For a row with design vector ``x`` (a constant 1 appended for the bias) and probabilities ``p`` of the classes whose
parameters are free, the row's Hessian is ``(diag(p) - p p') kron x x'``: block (a, b) is ``p_a (d_ab - p_b) x x'``.
A binary model has one free class (the second: ``p (1 - p) x x'``); a softmax model has every class (the Hessian is
then singular along a common shift of all classes); the coefficient table's reference parametrization (each class
against the first) has the classes after the first. For the logit link the observed and the expected information are
the same matrix, so the same sum serves the solver at the optimum and the standard errors.
"""

from __future__ import annotations

import torch

BLOCK_ROWS = 65536  # rows taken at a time
# float32 sums over at most this many rows, added in float64: with 4096, an AMD EPYC's float32 products lost 1.9e-6 of
# a standard error (tests/trainer/test_hessian_and_fast_paths.py); 1024 loses 1.5e-7 there, at the same speed
SUM_ROWS = 1024
# multiply-adds (rows x parameters^2) up to which a fit computes the Hessian of every row at its optimum (for the
# last Newton steps and the coefficient table's standard errors): about a minute on a small machine
MAX_INFORMATION_WORK = 4e10


def hessian_sum(
    X: torch.Tensor,
    P: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
    block_rows: int = BLOCK_ROWS,
) -> torch.Tensor:
    """``sum over rows of weight * (diag(p) - p p') kron [x, 1][x, 1]'`` in float64.

    Parameters
    ----------
    X : tensor of shape (n_rows, n_features), the rows without the bias's constant column (its products are the
        sums of the curvature and of the curvature times ``x``: no padded copy of the rows is made)
    P : tensor of shape (n_rows, m), the probabilities of the m classes whose parameters are free; or of shape
        (n_rows, k, m) for k models at once (the cross-validation folds)
    weights : tensor of shape (n_rows,) or (n_rows, k), or None
    dtype : the products' precision (default: ``X``'s); sums over at most SUM_ROWS rows are added in float64

    Returns
    -------
    tensor of shape (m * (n_features + 1),) * 2, or (k, m * (n_features + 1), m * (n_features + 1)): parameters
    flattened class by class, the bias last in each (the layout of the solvers' ``V``).
    """
    batched = P.dim() == 3
    if not batched:
        P = P[:, None, :]
        weights = None if weights is None else weights[:, None]
    n, k, m = P.shape
    d = X.shape[1]
    width = d + 1
    dtype = dtype or X.dtype
    H = torch.zeros((k, m, width, m, width), dtype=torch.float64, device=X.device)
    for start in range(0, n, block_rows):
        rows = slice(start, start + block_rows)
        A = X[rows].to(dtype)  # (r, d): the constant column's products are sums of c and of c x, taken apart
        probabilities = P[rows].to(dtype)
        w = None if weights is None else weights[rows].to(dtype)
        for a in range(m):
            for b in range(a, m):
                c = probabilities[:, :, a] * ((1.0 if a == b else 0.0) - probabilities[:, :, b])  # (r, k)
                _add_block(H[:, a, :, b, :], A, c if w is None else c * w)
    H = _mirrored(H)
    return H if batched else H[0]


def score_sum(X: torch.Tensor, R: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``sum over rows of weight * (r r') kron [x, 1][x, 1]'`` in float64, from ``X``'s precision's products as
    :func:`hessian_sum` takes them: the robust covariance's meat, ``r`` each row's scores' class factors (``y - p``,
    shrunk for hc2 and hc3). ``X`` (n_rows, n_features) standardized, ``R`` (n_rows, m); returns (m * (n_features +
    1),) * 2 in the solvers' layout."""
    n, m = R.shape
    d = X.shape[1]
    H = torch.zeros((1, m, d + 1, m, d + 1), dtype=torch.float64, device=X.device)
    for start in range(0, n, BLOCK_ROWS):
        rows = slice(start, start + BLOCK_ROWS)
        A, r = X[rows], R[rows].to(X.dtype)
        w = None if weights is None else weights[rows].to(X.dtype)
        for a in range(m):
            for b in range(a, m):
                c = r[:, a] * r[:, b]
                _add_block(H[:, a, :, b, :], A, (c if w is None else c * w)[:, None])
    return _mirrored(H)[0]


def _add_block(block: torch.Tensor, A: torch.Tensor, c: torch.Tensor) -> None:
    """Add ``sum_rows c * [x, 1][x, 1]'`` to ``block`` (k, width, width): ``A`` (r, d) the rows without the bias's
    constant column (its products are the sums of ``c`` and of ``c x``: no padded copy of the rows), ``c`` (r, k)."""
    d, k = A.shape[1], c.shape[1]
    if k == 1:
        block[0, :d, :d] += _gram(A * c, A)
    else:
        block[:, :d, :d] += torch.matmul((A[None, :, :] * c.T[:, :, None]).transpose(1, 2), A).double()
    moments = _gram(c, A)  # (k, d): sum of c x, in float64 over slices (not one float32 sum of the block)
    block[:, d, :d] += moments
    block[:, :d, d] += moments
    block[:, d, d] += c.sum(dim=0, dtype=torch.float64)


def _mirrored(H: torch.Tensor) -> torch.Tensor:
    """(k, m, width, m, width) with its blocks a <= b filled, as (k, m * width, m * width) with the others too."""
    k, m, width = H.shape[:3]
    H = H.view(k, m * width, m * width)
    for a in range(m):
        for b in range(a + 1, m):
            H[:, b * width : (b + 1) * width, a * width : (a + 1) * width] = H[
                :, a * width : (a + 1) * width, b * width : (b + 1) * width
            ].transpose(1, 2)
    return H


def shift_ridge(H: torch.Tensor) -> torch.Tensor:
    """``H`` (P, P), or a batch (k, P, P), plus 1e-10 of its largest diagonal entry on the diagonal. A softmax's
    biases are defined up to a common shift (the gradient has no part along it): a ridge far below the curvature
    makes the systems solvable without moving the optimum's probabilities."""
    ridge = 1e-10 * H.diagonal(dim1=-2, dim2=-1).amax()
    return H + torch.eye(H.shape[-1], dtype=H.dtype, device=H.device) * ridge


def _gram(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A' B`` in float64 from float32 products: one batched product over slices of SUM_ROWS rows (all slices at
    once, so that the cores share the work), each slice's sum added in float64."""
    r, d = A.shape
    full = r - r % SUM_ROWS
    out = torch.zeros((d, B.shape[1]), dtype=torch.float64, device=A.device)
    if full:
        slices = torch.bmm(A[:full].view(-1, SUM_ROWS, d).transpose(1, 2), B[:full].view(-1, SUM_ROWS, B.shape[1]))
        out += slices.double().sum(dim=0)
    if full < r:
        out += (A[full:].T @ B[full:]).double()
    return out
