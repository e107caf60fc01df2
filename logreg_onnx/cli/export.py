"""``logreg export`` and ``logreg verify``: thin shells over exporter.api.export and exporter.write.verify_model_file,
which run the same checks (exporter.write.check_model).

Importing this module imports neither torch nor onnx (the defaults come from :mod:`exporter.options`), so that
``logreg --help`` and ``logreg export --help`` work in the base install; the commands say which extra they need.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from logreg_onnx.exporter.options import CATEGORICAL_MIN_OPSET, DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL

from . import BadInput, Failed, require_extra
from .options import cli_error, echo_warnings

_atol_option = click.option(
    "--atol",
    type=float,
    default=DEFAULT_ATOL,
    show_default=True,
    help="Absolute tolerance on probabilities (16 float32 ulps of 0.5).",
)
_rtol_option = click.option(
    "--rtol",
    type=float,
    default=DEFAULT_RTOL,
    show_default=True,
    help="Relative tolerance on probabilities (16 float32 ulps of 1).",
)


@click.command()
@click.argument("run_dir", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the ONNX file. [default: RUN_DIR/model.onnx; for a file, its name with .onnx]",
)
@click.option(
    "--features",
    metavar="A,B,...",
    help="The input columns' names, in order (a state_dict does not know them). [default: x0,x1,...]",
)
@click.option(
    "--classes",
    metavar="X,Y,...",
    help="The classes' names, in the order of the model's outputs. [default: the model's own, or 0,1,...]",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="A binary model's decision threshold on the second class's probability. [default: 0.5, or the one a "
    "run picked]",
)
@click.option(
    "--sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV of your own rows (a header naming the input columns) to verify on, besides the probe rows.",
)
@click.option(
    "--opset",
    type=int,
    default=None,
    help=f"ONNX opset to write. [default: {DEFAULT_OPSET}, or {CATEGORICAL_MIN_OPSET} for a model with categorical "
    f"columns, {DEFAULT_OPSET} with --portable]",
)
@_atol_option
@_rtol_option
@click.option(
    "--ort",
    "ort_format",
    is_flag=True,
    help="Also write and verify MODEL.ort (onnxruntime's format for mobile and minimal builds).",
)
@click.option(
    "--c",
    "c_code",
    is_flag=True,
    help="Also write MODEL.h: dependency-free C99 of the verified graph (for microcontrollers), checked against "
    "the test vectors when a C compiler is found.",
)
@click.option(
    "--portable",
    is_flag=True,
    help="Take text columns as int64 codes (levels and codes in the metadata): no string tensor, only core operators, "
    "so tract, OpenVINO and onnxruntime's web builds run the model; the runtime, server and clients map the texts.",
)
@click.option(
    "--c-fixed",
    is_flag=True,
    help="Also write MODEL_fixed.h: integer-only C99 (no float, no <math.h>) for microcontrollers without an FPU, "
    "its error bound stated in it and proven on the test vectors and 10,000 random rows.",
)
@click.option(
    "--c-bits",
    type=click.Choice(["32", "16"]),
    default="32",
    show_default=True,
    help="The integer-only header's input and weight width (16: 32-bit arithmetic only, a larger bound).",
)
@click.option(
    "--c-prefix",
    metavar="NAME",
    default="logreg",
    show_default=True,
    help="The C header's names: NAME_* macros (upper case), NAME_predict and the other functions, and the include "
    "guard, so that several models link into one program.",
)
@click.option(
    "--code",
    metavar="LANGS",
    help="Also write a dependency-free scorer per language: any of js, java, go, rust, csharp, comma-separated, or "
    "all (MODEL.mjs with MODEL.d.mts, Model.java, model.go, model.rs, Model.cs); each is built and run against the "
    "test vectors with its toolchain, and a mismatch fails the export.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the files written (the table still shows on failure).")
def export(
    run_dir: Path,
    out: Path | None,
    features: str | None,
    classes: str | None,
    threshold: float | None,
    sample: Path | None,
    opset: int,
    atol: float,
    rtol: float,
    ort_format: bool,
    c_code: bool,
    portable: bool,
    c_fixed: bool,
    c_bits: str,
    c_prefix: str,
    code: str | None,
    quiet: bool,
) -> None:
    """Export MODEL to ONNX and prove it: the model itself, onnxruntime and onnx's reference evaluator must agree
    on thousands of probe rows, or no model is written.

    MODEL is a run directory of logreg train, a scikit-learn model saved with skops (.skops: LogisticRegression or
    LogisticRegressionCV, alone or in a Pipeline of scalers, SimpleImputer, OneHotEncoder and ColumnTransformer),
    or a PyTorch state_dict (one nn.Linear's weight and bias, saved with torch.save(module.state_dict(), PATH) and
    loaded with weights_only=True). Pickle and joblib files are never loaded. For a PyTorch module itself, a
    statsmodels result or a FitResult, use the Python API, logreg_onnx.exporter.export (docs/export.md).

    Writes MODEL.onnx (one self-contained file: weights, preprocessing and metadata inside), MODEL.testvectors.json
    and parity.json beside it. On a failed verification the candidate is kept as MODEL.rejected.onnx and the command
    exits 1 with the table explaining why.

    \b
    Examples:
      logreg export artifacts/breast_cancer
      logreg export pipeline.skops --out pipeline.onnx --sample penguins.csv
      logreg export weights.pt --features age,income --classes no,yes
      logreg export artifacts/penguins --c --code js,java,go,rust,csharp
    """
    export_run(
        run_dir,
        out=out,
        features=_names(features),
        classes=_names(classes),
        threshold=threshold,
        sample=sample,
        opset=opset,
        atol=atol,
        rtol=rtol,
        ort_format=ort_format,
        c_code=c_code,
        c_prefix=c_prefix,
        c_fixed=c_fixed,
        c_bits=int(c_bits),
        code=code,
        portable=portable,
        quiet=quiet,
    )


# the export API's parameters whose flag is not their name, and those only a Python object takes (a module's)
HINTS = {"model": "MODEL", "feature_names": "--features", "class_names": "--classes", "c_code": "--c"}
API_ONLY = ("output", "mean", "scale")


def export_run(
    run_dir: Path,
    *,
    out: Path | None = None,
    features: list[str] | None = None,
    classes: list[str] | None = None,
    threshold: float | None = None,
    sample: Path | None = None,
    opset: int | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    ort_format: bool = False,
    c_code: bool = False,
    c_prefix: str = "logreg",
    c_fixed: bool = False,
    c_bits: int = 32,
    code: str | None = None,
    portable: bool = False,
    quiet: bool = False,
) -> None:
    """The export command's body, shared with ``logreg train --export``: :func:`exporter.api.export` on what
    ``run_dir`` holds (:func:`exporter.model_files.load_for_export`). Warnings (about the training data, which
    verification reads again) are printed as ``warning:`` lines in the command line's words, as training's are."""
    require_extra("train", "torch", "onnx")
    from logreg_onnx.exporter.api import export as export_and_verify
    from logreg_onnx.exporter.errors import ExporterError, VerificationFailed
    from logreg_onnx.exporter.model_files import load_for_export
    from logreg_onnx.exporter.parity import format_report

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load_for_export(run_dir)
            if out is None:
                out = run_dir / "model.onnx" if isinstance(model, Path) else run_dir.with_suffix(".onnx")
            result = export_and_verify(
                model,
                out,
                feature_names=features,
                class_names=classes,
                threshold=threshold,
                sample=_read_sample(sample) if sample is not None else None,
                opset=opset,
                atol=atol,
                rtol=rtol,
                ort=ort_format,
                c=c_code,
                c_prefix=c_prefix,
                c_fixed=c_fixed,
                c_bits=c_bits,
                code=code,
                portable=portable,
            )
    except VerificationFailed as failure:
        echo_warnings(caught)
        click.echo(format_report(failure.report))
        raise Failed(str(failure)) from None
    except ExporterError as exc:
        raise cli_error(exc, HINTS) from None
    echo_warnings(caught)
    if not quiet:
        click.echo(format_report(result.report))
    written = [result.model_path, result.testvectors_path, result.parity_path]
    if result.ort_path:
        written.insert(1, result.ort_path)
    if result.c_path:
        written.insert(1, result.c_path)
    if result.c_fixed_path:
        written.insert(1, result.c_fixed_path)
    written[1:1] = result.code_paths
    click.echo(
        f"wrote {', '.join(str(p) for p in written)} ({result.report.model['bytes']:,} bytes of ONNX, "
        f"exported and verified in {result.seconds:.1f} s)"
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",")]


def _read_sample(path: Path):
    """``--sample``: the CSV as pandas reads it (what a scikit-learn or statsmodels user's rows are), missing cells
    and the toolkit's missing-value texts as NaN."""
    try:
        import pandas
    except ImportError:
        raise BadInput("--sample needs pandas to read the CSV: pip install pandas") from None
    from logreg_onnx.trainer.options import DEFAULT_NA_VALUES

    try:
        return pandas.read_csv(path, na_values=list(DEFAULT_NA_VALUES), keep_default_na=True)
    except (OSError, ValueError) as exc:
        raise BadInput(f"--sample {path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("run_dir", type=click.Path(path_type=Path))
@_atol_option
@_rtol_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict.")
def verify(model: Path, run_dir: Path, atol: float, rtol: float, quiet: bool) -> None:
    """Check that the ONNX file MODEL computes what the PyTorch model of RUN_DIR computes.

    Runs the checks export ran before writing it: loads MODEL with runtime.load (the path apps run: integrity
    digest, graph contract, onnxruntime) and runs it, and onnx's reference evaluator, on the run's data and on
    synthetic probe rows (random at several scales, near the decision boundary, one feature at a time, saturated,
    zeros), at batch sizes 1, 2 and large, then through dict rows and the server's request handling, and replays
    the test vectors beside MODEL as logreg info and the server do; prints the table and writes parity.json beside
    MODEL. Exit code 0 if it passes, 1 if not, 2 for bad input (a file that is not ONNX, or a model for other
    features or classes than the run's).

    \b
    Example:
      logreg verify artifacts/breast_cancer/model.onnx artifacts/breast_cancer
    """
    require_extra("train", "torch", "onnx")
    from logreg_onnx.exporter.errors import ExporterError
    from logreg_onnx.exporter.parity import format_report
    from logreg_onnx.exporter.write import PARITY_FILE, verify_model_file

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = verify_model_file(model, run_dir, atol=atol, rtol=rtol)
    except ExporterError as exc:
        raise cli_error(exc) from None
    echo_warnings(caught)
    if not quiet or not report.passed:
        click.echo(format_report(report))
    if not report.passed:
        raise Failed(
            f"{model} does not compute what {run_dir}/model.pt computes (details in {model.parent / PARITY_FILE})"
        )
    click.echo(f"{model}: verified against {run_dir}")
