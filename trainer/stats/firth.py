"""Firth's penalized likelihood for a binary model (Firth 1993; Heinze and Schemper 2002, as R's logistf fits it): the
log-likelihood plus half the log-determinant of the Fisher information (Jeffreys' prior), whose maximum is finite even
when the classes are separated. The estimates, the profile penalized likelihood intervals and the penalized likelihood
ratio tests all come from one routine, :meth:`FirthLikelihood.maximize`, with or without a linear constraint.

- Each step is logistf's modified-score Newton step: ``U* = Z'(f (y - p) + h (1/2 - p))`` (``h`` the hat values of the
  weighted design) is the exact gradient of the penalized log-likelihood, and the Fisher information
  ``I = Z' diag(f p (1 - p)) Z`` stands in for its negative Hessian (the penalty's own curvature is left out, as in
  logistf); steps are capped at 5 per parameter and halved until the penalized log-likelihood rises.
- Under the constraint ``c'beta = v`` the step is the equality-constrained Newton step (the same system with one
  Lagrange multiplier): the profile ``g(v) = max {l*(beta) : c'beta = v}`` of any coefficient of the table, in the
  features' units or per standard deviation, is one linear functional ``c`` of the solver's parameters.
- The penalty is invariant under an affine change of the features (the log-determinant moves by a constant), so the
  solver works on standardized rows and the table maps its optimum to the features' units exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_STEP = 5.0  # logistf's maxstep: no parameter moves further in one step
# multiply-adds (rows x parameters^3 x the about 160 penalized fits of each parameter's interval and test) up to
# which the table computes profile intervals: about a minute on a small machine; beyond it, Wald intervals (said)
MAX_PROFILE_WORK = 4e10
_GAIN = 1e-15  # converged when the predicted rise is this small relative to the penalized log-likelihood
_ARMIJO = 1e-4


class FirthError(ArithmeticError):
    """The Fisher information is singular (collinear terms): the penalty, a log-determinant, is not defined."""


@dataclass
class Point:
    """The penalized log-likelihood ``value`` at ``beta`` (its unpenalized part ``log_likelihood``), its gradient
    ``score`` (the modified score) and the Fisher information (unpenalized, every row: the table's observed
    information, the logit link's expected and observed information being one matrix)."""

    beta: np.ndarray
    value: float
    log_likelihood: float
    score: np.ndarray
    information: np.ndarray


class FirthLikelihood:
    """``l*(beta) = sum f (y log p + (1 - y) log(1 - p)) + 1/2 log det I(beta)``, ``p = sigmoid(Z beta)``.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_params), float64, the design with its constant column
    y : ndarray of shape (n_rows,), 0 or 1
    frequency : ndarray of shape (n_rows,) or None, each row's frequency weight (a row of weight w counts as w rows, in
        the log-likelihood and in the information alike)
    """

    def __init__(self, Z: np.ndarray, y: np.ndarray, frequency: np.ndarray | None = None):
        self.Z = np.ascontiguousarray(Z, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.f = np.ones(len(self.y)) if frequency is None else np.asarray(frequency, dtype=np.float64)

    def at(self, beta: np.ndarray) -> Point:
        z = self.Z @ beta
        p = np.exp(-np.logaddexp(0.0, -z))
        w = self.f * p * (1.0 - p)
        information = (self.Z * w[:, None]).T @ self.Z
        try:
            L = np.linalg.cholesky(information)
        except np.linalg.LinAlgError:
            raise FirthError("the Fisher information is singular (collinear terms): the penalty is undefined") from None
        A = np.linalg.solve(L, self.Z.T)  # L^-1 Z': the hat values are w times its squared columns' sums
        hat = w * np.einsum("ij,ij->j", A, A)
        log_likelihood = float(self.f @ (self.y * z - np.logaddexp(0.0, z)))
        value = log_likelihood + float(np.log(np.diag(L)).sum())
        score = self.Z.T @ (self.f * (self.y - p) + hat * (0.5 - p))
        return Point(beta, value, log_likelihood, score, information)

    def maximize(
        self,
        start: Point | np.ndarray,
        constraint: np.ndarray | None = None,
        target: float = 0.0,
        *,
        max_iterations: int = 200,
        on_step=None,
    ) -> tuple[Point, bool]:
        """The maximum of ``l*`` from ``start`` (subject to ``constraint @ beta == target`` when a constraint is
        given) and whether it converged. ``on_step(point)`` is called after each accepted step."""
        point = start if isinstance(start, Point) else self.at(np.asarray(start, dtype=np.float64))
        if constraint is not None:
            gap = target - float(constraint @ point.beta)
            if gap != 0.0:  # onto the constraint, along the information's metric (the quadratic model's optimum)
                direction = np.linalg.solve(point.information, constraint)
                point = self.at(point.beta + gap * direction / float(constraint @ direction))
        for _ in range(max_iterations):
            step = np.linalg.solve(point.information, point.score)
            if constraint is not None:
                direction = np.linalg.solve(point.information, constraint)
                step -= float(constraint @ step) / float(constraint @ direction) * direction
            largest = float(np.abs(step).max())
            if largest > MAX_STEP:
                step *= MAX_STEP / largest
            gain = float(point.score @ step)  # the rise's first-order rate along the step: >= 0
            if gain / 2 <= _GAIN * max(abs(point.value), 1.0) or largest == 0.0:
                return point, True
            t = 1.0
            for _ in range(40):
                candidate = self.at(point.beta + t * step)
                if math.isfinite(candidate.value) and candidate.value >= point.value + _ARMIJO * t * gain:
                    break
                t /= 2
            else:  # no higher value representable along the step: the optimum at float64's precision
                return point, True
            point = candidate
            if on_step is not None:
                on_step(point)
        return point, False

    def profile(self, optimum: Point, c: np.ndarray, z: float) -> tuple[float, float, float]:
        """The interval ``{v : 2 (l*(optimum) - g(v)) <= z^2}`` of the coefficient ``c'beta`` (its profile penalized
        likelihood interval at the normal quantile ``z``) and the penalized likelihood ratio statistic of
        ``c'beta = 0``. An end the profile never reaches (it levels off) is infinite."""
        estimate = float(c @ optimum.beta)
        se = math.sqrt(float(c @ np.linalg.solve(optimum.information, c)))
        cache: list[tuple[float, Point]] = [(estimate, optimum)]

        def signed_root(v: float) -> float:
            nearest = min(cache, key=lambda item: abs(item[0] - v))[1]
            point, _ = self.maximize(nearest, c, v)
            cache.append((v, point))
            return math.copysign(math.sqrt(max(2.0 * (optimum.value - point.value), 0.0)), v - estimate)

        ends = []
        for side in (-1.0, 1.0):
            ends.append(_root(signed_root, estimate, side * z, side * z * se))
        statistic = 2.0 * (optimum.value - self.maximize(optimum, c, 0.0)[0].value) if estimate != 0.0 else 0.0
        return ends[0], ends[1], max(statistic, 0.0)


def _root(function, origin: float, target: float, reach: float, tolerance: float = 1e-10) -> float:
    """The ``v`` beyond ``origin`` in the direction of ``reach`` where ``function(v) = target``: ``function`` is
    increasing, 0 at ``origin``, about linear (a signed root of a likelihood ratio). Doubles the reach until the
    target is passed, then the Illinois method (regula falsi with halving) inside the bracket."""
    inner, f_inner = origin, -target
    outer = origin + reach
    f_outer = function(outer) - target
    for _ in range(60):
        if f_outer * target >= 0:  # passed (or reached) the target
            break
        inner, f_inner = outer, f_outer
        reach *= 2
        outer = origin + reach
        f_outer = function(outer) - target
    else:
        return math.copysign(math.inf, reach)
    for _ in range(100):
        if abs(f_outer) <= tolerance or abs(outer - inner) <= tolerance * max(1.0, abs(outer)):
            return outer
        v = outer - f_outer * (outer - inner) / (f_outer - f_inner)
        f_v = function(v) - target
        if f_v * f_outer > 0:  # the same side as the last point: the other end is kept, and its value halved
            f_inner /= 2
        else:
            inner, f_inner = outer, f_outer
        outer, f_outer = v, f_v
    return outer
