"""``logreg predict`` and ``logreg info``: the runtime's commands (numpy + onnxruntime only, never torch)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import sys
from pathlib import Path

import click
import numpy as np

from logreg_onnx.runtime import contract
from logreg_onnx.runtime.errors import ModelError, UnseenLevelError
from logreg_onnx.runtime.explain import MAX_TOP

from . import EXTRAS_HINT, BadInput, Failed

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def _load(path: Path, threads: int | None = None, *, unseen: str = "predict"):
    from logreg_onnx.runtime.model import load

    try:
        return load(path, threads=threads, unseen=unseen)
    except ModelError as exc:
        raise BadInput(str(exc)) from None


def _columns(model, offset: bool = False):
    """What predict reads for ``model``: its numeric and categorical columns and its missing-value rule; with
    ``offset``, the model's offset column too, read as the last numeric column (:func:`_split_offsets`)."""
    from logreg_onnx.runtime.stream import Columns

    numeric = (*model.numeric_names, model.offset_column) if offset else tuple(model.numeric_names)
    return Columns(numeric, tuple(model.categorical_names), model.imputes, frozenset(model.na_values))


def _has_offset(model, first: str, detected: str, separator: str) -> bool:
    """Whether the input gives the model's offset column: its CSV header, or its first JSON line, names it (a model
    with an offset input scores rows without one as offset 0)."""
    column = model.offset_column
    if column is None:
        return False
    if detected == "csv":
        return column in next(csv.reader([first], delimiter=separator), [])
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and column in row


