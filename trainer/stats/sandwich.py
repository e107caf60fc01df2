"""Robust (sandwich) and clustered covariances of a logistic fit's parameters, for ``--se``: the coefficient table's
standard errors, p-values and intervals, and the exported graph's interval outputs, follow the one chosen.

With ``H`` the log-loss's Hessian at the optimum (the observed information, :func:`trainer.stats.hessian.hessian_sum`)
and ``s_i = (y_i - p_i) kron [x_i, 1]`` each row's score (its classes whose parameters are free), the covariance is
``H^-1 M H^-1`` times a correction, where the meat ``M`` is:

- ``hc0``: ``sum_i s_i s_i'`` (White's; statsmodels' ``cov_type="HC0"``, which its Logit and GLM also give for
  "HC1" to "HC3": they have no hat matrix and fall back to HC0);
- ``hc1``: hc0 times ``n / (n - k)``, ``k`` the number of parameters (glum's ``robust=True``); ``robust`` is hc1;
- ``hc2``, ``hc3``: each ``s_i s_i'`` divided by ``1 - h_i`` or ``(1 - h_i)^2``, ``h_i = p_i (1 - p_i) x_i' H^-1 x_i``
  the GLM hat matrix's diagonal (a binary model: a multinomial row's leverage is a matrix, not defined here);
- ``cluster:COL``: ``sum_g (sum_{i in g} s_i)(sum_{i in g} s_i)'`` over the groups of column COL, times
  ``G / (G - 1) * (n - 1) / (n - k)`` (statsmodels' ``cov_type="cluster"`` with its default small-sample correction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..options import CLUSTER
from .hessian import score_sum


@dataclass(frozen=True)
class Covariance:
    """What ``--se`` asks for: ``kind`` one of ``classical, hc0 .. hc3`` or ``cluster``, and the cluster ``column``."""

    kind: str = "classical"
    column: str | None = None

    @property
    def classical(self) -> bool:
        return self.kind == "classical"

    @property
    def name(self) -> str:
        """As the table's fit records it: the kind, or ``cluster:COL``."""
        return f"{CLUSTER}{self.column}" if self.kind == "cluster" else self.kind


def covariance_rule(value: str) -> Covariance:
    """The :class:`Covariance` of ``--se``'s kept value (``robust`` is hc1)."""
    if value.startswith(CLUSTER):
        return Covariance("cluster", value[len(CLUSTER) :])
    return Covariance("hc1" if value == "robust" else value)


def sandwich(
    bread: np.ndarray,
    rows: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray | None,
    rule: Covariance,
    groups: np.ndarray | None = None,
    frequency: np.ndarray | None = None,
    *,
    chunk_rows: int = 65536,
) -> np.ndarray:
    """The robust covariance of the solver's parameters (standardized features, the free classes' ``[w | b]`` class
    by class, as ``bread``'s layout).

    Parameters
    ----------
    bread : ndarray of shape (m * (D + 1),) * 2, the inverse of the information ``H``
    rows : ndarray of shape (n, D), float32 design rows (raw, standardized here a chunk at a time in float64)
    residuals : ndarray of shape (n, m), ``y - p`` of the free classes
    weights : ndarray of shape (n,), each row's ``p (1 - p)`` for the leverages (hc2, hc3), or None
    groups : ndarray of shape (n,), int cluster codes (``cluster``)
    frequency : ndarray of shape (n,), the rows' frequency weights: a row of weight w is w rows (n is their sum)
    """
    n, m = residuals.shape
    width = rows.shape[1] + 1
    k = m * width
    bread_t = torch.from_numpy(bread)
    meat = torch.zeros((k, k), dtype=torch.float64)
    n_groups = 0
    if rule.kind == "cluster":
        codes, groups_of = np.unique(groups, return_inverse=True)
        n_groups = len(codes)
        sums = torch.zeros((n_groups, k), dtype=torch.float64)
    mean32, scale32 = torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(scale.astype(np.float32))
    for start in range(0, n, chunk_rows):
        part = slice(start, start + chunk_rows)
        r = torch.from_numpy(residuals[part]).double()  # (r, m)
        w = None if frequency is None else torch.from_numpy(np.asarray(frequency[part], dtype=np.float64))
        if rule.kind in ("hc0", "hc1"):  # the meat from float32 products summed in float64, as the information is
            standardized = (torch.from_numpy(rows[part]) - mean32) / scale32
            meat += score_sum(standardized, r, w)
            continue
        x = (torch.from_numpy(rows[part]).double() - torch.from_numpy(mean)) / torch.from_numpy(scale)
        x = torch.cat([x, torch.ones((len(x), 1), dtype=torch.float64)], dim=1)  # (r, width)
        scores = (r[:, :, None] * x[:, None, :]).reshape(len(x), k)  # class by class, the bias last in each
        if rule.kind == "cluster":
            sums.index_add_(0, torch.from_numpy(groups_of[part]), scores if w is None else scores * w[:, None])
            continue
        leverage = torch.from_numpy(weights[part]).double() * ((x @ bread_t) * x).sum(dim=1)  # hc2, hc3
        if w is not None:
            leverage = leverage * w
        shrink = torch.sqrt(1.0 - leverage) if rule.kind == "hc2" else 1.0 - leverage
        scores = scores / shrink[:, None]
        meat += scores.T @ (scores if w is None else scores * w[:, None])
    if rule.kind == "cluster":
        meat = sums.T @ sums
    covariance = (bread_t @ meat @ bread_t).numpy()
    covariance = (covariance + covariance.T) / 2.0
    n = n if frequency is None else float(np.sum(frequency))
    if rule.kind == "hc1":
        covariance *= n / (n - k)
    elif rule.kind == "cluster":
        covariance *= n_groups / (n_groups - 1) * (n - 1) / (n - k)
    return covariance
