"""Wald tests of linear hypotheses on the coefficient table's terms, with the table's covariance (``--se``):
``logreg test RUN "x1 = 0, x2 = x3"`` and ``FitResult.wald_test``.

A hypothesis is ``expression = expression``, each side a sum of terms with optional numeric factors (``2*x1 - x2 =
0.5``); terms are the table's names (``Intercept``, ``bill_length_mm``, ``species[T.Gentoo]``), a name holding ``+``,
``-``, ``*``, ``=`` or ``,`` written between backticks. Hypotheses are separated by commas and tested jointly:
``W = (R b - q)' (R V R')^-1 (R b - q)``, chi-squared with as many degrees of freedom as restrictions. For a
multinomial model each hypothesis holds for every class against the reference (one restriction per class), as
statsmodels' MNLogit does; ``CLASS:term`` names one class's coefficient instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..errors import TrainerError
from .coefficients import chi2_sf

_TOKEN = re.compile(
    r"\s*(?P<sign>[+-])?\s*(?:(?P<factor>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)\s*(?P<times>\*)?\s*)?"
    r"(?P<name>`[^`]+`|[^\s+\-*=,`][^+\-*=,`]*?)?\s*(?=[+-]|$)"
)


class HypothesisError(TrainerError, ValueError):
    """A hypothesis that cannot be read or tested: the message says what was expected and what was found."""


@dataclass(frozen=True)
class WaldTest:
    hypotheses: tuple[str, ...]
    statistic: float  # chi-squared
    df: int
    p_value: float
    covariance: str  # the table's --se

    def to_json(self) -> dict:
        return {
            "hypotheses": list(self.hypotheses),
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
            "covariance": self.covariance,
        }

    def __str__(self) -> str:
        from logreg_onnx.runtime.coefficients import format_p

        return (
            f"Wald test of {', '.join(self.hypotheses)} ({self.covariance} standard errors): chi2 = "
            f"{self.statistic:.4f}, df = {self.df}, p = {format_p(self.p_value)}"
        )


def wald_test(table: dict, covariance: np.ndarray | None, text: str) -> WaldTest:
    """Test ``text`` on ``table`` (a coefficient table's JSON form) with ``covariance`` (its parameters', in the
    order of its rows). Raises :class:`HypothesisError`."""
    if not table.get("classical") or covariance is None:
        why = table.get("note") or "the table has no standard errors"
        raise HypothesisError(f"a Wald test needs the table's standard errors, and this fit has none: {why}")
    rows = table["rows"]
    classes = list(dict.fromkeys(row["class"] for row in rows))
    terms = list(dict.fromkeys(row["term"] for row in rows))
    index = {(row["class"], row["term"]): i for i, row in enumerate(rows)}
    estimates = np.array([row["estimate"] for row in rows], dtype=np.float64)
    restrictions, targets, hypotheses = [], [], []
    for hypothesis in _split(text):
        left, right = _sides(hypothesis)
        combination: dict[tuple[str | None, str], float] = {}
        constant = 0.0
        for side, sign in ((left, 1.0), (right, -1.0)):
            for who, factor in _terms(side, hypothesis, terms, classes):
                if who is None:
                    constant -= sign * factor
                else:
                    combination[who] = combination.get(who, 0.0) + sign * factor
        if not any(combination.values()):
            raise HypothesisError(f"{hypothesis!r} restricts no coefficient; expected a term such as {terms[-1]!r}")
        for klass in classes:
            named = {key: value for key, value in combination.items() if key[0] in (None, klass)}
            if not named:
                continue
            row = np.zeros(len(rows))
            for (_, term), value in named.items():
                row[index[(klass, term)]] += value
            restrictions.append(row)
            targets.append(constant)
        hypotheses.append(hypothesis)
    R, q = np.array(restrictions), np.array(targets)
    difference = R @ estimates - q
    middle = R @ covariance @ R.T
    rank = int(np.linalg.matrix_rank(middle))
    if rank < len(R):
        raise HypothesisError(
            f"the {len(R)} restrictions of {text!r} are not independent (rank {rank}); leave out the redundant ones"
        )
    statistic = float(difference @ np.linalg.solve(middle, difference))
    covariance_kind = table.get("fit", {}).get("covariance", "classical")
    return WaldTest(tuple(hypotheses), statistic, len(R), chi2_sf(statistic, len(R)), covariance_kind)


def _split(text: str) -> list[str]:
    """The hypotheses of ``text``, split at commas outside backticks."""
    cuts = [-1, *_unquoted(text, ","), len(text)]
    parts = [text[start + 1 : end].strip() for start, end in pairwise(cuts)]
    if not all(parts):
        raise HypothesisError(f"expected hypotheses separated by commas, such as 'x1 = 0, x2 = x3'; got {text!r}")
    return parts


def _sides(hypothesis: str) -> tuple[str, str]:
    equals = _unquoted(hypothesis, "=")
    if len(equals) != 1:
        raise HypothesisError(f"expected one '=' in each hypothesis, such as 'x1 = 0' or 'x2 = x3'; got {hypothesis!r}")
    left, right = hypothesis[: equals[0]].strip(), hypothesis[equals[0] + 1 :].strip()
    if not left or not right:
        raise HypothesisError(f"expected an expression on both sides of '=' in {hypothesis!r}")
    return left, right


def _unquoted(text: str, char: str) -> list[int]:
    """The positions of ``char`` in ``text`` outside backticks (a term's name holding it is quoted)."""
    positions, quoted = [], False
    for i, c in enumerate(text):
        if c == "`":
            quoted = not quoted
        elif c == char and not quoted:
            positions.append(i)
    return positions


def _terms(side: str, hypothesis: str, terms: list[str], classes: list[str]):
    """``(who, factor)`` per term of ``side``: who is ``(class or None, term)``, or None for a number."""
    position, out = 0, []
    while position < len(side):
        match = _TOKEN.match(side, position)
        if match is None or match.end() == position:
            raise HypothesisError(f"cannot read {side[position:]!r} in {hypothesis!r}; expected terms like 2*x1 + x2")
        position = match.end()
        sign = -1.0 if match["sign"] == "-" else 1.0
        factor = float(match["factor"]) if match["factor"] else 1.0
        name = match["name"]
        if name is None:
            if match["factor"] is None or match["times"]:
                raise HypothesisError(f"cannot read {match.group(0).strip()!r} in {hypothesis!r}")
            out.append((None, sign * factor))
            continue
        out.append((_who(name.strip().strip("`"), hypothesis, terms, classes), sign * factor))
    return out


def _who(name: str, hypothesis: str, terms: list[str], classes: list[str]) -> tuple[str | None, str]:
    if name in terms:
        return None, name
    klass, _, term = name.partition(":")
    if term and klass in classes and term in terms and klass:
        return klass, term
    shown = ", ".join(terms[:12]) + (" ..." if len(terms) > 12 else "")
    raise HypothesisError(f"no term {name!r} in the coefficient table (in {hypothesis!r}); its terms are: {shown}")
