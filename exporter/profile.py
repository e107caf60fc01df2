"""The training rows' profile written into an exported model, for drift checks where it runs (runtime/drift.py)."""

from __future__ import annotations

import numpy as np
from logreg_onnx.runtime.drift import make_profile

from .source import Source
from .verify import raw_probabilities


def training_profile(source: Source) -> dict | None:
    """The profile of ``source.sample`` (a run's training rows, a FitResult's, the user's ``sample``) and of the
    model's probabilities on them; None without rows."""
    rows = source.sample
    if rows is None or not len(rows):
        return None
    encoding = source.encoding
    numeric, categories = rows.numeric, rows.categories
    probabilities = raw_probabilities(source.model, numeric, categories)
    levels = {c.name: [*c.levels, *c.other] for c in encoding.categorical}
    return make_profile(
        [c.name for c in encoding.numeric],
        numeric,
        [c.name for c in encoding.categorical],
        categories,
        levels,
        np.nan_to_num(probabilities, nan=0.0),
    )
