"""``logreg predict`` and ``logreg info``: the runtime's commands (numpy + onnxruntime only, never torch)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from pathlib import Path

import click
import numpy as np

from .cli import BadInput, Failed
from .errors import ModelError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def _load(path: Path, threads: int | None = None):
    from .model import load

    try:
        return load(path, threads=threads)
    except ModelError as exc:
        raise BadInput(str(exc)) from None


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("source", metavar="[INPUT|-]", default="-")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (atomically: complete or not at all). [default: stdout]",
)
@click.option(
    "--format", "output_format", type=click.Choice(["csv", "jsonl"]), help="Output format. [default: the input's]"
)
@click.option(
    "--input-format",
    type=click.Choice(["auto", "csv", "jsonl"]),
    default="auto",
    show_default=True,
    help="auto: .jsonl/.ndjson/.json files and input starting with '{' are JSON lines, the rest CSV.",
)
@click.option("--keep", metavar="COLS", help="Input columns to copy to the output, comma-separated (e.g. an id).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    help="Binary models: predict the second class when its probability is above this. [default: 0.5]",
)
@click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="A bad row: stop with its line number (exit 2), or skip it and report it on stderr.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "python", "pyarrow"]),
    default="auto",
    show_default=True,
    help="CSV engine; auto uses pyarrow (the 'fast' extra) for CSV files when it is installed.",
)
@click.option("--threads", type=click.IntRange(min=1), help="onnxruntime threads. [default: one per core]")
def predict(
    model_path: Path,
    source: str,
    output: Path | None,
    output_format: str | None,
    input_format: str,
    keep: str | None,
    threshold: float | None,
    on_error: str,
    engine: str,
    threads: int | None,
) -> None:
    """Score INPUT (a CSV with a header, or JSON lines; '-' or nothing for stdin) with MODEL.

    Feature columns are matched by name, in any order; other columns are ignored unless --keep passes them through.
    Writes the --keep columns, 'label' (the class name) and one 'p_<class>' probability column per class. Rows are
    read, scored and written in chunks, so a file larger than memory is scored in constant memory.

    \b
    Examples:
      logreg predict artifacts/example/model.onnx rows.csv -o scored.csv --keep id
      cat rows.jsonl | logreg predict artifacts/example/model.onnx --format csv
    """
    from . import stream

    model = _load(model_path, threads)
    if threshold is not None and len(model.classes) != 2:
        raise BadInput(f"--threshold applies to binary models; {model_path} has {len(model.classes)} classes")
    keep_columns = [c.strip() for c in keep.split(",") if c.strip()] if keep else []
    clash = [c for c in keep_columns if c in stream.output_columns([], model.classes)]
    if clash:
        raise BadInput(f"--keep column {clash[0]!r} has the name of an output column; rename it in the input")
    use_stdin = source == "-"
    if not use_stdin and not Path(source).is_file():
        raise BadInput(f"{source}: no such file")
    name = "<stdin>" if use_stdin else source
    if engine == "pyarrow" and not stream.has_pyarrow():
        raise BadInput("--engine pyarrow needs pyarrow; install the 'fast' extra: pip install 'logreg-onnx[fast]'")

    with contextlib.ExitStack() as stack:
        if use_stdin:
            text_input = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        else:
            text_input = stack.enter_context(open(source, encoding="utf-8-sig", newline=""))
        first = text_input.readline()
        while first and not first.strip():
            first = text_input.readline()
        detected = input_format
        if detected == "auto":
            detected = "jsonl" if (source.lower().endswith(JSONL_SUFFIXES) or first.lstrip().startswith("{")) else "csv"
        lines = itertools.chain([first], text_input)  # the sniffed first line, then the rest, iterated in C
        output_format = output_format or detected
        arrow = (
            engine != "python"
            and stream.has_pyarrow()
            and not use_stdin
            and detected == "csv"
            and output_format == "csv"
            and on_error == "fail"
        )
        skipped = stream.Skipped() if on_error == "skip" else None
        if arrow:
            chunks = stream.prefetch(stream.arrow_csv_chunks(source, model.feature_names, keep_columns))
        elif detected == "csv":
            chunks = stream.csv_chunks(lines, name, model.feature_names, keep_columns, skipped)
        else:
            chunks = stream.jsonl_chunks(lines, name, model.feature_names, keep_columns, skipped)

        if output is not None:
            from .files import atomic_open

            if not output.parent.is_dir():
                raise BadInput(f"-o {output}: the folder {output.parent} does not exist")
            sink = stack.enter_context(
                atomic_open(output, "wb" if arrow else "w", **({} if arrow else {"encoding": "utf-8", "newline": ""}))
            )
        else:
            sink = sys.stdout.buffer if arrow else sys.stdout
        if arrow:
            writer = stream.ArrowCsvOutput(sink, keep_columns, model.classes)
        elif output_format == "csv":
            writer = stream.CsvOutput(sink, keep_columns, model.classes)
        else:
            writer = stream.JsonlOutput(sink, keep_columns, model.classes)
        try:
            rows = _score(model, chunks, writer, name, threshold, skipped)
        except stream.BadRow as bad:
            if arrow:
                bad = _locate_error(source, model, keep_columns) or bad
            raise BadInput(str(bad)) from None
        except Exception as exc:
            if not arrow or type(exc).__name__ not in ("ArrowInvalid", "ValueError"):
                raise
            raise BadInput(str(_locate_error(source, model, keep_columns) or exc)) from None
    if skipped and skipped.rows:
        skipped.rows.sort(key=lambda bad: bad.line)
        shown = "; ".join(f"line {bad.line}: {bad.problem}" for bad in skipped.rows[:10])
        more = f"; and {len(skipped.rows) - 10} more" if len(skipped.rows) > 10 else ""
        click.echo(
            f"skipped {len(skipped.rows)} bad row{'s' if len(skipped.rows) > 1 else ''} of {name}: {shown}{more}",
            err=True,
        )
    if output is not None:
        click.echo(f"wrote {rows:,} rows to {output}", err=True)


def _score(model, chunks, writer, name: str, threshold: float | None, skipped) -> int:
    from .stream import BadRow

    rows = 0
    for chunk in chunks:
        labels, probabilities = model.run(chunk.features, check_finite=False)
        bad = np.flatnonzero(np.isnan(probabilities[:, 0]))
        if len(bad):
            problems = [
                BadRow(name, int(chunk.lines[row]), _nonfinite_problem(model, chunk.features[row]))
                for row in bad.tolist()
            ]
            if skipped is None:
                raise problems[0]
            for problem in problems:
                skipped.add(problem)
            good = np.setdiff1d(np.arange(len(labels)), bad)
            labels, probabilities = labels[good], probabilities[good]
            chunk.kept = [[column[i] for i in good.tolist()] for column in chunk.kept]
        if threshold is not None:
            labels = model.labels_at(probabilities, threshold)
        writer.write(chunk.kept, labels, probabilities)
        rows += len(labels)
    return rows


def _nonfinite_problem(model, features: np.ndarray) -> str:
    """Why a row scored NaN: its first NaN or infinite feature, or (all finite) logits beyond float32's range."""
    columns = np.flatnonzero(~np.isfinite(features))
    if not len(columns):
        return "the features are so large that the model's float32 logits overflow"
    col = int(columns[0])
    return f"column {model.feature_names[col]!r} is {float(features[col])}; features must be finite numbers"


def _locate_error(source: str, model, keep_columns):
    """Re-read a CSV that pyarrow could not convert with the careful engine, to name the bad line and column."""
    from . import stream

    with open(source, encoding="utf-8-sig", newline="") as handle:
        try:
            for chunk in stream.csv_chunks(handle, source, model.feature_names, keep_columns, None):
                bad = np.flatnonzero(~np.isfinite(chunk.features).all(axis=1))
                if len(bad):
                    row = int(bad[0])
                    return stream.BadRow(source, int(chunk.lines[row]), _nonfinite_problem(model, chunk.features[row]))
        except stream.BadRow as bad:
            return bad
    return None


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
def info(model_path: Path, as_json: bool) -> None:
    """Describe MODEL: inputs, outputs, features, classes, metadata, size, SHA-256, and whether it still passes the
    test vectors written beside it at export (exit code 1 if it does not).

    \b
    Example:
      logreg info artifacts/example/model.onnx
    """
    from .info import format_info, model_info

    facts = model_info(_load(model_path))
    click.echo(json.dumps(facts, indent=2) if as_json else format_info(facts))
    if facts["test_vectors"]["status"] == "failed":
        raise Failed(f"{model_path} does not reproduce its test vectors ({facts['test_vectors']['path']})")
