"""``logreg export MODEL``: what a model file given on the command line holds, loaded without running its code.

A folder is a run of ``logreg train``; a ``.skops`` file is read with ``skops.io`` trusting only the types a supported
scikit-learn model is made of (found in the file's schema before anything is loaded); any other file is read with
``torch.load(weights_only=True)`` as a PyTorch ``state_dict``. Pickle and joblib files are never loaded: unpickling
runs whatever code the file names.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

from .errors import UnsupportedModelError, first_line
from .rundir import WHAT_A_RUN_IS

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill")
# Every type a supported scikit-learn model's .skops file holds: containers, numpy arrays and scalars, and the
# estimators of docs/from-sklearn.md. Anything else in a file is refused before loading.
TRUSTED_PLAIN = {
    *(f"builtins.{t}" for t in ("dict", "list", "tuple", "set", "slice", "str", "int", "float", "bool", "NoneType")),
    *(f"numpy.{t}" for t in ("dtype", "ndarray", "float64", "float32", "int64", "int32", "bool_", "str_", "object_")),
    *(f"numpy.dtypes.{t}" for t in ("Float64DType", "Float32DType", "Int64DType", "ObjectDType", "StrDType")),
}
TRUSTED_SKLEARN = (
    "sklearn.pipeline.Pipeline",
    "sklearn.compose.ColumnTransformer",
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing.OneHotEncoder",
    "sklearn.preprocessing.FunctionTransformer",
    "sklearn.impute.SimpleImputer",
    "sklearn.impute.MissingIndicator",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.linear_model.LogisticRegressionCV",
)
SAVE_WITH_SKOPS = "save it with skops.io.dump(pipeline, 'pipeline.skops') and export that file"


def load_for_export(path: str | os.PathLike[str]) -> object:
    """The model in the file at ``path`` (a run directory is returned as its path). Raises
    :class:`~exporter.errors.UnsupportedModelError` for a file that cannot be, or must not be, loaded."""
    path = Path(path)
    if path.is_dir():
        return path
    if not path.exists():
        raise UnsupportedModelError(
            f"{path}: no such run directory ({WHAT_A_RUN_IS}) or model file (.skops, a PyTorch state_dict)",
        )
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UnsupportedModelError(
            f"{path}: a pickle/joblib file, which logreg-onnx never loads (unpickling runs whatever code the file "
            f"names); {SAVE_WITH_SKOPS}, or for a PyTorch module torch.save(module.state_dict(), 'model.pt')",
        )
    if path.suffix.lower() == ".skops":
        return _load_skops(path)
    return _load_state_dict(path)


def trusted_types() -> set[str]:
    """The full names skops gives the trusted classes (their defining modules, e.g. ``sklearn.impute._base``)."""
    import importlib

    names = set(TRUSTED_PLAIN)
    for dotted in TRUSTED_SKLEARN:
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        names.add(f"{cls.__module__}.{cls.__qualname__}")
    return names


def _load_skops(path: Path) -> object:
    try:
        import sklearn  # noqa: F401
        import skops.io as sio
    except ImportError:
        raise UnsupportedModelError(
            f"{path}: reading .skops files needs scikit-learn and skops: pip install '.[sklearn]'"
        ) from None
    found = _types_in(path)
    refused = sorted(found - trusted_types())
    if refused:
        raise UnsupportedModelError(
            f"{path} holds {', '.join(refused[:4])}{' ...' if len(refused) > 4 else ''}, which is not part of a "
            "supported model (LogisticRegression(CV), alone or in a Pipeline of scalers, SimpleImputer, "
            "OneHotEncoder and ColumnTransformer); it was not loaded",
        )
    import skops.io as sio

    try:
        return sio.load(path, trusted=sorted(found))
    except Exception as exc:  # skops' own words: a version mismatch, a damaged member
        raise UnsupportedModelError(f"{path}: skops could not load it ({first_line(exc, 200)})") from None


def _types_in(path: Path) -> set[str]:
    """Every ``module.class`` the .skops file's schema names, read from its JSON without loading anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UnsupportedModelError(f"{path}: not a .skops file ({first_line(exc, 200)})") from None
    found: set[str] = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__module__" in item and "__class__" in item:
                found.add(f"{item['__module__']}.{item['__class__']}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _load_state_dict(path: Path) -> object:
    import torch

    if not zipfile.is_zipfile(path):  # what torch.save writes
        raise UnsupportedModelError(
            f"{path}: a file, not a run directory ({WHAT_A_RUN_IS}), a .skops file or a PyTorch state_dict (torch.save)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise UnsupportedModelError(
            f"{path}: not a state_dict of tensors (a whole pickled module, or not a PyTorch file at all); "
            "logreg-onnx loads only tensors (weights_only=True): save torch.save(module.state_dict(), 'model.pt') "
            "and export that with --features and --classes, or export the module with logreg_onnx.exporter.export",
        ) from None
    if isinstance(loaded, dict) and loaded.get("format") == "logreg-onnx/model":
        raise UnsupportedModelError(
            f"{path}: a file, not a run directory ({WHAT_A_RUN_IS}); give its folder: {path.parent}"
        )
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise UnsupportedModelError(
            f"{path}: expected a state_dict (names to tensors), got {type(loaded).__name__}; save "
            "torch.save(module.state_dict(), 'model.pt')",
        )
    return loaded
