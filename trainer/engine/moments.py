"""Column means and standard deviations of training rows, a chunk at a time in float64 and merged (Chan, Golub and
LeVeque): the standardization the model carries, for in-memory, weighted and streamed fits alike."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def standardization(
    X: np.ndarray, chunk_rows: int = 65536, *, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population standard deviation: each chunk's (count, mean, sum of squared deviations) in
    float64, on every core (numpy's loops release the GIL; no float64 copy of the whole data), merged in order.
    ``weights``: frequency weights (the count is their sum)."""

    def part(start: int):
        rows = slice(start, start + chunk_rows)
        return chunk_moments(X[rows], None if weights is None else weights[rows])

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(part, range(0, len(X), chunk_rows)))
    merged = (0, np.zeros(X.shape[1]), np.zeros(X.shape[1]))
    for part in parts:
        merged = combine_moments(merged, part)
    return from_moments(*merged)


def chunk_moments(X: np.ndarray, weights: np.ndarray | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Rows ``X``'s (count, column means, column sums of squared deviations), in float64; ``weights``: each row
    counted that many times."""
    if weights is not None:
        total = float(weights.sum())
        if total <= 0:
            return 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
        mean = weights @ X.astype(np.float64) / total
        centred = X - mean
        return total, mean, np.einsum("i,ij,ij->j", weights, centred, centred)
    if not len(X):
        return 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    mean = X.mean(axis=0, dtype=np.float64)
    centred = X - mean
    return len(X), mean, np.einsum("ij,ij->j", centred, centred, dtype=np.float64)


def combine_moments(a: tuple, b: tuple) -> tuple:
    """Two (count, mean, sum of squared deviations) merged (Chan, Golub and LeVeque, 1979): stable where the
    textbook sum-of-squares formula cancels."""
    (n, mean, m2), (m, other_mean, other_m2) = a, b
    if not m:
        return a
    if not n:
        return b
    total = n + m
    delta = other_mean - mean
    return total, mean + delta * (m / total), m2 + other_m2 + delta**2 * (n * m / total)


def from_moments(n: int, mean: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float32 mean and population standard deviation from a column's count, float64 mean and sum of squared
    deviations; a constant column's scale is 1 (left unscaled)."""
    scale = np.sqrt(squares / n)
    scale[scale < 1e-12 * np.maximum(np.abs(mean), 1.0)] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)