def _split_offsets(model, features: np.ndarray, offset: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The features and the offsets of a chunk read with :func:`_columns` (``offset``: its last numeric column is
    the offset; a missing value there is 0, as for a row that gives none)."""
    if not offset:
        return features, None
    offsets = np.nan_to_num(features[:, -1], nan=0.0)
    return np.ascontiguousarray(features[:, :-1]), offsets


# how a CSV is read, the same for logreg predict and logreg drift
_delimiter_option = click.option(
    "--delimiter",
    default="auto",
    show_default=True,
    metavar="CHAR",
    help="CSV field separator; auto: ';' or tab when the header has that and no comma, else ','.",
)
_decimal_option = click.option(
    "--decimal",
    type=click.Choice(["auto", ".", ","]),
    default="auto",
    show_default=True,
    help="Decimal mark of a CSV's numbers (logreg train's rule); auto: ',' when the separator is not a comma and "
    "the first rows hold numbers with decimal commas (29,5) and none with decimal points, else '.'.",
)
_encoding_option = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    metavar="NAME",
    help="Text encoding of the input, e.g. latin-1 or cp1252 (a UTF-8 byte-order mark is skipped).",
)


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
@_delimiter_option
@_decimal_option
@_encoding_option
@click.option(
    "--unseen",
    type=click.Choice(["predict", "error"]),
    default="predict",
    show_default=True,
    help="A categorical value never seen in training: score it as the model's contract says (its column's "
    "'other' level, or nothing from that column) and count it on stderr, or stop with an error naming it.",
)
@click.option(
    "--explain",
    type=click.IntRange(1, MAX_TOP),
    metavar="K",
    help="Also write the K columns that pushed each row hardest toward its predicted class (reason_1, "
    "contribution_1, ..., in logit units) and, for a binary model with intervals, the 95% interval of the second "
    "class's probability (p_lower, p_upper). Format 3 models (docs/explain.md).",
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
    delimiter: str,
    decimal: str,
    encoding: str,
    unseen: str,
    explain: int | None,
    threads: int | None,
) -> None:
    """Score INPUT (a CSV with a header, or JSON lines; '-' or nothing for stdin) with MODEL.

    Feature columns are matched by name, in any order; other columns are ignored unless --keep passes them through.
    Text columns of a model with categorical features are read as text (trimmed); an empty cell or one of the
    model's na_values is a missing value, which a model trained with imputation scores and any other refuses.
    Writes the --keep columns, 'label' (the class name) and one 'p_<class>' probability column per class. Rows are
    read, scored and written in chunks, so a file larger than memory is scored in constant memory. A number in a CSV
    cell is decimal notation with an optional exponent (a decimal comma under --decimal); spaces around it are
    ignored. Both CSV engines accept the same files and write the same bytes.

    \b
    Examples:
      logreg predict artifacts/example/model.onnx rows.csv -o scored.csv --keep id
      cat rows.jsonl | logreg predict artifacts/example/model.onnx --format csv
      logreg predict artifacts/example-penguins/model.onnx penguins.csv --explain 3
    """
    from logreg_onnx.runtime import jsonlines, stream

    model = _load(model_path, threads, unseen=unseen)
    request = _check_request(model, model_path, source, keep, threshold, engine, encoding)
    extra = _explain_columns(model, model_path, explain)
    name = "<stdin>" if source == "-" else source
    with contextlib.ExitStack() as stack:
        text_input = _open_text(stack, source, encoding)
        first = _first_line(text_input, name, encoding)
        detected = input_format
        if detected == "auto":
            detected = "jsonl" if (source.lower().endswith(JSONL_SUFFIXES) or first.lstrip().startswith("{")) else "csv"
        separator = stream.sniff_delimiter(first, delimiter) if detected == "csv" else ","
        offset = _has_offset(model, first, detected, separator)
        columns = _columns(model, offset)
        lines = _decoded_lines(itertools.chain([first], text_input), name, encoding)
        output_format = output_format or detected
        arrow = (
            engine != "python"
            and stream.has_pyarrow()
            and source != "-"
            and detected == "csv"
            and output_format == "csv"
            and on_error == "fail"
        )
        skipped = stream.Skipped() if on_error == "skip" else None
        reading = (source, model, request["keep"], separator, encoding, decimal)  # to re-read what pyarrow refused
        try:
            if arrow:
                chunks = stream.prefetch(
                    stream.open_arrow_csv(
                        source, columns, request["keep"], delimiter=separator, encoding=encoding, decimal=decimal
                    )
                )
            elif detected == "csv":
                chunks = stream.open_csv(lines, name, columns, request["keep"], skipped, separator, decimal)
            else:
                chunks = jsonlines.jsonl_chunks(lines, name, columns, request["keep"], skipped)
        except stream.BadRow as bad:  # a wrong header: nothing has been written yet
            raise BadInput(str(bad)) from None
        except (ValueError, OSError) as exc:  # pyarrow reads its first block on opening; ArrowInvalid is a ValueError
            if not arrow:
                raise
            raise BadInput(str(_locate_error(*reading) or exc)) from None
        sink = _sink(stack, output, binary=arrow)
        writer = _writer_factory(sink, arrow, output_format, request["keep"], model.classes, extra)
        try:
            rows = _score(model, chunks, writer, name, threshold, skipped, explain, offset)
        except stream.BadRow as bad:
            if arrow:
                bad = _locate_error(*reading) or bad
            raise BadInput(str(bad)) from None
        except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            if not arrow:
                raise
            raise BadInput(str(_locate_error(*reading) or exc)) from None
    _report_skipped(skipped, name)
    _report_unseen(model, name)
    if output is not None:
        click.echo(f"wrote {rows:,} rows to {output}", err=True)


def _check_request(model, model_path, source, keep, threshold, engine, encoding) -> dict:
    """Everything about the command line that can be wrong before any input is read."""
    from logreg_onnx.runtime import output as writers
    from logreg_onnx.runtime import stream

    if threshold is not None and len(model.classes) != 2:
        raise BadInput(f"--threshold applies to binary models; {model_path} has {len(model.classes)} classes")
    keep_columns = [c.strip() for c in keep.split(",") if c.strip()] if keep else []
    clash = [c for c in keep_columns if c in writers.output_columns([], model.classes)]
    if clash:
        raise BadInput(f"--keep column {clash[0]!r} has the name of an output column; rename it in the input")
    if source != "-" and not Path(source).is_file():
        raise BadInput(f"{source}: no such file")
    if engine == "pyarrow" and not stream.has_pyarrow():
        raise BadInput(f"--engine pyarrow needs pyarrow; install the 'fast' extra: {EXTRAS_HINT['fast']}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadInput(f"--encoding {encoding!r} is not a text encoding Python knows (e.g. utf-8, latin-1)") from None
    return {"keep": keep_columns}


def _open_text(stack: contextlib.ExitStack, source: str, encoding: str):
    from logreg_onnx.runtime.stream import python_encoding

    if source == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding=python_encoding(encoding), newline="")
    return stack.enter_context(open(source, encoding=python_encoding(encoding), newline=""))


def _first_line(text_input, name: str, encoding: str) -> str:
    try:
        first = text_input.readline()
        while first and not first.strip():
            first = text_input.readline()
    except UnicodeDecodeError as exc:  # the reader decodes a block ahead: find the real line
        raise BadInput(_decode_message(name, _bad_line(name, encoding) or 1, exc, encoding)) from None
    return first


def _decoded_lines(lines, name: str, encoding: str):
    """The input's lines; a byte that is not ``encoding`` text stops with a one-line error naming the line."""
    line_no = 0
    try:
        for line_no, line in enumerate(lines, start=1):  # noqa: B007 (line_no is read after the loop)
            yield line
    except UnicodeDecodeError as exc:
        raise BadInput(_decode_message(name, _bad_line(name, encoding) or line_no + 1, exc, encoding)) from None


def _bad_line(name: str, encoding: str) -> int | None:
    """The exact line of the first undecodable byte of a file (the text reader decodes ahead, in blocks)."""
    from logreg_onnx.runtime.stream import python_encoding

    if name == "<stdin>":
        return None
    with open(name, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                raw.decode(python_encoding(encoding))
            except UnicodeDecodeError:
                return line_no
    return None


def _decode_message(name: str, line: int, exc: UnicodeDecodeError, encoding: str) -> str:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return (
        f"{name}:{line}: not {encoding} text (byte 0x{byte}); give the file's encoding, e.g. --encoding latin-1 or "
        "--encoding cp1252"
    )


def _sink(stack: contextlib.ExitStack, output: Path | None, *, binary: bool):
    if output is None:
        return sys.stdout.buffer if binary else sys.stdout
    from logreg_onnx.runtime.files import atomic_open

    if not output.parent.is_dir():
        raise BadInput(f"-o {output}: the folder {output.parent} does not exist")
    return stack.enter_context(atomic_open(output, "wb" if binary else "w", **({} if binary else {"newline": ""})))


def _writer_factory(sink, arrow: bool, output_format: str, keep: list[str], classes: list[str], extra: list[str]):
    """A function making the writer, which writes the header: called once the first chunk has been scored, so that
    an input failing at its first rows leaves no output behind."""
    from logreg_onnx.runtime import output as writers

    if arrow:
        return lambda: writers.ArrowCsvOutput(sink, keep, classes, extra)
    if output_format == "csv":
        return lambda: writers.CsvOutput(sink, keep, classes, extra)
    return lambda: writers.JsonlOutput(sink, keep, classes, extra)


def _explain_columns(model, model_path: Path, explain: int | None) -> list[str]:
    """The --explain columns, or a usage error for a model without explanations."""
    if explain is None:
        return []
    from logreg_onnx.runtime.explain import explain_column_names, require_explain

    try:
        require_explain(model)
    except ModelError as exc:
        raise click.BadParameter(str(exc), param_hint="--explain") from None
    return explain_column_names(model, explain)


def _report_unseen(model, name: str) -> None:
    counts = model.unseen_counts
    if counts:
        shown = ", ".join(f"{column} {count:,}" for column, count in counts.items())
        click.echo(
            f"note: {name} has values not seen in training (scored as the model's contract says; --unseen error "
            f"refuses them): {shown}",
            err=True,
        )


def _report_skipped(skipped, name: str) -> None:
    if not skipped or not skipped.rows:
        return
    skipped.rows.sort(key=lambda bad: bad.line)
    shown = "; ".join(f"line {bad.line}: {bad.problem}" for bad in skipped.rows[:10])
    more = f"; and {len(skipped.rows) - 10} more" if len(skipped.rows) > 10 else ""
    click.echo(
        f"skipped {len(skipped.rows)} bad row{'s' if len(skipped.rows) > 1 else ''} of {name}: {shown}{more}",
        err=True,
    )


def _score(
    model, chunks, make_writer, name: str, threshold: float | None, skipped, explain: int | None = None, offset=False
) -> int:
    from logreg_onnx.runtime import explain as explaining
    from logreg_onnx.runtime.stream import BadRow

    rows = 0
    writer = None
    names = [o.name for o in model.outputs] if explain else None
    for chunk in chunks:
        outputs = None
        chunk.features, offsets = _split_offsets(model, chunk.features, offset)
        try:
            if explain:
                categories = chunk.categories if model.categorical_names else None
                outputs = model.run_outputs(chunk.features, categories, names, offsets=offsets, check_finite=False)
                labels, probabilities = outputs[contract.LABEL_OUTPUT], outputs[contract.PROBABILITIES_OUTPUT]
            else:
                labels, probabilities = model.run_inputs(
                    chunk.features, chunk.categories, offsets=offsets, check_finite=False
                )
        except UnseenLevelError as exc:  # under --unseen error
            raise BadRow(name, int(chunk.lines[exc.row]), str(exc)) from None
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
            outputs = {k: v[good] for k, v in outputs.items()} if outputs is not None else None
            chunk.kept = [[column[i] for i in good.tolist()] for column in chunk.kept]
        if threshold is not None:
            labels = model.labels_at(probabilities, threshold)
        extra = explaining.explain_column_values(model, labels, outputs, explain) if outputs is not None else ()
        writer = writer or make_writer()
        writer.write(chunk.kept, labels, probabilities, extra)
        rows += len(labels)
    if writer is None:
        make_writer()  # no rows: the header alone
    return rows


def _nonfinite_problem(model, features: np.ndarray) -> str:
    """Why a row scored NaN (the runtime's own rule, :meth:`Model.nonfinite_cell`): a missing value the model cannot
    impute, an infinite one, or (all finite) logits beyond float32's range."""
    cell = model.nonfinite_cell(features.reshape(1, -1))
    if cell is None:
        return "the features are so large that the model's float32 logits overflow"
    _, col, value = cell
    why = " (a missing value, which this model cannot impute)" if value != value else ""
    return f"column {model.numeric_names[col]!r} is {value}; features must be finite numbers{why}"


def _locate_error(source: str, model, keep_columns, delimiter: str, encoding: str, decimal: str):
    """Re-read a CSV that pyarrow could not convert with the base engine, to name the bad line and column exactly as
    the base engine would."""
    from logreg_onnx.runtime import stream

    with open(source, encoding=stream.python_encoding(encoding), newline="") as handle:
        lines = _decoded_lines(handle, source, encoding)
        try:
            for chunk in stream.open_csv(lines, source, _columns(model), keep_columns, None, delimiter, decimal):
                try:
                    _, probabilities = model.run_inputs(chunk.features, chunk.categories, check_finite=False)
                except UnseenLevelError as exc:  # under --unseen error
                    return stream.BadRow(source, int(chunk.lines[exc.row]), str(exc))
                bad = np.flatnonzero(np.isnan(probabilities[:, 0]))
                if len(bad):
                    row = int(bad[0])
                    return stream.BadRow(source, int(chunk.lines[row]), _nonfinite_problem(model, chunk.features[row]))
        except stream.BadRow as bad:
            return bad
    return None


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
@click.option("--summary", is_flag=True, help="Print every term of the coefficient table (default: the top 10).")
def info(model_path: Path, as_json: bool, summary: bool) -> None:
    """Describe MODEL: inputs, outputs, features, classes, metadata, size, SHA-256, and whether it still passes the
    test vectors written beside it at export (exit code 1 if it does not).

    \b
    Example:
      logreg info artifacts/example/model.onnx
    """
    from logreg_onnx.runtime.info import format_info, model_info

    facts = model_info(_load(model_path))
    click.echo(json.dumps(facts, indent=2) if as_json else format_info(facts, top=None if summary else 10))
    if facts["test_vectors"]["status"] == "failed":
        raise Failed(f"{model_path} does not reproduce its test vectors ({facts['test_vectors']['path']})")


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("source", metavar="[INPUT|-]", default="-")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or one JSON object for scripts.",
)
@click.option(
    "--fail-above",
    type=click.FloatRange(min=0, min_open=True),
    metavar="PSI",
    help="Exit 1 when any column's PSI, or the score's, is above this (0.25: a major shift), so a pipeline can "
    "gate on it. [default: exit 0 either way]",
)
@_delimiter_option
@_decimal_option
@_encoding_option
def drift(
    model_path: Path,
    source: str,
    output_format: str,
    fail_above: float | None,
    delimiter: str,
    decimal: str,
    encoding: str,
) -> None:
    """Compare the rows of INPUT (a CSV with a header; '-' or nothing for stdin) with the training rows' profile
    stored in MODEL: per column and for the model's score, the population stability index (PSI; under 0.1 stable,
    0.1 to 0.25 a moderate shift, above 0.25 a major one), the Kolmogorov-Smirnov statistic (numbers) or chi-square
    (text), the missing rate before and after, and the count of unseen levels.

    \b
    Examples:
      logreg drift artifacts/penguins/model.onnx new_penguins.csv
      logreg drift model.onnx today.csv --format json --fail-above 0.25
    """
    from logreg_onnx.runtime import stream
    from logreg_onnx.runtime.drift import format_drift

    model = _load(model_path)
    name = "<stdin>" if source == "-" else source
    numeric, categories = [], []
    with contextlib.ExitStack() as stack:
        try:
            text_input = _open_text(stack, source, encoding)
        except (OSError, LookupError) as exc:
            raise BadInput(f"{name}: cannot read it ({exc})") from None
        first = _first_line(text_input, name, encoding)
        separator = stream.sniff_delimiter(first, delimiter)
        lines = _decoded_lines(itertools.chain([first], text_input), name, encoding)
        try:
            for chunk in stream.open_csv(lines, name, _columns(model), [], None, separator, decimal):
                numeric.append(chunk.features)
                if chunk.categories is not None:
                    categories.append(chunk.categories)
        except stream.BadRow as bad:
            raise BadInput(str(bad)) from None
    width = len(model.categorical_names)
    numeric = np.concatenate(numeric) if numeric else np.zeros((0, len(model.numeric_names)), np.float32)
    categories = np.concatenate(categories) if categories else np.empty((len(numeric), width), dtype=object)
    if not len(numeric):
        raise BadInput(f"{name}: no rows to compare (a header and at least one row)")
    try:
        report = model.drift_of_inputs(numeric, categories)
    except ModelError as exc:
        raise BadInput(str(exc)) from None
    click.echo(json.dumps(report, indent=2) if output_format == "json" else format_drift(report))
    if fail_above is not None:
        worst = max([c["psi"] for c in report["columns"]] + [report["score"]["psi"]])
        if worst > fail_above:
            raise Failed(f"drift: the largest PSI is {worst:.3f}, above --fail-above {fail_above:g}")
