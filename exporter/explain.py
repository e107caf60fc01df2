"""Explanations and intervals inside the graph (format 3): the constants its explain outputs hold, the metadata that
describe them, and their float64 reference, all from one :class:`Explainer` made from a
:class:`~exporter.source.Source`.

For a linear model both are exact. Against the reference class (a binary model's first class; a multinomial model's
first), logit ``l`` is ``z_l(x) = b_l + sum_j beta_jl x_j`` over the design columns ``x``. A raw column's
contribution is the sum over its design columns (a text column's levels, a number and its missing indicator) of
``beta_jl (x_j - baseline_j)``, the baseline being the training means of the design: SHAP's interventional values of
a linear model, so that ``z_l(baseline) + sum of contributions == z_l(x)``. The standard error of ``z_l`` is the delta
method's ``sqrt(u' S_l u)``, ``u = [(x - mean) / scale, 1]`` the standardized row and ``S_l`` the covariance of the
fit's parameters of that logit, held as a factor ``S_l = F_l F_l'`` so that the graph sums squares
(``|u F_l|^2``) instead of cancelling terms of both signs in float32; a binary model's 95% interval for the second
class's probability is ``sigmoid(z -+ 1.96 se)``, what statsmodels' ``get_prediction`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from logreg_onnx.runtime import contract
from logreg_onnx.trainer.data.columns import Encoding
from logreg_onnx.trainer.engine.model import LogisticModel

Z_95 = contract.Z_95
EPS32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Explainer:
    """What the graph's explain outputs are computed from, in float64.

    Attributes
    ----------
    baseline : ndarray of shape (n_design,), the design row contributions are measured from
    baseline_note : str, what the baseline is ("the training means of the design")
    groups : ndarray of int, shape (n_design,), the raw column (``feature_names`` order) of each design column
    coefficients : ndarray of shape (n_design, n_logits), each logit's weight per design column, in its own units
    intercepts : ndarray of shape (n_logits,), each logit at the all-zero design row
    mean, scale : ndarray of shape (n_design,), the model's standardization (what ``u`` uses)
    factor : ndarray of shape (n_logits, n_design + 1, n_design + 1) or None, ``S_l = F_l F_l'`` with ``S_l`` the
        covariance of ``[w_1 .. w_D, b]`` on the standardized design; None without classical standard errors
    intervals_note : str, why there are no interval outputs (empty when there are)
    weights, biases : ndarray of shape (n_rows, n_design) and (n_rows,), the model's own linear layer on the
        standardized design (a binary model's one row, a multinomial model's row per class): the graph computes each
        logit against the reference class as the difference of two of its logits, whose float32 rounding is theirs
    """

    baseline: np.ndarray
    baseline_note: str
    groups: np.ndarray
    coefficients: np.ndarray
    intercepts: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    factor: np.ndarray | None
    intervals_note: str
    weights: np.ndarray
    biases: np.ndarray

    @property
    def n_logits(self) -> int:
        return len(self.intercepts)

    @property
    def n_columns(self) -> int:
        return int(self.groups.max(initial=-1)) + 1

    @property
    def grouped(self) -> bool:
        """Whether some raw column has more than one design column (else contributions need no summing)."""
        return len(self.groups) != self.n_columns or not np.array_equal(self.groups, np.arange(len(self.groups)))

    @property
    def baseline_logit(self) -> np.ndarray:
        return self.baseline @ self.coefficients + self.intercepts

    def group_matrix(self) -> np.ndarray:
        """(n_columns, n_design) of 0 and 1: which design columns sum into which raw column."""
        matrix = np.zeros((self.n_columns, len(self.groups)))
        matrix[self.groups, np.arange(len(self.groups))] = 1.0
        return matrix

    def reference(self, design: np.ndarray, offsets: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The explain outputs of design rows ``design`` (n_rows, n_design), with a model's ``offset`` input (shape
        (n_rows,)) on the logit, in float64: what the graph's float32 outputs are compared with."""
        x = np.asarray(design, dtype=np.float64)
        standardized = (x - self.mean) / self.scale
        slopes = self.coefficients * self.scale[:, None]  # per standard deviation: the logits from u, as the graph
        logit = standardized @ slopes + (self.intercepts + self.mean @ self.coefficients)
        if offsets is not None:
            logit = logit + np.asarray(offsets, dtype=np.float64)[:, None]
        terms = (x - self.baseline)[:, :, None] * self.coefficients[None, :, :]
        contributions = np.einsum("cj,njl->ncl", self.group_matrix(), terms)
        out = {contract.LOGIT_OUTPUT: logit, contract.CONTRIBUTIONS_OUTPUT: contributions}
        if self.factor is not None:
            u = np.concatenate([standardized, np.ones((len(x), 1))], axis=1)
            se = np.sqrt(np.einsum("nlr->nl", np.einsum("nd,ldr->nlr", u, self.factor) ** 2))
            out[contract.LOGIT_SE_OUTPUT] = se
            if self.n_logits == 1:
                out[contract.PROBABILITY_LOWER_OUTPUT] = _expit(logit[:, 0] - Z_95 * se[:, 0])
                out[contract.PROBABILITY_UPPER_OUTPUT] = _expit(logit[:, 0] + Z_95 * se[:, 0])
        return out

    def float32_error(
        self, design: np.ndarray, growth: float | None = None, offsets: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Per output of :meth:`reference`, a bound on what float32 arithmetic alone can move each value: the
        rounding of a dot product grows with ``growth * sum |terms|``, by default ``(sqrt(n) + 2) * eps32`` (the
        worst case, which the probabilities' slack in :func:`exporter.verify.float32_slack` uses too); an
        ``offset`` input is one more term of it."""
        x = np.asarray(design, dtype=np.float64)
        standardized = (x - self.mean) / self.scale
        growth = (np.sqrt(x.shape[1]) + 2.0) * EPS32 if growth is None else growth
        layer = np.abs(standardized) @ np.abs(self.weights).T + np.abs(self.biases)  # each logit of the layer
        if offsets is not None:
            layer = layer + np.abs(np.asarray(offsets, dtype=np.float64))[:, None]
        logit = growth * (layer if len(self.biases) == 1 else layer[:, 1:] + layer[:, :1])
        # x - baseline and the products round to their own size; the baseline the graph holds is float32; the graph
        # centers the numeric columns on the mean first (exporter/preprocess.py): (x - mean) - (baseline - mean)
        # rounds to the size of those two as well
        stored = np.abs(self.baseline - self.baseline.astype(np.float32)) / growth
        centering = np.abs(self.baseline - self.mean)
        magnitude = (np.abs(x - self.baseline) + centering + stored)[:, :, None] * np.abs(self.coefficients)[None]
        out = {
            contract.LOGIT_OUTPUT: logit,
            contract.CONTRIBUTIONS_OUTPUT: growth * np.einsum("cj,njl->ncl", self.group_matrix(), magnitude),
        }
        if self.factor is not None:
            u = np.concatenate([np.abs(standardized), np.ones((len(x), 1))], axis=1)
            se = growth * np.sqrt((np.einsum("nd,ldr->nlr", u, np.abs(self.factor)) ** 2).sum(axis=2))
            out[contract.LOGIT_SE_OUTPUT] = se
            if self.n_logits == 1:
                reference = self.reference(design, offsets)
                for name in (contract.PROBABILITY_LOWER_OUTPUT, contract.PROBABILITY_UPPER_OUTPUT):
                    p = reference[name]
                    out[name] = p * (1.0 - p) * (logit[:, 0] + Z_95 * se[:, 0]) + 2.0 * EPS32 * p
        return out

    def metadata(self, class_names: list[str]) -> dict:
        """The ``explain`` metadata entry (see runtime/contract.py)."""
        return {
            "reference_class": class_names[0],
            "logits": list(class_names[1:]),
            "baseline": [float(v) for v in self.baseline],
            "baseline_note": self.baseline_note,
            "baseline_logit": [float(v) for v in self.baseline_logit],
            "intervals": self.factor is not None,
            "intervals_note": self.intervals_note,
            "level": 0.95,
            "z": Z_95,
        }


def explainer_of(
    model: LogisticModel,
    *,
    baseline: np.ndarray | None,
    baseline_note: str,
    covariance: np.ndarray | None,
    intervals_note: str,
) -> Explainer:
    """The :class:`Explainer` of ``model`` (with its encoding). ``baseline``: the design row to measure from (None:
    the zero row); ``covariance``: (n_logits, n_design + 1, n_design + 1), each logit's covariance of its
    ``[w | b]`` parameters on the model's standardized design, or None."""
    encoding = model.encoding or Encoding.numeric_only([f"x{j}" for j in range(model.n_features)])
    weights = W = model.linear.weight.detach().double().numpy()
    biases = b = model.linear.bias.detach().double().numpy()
    if not model.is_binary:  # against the first class, as the coefficient table and MNLogit report them
        W, b = W[1:] - W[0], b[1:] - b[0]
    mean = model.mean.detach().double().numpy()
    scale = model.scale.detach().double().numpy()
    coefficients = (W / scale).T
    intercepts = b - (W / scale) @ mean
    width = model.n_features
    if baseline is None:
        baseline, baseline_note = np.zeros(width), baseline_note or "the all-zero design row (no training rows known)"
    factor = None
    if covariance is not None:
        covariance = np.asarray(covariance, dtype=np.float64)
        if covariance.shape != (len(b), width + 1, width + 1):
            raise ValueError(f"covariance of shape {covariance.shape}, expected {(len(b), width + 1, width + 1)}")
        factor = np.stack([_factor(block) for block in covariance])
    return Explainer(
        baseline=np.asarray(baseline, dtype=np.float64).reshape(width),
        baseline_note=baseline_note,
        groups=design_groups(encoding),
        coefficients=coefficients,
        intercepts=intercepts,
        mean=mean,
        scale=scale,
        factor=factor,
        intervals_note="" if factor is not None else intervals_note or "no covariance of the fit is known",
        weights=weights,
        biases=biases,
    )


def explain_slack(explainer: Explainer, design: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Per row, the typical float32 error of its explain outputs (``2 eps32 sum |terms|``, what rounding errors that
    do not all line up give) relative to ``max(1, |value|)``: the unit of the test vectors' rule for those outputs
    (see ``runtime.contract.TESTVECTORS_RULE``)."""
    reference = explainer.reference(design, offsets)
    worst = np.zeros(len(design))
    for name, error in explainer.float32_error(design, growth=2.0 * EPS32, offsets=offsets).items():
        relative = error / np.maximum(1.0, np.abs(reference[name]))
        worst = np.maximum(worst, relative.reshape(len(design), -1).max(axis=1))
    return worst


def design_groups(encoding: Encoding) -> np.ndarray:
    """Per design column (:meth:`Encoding.design_names` order), the index of its raw column in ``encoding.names``."""
    index = {name: i for i, name in enumerate(encoding.names)}
    groups = [index[c.name] for c in encoding.numeric]
    groups += [index[c.name] for c in encoding.numeric if c.indicator]
    for column in encoding.categorical:
        groups += [index[column.name]] * column.width
    return np.array(groups, dtype=np.int64)


def _factor(block: np.ndarray) -> np.ndarray:
    """``F`` with ``F F' == block`` (symmetrized; eigenvalues below zero, from rounding, taken as zero)."""
    values, vectors = np.linalg.eigh((block + block.T) / 2.0)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def _expit(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))
