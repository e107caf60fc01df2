"""The integers of ``logreg export --c-fixed``'s header (exporter/c_fixed.py): each column's Q format, the folded
weights, the logits' and probabilities' formats, and the error bound derived from them.

A model with an offset takes it as one more integer, ``round(offset * 2^F_o)``: :data:`OFFSET_SPAN` fixes ``F_o``
(there is no training statistic of the offset to choose it from), and it is folded like a numeric column of mean
0 whose weight is 1 in natural logits (``log2(e)`` in the header's base-2 ones), so that its quantisation, its
multiplier's rounding and its share of the accumulator are counted where every column's are."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .c_graph import LinearGraph

HEADER_NAME = "model_fixed.h"
LOG2E = 1.0 / math.log(2.0)
SPAN = {32: 64, 16: 8}  # K: mean +- K * scale fits a column's input integer
ACCUMULATOR_LIMIT = {32: 2**61, 16: 2**29}  # |sum| bound: any two logits' difference fits the accumulator too
LOGIT_BITS = 24  # the logits' Q format (base-2 logits), at most: exp2's interpolation product must fit 32 bits
TABLE_BITS = 5  # 2^5 intervals: the table holds 2^(-i/32), i = 0..32
PROBABILITY_BITS = 16
CUT = 17  # 2^-t with t >= 17 is below half a Q16 unit: 0
# the offset's integer holds at least +- this many natural logits (a probability of 1e-28 at 64, 1e-7 at 16): at 32
# bits F_o = 24 (+-128, step 6e-8), at 16 bits F_o = 10 (+-32, step 1e-3: some 1e-4 of probability)
OFFSET_SPAN = {32: 64.0, 16: 16.0}


class FixedPointError(ValueError):
    """The model cannot be put in the integer format asked for (its numbers do not fit); the message says why."""


@dataclass(frozen=True)
class Plan:
    """The integers of the header and the error bound derived from them."""

    bits: int
    shifts: list[int]  # F_d per numeric column
    centers: list[int]  # m_q = round(mean * 2^F_d)
    weights: list[list[int]]  # (rows, n_numeric)
    product_shifts: list[list[int]] | None  # bits=16: each product's own right shift to the common exponent
    bias: list[int]  # (rows,) at the accumulator's exponent, rounding offsets included
    missing: list[list[int]]  # (rows, n_numeric): the imputed term (with its indicator) replacing a missing input
    imputes: list[bool]  # per numeric column
    hot: list[list[int]]  # (rows, n_hot): each one-hot and (other) column's term when set
    exponent: int  # the accumulator's fractional bits (E for bits=32, G for bits=16)
    logit_bits: int  # L
    threshold: int | None  # a binary model's threshold in Q16 (p1 > it), None: argmax
    terms: dict[str, float]  # the bound's parts, in probability units
    bound_units: int  # the bound in Q16 units, rounded up
    offset_shift: int | None = None  # F_o of a model with an offset: it comes as round(offset * 2^F_o); None: none
    offset_weight: int = 0  # the offset's multiplier, log2(e) at the accumulator's exponent per unit of it
    offset_product_shift: int = 0  # bits=16: its product's right shift to the common exponent

    @property
    def rows(self) -> int:
        return len(self.bias)

    @property
    def top(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def bound(self) -> float:
        return self.bound_units / 2**PROBABILITY_BITS


def _column_shift(mean: float, scale: float, bits: int) -> int:
    """The largest F with (|mean| + K * scale) * 2^F within the input integer."""
    return _shift_within(abs(mean) + SPAN[bits] * scale, bits)


def _shift_within(reach: float, bits: int) -> int:
    """The largest F with reach * 2^F within the input integer (in [-60, 60])."""
    top = 2 ** (bits - 1) - 1
    reach = reach if reach > 0 else 1.0
    shift = math.floor(math.log2(top / reach))
    while reach * 2.0**shift > top:
        shift -= 1
    while reach * 2.0 ** (shift + 1) <= top:
        shift += 1
    return max(-60, min(60, shift))


@dataclass(frozen=True)
class _Folded:
    """The model's terms as real numbers in base-2 logits (log2-odds): what the header's integers round."""

    per_ulp: np.ndarray  # (rows, n_numeric): per unit of the input integer, x_q - m_q
    bias: np.ndarray  # (rows,): with every term's constant part and the centers' rounding
    missing: np.ndarray  # (rows, n_numeric): the term of a missing input (the median's, its indicator's)
    hot: np.ndarray  # (rows, n_hot): each one-hot and (other) column's term when it is 1
    reach: list[int]  # per numeric column, the largest |x_q - m_q|


@dataclass(frozen=True)
class _Scaled:
    """The folded terms as integers at the accumulator's exponent, and per row how far the logit may be off."""

    weights: list[list[int]]
    product_shifts: list[list[int]] | None
    bias: list[int]
    missing: list[list[int]]
    hot: list[list[int]]
    exponent: int
    logit_bits: int
    errors: dict[str, np.ndarray]  # per row, in base-2 logits: inputs, weights, constants, logit rounding


