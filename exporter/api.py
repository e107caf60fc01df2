"""``logreg_onnx.exporter.export``: any supported logistic model to one proven, self-describing ONNX file."""

from __future__ import annotations

import os
from pathlib import Path

from logreg_onnx.trainer.errors import Setting

from .errors import ExportOptionError, type_name
from .options import DEFAULT_ATOL, DEFAULT_RTOL
from .source import Source
from .write import ExportResult, check_target, export_source

SUPPORTED = (
    "a run directory of logreg train, a FitResult, a fitted LogisticRegressionClassifier, a PyTorch module (one "
    "nn.Linear followed by sigmoid, softmax or nothing) or its state_dict, a scikit-learn LogisticRegression(CV) or "
    "Pipeline ending in one, or a fitted statsmodels Logit or MNLogit result"
)


def export(
    model: object,
    path: str | os.PathLike[str],
    *,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    sample: object = None,
    threshold: float | None = None,
    opset: int | None = None,
    ort: bool = False,
    c: bool = False,
    c_prefix: str = "logreg",
    c_fixed: bool = False,
    c_bits: int = 32,
    code: str | list[str] | None = None,
    portable: bool = False,
    output: str | None = None,
    mean: object = None,
    scale: object = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> ExportResult:
    """Export ``model`` to the ONNX file ``path``, proven equal to ``model`` itself, with its test vectors.

    The file follows the toolkit's graph contract (inputs ``features`` and ``categories``, outputs ``label`` and
    ``probabilities``, metadata naming the columns and classes), so ``logreg info``, ``predict``, ``serve``, the
    Node.js and browser clients and the other engines take it as they take the toolkit's own models. Before
    anything is written the candidate is compared, through onnxruntime and onnx's reference evaluator, with **the
    object given** (the module's forward, the pipeline's ``predict_proba`` and ``predict``, the results'
    ``predict``) on probe rows built from its weights and preprocessing (a missing value in every imputed column,
    every level, unseen and empty values, rows near the decision boundary and far into saturation) and on
    ``sample``; a mismatch raises :class:`~exporter.errors.VerificationFailed` and writes nothing at ``path``.

    Parameters
    ----------
    model : one of
        - the path of a run directory written by ``logreg train``;
        - a :class:`~trainer.engine.result.FitResult` (``trainer.fit``) or a fitted
          :class:`~trainer.estimator.LogisticRegressionClassifier`;
        - a ``torch.nn.Module`` whose forward is one linear map followed by sigmoid, softmax (``dim=1``),
          log-softmax or nothing (``output="logits"``), e.g. ``nn.Sequential(nn.Linear(d, 1), nn.Sigmoid())``; or
          such a module's ``state_dict`` (one weight of shape (n_outputs, d) and its bias: logits);
        - a fitted scikit-learn ``LogisticRegression`` or ``LogisticRegressionCV``, alone or at the end of a
          ``Pipeline`` of scalers, ``SimpleImputer``, ``OneHotEncoder`` and a ``ColumnTransformer``;
        - a fitted statsmodels ``Logit`` or ``MNLogit`` results object (arrays or the formula API).
    path : str or PathLike, the ``.onnx`` file to write; its folder must exist.
    feature_names : list of str, optional. The input columns' names, in order: required for a model that does not
        know them (a PyTorch module, arrays), checked against those it knows.
    class_names : list of str, optional. The classes' names in the order of the probabilities' columns; by
        default the model's own (``classes_``, the outcome's levels) or "0", "1", ...
    sample : DataFrame or array-like of shape (n_samples, n_features), optional. Rows of the user's data: probed
        too, besides the synthetic rows.
    threshold : float, optional. A binary model's decision threshold on the second class's probability; default
        0.5 (the threshold a toolkit run picked, for one).
    opset : int, optional. The ONNX opset (default 18, 19 with text columns).
    ort : bool, also write ``<stem>.ort`` (onnxruntime's mobile format), verified the same way.
    c : bool, also write ``<stem>.h``, dependency-free C99, compiled and replayed against the test vectors.
    portable : bool, take text columns as int64 codes (the levels and codes are in the metadata), so that the graph
        holds no string tensor and only core operators: tract, OpenVINO and onnxruntime's web builds run it; the
        runtime, the server and the Node.js and browser clients map the texts (docs/export.md).
    c_fixed : bool, also write ``<stem>_fixed.h``: integer-only C99 (no float, no ``<math.h>``) for chips without an
        FPU, its error bound stated in it and proven on the test vectors and 10,000 random rows.
    c_bits : {32, 16}, the integer-only header's input and weight width (16: 32-bit arithmetic only).
    c_prefix : str, the C header's names: ``C_PREFIX_*`` macros (upper case) and ``c_prefix_*`` functions, so that
        several models link into one program (default ``logreg``).
    code : str or list of str, optional. Also write a dependency-free scorer per language, from ``js``, ``java``,
        ``go``, ``rust``, ``csharp`` (a list, a comma-separated string, or ``"all"``): ``<stem>.mjs`` (with
        ``<stem>.d.mts``), ``<Stem>.java``, ``<stem>.go``, ``<stem>.rs``, ``<Stem>.cs``; each built and run
        against the test vectors with its toolchain (fails the export on a mismatch), or written unverified
        without one (a note in the report).
    output : {"probabilities", "logits"}, optional. PyTorch modules: what the module returns; a bare
        ``nn.Linear`` returns logits and must say so.
    mean, scale : array-like of shape (n_features,), optional. PyTorch modules: a standardization the user applied
        to the raw features before the module (``(x - mean) / scale``); it goes into the graph.
    atol, rtol : float, the tolerances of the comparison (plus float32 rounding, see ``docs/export.md``).

    Returns
    -------
    ExportResult : the paths written, the verification report and the seconds it took.

    Raises
    ------
    ExportOptionError : a model of an unsupported kind or shape, or an argument that does not fit it (one line:
        what was expected, what was got).
    VerificationFailed : the candidate does not compute what ``model`` computes (the report says where).
    """
    target = check_target(path, atol, rtol)
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise ExportOptionError("threshold", f"must be between 0 and 1 (exclusive), got {threshold!r}")
    source = source_of(
        model,
        feature_names=feature_names,
        class_names=class_names,
        sample=sample,
        threshold=threshold,
        output=output,
        mean=mean,
        scale=scale,
    )
    languages = _languages(code)
    _check_prefix(c_prefix)
    _check_header_options(c=c, c_fixed=c_fixed, c_prefix=c_prefix, c_bits=c_bits)
    return export_source(
        source,
        target,
        opset=opset,
        atol=atol,
        rtol=rtol,
        ort_format=ort,
        c_code=c,
        c_prefix=c_prefix,
        c_fixed=c_fixed,
        c_bits=_check_bits(c_bits),
        portable=portable,
        code=tuple(languages),
    )


def _check_bits(bits: int) -> int:
    if bits not in (16, 32):
        raise ExportOptionError("c_bits", f"must be 16 or 32, got {bits!r}")
    return bits


def _check_header_options(*, c: bool, c_fixed: bool, c_prefix: str, c_bits: int) -> None:
    """A header option given without the header it shapes would be silently ignored: refused instead."""
    from .c_text import DEFAULT_PREFIX

    if c_prefix != DEFAULT_PREFIX and not (c or c_fixed):
        raise ExportOptionError(
            "c_prefix", f"{c_prefix!r} names the C headers' symbols, and none is asked for: add ", Setting("c"),
            " or ", Setting("c_fixed"), ", or leave it out",
        )  # fmt: skip
    if c_bits != 32 and not c_fixed:
        raise ExportOptionError(
            "c_bits", f"{c_bits} is the integer-only header's width, which is not asked for: add ", Setting("c_fixed"),
            ", or leave it out",
        )  # fmt: skip


def _check_prefix(prefix: str) -> None:
    from .c_text import check_prefix

    try:
        check_prefix(prefix)
    except ValueError as exc:
        raise ExportOptionError("c_prefix", str(exc)) from None


def _languages(code: str | list[str] | None) -> list[str]:
    from .scorers import parse_languages

    if code is None:
        return []
    try:
        return parse_languages(code if isinstance(code, str) else ",".join(code))
    except ValueError as exc:
        raise ExportOptionError("code", str(exc)) from None


def source_of(
    model: object,
    *,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    sample: object = None,
    threshold: float | None = None,
    output: str | None = None,
    mean: object = None,
    scale: object = None,
) -> Source:
    """The :class:`~exporter.source.Source` of any supported model (see :func:`export`)."""
    kind = _kind(model)
    if kind != "pytorch" and (output is not None or mean is not None or scale is not None):
        given = [name for name, value in (("output", output), ("mean", mean), ("scale", scale)) if value is not None]
        raise ExportOptionError(given[0], f"applies to PyTorch modules only, got it with a {type_name(model)}")
    if kind == "run":
        from .from_toolkit import source_of_run
        from .rundir import load_run

        _no_names(feature_names, class_names, "a run directory")
        return source_of_run(load_run(model), threshold=threshold)
    if kind == "fit":
        from .from_toolkit import source_of_estimator, source_of_fit

        _no_names(feature_names, class_names, "a model trained by logreg-onnx")
        from logreg_onnx.trainer.engine.result import FitResult

        convert = source_of_fit if isinstance(model, FitResult) else source_of_estimator
        return convert(model, sample=sample, threshold=threshold)
    names = {"feature_names": feature_names, "class_names": class_names, "sample": sample, "threshold": threshold}
    if kind == "pytorch":
        from .from_pytorch import source_of_module

        return source_of_module(model, output=output, mean=mean, scale=scale, **names)
    if kind == "sklearn":
        from .from_sklearn import source_of_sklearn

        return source_of_sklearn(model, **names)
    if kind == "statsmodels":
        from .from_statsmodels import source_of_statsmodels

        return source_of_statsmodels(model, **names)
    raise ExportOptionError("model", f"expected {SUPPORTED}; got {type_name(model)}")


def _kind(model: object) -> str | None:
    if isinstance(model, (str, os.PathLike)):
        if Path(model).is_dir():
            return "run"
        raise ExportOptionError(
            "model",
            f"{model}: expected a run directory; load a saved model first (skops.io.load, torch.load with "
            "weights_only=True) or give the file to logreg export",
        )
    from logreg_onnx.trainer.engine.result import FitResult
    from logreg_onnx.trainer.estimator import LogisticRegressionClassifier

    if isinstance(model, (FitResult, LogisticRegressionClassifier)):
        return "fit"
    module = type(model).__module__.split(".")[0]
    if module == "sklearn" or any(c.__module__.startswith("sklearn.") for c in type(model).__mro__[1:]):
        return "sklearn"
    if module == "statsmodels":
        return "statsmodels"
    import torch

    if isinstance(model, torch.nn.Module) or (isinstance(model, dict) and model and _tensors(model)):
        return "pytorch"
    return None


def _tensors(mapping: dict) -> bool:
    import torch

    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in mapping.items())


def _no_names(feature_names, class_names, what: str) -> None:
    if feature_names is not None or class_names is not None:
        given = "feature_names" if feature_names is not None else "class_names"
        raise ExportOptionError(given, f"{what} names its own columns and classes; leave it out")
