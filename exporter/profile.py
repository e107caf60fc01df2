"""The training rows' profile written into an exported model, for drift checks where it runs (runtime/drift.py)."""

from __future__ import annotations

import numpy as np
import torch
from logreg_onnx.runtime.drift import make_profile

from .source import Source


def training_profile(source: Source) -> dict | None:
    """The profile of ``source.sample`` (a run's training rows, a FitResult's, the user's ``sample``) and of the
    model's probabilities on them; None without rows."""
    rows = source.sample
    if rows is None or not len(rows):
        return None
    encoding = source.encoding
    numeric = np.ascontiguousarray(rows.numeric, dtype=np.float32)
    categories = rows.categories
    codes = encoding.codes(categories) if encoding.categorical else None
    with torch.no_grad():
        probabilities = source.model.forward_raw(
            torch.from_numpy(numeric), None if codes is None else torch.from_numpy(codes)
        ).numpy()
    levels = {c.name: [*c.levels, *c.other] for c in encoding.categorical}
    return make_profile(
        [c.name for c in encoding.numeric],
        numeric,
        [c.name for c in encoding.categorical],
        categories,
        levels,
        np.nan_to_num(probabilities, nan=0.0),
    )
