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
from logreg_onnx.runtime import contract
from logreg_onnx.trainer.data.columns import Encoding
from logreg_onnx.trainer.data.table import Table
from logreg_onnx.trainer.engine.model import LogisticModel

from .errors import SignatureMismatchError

SUM_TOLERANCE = 1e-6
EPS32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Probes:
    """Raw rows to compare on, with the name of the group each row comes from.

    ``rows`` are the numeric columns (float32, NaN where missing), ``categories`` the categorical ones (object array
    of str, "" where missing; zero columns for a numeric model), ``design`` the design matrix the linear part sees,
    ``offsets`` the ``offset`` input (float32, shape (n_rows,)) of a model that has one, else None.
    """

    rows: np.ndarray
    categories: np.ndarray
    design: np.ndarray
    groups: list[str]
    notes: list[str]
    offsets: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> Probes:
        """These probes restricted to ``rows`` (indices), in that order."""
        return Probes(
            rows=self.rows[rows],
            categories=self.categories[rows],
            design=self.design[rows],
            groups=[self.groups[i] for i in rows.tolist()],
            notes=self.notes,
            offsets=None if self.offsets is None else self.offsets[rows],
        )

    def offsets_at(self, rows) -> np.ndarray | None:
        """The ``offset`` input of ``rows`` (indices or a slice), or None for a model without one."""
        return None if self.offsets is None else np.ascontiguousarray(self.offsets[rows])

    def describe_row(self, index: int) -> str:
        group = self.groups[index]
        return f"{group} #{index - self.groups.index(group)}"


UNSEEN_PROBE = "\u00abunseen\u00bb"  # a level no training data has


def make_probes(model: LogisticModel, data_rows=None, *, seed: int = 0, n_random: int = 256) -> Probes:
    """Rows that exercise every regime: the run's data, random rows at scales 1, 1e3 and 1e4 (in units of each
    numeric feature's spread), rows near the decision boundary, one feature at a time, rows far into saturation,
    all-zero rows; and for the encoding, a missing value in each imputed column, every level of every categorical
    column (the folded ones too), and unseen, empty and untrimmed values.

    ``data_rows``: a :class:`~trainer.columns.Table` of raw rows, a float32 array of the numeric columns, or None.
    """
    rng = np.random.default_rng(seed)
    encoding = model.encoding or Encoding.numeric_only([f"x{j}" for j in range(model.n_features)])
    numeric, categorical = encoding.numeric, encoding.categorical
    n_numeric = len(numeric)
    base = np.array(
        [[c.reference if c.reference is not None else (c.levels[0] if c.levels else "") for c in categorical]],
        dtype=object,
    ).reshape(1, len(categorical))
    mean = model.mean.double().numpy()
    scale = model.scale.double().numpy()
    W, b = _logit_weights(model)
    # the design columns past the numeric block are fixed by the base categorical row (no value missing): fold their
    # contribution into the bias, so that rows aimed at the decision boundary land there
    base_design = encoding.design(_table(encoding, np.zeros((1, n_numeric), np.float32), base))
    rest = (base_design[0, n_numeric:].astype(np.float64) - mean[n_numeric:]) / scale[n_numeric:]
    W_num, b_eff = W[:, :n_numeric], b + W[:, n_numeric:] @ rest
    mean_num, scale_num = mean[:n_numeric], scale[:n_numeric]
    groups: list[tuple[str, np.ndarray, np.ndarray]] = []
    notes = []
    data = _as_table(data_rows, encoding)
    if data is not None and len(data):
        groups.append(("training data", data.numeric.astype(np.float32), data.categories))
    else:
        notes.append("the run's data file is not available unchanged: verified on synthetic rows only")
    if n_numeric:
        standardized = [(f"random x{f:g}", rng.standard_normal((n_random, n_numeric)) * f) for f in (1.0, 1e3, 1e4)]
        standardized.append(("near boundary", _boundary_rows(W_num, b_eff, rng, n_random)))
        standardized.append(("one feature", _one_feature_rows(W_num, b_eff)))
        standardized.append(("saturated", _saturated_rows(W_num, b_eff)))
        for name, z in standardized:
            groups.append((name, (mean_num + scale_num * z).astype(np.float32), np.repeat(base, len(z), axis=0)))
    groups.append(("all zeros", np.zeros((4, n_numeric), dtype=np.float32), np.repeat(base, 4, axis=0)))
    centre = np.array(
        [c.median if c.median is not None else m for c, m in zip(numeric, mean_num, strict=True)], dtype=np.float32
    ).reshape(1, n_numeric)
    imputed = [j for j, c in enumerate(numeric) if c.median is not None]
    if imputed:
        rows = np.repeat(centre, len(imputed) + 1, axis=0)
        for i, j in enumerate(imputed):
            rows[i, j] = np.nan
        rows[-1, imputed] = np.nan
        groups.append(("missing values", rows, np.repeat(base, len(rows), axis=0)))
    if categorical:
        level_rows, unseen_rows = [], []
        for j, column in enumerate(categorical):
            for level in (*column.levels, *column.other):
                row = base.copy()
                row[0, j] = level
                level_rows.append(row)
            for odd in (UNSEEN_PROBE, "", f" {column.levels[0]} " if column.levels else " "):
                row = base.copy()
                row[0, j] = odd
                unseen_rows.append(row)
        for name, cats in (("every level", level_rows), ("unseen and empty values", unseen_rows)):
            cats = np.concatenate(cats)
            groups.append((name, np.repeat(centre, len(cats), axis=0), cats))
    rows = np.ascontiguousarray(np.concatenate([g[1] for g in groups]), dtype=np.float32)
    categories = np.concatenate([g[2] for g in groups]).astype(object).reshape(len(rows), len(categorical))
    names = [name for name, part, _ in groups for _ in range(len(part))]
    design = encoding.design(_table(encoding, rows, categories))
    offsets = _probe_offsets(names, rng) if model.offset is not None else None
    return Probes(rows=rows, categories=categories, design=design, groups=names, notes=notes, offsets=offsets)


