"""Proof that an ONNX file computes what the PyTorch model computes, in small named steps.

prepare probe rows -> run PyTorch (the reference) -> run onnxruntime and onnx's ReferenceEvaluator -> check the
contract (names, order, types, dynamic batch) -> compare values, per output, with explicit tolerances.

Tolerance. An element passes when ``|got - torch| <= atol + rtol * |torch| + slack``, where ``slack`` is what
float32 arithmetic alone can move that probability (:func:`float32_slack`): the logits are float32 dot products,
whose rounding error grows with ``sum_j |w_j * x_j|`` (standardized x), and the softmax derivative carries it to
each probability. On ordinary rows the slack is tiny and the test is tight (a weight changed in its 5th significant
digit fails); on rows of huge magnitude, where float32 itself cannot pin the logits down, two correct
implementations legitimately differ more, and the slack says by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from runtime import contract
from trainer.model import LogisticModel

from .errors import SignatureMismatchError

DEFAULT_ATOL = 1e-6  # 16 float32 ulps of 0.5: the rounding of exp and of the softmax division
DEFAULT_RTOL = 1e-6  # 16 float32 ulps of a probability in [0.5, 1)
SUM_TOLERANCE = 1e-6
EPS32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Probes:
    """Raw feature rows to compare on, float32, with the name of the group each row comes from."""

    rows: np.ndarray
    groups: list[str]
    notes: list[str]

    def describe_row(self, index: int) -> str:
        group = self.groups[index]
        return f"{group} #{index - self.groups.index(group)}"


def make_probes(model: LogisticModel, data_rows: np.ndarray | None, *, seed: int = 0, n_random: int = 256) -> Probes:
    """Rows that exercise every regime: the run's data, random rows at scales 1, 1e3 and 1e4 (in units of each
    feature's spread), rows near the decision boundary, one feature at a time, rows far into saturation, and
    all-zero rows."""
    rng = np.random.default_rng(seed)
    mean = model.mean.double().numpy()
    scale = model.scale.double().numpy()
    W, b = _logit_weights(model)
    n_features = len(mean)
    standardized: list[tuple[str, np.ndarray]] = []
    notes = []
    raw_groups: list[tuple[str, np.ndarray]] = []
    if data_rows is not None and len(data_rows):
        raw_groups.append(("training data", np.asarray(data_rows, dtype=np.float32)))
    else:
        notes.append("the run's data file is not available unchanged: verified on synthetic rows only")
    for scale_factor in (1.0, 1e3, 1e4):
        standardized.append((f"random x{scale_factor:g}", rng.standard_normal((n_random, n_features)) * scale_factor))
    standardized.append(("near boundary", _boundary_rows(W, b, rng, n_random)))
    standardized.append(("one feature", _one_feature_rows(W, b)))
    standardized.append(("saturated", _saturated_rows(W, b)))
    raw_groups.append(("all zeros", np.zeros((4, n_features), dtype=np.float32)))
    parts, groups = [], []
    for name, z in standardized:
        parts.append((mean + scale * z).astype(np.float32))
        groups += [name] * len(z)
    for name, rows in raw_groups:
        parts.append(rows)
        groups += [name] * len(rows)
    rows = np.ascontiguousarray(np.concatenate(parts))
    # keep the group order the same as the rows: raw groups were appended after the standardized ones
    return Probes(rows=rows, groups=groups, notes=notes)


def _logit_weights(model: LogisticModel) -> tuple[np.ndarray, np.ndarray]:
    return model.linear.weight.detach().double().numpy(), model.linear.bias.detach().double().numpy()


def _boundary_rows(W: np.ndarray, b: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-scale rows moved so that their logits sit near the decision boundary, where probabilities are most
    sensitive to the weights (binary: logit in [-4, 4]; multiclass: logit differences of about 1).

    Multiclass logits are centred over the classes first: the softmax sees only their differences, and the raw
    weights of an unpenalized softmax model are nearly singular in the direction shared by every class. The move is
    capped at a few units so that these rows stay well-conditioned.
    """
    z = rng.standard_normal((n, W.shape[1]))
    if W.shape[0] == 1:
        target = rng.uniform(-4, 4, size=(n, 1))
        A, offset = W, b
    else:
        target = rng.standard_normal((n, W.shape[0]))
        A, offset = W - W.mean(axis=0), b - b.mean()
    correction = np.linalg.lstsq(A, (target - (z @ A.T + offset)).T, rcond=None)[0].T
    size = np.linalg.norm(correction, axis=1, keepdims=True)
    cap = 4.0 * math.sqrt(W.shape[1])
    return z + correction * np.minimum(1.0, cap / np.maximum(size, 1e-300))


