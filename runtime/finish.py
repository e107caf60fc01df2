"""The one finishing step of every predict path: the graph's own ``label`` and ``probabilities`` as the answer, and
one rule for rows that scored NaN (which input value made them so, in the user's column numbers)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InputError


class Finish:
    """Finishes the outputs of one model's session runs; ``finish`` is what every path of :class:`runtime.Model`
    ends in. ``numeric_names``: the columns of the ``features`` input; ``numeric_positions``: their numbers among
    all the model's features; ``imputed``: which of them the graph imputes when missing (NaN)."""

    def __init__(self, numeric_names: Sequence[str], numeric_positions: Sequence[int], imputed: np.ndarray) -> None:
        self._numeric_names = tuple(numeric_names)
        self._numeric_positions = tuple(numeric_positions)
        self._imputed = imputed

    def finish(
        self, labels: np.ndarray, probabilities: np.ndarray, numeric: np.ndarray, check_finite: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graph's outputs as the answer, or (``check_finite``) an :class:`InputError` naming the first row that
        scored NaN.

        A NaN or infinite feature always reaches the output as NaN: NaN propagates through Sub, Div and Gemm, and an
        infinite one makes 0 * inf = NaN in the binary graph's zero row, or an infinite logit, which the softmax
        turns into NaN; a NaN logit makes the softmax's sum, and so every column, NaN. So checking the first column
        of the (small) output replaces checking the (large) input."""
        if check_finite:
            if len(probabilities) == 1:
                first = probabilities.item(0)
                bad = first != first
            else:
                bad = np.isnan(probabilities[:, 0]).any()
            if bad:
                raise self.nonfinite_error(np.asarray(numeric, dtype=np.float64).reshape(len(probabilities), -1))
        return labels, probabilities

    def nonfinite_cell(self, numeric: np.ndarray) -> tuple[int, int, float] | None:
        """Why rows scored NaN: (row, column among the numeric ones, value) of the first value that is infinite, or
        NaN in a column the model does not impute; None when every value is allowed (the logits overflowed).
        ``numeric``: the numeric input, (n_rows, n_numeric)."""
        bad = ~np.isfinite(numeric) & ~(np.isnan(numeric) & self._imputed)
        if not bad.any():
            return None
        row, col = (int(i) for i in np.argwhere(bad)[0])
        return row, col, float(numeric[row, col])

    def nonfinite_error(self, numeric: np.ndarray) -> InputError:
        """The error for a row that scored NaN: a NaN in a column the model does not impute, an infinity, or
        logits beyond float32's range. ``numeric``: the numeric input, (n_rows, n_numeric)."""
        cell = self.nonfinite_cell(numeric)
        if cell is None:
            return InputError(
                "the features are finite but so large that the model's float32 logits overflow; check their units"
            )
        row, col, value = cell
        why = " (a missing value: this model was trained without missing='impute', so it cannot impute one)"
        # the column's number among all the features (the model's order), not among the numeric ones
        where = f"column {self._numeric_positions[col]} ({self._numeric_names[col]!r})"
        return InputError(
            f"row {row}, {where} is {value}; features must be finite numbers{why if value != value else ''}"
        )