def plan_of(g: LinearGraph, bits: int) -> Plan:
    if bits not in SPAN:
        raise FixedPointError(f"bits must be 16 or 32, got {bits!r}")
    n = len(g.numeric_names)
    top = 2 ** (bits - 1) - 1
    shifts = [_column_shift(float(g.mean[j]), float(g.scale[j]), bits) for j in range(n)]
    centers = [round(float(g.mean[j]) * 2.0 ** shifts[j]) for j in range(n)]
    offset_shift = _shift_within(OFFSET_SPAN[bits], bits) if g.offset else None
    folded = _fold(g, shifts, centers, [top + abs(m) for m in centers])
    if offset_shift is not None:
        folded = _with_offset(folded, offset_shift, top + 1)  # INT_MIN is an offset too: top + 1 from 0
    scaled = _scale32(folded) if bits == 32 else _scale16(folded)
    scaled, offset_weight, offset_product_shift = _split_offset(scaled, offset_shift is not None)
    if scaled.logit_bits < 6:
        hint = "; --c-bits 32 has the room" if bits == 16 else ""
        raise FixedPointError(
            f"the model's logits are too large for {bits}-bit integers (they would keep {scaled.logit_bits} "
            f"fraction bits, at least 6 are needed){hint}"
        )
    n_classes = g.weight.shape[0]
    slope = math.log(2.0) * (0.25 if n_classes == 2 else 0.5)  # of p against the logit(s): p(1-p), 2 p(1-p)
    one = 2.0**-PROBABILITY_BITS
    softmax = {
        "exp table": interpolation_error() / 4,  # one-signed: p moves by p(1-p) rho at most
        "exp rounding": (n_classes - 1) * one,  # a unit each, but the largest's (2^0: exact)
        "division": (2 + one) * one,  # the reciprocal's floor and the product's
    }
    logit = sum(scaled.errors.values())  # per row
    total = float(logit.max(initial=0.0)) * slope + sum(softmax.values())
    terms = {name: float(values.max(initial=0.0)) * slope for name, values in scaled.errors.items()} | softmax
    threshold = None
    if n_classes == 2 and g.threshold != 0.5:  # as the graph's label: p1 > t, and floor(t * 2^16) < p <=> t < p
        threshold = math.floor(float(np.float32(g.threshold)) * 2**PROBABILITY_BITS)
    return Plan(
        bits=bits,
        shifts=shifts,
        centers=centers,
        weights=scaled.weights,
        product_shifts=scaled.product_shifts,
        bias=scaled.bias,
        missing=scaled.missing,
        imputes=[_imputes(g, j) for j in range(n)],
        hot=scaled.hot,
        exponent=scaled.exponent,
        logit_bits=scaled.logit_bits,
        threshold=threshold,
        terms=terms,
        bound_units=math.ceil((total * (1 + 1e-6) + 2.0**-40) * 2**PROBABILITY_BITS),  # float64's own rounding
        offset_shift=offset_shift,
        offset_weight=offset_weight,
        offset_product_shift=offset_product_shift,
    )


def _imputes(g: LinearGraph, j: int) -> bool:
    return g.medians is not None and not math.isnan(float(g.medians[j]))


