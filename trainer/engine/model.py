"""The logistic model as one torch.nn.Module (standardization, Linear, sigmoid or softmax) and its model.pt format."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from logreg_onnx.runtime.files import write_bytes_atomic
from torch import nn

from ..data.columns import Encoding
from ..errors import ModelFileError

MODEL_FORMAT = "logreg-onnx/model"
MODEL_FORMAT_VERSION = 2  # 2 adds the encoding (column kinds, medians, levels); format 1 files still load
READABLE_FORMAT_VERSIONS = (1, 2)
# model.pt "extra": the fit's covariance (CoefficientTable.covariance), a float64 tensor, when classical
COVARIANCE_KEY = "covariance"
TABLE_COVARIANCE_KEY = "table_covariance"  # the coefficient table's estimates' covariance, its rows' order: Wald tests


class Preprocess(nn.Module):
    """Raw columns to the design matrix, in torch: the same rule as :meth:`trainer.columns.Encoding.design`.

    Buffers: ``median`` (float32, one per numeric column, NaN where a column is not imputed, so that a missing value
    stays NaN and is refused), ``indicator_index`` (the numeric columns with a missing indicator) and, per
    categorical column, ``design_codes_<j>`` (the level codes that get a design column). Categorical values arrive
    as codes (:meth:`Encoding.codes`): torch has no strings, the ONNX graph compares the strings themselves.
    """

    def __init__(self, encoding: Encoding) -> None:
        super().__init__()
        self.encoding = encoding
        numeric = encoding.numeric
        self.register_buffer(
            "median",
            torch.tensor([float("nan") if c.median is None else c.median for c in numeric], dtype=torch.float32),
        )
        self.register_buffer(
            "indicator_index", torch.tensor([j for j, c in enumerate(numeric) if c.indicator], dtype=torch.int64)
        )
        self.n_categorical = len(encoding.categorical)
        for j, column in enumerate(encoding.categorical):
            self.register_buffer(f"design_codes_{j}", torch.tensor(column.design_codes(), dtype=torch.int64))

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(numeric)
        parts = [torch.where(missing, self.median.to(numeric.dtype), numeric)]
        if len(self.indicator_index):
            parts.append(missing[:, self.indicator_index].to(numeric.dtype))
        for j in range(self.n_categorical):
            wanted = getattr(self, f"design_codes_{j}")
            parts.append((codes[:, j : j + 1] == wanted).to(numeric.dtype))
        return torch.cat(parts, dim=1)


class LogisticModel(nn.Module):
    """Raw features in, class probabilities out.

    The training features' mean and scale are buffers, so the module carries its own preprocessing. Two classes use
    one logit and a sigmoid (the classic binary model); more use one logit per class and a softmax.

    Parameters
    ----------
    n_features : int, the width of the design matrix (the raw numeric columns when there is no encoding)
    n_classes : int, at least 2
    encoding : :class:`~trainer.columns.Encoding` or None; the model then also scores raw columns
        (:meth:`forward_raw`), its medians and levels kept in the :class:`Preprocess` submodule
    offset : str or None, the name of the known term added to the logit (a binary model fitted with ``offset=``):
        every forward method then takes each row's value (0 when not given)
    """

    def __init__(
        self, n_features: int, n_classes: int, encoding: Encoding | None = None, offset: str | None = None
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.encoding = encoding
        if offset is not None and n_classes != 2:
            raise ValueError(f"an offset is a term of a binary model's logit, not of {n_classes} classes'")
        self.offset = offset
        if encoding is not None and not encoding.is_identity:
            if encoding.width() != n_features:
                raise ValueError(f"the encoding makes {encoding.width()} design columns, not {n_features}")
            self.preprocess: Preprocess | None = Preprocess(encoding)
        else:
            self.preprocess = None
        self.n_features = n_features
        self.n_classes = n_classes
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, 1 if n_classes == 2 else n_classes)

    @property
    def is_binary(self) -> bool:
        return self.n_classes == 2

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale

    def logits(self, features: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of shape (n, 1) for a binary model, (n, n_classes) otherwise; ``offset`` (shape (n,)) is added."""
        z = self.linear(self.standardize(features))
        return z if offset is None else z + offset.to(z.dtype)[:, None]

    def design(self, numeric: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Raw numeric columns (NaN where missing) and categorical codes to the design matrix."""
        if self.preprocess is None:
            return numeric
        return self.preprocess(
            numeric, codes if codes is not None else torch.zeros((len(numeric), 0), dtype=torch.int64)
        )

    def forward_raw(
        self, numeric: torch.Tensor, codes: torch.Tensor | None = None, offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Probabilities from raw columns: :meth:`design`, then :meth:`forward`."""
        return self.forward(self.design(numeric, codes), offset)

    def probabilities(self, X: object, *, na_values=(), offset=None) -> np.ndarray:
        """Probabilities (float32, shape (n_rows, n_classes)) for raw rows: a DataFrame with the feature columns, or
        a 2-D array in the encoding's column order, text and missing values as in training; ``offset`` (array-like of
        shape (n_rows,)) each row's known term of the logit, 0 when not given."""
        encoding = self.encoding or Encoding.numeric_only([f"x{j}" for j in range(self.n_features)])
        table = encoding.prepare(X, na_values)
        codes = encoding.codes(table.categories) if encoding.categorical else None
        with torch.no_grad():
            numeric = torch.from_numpy(table.numeric)
            offsets = None if offset is None else torch.from_numpy(np.asarray(offset, dtype=np.float64))
            return self.forward_raw(numeric, None if codes is None else torch.from_numpy(codes), offsets).numpy()

    def forward(self, features: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities of shape (n, n_classes), columns in class order, from the design matrix (plus ``offset``,
        shape (n,), on a binary model's logit)."""
        return self.probabilities_of_logits(self.logits(features, offset))

    def probabilities_of_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Probabilities from :meth:`logits`."""
        if self.is_binary:
            # sigmoid(-z) rather than 1 - sigmoid(z): exact in saturation, where 1 - p would round to 0 or 1.
            return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)
        return torch.softmax(z, dim=1)


def float64_copy(model: LogisticModel) -> LogisticModel:
    """``model`` in float64 (its float32 weights and standardization, exactly widened): the one copy through which
    metrics are computed in float64, in memory and streamed alike."""
    model64 = LogisticModel(model.n_features, model.n_classes, model.encoding, model.offset).double()
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    return model64.eval()


def model_to_bytes(
    model: LogisticModel, *, feature_names: list[str], class_names: list[str], extra: dict | None = None
) -> bytes:
    """Serialize to the model.pt format: plain tensors, strings and numbers only, loadable with weights_only=True."""
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "n_features": model.n_features,
        "n_classes": model.n_classes,
        "feature_names": list(feature_names),
        "class_names": list(class_names),
        "encoding": model.encoding.to_json() if model.encoding is not None else None,
        "offset": model.offset,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_model(path: str | os.PathLike[str], model: LogisticModel, **kwargs) -> str:
    """Write model.pt atomically; return the SHA-256 of its bytes."""
    data = model_to_bytes(model, **kwargs)
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def load_model(path: str | os.PathLike[str]) -> tuple[LogisticModel, dict]:
    """Load a model.pt written by :func:`save_model`; never unpickles arbitrary objects.

    Returns the module (in eval mode, on the CPU) and the payload's other fields.
    Raises :class:`ModelFileError` for a missing, corrupt or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # torch's weights-only unpickler comments on foreign files ("Detected pickle protocol ..."); we refuse
            # those with our own one-line error below, so its advice would only be noise
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # torch's own message suggests weights_only=False, i.e. running whatever the file contains: never relay that
        raise ModelFileError(
            f"{path}: not a readable model.pt of this toolkit (corrupt, truncated, or holding objects other than "
            "tensors, which logreg-onnx never unpickles); train again to get one"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a model.pt written by logreg-onnx (no {MODEL_FORMAT!r} format marker)")
    if payload.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise ModelFileError(
            f"{path}: model.pt format version {payload.get('format_version')!r}; this logreg-onnx reads versions "
            f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))}"
        )
    try:
        feature_names, class_names = list(payload["feature_names"]), list(payload["class_names"])
        spec = payload.get("encoding")
        encoding = Encoding.from_json(spec) if spec else Encoding.numeric_only(feature_names)
        offset = payload.get("offset")
        model = LogisticModel(int(payload["n_features"]), int(payload["n_classes"]), encoding, offset)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: model.pt is incomplete or inconsistent ({exc})") from None
    if len(feature_names) != model.n_features or len(class_names) != model.n_classes:
        raise ModelFileError(
            f"{path}: model.pt names {len(feature_names)} features and {len(class_names)} classes "
            f"but its weights have {model.n_features} and {model.n_classes}"
        )
    model.eval()
    return model, payload
