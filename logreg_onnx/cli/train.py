"""``logreg train``: parse options, load and check the data, fit, write the run, print the metrics.

The flags are generated from :class:`~trainer.options.ReadOptions` and :class:`~trainer.options.FitOptions`, and so
are the checks on their values: a library error about a parameter (``val_fraction``) is reported under its flag
(``--val-fraction``), and every library message is said in flags (:mod:`logreg_onnx.cli.options`). Plots are
rendered by a helper process started before torch is imported (see :mod:`trainer.plots`), so matplotlib's start-up
is off the critical path.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

import click

from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.rundir.summary import describe_dataset, describe_encoding, format_metrics

from . import BadInput, Failed, require_extra, run_command
from .options import cli_error, click_options, echo_warnings


@click.command()
@click.argument("data", type=click.Path(path_type=Path))
@click_options(ReadOptions)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory for model.pt, metrics.json, history.csv and plots. [default: artifacts/<DATA stem>]",
)
@click_options(FitOptions)
@click.option(
    "--stream/--in-memory",
    default=None,
    help="Read DATA in chunks, never whole (see docs/scaling.md). [default: streamed for a folder, a "
    "glob, an .npy file, a file larger than a quarter of the free memory, and under torchrun]",
)
@click_options(StreamOptions)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes on this machine: launches torchrun --standalone (torch.distributed, gloo on CPU, nccl on GPU), "
    "each reading its shard of DATA. For several machines run torchrun yourself (docs/scaling.md).",
)
@click.option("--export", "export_onnx", is_flag=True, help="Also export and verify RUN/model.onnx (as logreg export).")
@click.option("--report", "write_html", is_flag=True, help="Also write RUN/report.html (as logreg report).")
@click.option(
    "--mlflow",
    "mlflow_uri",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[TRACKING_URI]",
    help="Also log the run to MLflow (the 'mlflow' extra): options, metrics, history, plots and report, and with "
    "--export the model (docs/mlflow.md). [default URI: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db]",
)
@click.option("--summary", is_flag=True, help="Print every term of the coefficient table (default: the top 10).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no metrics and no coefficient table.")
@click.pass_context
def train(
    ctx: click.Context,
    data: Path,
    out_dir: Path | None,
    stream: bool | None,
    nproc: int,
    export_onnx: bool,
    write_html: bool,
    mlflow_uri: str | None,
    summary: bool,
    quiet: bool,
    **values,
) -> None:
    """Fit a logistic-regression model to DATA: a CSV with a header (give --label), an .npz with arrays X, y, an
    .npy array (its last column the label, or --label N), or a folder or glob of such files.

    Two classes give a binary (sigmoid) model, more a multinomial (softmax) model. Bad input stops with one line
    naming the file, line and column, exit code 2, and nothing written.

    \b
    Examples:
      logreg train examples/breast_cancer/breast_cancer.csv --label diagnosis --export
      logreg train 'data/part-*.csv' --label y --optimizer adam --nproc 2
    """
    require_extra("train", "torch", "matplotlib")
    if mlflow_uri is not None:
        require_extra("mlflow", "mlflow")
    read_values = {f.name: values.pop(f.name) for f in fields(ReadOptions)}
    stream_values = {f.name: values.pop(f.name) for f in fields(StreamOptions)}
    from logreg_onnx.trainer.errors import TrainerError

    try:
        read = ReadOptions(**read_values)
        options = FitOptions(**values)
        stream_options = StreamOptions(**stream_values)
    except TrainerError as exc:
        raise cli_error(exc) from None
    out_dir = out_dir or Path("artifacts") / _default_name(data)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir}: exists and is not a directory")
    from logreg_onnx.trainer.scale.distributed import under_torchrun

    if stream is False and (nproc > 1 or under_torchrun()):
        raise BadInput("--in-memory runs in one process; several processes (--nproc, torchrun) each stream a shard")
    streamed = stream if stream is not None else under_torchrun() or not data.is_file() or _large(data)
    if nproc > 1 and not under_torchrun():
        _launch(ctx, data, out_dir, nproc)
    elif streamed:
        _train_streamed(data, read, options, stream_options, out_dir, quiet)
    else:
        _train_in_memory(data, read, options, out_dir, quiet, summary, write_html)
        write_html = False  # written by the in-memory run's plotting helper already
    if write_html:  # here, after a streamed or distributed run (matplotlib is loaded: the run drew its plots)
        from logreg_onnx.trainer.rundir.report import write_report

        click.echo(f"wrote {write_report(out_dir)}")
    if export_onnx:
        run_command(ctx, "export", run_dir=out_dir, quiet=quiet)
    if mlflow_uri is not None and os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone
        _log_to_mlflow(out_dir, mlflow_uri or None)


def _log_to_mlflow(out_dir: Path, tracking_uri: str | None) -> None:
    """``--mlflow``: the run directory, and its model when exported, logged as one MLflow run (logreg_onnx.mlflow)."""
    from mlflow.exceptions import MlflowException

    from logreg_onnx.mlflow import log_run

    try:
        run_id = log_run(out_dir, tracking_uri=tracking_uri)
    except MlflowException as exc:
        first_line = str(exc.message).strip().splitlines()[0]
        raise Failed(f"--mlflow {tracking_uri or ''}: {first_line}; the run is in {out_dir}") from None
    import mlflow

    click.echo(f"logged to MLflow: run {run_id} at {mlflow.get_tracking_uri()}")


def _train_in_memory(data, read, options, out_dir, quiet, summary, write_html) -> None:
    from logreg_onnx.trainer.rundir import plots

    with plots.Renderer() as renderer:  # started before torch is imported, so the two start up side by side
        result, dataset, seconds = _fit(data, read, options, quiet)
        from logreg_onnx.trainer.rundir.run import write_run

        write_run(out_dir, result, dataset, seconds=seconds, label=read.label, read=read, renderer=renderer)
        if write_html:  # drawn by the plotting helper, which has matplotlib loaded already
            from logreg_onnx.trainer.rundir.report import write_report

            renderer.submit(write_report, out_dir)
            renderer.wait()
    print_run(result, out_dir, seconds, quiet=quiet, summary=summary)
    if write_html:
        click.echo(f"wrote {out_dir / 'report.html'}")


def _default_name(data: Path) -> str:
    """The run's folder name: the file's stem, the folder's name, or a glob's folder name."""
    if data.is_dir():
        return data.resolve().name
    if any(c in str(data) for c in "*?["):
        return data.parent.resolve().name or "data"
    return data.stem


def _large(data: Path) -> bool:
    """A file larger than a quarter of the memory available now (in memory, training needs a few times its size)."""
    if not data.is_file():
        return False
    if data.suffix.lower() == ".npy":
        return True  # only the streamed reader takes .npy files
    try:
        with open("/proc/meminfo") as handle:
            available = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return False
    return data.stat().st_size > available / 4


def _train_streamed(data, read, options, stream_options, out_dir, quiet) -> None:
    """Streamed (and, under torchrun, distributed) training; only rank 0 prints and writes, all at once."""
    from logreg_onnx.trainer.engine.training import resolve_device
    from logreg_onnx.trainer.errors import TrainerError
    from logreg_onnx.trainer.rundir.run import write_run_staged
    from logreg_onnx.trainer.scale.distributed import ERROR_FILE_ENV, connect, report_error
    from logreg_onnx.trainer.scale.streaming import fit_stream

    started = time.perf_counter()
    comm = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            comm = connect(resolve_device(options.device))
            quiet = quiet or not comm.is_root
            result = fit_stream(
                data, read, options, stream_options, comm=comm, progress=not quiet and sys.stderr.isatty()
            )
        seconds = time.perf_counter() - started
        if comm.is_root:
            write_run_staged(out_dir, result, result.dataset, seconds=seconds, label=read.label, read=read)
    except TrainerError as exc:  # every rank raises it (Comm.agree); one says it
        if comm is not None and not comm.is_root:
            sys.exit(2)
        if os.environ.get(ERROR_FILE_ENV):
            report_error(cli_error(exc).format_message())  # the --nproc launcher prints it
            sys.exit(2)
        raise cli_error(exc) from None
    finally:
        if comm is not None:
            comm.close()
    if not comm.is_root:
        return
    if not quiet:
        echo_warnings(caught)
        data = result.data_summary
        classes = ", ".join(f"{name} {count:,}" for name, count in data["class_counts"].items())
        click.echo(
            f"{data['n_rows']:,} rows streamed from {data['files']} file(s) by {comm.world} process(es); "
            f"classes: {classes}",
            err=True,
        )
    print_run(result, out_dir, seconds, quiet=quiet)


def print_run(result, out_dir: Path, seconds: float, *, quiet: bool, summary: bool = False) -> None:
    """What a run prints: the metrics, the coefficient table (the top 10 terms, all with ``summary``), how training
    ended, the files written; exit 130 when Ctrl-C ended it."""
    if not quiet:
        click.echo(format_metrics(result.metrics))
        if result.coefficients is not None:
            from logreg_onnx.runtime.coefficients import format_coefficients

            click.echo("\n" + format_coefficients(result.coefficients.to_json(), top=None if summary else 10))
        # the optimizer, unless a penalty chose its own solver
        own = result.options.get("solver") in ("firth", "proximal-newton")
        solver = result.options["solver"] if own else result.options["optimizer"]
        click.echo(f"\n{solver}: {result.stop_reason} in {seconds:.2f} s")
    table = result.coefficients is not None
    files = ["model.pt", "metrics.json", *(["coefficients.csv"] if table else []), "history.csv", "training.png"]
    files += ["roc.png"] if len(result.class_names) == 2 else []
    note = "" if table else "; no coefficient table for streamed data"
    click.echo(f"wrote {out_dir}/ ({', '.join(files)}{note})")
    if result.interrupted:
        click.echo(f"interrupted: {result.stop_reason}; the run holds the model as trained so far", err=True)
        sys.exit(130)


def _launch(ctx: click.Context, data: Path, out_dir: Path, nproc: int) -> None:
    """``--nproc N``: the same command, run by N ranks under torchrun; export and report afterwards, here."""
    import tempfile

    from logreg_onnx.trainer.errors import TrainerError
    from logreg_onnx.trainer.scale.distributed import launch
    from logreg_onnx.trainer.scale.sources import resolve_files

    try:
        resolve_files(data)  # before starting processes that would each say so
    except TrainerError as exc:
        raise cli_error(exc) from None
    with tempfile.TemporaryDirectory(prefix="logreg-launch-") as folder:
        failure = launch(nproc, _rank_argv(ctx, data, out_dir), Path(folder) / "error.txt")
    if failure is not None:
        message, bad_input = failure
        raise BadInput(message) if bad_input else Failed(f"{message}; nothing was written to {out_dir}")


_LAUNCHER_HANDLES = ("nproc", "out_dir", "export_onnx", "write_html", "mlflow_uri")


def _rank_argv(ctx: click.Context, data: Path, out_dir: Path) -> list[str]:
    """``train DATA --out OUT`` and every option given, but those the launcher handles (--nproc, --export, --report,
    --mlflow)."""
    argv = ["train", str(data.resolve()) if data.exists() else str(data), "--out", str(out_dir.resolve())]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in _LAUNCHER_HANDLES:
            continue
        value = ctx.params.get(param.name)
        if value is None or value == param.default:
            continue
        if param.is_flag:
            if param.secondary_opts:
                argv.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                argv.append(param.opts[0])
            continue
        argv += [param.opts[0], str(value)]
    return argv


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="[default: RUN/report.html]")
def report(run_dir: Path, out: Path | None) -> None:
    """Write one self-contained HTML report of the training run RUN: data, metrics, confusion matrix, ROC and
    precision-recall curves, calibration, coefficients with a forest plot of odds ratios, the training curve and the
    decision threshold table. Figures are inline SVG; the file needs no network.

    \b
    Example:
      logreg report artifacts/breast_cancer -o report.html
    """
    require_extra("train", "matplotlib")
    if not (run_dir / "metrics.json").is_file():
        raise BadInput(f"{run_dir}: no metrics.json; give a run directory written by logreg train")
    from logreg_onnx.trainer.rundir.report import write_report

    click.echo(f"wrote {write_report(run_dir, out)}")


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("hypotheses")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def test(run_dir: Path, hypotheses: str, as_json: bool) -> None:
    """Wald test of linear HYPOTHESES on the coefficients of the training run RUN, with the run's standard errors
    (its --se): the statistic, chi-squared with one degree of freedom per restriction, and its p-value.

    HYPOTHESES are comma-separated equations on the table's terms, tested jointly: "x1 = 0", "x2 = x3", "2*x1 - x2
    = 0.5", "species[T.Gentoo] = 0"; a term whose name holds + - * = or , goes between backticks. In a multinomial
    model a hypothesis holds for every class against the reference (CLASS:term names one class's coefficient).
    The run needs standard errors: --l2 0, no class weights.

    \b
    Example:
      logreg test artifacts/penguins "bill_length_mm = 0, bill_depth_mm = flipper_length_mm"
    """
    require_extra("train", "torch")
    from logreg_onnx.trainer.errors import TrainerError
    from logreg_onnx.trainer.rundir.hypotheses import test_run

    try:
        result = test_run(run_dir, hypotheses)
    except TrainerError as exc:
        raise cli_error(exc) from None
    if as_json:
        import json

        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(str(result))


def _fit(data: Path, read: ReadOptions, options: FitOptions, quiet: bool):
    from logreg_onnx.trainer.data.dataset import load_dataset
    from logreg_onnx.trainer.engine.training import fit_dataset
    from logreg_onnx.trainer.errors import TrainerError

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = load_dataset(
                data, read, missing=options.missing, na_values=options.na_values, categorical=options.categorical
            )
            if not quiet:
                cluster = options.se.partition("cluster:")[2] or None
                roles = tuple(c for c in (options.weight, options.offset, cluster) if c)
                click.echo(describe_dataset(dataset, roles), err=True)
            result = fit_dataset(dataset, options, progress=not quiet and sys.stderr.isatty())
        except TrainerError as exc:
            raise cli_error(exc) from None
        if not quiet and result.dataset is not None and result.dataset.encoding is not None:
            encoding = result.dataset.encoding
            if not encoding.is_identity:
                click.echo(describe_encoding(encoding), err=True)
    echo_warnings(caught)
    return result, dataset, time.perf_counter() - started