def _probe_offsets(groups: list[str], rng: np.random.Generator) -> np.ndarray:
    """The ``offset`` input of the probe rows: 0 for every fourth row (a row that does not give one) and the rows
    aimed at the decision boundary (an offset would move them off it), else spread over -4..4 and a few far out."""
    offsets = rng.uniform(-4.0, 4.0, len(groups))
    offsets[1::16] *= 100.0
    offsets[::4] = 0.0
    offsets[[g == "near boundary" for g in groups]] = 0.0
    return offsets.astype(np.float32)


def _table(encoding: Encoding, numeric: np.ndarray, categories: np.ndarray) -> Table:
    """Rows as a Table whose columns are the numeric block, then the categorical block (what the encoding reads)."""
    columns = [*encoding.numeric, *encoding.categorical]
    return Table([c.name for c in columns], [c.kind for c in columns], numeric, categories)


def _as_table(data_rows, encoding: Encoding) -> Table | None:
    if data_rows is None or isinstance(data_rows, Table):
        return data_rows
    rows = np.asarray(data_rows, dtype=np.float32)
    return _table(encoding, rows, np.empty((len(rows), 0), dtype=object))


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


def torch_reference(model: LogisticModel, probes: Probes, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The PyTorch model's own outputs from the raw probe rows, float32 as it runs: (label, probabilities); a binary
    model's label is the second class when its probability is above ``threshold``.
    Categorical values reach it as codes (:meth:`~trainer.columns.Encoding.codes`, a dictionary lookup), while the
    ONNX graph compares the strings themselves: two independent implementations of the encoding."""
    probabilities = raw_probabilities(model, probes.rows, probes.categories, probes.offsets)
    if probabilities.shape[1] == 2 and threshold != 0.5:
        return (probabilities[:, 1] > threshold).astype(np.int64), probabilities
    return probabilities.argmax(axis=1).astype(np.int64), probabilities


def raw_probabilities(
    model: LogisticModel, rows: np.ndarray, categories: np.ndarray, offsets: np.ndarray | None = None
) -> np.ndarray:
    """The PyTorch model's probabilities (float32, as it runs) of raw rows: ``rows`` the numeric columns (float32,
    NaN where missing), ``categories`` the text columns (object array, "" where missing), as codes
    (:meth:`~trainer.columns.Encoding.codes`, a dictionary lookup) for torch, which has no strings; ``offsets`` a
    model's offset input."""
    encoding = model.encoding
    codes = encoding.codes(categories) if encoding is not None and encoding.categorical else None
    with torch.no_grad():
        return model.forward_raw(
            torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)),
            None if codes is None else torch.from_numpy(codes),
            None if offsets is None else torch.from_numpy(np.ascontiguousarray(offsets, dtype=np.float32)),
        ).numpy()