# How far (in units of a feature's spread) a probe may move one feature: a weight so small that it would need more
# to show has a 5th significant digit no float32 computation could observe, and rows beyond this magnitude are so
# ill-conditioned that float32 rounding exceeds its typical bound.
_MAX_MOVE = 1e3


def _capped(correction: np.ndarray, move: float) -> np.ndarray:
    """A least-squares correction, shrunk if needed so that no feature moves further than the probed one does."""
    largest = float(np.abs(correction).max(initial=0.0))
    limit = max(move, 1.0)
    return correction if largest <= limit else correction * (limit / largest)


def _one_feature_rows(W: np.ndarray, b: np.ndarray, reach: float = 10.0) -> np.ndarray:
    """For each feature: a row where it alone moves the logits by up to ``reach``, and the other features (least
    squares, smallest move) bring them back near the decision boundary.

    Such a row's float32 noise scales with ``reach`` (about 2 * reach * eps32) while a change of that feature's
    weight shows up as ``reach * relative change`` in the logits: every weight, the smallest included, is seen
    with the same signal-to-noise ratio. This is what catches a weight changed in its 5th significant digit.
    """
    n_out, n_features = W.shape
    rows = []
    if n_features < 2:
        return np.zeros((0, n_features))
    target = np.full(n_out, 0.5) if n_out == 1 else np.zeros(n_out)
    for j in range(n_features):
        column = W[:, j]
        largest = float(np.abs(column).max())
        if largest == 0:
            continue
        others = np.delete(np.arange(n_features), j)
        for sign in (1.0, -1.0):
            row = np.zeros(n_features)
            row[j] = sign * min(reach / largest, _MAX_MOVE)
            residual = target - b - column * row[j]
            row[others] = _capped(np.linalg.lstsq(W[:, others], residual, rcond=None)[0], abs(row[j]))
            rows.append(row)
    return np.array(rows) if rows else np.zeros((0, n_features))