def _fold(g: LinearGraph, shifts: list[int], centers: list[int], reach: list[int]) -> _Folded:
    """Standardization and the linear layer as one affine map of the integers, in float64: a numeric column's term
    ``W (x - mean) / scale`` is ``c (x_q - m_q)`` plus ``c (m_q - mean 2^F)`` (into the bias), a 0/1 column's
    ``W (v - mean) / scale`` is ``W / scale`` when set plus ``-W mean / scale`` (into the bias)."""
    n = len(g.numeric_names)
    mean, scale = g.mean.astype(np.float64), g.scale.astype(np.float64)
    if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(mean).all()):
        raise FixedPointError("the standardization's scale must be finite and positive, its mean finite")
    weight, bias = g.rows()  # a binary model's one row
    weight = weight * LOG2E  # base-2 logits: the softmax needs powers of two only
    bias = bias * LOG2E
    per_ulp = weight[:, :n] / (scale[:n] * np.exp2(np.array(shifts, dtype=np.float64)))
    off_center = np.array(centers, dtype=np.float64) - mean[:n] * np.exp2(np.array(shifts, dtype=np.float64))
    missing = np.zeros((len(bias), n))
    for j in range(n):
        if _imputes(g, j):
            missing[:, j] = weight[:, j] * (float(g.medians[j]) - mean[j]) / scale[j] - per_ulp[:, j] * off_center[j]
    for i, j in enumerate(g.indicator_index):  # missing: its indicator is 1, not 0
        missing[:, j] += weight[:, n + i] / scale[n + i]
    hot = slice(n + len(g.indicator_index), weight.shape[1])
    return _Folded(
        per_ulp=per_ulp,
        bias=bias - (weight[:, n:] * mean[n:] / scale[n:]).sum(axis=1) + per_ulp @ off_center,
        missing=missing,
        hot=weight[:, hot] / scale[hot],
        reach=reach,
    )


def _with_offset(f: _Folded, shift: int, reach: int) -> _Folded:
    """``f`` with the offset as its last numeric column: centered at 0 (nothing into the bias), never missing, its
    weight one natural logit (log2(e) base-2 ones) per 2^shift units, added to the one row (a binary model's: the
    offset is the second logit's, and the row is the second logit minus the first)."""
    rows = f.per_ulp.shape[0]
    return _Folded(
        per_ulp=np.concatenate([f.per_ulp, np.full((rows, 1), LOG2E * 2.0**-shift)], axis=1),
        bias=f.bias,
        missing=np.concatenate([f.missing, np.zeros((rows, 1))], axis=1),
        hot=f.hot,
        reach=[*f.reach, reach],
    )


def _split_offset(s: _Scaled, offset: bool) -> tuple[_Scaled, int, int]:
    """The scaled terms without the offset's column (:func:`_with_offset`), and its weight and product shift."""
    if not offset:
        return s, 0, 0
    weight, shift = s.weights[0][-1], s.product_shifts[0][-1] if s.product_shifts is not None else 0
    return (
        replace(
            s,
            weights=[row[:-1] for row in s.weights],
            product_shifts=None if s.product_shifts is None else [row[:-1] for row in s.product_shifts],
            missing=[row[:-1] for row in s.missing],
        ),
        weight,
        shift,
    )


def _rounded(values: np.ndarray, exponent: int) -> tuple[list, np.ndarray]:
    """``round(values * 2^exponent)`` as Python ints (of any size), and each |residual| in units of 2^-exponent."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0**exponent
    ints = np.vectorize(round, otypes=[object])(scaled) if scaled.size else scaled.astype(object)
    residual = np.abs(scaled - ints.astype(np.float64)) if scaled.size else scaled
    return ints.tolist(), residual


def _first_exponent(f: _Folded, limit: int) -> int:
    """An exponent a little above the one at which the largest row's terms fill ``limit``: searched down from."""
    big = np.maximum(np.abs(f.per_ulp) * np.array(f.reach, dtype=np.float64), np.abs(f.missing))
    size = (np.abs(f.bias) + big.sum(axis=1) + np.abs(f.hot).sum(axis=1)).max(initial=0.0)
    return 62 if size == 0 else min(62, math.floor(math.log2(limit / size)) + 1)


def _constants(f: _Folded, exponent: int, offsets: list[int]) -> tuple[list[int], list, list, np.ndarray]:
    """Bias (plus ``offsets``), missing and one-hot terms at ``exponent``; per row the sum of their roundings
    (each is added at most once), in base-2 logits."""
    bias, bias_residual = _rounded(f.bias, exponent)
    missing, missing_residual = _rounded(f.missing, exponent)
    hot, hot_residual = _rounded(f.hot, exponent)
    error = (bias_residual + missing_residual.sum(axis=1) + hot_residual.sum(axis=1)) * 2.0**-exponent
    return [b + o for b, o in zip(bias, offsets, strict=True)], missing, hot, error