def float32_slack(
    model: LogisticModel, design: np.ndarray, probabilities: np.ndarray, offsets: np.ndarray | None = None
) -> np.ndarray:
    """Per element, shape (n_rows, n_classes): how far float32 rounding alone can move each probability.

    Logit ``m`` is a float32 dot product; two implementations may differ by up to
    ``e_m = (sqrt(n_features) + 2) * eps32 * (sum_j |W_mj x_j| + |b_m|)`` (x standardized). The slack is the exact
    worst case of the softmax when each logit moves by at most ``e_m``: probability k is largest when its logit
    rises and the others fall, ``p_k e^{e_k} / (p_k e^{e_k} + sum_{m != k} p_m e^{-e_m})``, and smallest the other
    way round. A binary model's first logit is the constant 0 (no error). An ``offset`` input adds one float32
    addition: ``eps32 * (|z| + |offset|)`` more.
    """
    W, b = _logit_weights(model)
    standardized = (design.astype(np.float64) - model.mean.double().numpy()) / model.scale.double().numpy()
    magnitude = np.abs(standardized) @ np.abs(W).T + np.abs(b)
    error = (math.sqrt(W.shape[1]) + 2) * EPS32 * magnitude
    if offsets is not None:
        error = error + EPS32 * (magnitude + 2.0 * np.abs(offsets.astype(np.float64))[:, None])
    if W.shape[0] == 1:
        error = np.concatenate([np.zeros_like(error), error], axis=1)
    error = np.minimum(error, 700.0)  # beyond this exp overflows, and the probability is anything in [0, 1] anyway
    p = probabilities.astype(np.float64)
    up, down = p * np.exp(error), p * np.exp(-error)
    with np.errstate(invalid="ignore"):  # 0/0 deep in saturation: NaN, made the widest slack below
        highest = up / (up + (down.sum(axis=1, keepdims=True) - down))
        lowest = down / (down + (up.sum(axis=1, keepdims=True) - up))
    return np.nan_to_num(np.maximum(highest - p, p - lowest), nan=1.0)


def check_signature(feature_names: list[str], n_classes: int, *, run_features: list[str], run_classes: int) -> None:
    """Raise :class:`SignatureMismatchError` if a model file is for other features or another number of classes."""
    if list(feature_names) != list(run_features):
        raise SignatureMismatchError(
            f"the model takes {len(feature_names)} features but the run has {len(run_features)} "
            f"(model: {', '.join(feature_names[:6])}; run: {', '.join(run_features[:6])})"
        )
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
    threshold: float = 0.5,
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
    margin = atol + slack[rows].max(axis=1)
    if expected_p64.shape[1] == 2:  # binary: the boundary is the threshold on the second class's probability
        near_boundary = np.abs(expected_p64[:, 1] - threshold) <= margin
    else:
        top_two = np.sort(expected_p64, axis=1)[:, -2:]
        near_boundary = (top_two[:, 1] - top_two[:, 0]) <= 2 * margin
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
