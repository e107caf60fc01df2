"""The ``--threshold`` value: a number in (0, 1), or a rule (f1, youden, cost) applied on the validation rows."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import OptionError

_COST = re.compile(r"^cost:FP=([0-9.eE+-]+),FN=([0-9.eE+-]+)$")


@dataclass(frozen=True)
class ThresholdRule:
    """``--threshold``: a number in (0, 1), or a rule applied on the validation rows."""

    rule: str  # "fixed", "f1", "youden" or "cost"
    value: float | None = None  # the fixed threshold
    cost_fp: float = 1.0
    cost_fn: float = 1.0

    @classmethod
    def parse(cls, text: str) -> ThresholdRule:
        text = str(text).strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None:
            if not 0.0 < value < 1.0:
                raise OptionError(
                    "threshold", f"must be in (0, 1) or one of auto, f1, youden, cost:FP=a,FN=b; got {text!r}"
                )
            return cls("fixed", value)
        if text in ("auto", "f1"):
            return cls("f1")
        if text == "youden":
            return cls("youden")
        match = _COST.match(text)
        if match:
            fp, fn = float(match.group(1)), float(match.group(2))
            if not (fp >= 0 and fn >= 0 and fp + fn > 0 and math.isfinite(fp + fn)):
                raise OptionError("threshold", f"costs must be finite, not negative and not both 0; got {text!r}")
            return cls("cost", cost_fp=fp, cost_fn=fn)
        raise OptionError(
            "threshold", f"must be a number in (0, 1), auto (= f1), f1, youden or cost:FP=a,FN=b; got {text!r}"
        )