def _saturated_rows(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows whose logits reach +-50 to +-10^4: softmax and sigmoid deep in saturation."""
    rows = []
    directions = W if W.shape[0] == 1 else W - W.mean(axis=0)
    for direction in directions:
        norm2 = float(direction @ direction)
        if norm2 == 0:
            continue
        for target in (50, 100, 200, 1000, 1e4):
            for sign in (1, -1):
                rows.append((sign * target - (b[0] if W.shape[0] == 1 else 0.0)) * direction / norm2)
    return np.array(rows) if rows else np.zeros((0, W.shape[1]))


def torch_reference(model: LogisticModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The PyTorch model's own outputs, float32 as it runs: (label, probabilities)."""
    with torch.no_grad():
        probabilities = model(torch.from_numpy(rows)).numpy()
    return probabilities.argmax(axis=1).astype(np.int64), probabilities


def float32_slack(model: LogisticModel, rows: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per element, shape (n_rows, n_classes): how far float32 rounding alone can move each probability.

    Logit ``m`` is a float32 dot product; two implementations may differ by up to
    ``e_m = (sqrt(n_features) + 2) * eps32 * (sum_j |W_mj x_j| + |b_m|)`` (x standardized). The slack is the exact
    worst case of the softmax when each logit moves by at most ``e_m``: probability k is largest when its logit
    rises and the others fall, ``p_k e^{e_k} / (p_k e^{e_k} + sum_{m != k} p_m e^{-e_m})``, and smallest the other
    way round. A binary model's first logit is the constant 0 (no error).
    """
    W, b = _logit_weights(model)
    standardized = (rows.astype(np.float64) - model.mean.double().numpy()) / model.scale.double().numpy()
    error = (math.sqrt(W.shape[1]) + 2) * EPS32 * (np.abs(standardized) @ np.abs(W).T + np.abs(b))
    if W.shape[0] == 1:
        error = np.concatenate([np.zeros_like(error), error], axis=1)
    error = np.minimum(error, 700.0)  # beyond this exp overflows, and the probability is anything in [0, 1] anyway
    p = probabilities.astype(np.float64)
    up, down = p * np.exp(error), p * np.exp(-error)
    highest = up / (up + (down.sum(axis=1, keepdims=True) - down))
    lowest = down / (down + (up.sum(axis=1, keepdims=True) - up))
    return np.nan_to_num(np.maximum(highest - p, p - lowest), nan=1.0)


def check_signature(n_features: int, n_classes: int, *, run_features: int, run_classes: int) -> None:
    """Raise :class:`SignatureMismatchError` if a model file is for another number of features or classes."""
    if n_features != run_features:
        raise SignatureMismatchError(f"the model takes {n_features} features but the run has {run_features}")
    if n_classes != run_classes:
        raise SignatureMismatchError(
            f"the model gives {n_classes} class probabilities but the run has {run_classes} classes"
        )


def compare(
    probes: Probes,
    slack: np.ndarray,
    expected: tuple[np.ndarray, np.ndarray],
    got: tuple[np.ndarray, np.ndarray],
    *,
    atol: float,
    rtol: float,
    rows: np.ndarray,
) -> list[dict]:
    """Per output: the differences on ``rows`` (indices into the probes) and whether they are within tolerance."""
    expected_label, expected_p = expected[0][rows], expected[1][rows]
    got_label, got_p = got
    results = []
    if got_p.shape != expected_p.shape:
        return [
            {
                "output": contract.PROBABILITIES_OUTPUT,
                "passed": False,
                "detail": f"shape {list(got_p.shape)}, expected {list(expected_p.shape)}",
            }
        ]
    got_p64, expected_p64 = got_p.astype(np.float64), expected_p.astype(np.float64)
    difference = np.abs(got_p64 - expected_p64)
    allowed = atol + rtol * np.abs(expected_p64) + slack[rows]
    violations = difference > allowed
    worst = np.unravel_index(np.argmax(difference - allowed), difference.shape)
    meaningful = np.abs(expected_p64) >= atol  # relative differences of probabilities below atol are noise
    relative = np.where(meaningful, difference / np.maximum(np.abs(expected_p64), 1e-300), 0.0)
    in_range = bool(np.all((got_p64 >= 0) & (got_p64 <= 1)))
    sums_ok = bool(np.all(np.abs(got_p64.sum(axis=1) - 1) <= SUM_TOLERANCE))
    results.append(
        {
            "output": contract.PROBABILITIES_OUTPUT,
            "max_abs": float(difference.max(initial=0.0)),
            "max_rel": float(relative.max(initial=0.0)),
            "worst_row": probes.describe_row(int(rows[worst[0]])) if difference.size else None,
            "violations": int(violations.sum()),
            "in_unit_interval": in_range,
            "rows_sum_to_one": sums_ok,
            "passed": not violations.any() and in_range and sums_ok,
        }
    )
    if got_label.shape != expected_label.shape:
        results.append(
            {
                "output": contract.LABEL_OUTPUT,
                "passed": False,
                "detail": f"shape {list(got_label.shape)}, expected {list(expected_label.shape)}",
            }
        )
        return results
    disagree = np.flatnonzero(got_label != expected_label)
    top_two = np.sort(expected_p64, axis=1)[:, -2:]
    near_boundary = (top_two[:, 1] - top_two[:, 0]) <= 2 * (atol + slack[rows].max(axis=1))
    unexplained = [int(i) for i in disagree if not near_boundary[i]]
    results.append(
        {
            "output": contract.LABEL_OUTPUT,
            "disagreements": len(disagree),
            "disagreements_off_boundary": len(unexplained),
            "worst_row": probes.describe_row(int(rows[unexplained[0]])) if unexplained else None,
            "passed": not unexplained,
        }
    )
    return results