def _scale32(f: _Folded) -> _Scaled:
    """int32 weights under one exponent E, products and sums in int64: the largest E at which no sum can pass
    ACCUMULATOR_LIMIT; the logits are the sum shifted right to LOGIT_BITS, rounded (its half in the bias)."""
    exponent = _first_exponent(f, ACCUMULATOR_LIMIT[32])
    rows, n = f.per_ulp.shape
    while True:
        logit_bits = min(LOGIT_BITS, exponent)
        half = 2 ** (exponent - logit_bits - 1) if exponent > logit_bits else 0
        weights, weight_residual = _rounded(f.per_ulp, exponent)
        bias, missing, hot, constants = _constants(f, exponent, [half] * rows)
        largest = max(
            abs(bias[k])
            + sum(max(abs(weights[k][j]) * f.reach[j], abs(missing[k][j])) for j in range(n))
            + sum(abs(v) for v in hot[k])
            for k in range(rows)
        )
        if largest <= ACCUMULATOR_LIMIT[32] and all(abs(a) < 2**31 for row in weights for a in row):
            break
        exponent -= 1
    errors = {
        "inputs": np.abs(f.per_ulp).sum(axis=1) / 2,  # half an input unit each
        "weights": (weight_residual * np.array(f.reach, dtype=np.float64)).sum(axis=1) * 2.0**-exponent,
        "constants": constants,
        "logit rounding": np.full(rows, 2.0 ** -(logit_bits + 1) if half else 0.0),
    }
    return _Scaled(weights, None, bias, missing, hot, exponent, logit_bits, errors)


def _scale16(f: _Folded) -> _Scaled:
    """32-bit arithmetic only: a common exponent G, each weight at its own G + r (15 bits, its product with
    x_q - m_q within int32) and its product shifted right by r. The shifts floor: half a unit each, on average,
    is added back in the bias."""
    reach = np.array(f.reach, dtype=np.float64)
    limit = np.minimum(32767.0, (2**31 - 1) / reach)  # |A| fits int16, |A| * reach int32
    with np.errstate(divide="ignore"):
        own = np.where(f.per_ulp != 0, np.floor(np.log2(limit / np.abs(f.per_ulp))), 0).astype(int)
    exponent = _first_exponent(f, ACCUMULATOR_LIMIT[16])
    rows, n = f.per_ulp.shape
    while True:
        logit_bits = min(LOGIT_BITS, exponent)
        half = 2 ** (exponent - logit_bits - 1) if exponent > logit_bits else 0
        weights, product_shifts = [[0] * n for _ in range(rows)], [[0] * n for _ in range(rows)]
        weight_error, floored, fits = np.zeros(rows), [0] * rows, True
        for k in range(rows):
            for j in range(n):
                c = float(f.per_ulp[k, j])
                if c == 0:
                    continue
                at = min(int(own[k, j]), exponent + 31)  # a shift of 32 or more is not C
                while abs(round(c * 2.0**at)) > limit[j]:
                    at -= 1
                fits &= at >= exponent
                weights[k][j], product_shifts[k][j] = round(c * 2.0**at), at - exponent
                weight_error[k] += abs(weights[k][j] - c * 2.0**at) * 2.0**-at * f.reach[j]
                floored[k] += product_shifts[k][j] > 0
        bias, missing, hot, constants = _constants(f, exponent, [h // 2 + half for h in floored])
        largest = max(
            abs(bias[k])
            + sum(
                max(((abs(weights[k][j]) * f.reach[j]) >> product_shifts[k][j]) + 1, abs(missing[k][j]))
                for j in range(n)
            )
            + sum(abs(v) for v in hot[k])
            for k in range(rows)
        )
        if fits and largest <= ACCUMULATOR_LIMIT[16]:
            break
        exponent -= 1
    flooring = np.array([max(h // 2, h - h // 2) for h in floored]) * 2.0**-exponent  # each product in (-1, 0]
    errors = {
        "inputs": np.abs(f.per_ulp).sum(axis=1) / 2,
        "weights": weight_error,
        "constants": constants + flooring,
        "logit rounding": np.full(rows, 2.0 ** -(logit_bits + 1) if half else 0.0),
    }
    return _Scaled(weights, product_shifts, bias, missing, hot, exponent, logit_bits, errors)


def interpolation_error() -> float:
    """The largest relative error of the chord of 2^-x over an interval of 1/32 (the same on every interval, the
    function being self-similar), sampled finely, with a margin."""
    q = 2.0 ** -(2.0**-TABLE_BITS)
    r = np.linspace(0.0, 1.0, 200_001)
    return float((((1 - r) + r * q) / q**r - 1).max()) * 1.0001
