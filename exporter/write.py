"""exporter.write: export a source, verify the candidate in memory, and only then write the files (fail closed)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from logreg_onnx.runtime.categorical import graph_texts
from logreg_onnx.runtime.files import write_bytes_atomic, write_text_atomic
from logreg_onnx.trainer.errors import Setting

from .errors import ExportOptionError, VerificationFailed, first_line
from .explain import explain_slack
from .from_toolkit import source_of_run
from .graph import add_metadata, export_graph, opset_of, serialize
from .options import DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL
from .parity import VerificationReport, check_test_vectors, verify_file
from .profile import training_profile
from .rundir import load_run
from .source import Source
from .verify import float32_slack, make_probes
from .verify_explain import verify_explanations

PARITY_FILE = contract.PARITY_FILE
TESTVECTORS_ATOL = 1e-5  # for clients in other languages, whose exp and sums may round differently again
TESTVECTORS_PER_GROUP = 6


@dataclass(frozen=True)
class ExportResult:
    """Where the files went, the verification report, and how long it all took."""

    model_path: Path
    parity_path: Path
    testvectors_path: Path
    ort_path: Path | None
    c_path: Path | None
    report: VerificationReport
    seconds: float
    code_paths: tuple[Path, ...] = ()  # the scorers of ``code=``, each language's files
    c_fixed_path: Path | None = None  # ``<stem>_fixed.h``, the integer-only header of ``c_fixed=``


def export_run(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    opset: int | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    ort_format: bool = False,
    c_code: bool = False,
    c_prefix: str = "logreg",
    c_fixed: bool = False,
    c_bits: int = 32,
    code: tuple[str, ...] = (),
    portable: bool = False,
) -> ExportResult:
    """Export ``run_dir``'s model to ``out`` (default ``RUN_DIR/model.onnx``), verified against its PyTorch model:
    :func:`export_source` on the run. Raises :class:`~exporter.errors.RunDirError` or :class:`ExportOptionError`
    for bad input, :class:`VerificationFailed` when the candidate does not compute what the model computes."""
    run = load_run(run_dir)
    target = check_target(run.path / "model.onnx" if out is None else out, atol, rtol)
    return export_source(
        source_of_run(run),
        target,
        opset=opset,
        atol=atol,
        rtol=rtol,
        ort_format=ort_format,
        c_code=c_code,
        c_prefix=c_prefix,
        c_fixed=c_fixed,
        c_bits=c_bits,
        code=code,
        portable=portable,
    )


def export_source(
    source: Source,
    target: Path,
    *,
    opset: int | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    ort_format: bool = False,
    c_code: bool = False,
    c_prefix: str = "logreg",
    c_fixed: bool = False,
    c_bits: int = 32,
    code: tuple[str, ...] = (),
    portable: bool = False,
) -> ExportResult:
    """Export ``source`` to ``target`` (checked by :func:`check_target`), verified against the user's own object.

    The candidate is written beside the target under a temporary name, loaded back with ``runtime.load`` (the path
    users run) and compared with ``source.expected`` (the PyTorch model, the pipeline, the results object), through
    the graph's inputs and through the paths users call (dict rows, the server's request handling, the test-vector
    replay of ``logreg info`` and of the server's readiness: :func:`check_model`, the checks ``logreg verify`` runs
    again later); only then is it renamed into place, so the bytes verified are the bytes shipped. On success
    ``<stem>.testvectors.json``, ``parity.json`` (``<stem>.ort`` with ``ort_format``, and ``<stem>.h``, C99 replaying
    the test vectors when a C compiler is found, with ``c_code``; with ``code``, a scorer per language,
    exporter/scorers) are written beside it, each atomically, the model
    last. If verification fails, nothing is written at ``target``: the candidate is kept as
    ``<stem>.rejected.onnx`` with ``parity.json`` beside it, and :class:`VerificationFailed` is raised.
    """
    started = time.perf_counter()
    model_bytes = serialize(build_model(source, opset=opset, portable=portable))
    vectors = test_vectors(source, model_bytes)
    with _staged(target, model_bytes) as candidate:
        report = _verify(candidate, source, vectors, opset=opset, atol=atol, rtol=rtol)
        ort_bytes = _ort_candidate(candidate, source, report, atol=atol, rtol=rtol) if ort_format else None
        report.model = _model_facts(target, model_bytes, opset, source)
        parity_path = target.parent / PARITY_FILE
        c_header = _c_candidate(model_bytes, vectors, report, c_prefix) if c_code and report.passed else None
        fixed_header = (
            _c_fixed_candidate(model_bytes, vectors, report, c_prefix, c_bits) if c_fixed and report.passed else None
        )
        if report.passed and (c_header or fixed_header):
            _size_notes(model_bytes, report, c_prefix, c_header, fixed_header)
        scorers = _code_candidates(model_bytes, vectors, report, code, target) if code and report.passed else {}
        if not report.passed:
            _reject(candidate, target, report, parity_path, source)
        testvectors_path = target.with_name(f"{target.stem}{contract.TESTVECTORS_SUFFIX}")
        write_text_atomic(testvectors_path, json.dumps(vectors, indent=1) + "\n")
        ort_path = None
        if ort_bytes is not None:
            ort_path = target.with_suffix(".ort")
            write_bytes_atomic(ort_path, ort_bytes)
        c_path = None
        if c_header is not None:
            c_path = target.with_suffix(".h")
            write_text_atomic(c_path, c_header)
        c_fixed_path = None
        if fixed_header is not None:
            c_fixed_path = target.with_name(f"{target.stem}_fixed.h")
            write_text_atomic(c_fixed_path, fixed_header)
        for path, text in scorers.items():
            write_text_atomic(path, text)
        write_text_atomic(parity_path, report.to_text())
        os.replace(candidate, target)  # last: its presence means everything beside it is complete
    seconds = time.perf_counter() - started
    return ExportResult(
        target,
        parity_path,
        testvectors_path,
        ort_path,
        c_path,
        report,
        seconds,
        code_paths=tuple(scorers),
        c_fixed_path=c_fixed_path,
    )


def verify_model_file(
    model_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> VerificationReport:
    """``logreg verify``: check a written model file against ``run_dir``'s PyTorch model with the checks export ran
    before writing it (:func:`check_model`), replaying the test vectors written beside it
    (``<stem>.testvectors.json``), and write ``parity.json`` beside it. Returns the report; ``report.passed`` is the
    verdict. Raises :class:`~exporter.errors.RunDirError`, :class:`ExportOptionError` or
    :class:`~exporter.errors.BadModelFileError` for bad input."""
    from logreg_onnx.runtime.testvectors import path_for

    model_path = Path(model_path)
    run = load_run(run_dir)
    _check_tolerances(atol, rtol)
    vectors = path_for(model_path)
    report = check_model(model_path, source_of_run(run), vectors if vectors.is_file() else None, atol=atol, rtol=rtol)
    report.model = {"path": str(model_path), "run": str(run.path), "model_pt_sha256": run.model_sha256}
    write_text_atomic(model_path.parent / PARITY_FILE, report.to_text())
    return report


def check_model(
    path: Path, source: Source, vectors: dict | Path | None, *, atol: float, rtol: float
) -> VerificationReport:
    """Every check a model file passes, the same whether ``logreg export`` runs them on its candidate (``vectors``:
    the test vectors it is about to write) or ``logreg verify`` on a written file (``vectors``: the path of those
    written beside it; None when there are none). First :func:`~exporter.parity.verify_file`: ``runtime.load`` and
    onnx's reference evaluator against PyTorch, then dict rows and the server's request handling; then, if all of
    that passed, the test-vector replay of ``logreg info`` and of the server's readiness
    (:func:`~exporter.parity.check_test_vectors`)."""
    report = verify_file(
        path,
        source.model,
        data_rows=source.sample,
        atol=atol,
        rtol=rtol,
        threshold=source.threshold,
        expected=source.expected,
        against=source.origin,
    )
    report.notes[:0] = source.notes
    report.add(verify_explanations(path, source, atol=atol, rtol=rtol, reference=path.suffix != ".ort"))
    if vectors is None:
        report.note("no test vectors beside the model: their replay (logreg info, the server's readiness) was skipped")
    elif report.passed:
        report.add(check_test_vectors(path, vectors))
    return report


def check_target(out: str | os.PathLike[str], atol: float, rtol: float) -> Path:
    """The path to export to, checked: its folder exists and it is not a folder itself; and the tolerances."""
    target = Path(out)
    if not target.parent.is_dir():
        raise ExportOptionError("out", f"{target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise ExportOptionError("out", f"{target}: is a directory; give the path of the .onnx file to write")
    _check_tolerances(atol, rtol)
    return target


def _check_tolerances(atol: float, rtol: float) -> None:
    if not (np.isfinite(atol) and np.isfinite(rtol) and atol >= 0 and rtol >= 0):
        raise ExportOptionError(
            "atol", "and ", Setting("rtol"), f" must be finite and not negative, got {atol} and {rtol}"
        )


@contextlib.contextmanager
def _staged(target: Path, data: bytes):
    """A temporary file beside ``target`` holding ``data``; removed on the way out unless renamed meanwhile."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".candidate.onnx", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes it private; the model is an ordinary file, like the others
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _verify(
    candidate: Path, source: Source, vectors: dict, *, opset: int | None, atol: float, rtol: float
) -> VerificationReport:
    from logreg_onnx.runtime.errors import ModelError

    from .errors import BadModelFileError

    try:
        return check_model(candidate, source, vectors, atol=atol, rtol=rtol)
    except (BadModelFileError, ModelError) as exc:
        import onnxruntime

        raise ExportOptionError(
            "opset",
            f"{opset}: onnxruntime {onnxruntime.__version__} cannot run this model at this opset "
            f"({first_line(exc)}); use the default, ",
            Setting("opset", DEFAULT_OPSET),
        ) from None


def _ort_candidate(
    candidate: Path, source: Source, report: VerificationReport, *, atol: float, rtol: float
) -> bytes | None:
    """The .ort conversion, verified through runtime.load like the ONNX file; its results join ``report``."""
    if not report.passed:
        return None
    ort_bytes = to_ort_format(candidate.read_bytes())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ort"
        path.write_bytes(ort_bytes)
        ort_report = verify_file(
            path,
            source.model,
            data_rows=source.sample,
            atol=atol,
            rtol=rtol,
            reference=False,
            label="runtime.load (.ort)",
            threshold=source.threshold,
            expected=source.expected,
            user_paths=False,  # the same runtime code as the ONNX file's, checked there
        )
    report.add(ort_report.results)
    return ort_bytes


def _c_candidate(model_bytes: bytes, vectors: dict, report: VerificationReport, prefix: str) -> str:
    """``model.h`` for the candidate, compiled with a harness replaying the test vectors when a C compiler is found;
    its result joins ``report`` (a mismatch fails the export), or a note says it could not be checked."""
    from . import c_code

    header = c_code.generate(model_bytes, prefix=prefix)
    proof = c_code.prove(header, vectors, prefix=prefix)
    if proof.passed is None:
        report.note(f"model.h not compiled: {proof.detail}; it is written unverified")
        return header
    size = f", {proof.object_bytes:,} bytes of object code (-Os)" if proof.object_bytes else ""
    detail = f"{proof.cases} test vectors, max abs diff {proof.max_abs_diff:.1e}{size}"
    if proof.explain_outputs:
        detail += f"; logreg_explain: {', '.join(proof.explain_outputs)}, max diff {proof.explain_max_diff:.1e}"
    report.add(
        [
            {
                "runtime": f"C99 model.h ({Path(proof.compiler).name})",
                "batch": 1,
                "output": contract.PROBABILITIES_OUTPUT,
                "passed": proof.passed,
                "detail": detail if proof.passed else proof.detail,
                "max_abs_diff": proof.max_abs_diff,
                "object_bytes": proof.object_bytes,
            }
        ]
    )
    return header


def _c_fixed_candidate(
    model_bytes: bytes, vectors: dict, report: VerificationReport, prefix: str, bits: int
) -> str | None:
    """The integer-only header for the candidate (exporter/c_fixed.py), its proof joining ``report``: the test
    vectors and random rows against onnxruntime, within the bound the header states."""
    from . import c_fixed
    from .c_fixed_plan import FixedPointError

    runtime_name = f"C99 int{bits} {c_fixed.HEADER_NAME}"
    try:
        header = c_fixed.generate(model_bytes, prefix=prefix, bits=bits)
    except FixedPointError as exc:  # fails closed like a proof: no header, no model
        report.add([{"runtime": runtime_name, "batch": 1, "output": contract.PROBABILITIES_OUTPUT, "passed": False,
                     "detail": f"the integer-only header cannot be made: {exc}"}])  # fmt: skip
        return None
    proof = c_fixed.prove(header, vectors, model_bytes, prefix=prefix)
    if proof.passed is None:
        report.note(f"the integer-only header not compiled: {proof.detail}; it is written unverified")
        return header
    skipped = f" ({len(proof.skipped)} outside its input range skipped)" if proof.skipped else ""
    detail = (
        f"{proof.cases} test vectors{skipped} and {proof.random_rows:,} random rows, max abs diff "
        f"{max(proof.max_abs_diff, proof.random_max_abs_diff):.1e} within its stated bound {proof.bound:.1e}"
    )
    report.add(
        [
            {
                "runtime": f"{runtime_name} ({Path(proof.compiler).name})",
                "batch": 1,
                "output": contract.PROBABILITIES_OUTPUT,
                "passed": proof.passed,
                "detail": detail if proof.passed else proof.detail,
                "max_abs_diff": max(proof.max_abs_diff, proof.random_max_abs_diff),
                "bound": proof.bound,
            }
        ]
    )
    return header


def _size_notes(
    model_bytes: bytes, report: VerificationReport, prefix: str, header: str | None, fixed: str | None
) -> None:
    """With arm-none-eabi-gcc: each header's flash and RAM on Cortex-M0 and M4F, as notes of the report."""
    from . import c_size
    from .c_graph import read_graph

    g = read_graph(model_bytes)
    for text, is_fixed in ((header, False), (fixed, True)):
        if text is None:
            continue
        try:
            rows = c_size.size_report(
                text, prefix=prefix, fixed=is_fixed, n_categorical=len(g.categorical_names),
                n_features=len(g.numeric_names),
            )  # fmt: skip
        except c_size.SizeReportError as exc:  # the header is proven on the host: a size report is only a note
            report.note(f"no Cortex-M size report for the {'integer-only' if is_fixed else 'float'} header: {exc}")
            continue
        if rows is None:
            return
        for row in rows:
            if row["header"] == "baseline":
                continue
            flash = row["program_text"] + row["program_data"]
            report.note(
                f"{row['target']}, {'integer-only' if is_fixed else 'float'} header (arm-none-eabi-gcc -Os): "
                f"{prefix}_predict {row['function_text'] + row['function_data']:,} bytes of flash; a minimal program "
                f"{flash:,} bytes of flash, {row['program_data'] + row['program_bss']:,} of RAM"
            )


def _code_candidates(
    model_bytes: bytes, vectors: dict, report: VerificationReport, code: tuple[str, ...], target: Path
) -> dict[Path, str]:
    """The scorers of ``code`` (language keys, exporter/scorers) for the candidate, each built and run against the
    test vectors with its toolchain; each result joins ``report`` (a mismatch fails the export), or a note says
    that a language's file is written unverified, without its toolchain. Path -> text of the files to write."""
    from .scorers import LANGUAGES, prove, scorer_of

    scorer = scorer_of(model_bytes)
    files = {}
    for key in code:
        language = LANGUAGES[key]
        files |= {target.with_name(name): text for name, text in language.files(scorer, target.stem).items()}
        proof = prove(key, scorer, target.stem, vectors)
        if proof.passed is None:
            report.note(f"{language.title} scorer not run: {proof.detail}; it is written unverified")
            continue
        detail = f"{proof.cases} test vectors, max abs diff {proof.max_abs_diff:.1e}"
        if proof.explain_outputs:
            detail += f"; explain: {', '.join(proof.explain_outputs)}, max diff {proof.explain_max_diff:.1e}"
        report.add(
            [
                {
                    "runtime": f"{language.title} scorer ({', '.join(language.tools)})",
                    "batch": 1,
                    "output": contract.PROBABILITIES_OUTPUT,
                    "passed": proof.passed,
                    "detail": detail if proof.passed else proof.detail,
                    "max_abs_diff": proof.max_abs_diff,
                }
            ]
        )
    return files


def _model_facts(target: Path, model_bytes: bytes, opset: int | None, source: Source) -> dict:
    return {
        "path": str(target),
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "opset": opset_of(onnx.load_from_string(model_bytes)),
        "bytes": len(model_bytes),
        **source.facts,
    }


def _reject(candidate: Path, target: Path, report: VerificationReport, parity_path: Path, source: Source) -> None:
    rejected = target.with_name(f"{target.stem}.rejected.onnx")
    os.replace(candidate, rejected)
    report.model = {**(report.model or {}), "rejected_path": str(rejected)}
    write_text_atomic(parity_path, report.to_text())
    raise VerificationFailed(
        f"the exported model does not compute what {source.origin} computes; nothing was "
        f"written at {target}; the candidate is kept as {rejected} (the evidence: {parity_path})",
        report,
    )


def build_model(
    source: Source, *, opset: int | None = None, explain: bool = True, profile: bool = True, portable: bool = False
) -> onnx.ModelProto:
    """The candidate ONNX model of a source: graph, metadata, and nothing that names this machine. ``explain`` and
    ``profile`` off build the file without the explain outputs (format 2) or the training profile, as
    bench/explain.py measures their size; an export always has both."""
    explainer = source.explainer if explain else None
    proto = export_graph(source.model, opset=opset, threshold=source.threshold, explainer=explainer, portable=portable)
    for node in proto.graph.node:
        # The exporter records each node's Python stack trace and source path: noise for users, and a leak of paths.
        del node.metadata_props[:]
        node.doc_string = ""
    encoding = source.encoding
    proto = add_metadata(
        proto,
        feature_names=encoding.names,
        class_names=source.class_names,
        metrics=source.metrics,
        model_sha256=source.model_sha256,
        columns=encoding.to_json(),
        na_values=source.na_values,
        threshold=source.threshold,
        origin=source.facts.get("source"),
        profile=training_profile(source) if profile else None,
        explain=explainer.metadata(source.class_names) if explainer is not None else None,
        portable=portable,
        offset=source.model.offset,
    )
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    return proto


def to_ort_format(model_bytes: bytes) -> bytes:
    """Convert to onnxruntime's .ort format (for mobile and minimal builds), as its converter tool does: a session
    that saves its optimized model in ORT format. Basic optimizations only, which every execution provider runs."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.ort")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = path
        options.add_session_config_entry("session.save_model_format", "ORT")
        options.log_severity_level = 3
        ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        with open(path, "rb") as handle:
            return handle.read()


def test_vectors(source: Source, model_bytes: bytes) -> dict:
    """Input rows with the user's object's outputs (``source.expected``), for clients in any language to check
    themselves against.

    Rows come from every probe group, among those where float32 rounding cannot move a probability by more than
    a quarter of :data:`TESTVECTORS_ATOL` (a worst-case bound; the differences seen are a hundred times smaller).
    Each case carries the graph's inputs (``features``, with null for NaN, and ``categories``) and the raw ``row``
    by column name (null for a missing value).
    """
    probes = make_probes(source.model, source.sample, seed=1)
    labels, probabilities = source.expected(probes)
    scored = np.isfinite(probabilities).all(axis=1)  # rows the user's object refuses are no test of a client
    slack = float32_slack(source.model, probes.design, np.nan_to_num(probabilities), probes.offsets).max(axis=1)
    slack = np.where(scored, slack, 1.0)
    explainer = source.explainer
    explained = explainer.reference(probes.design, probes.offsets)
    slack = np.maximum(slack, explain_slack(explainer, probes.design, probes.offsets))
    encoding = source.encoding
    names = encoding.names
    numeric = [c.name for c in encoding.numeric]
    categorical = [c.name for c in encoding.categorical]
    cases = []
    props = {p.key: p.value for p in onnx.load_from_string(model_bytes).metadata_props}
    offset = contract.offset_column(props)
    for group in dict.fromkeys(probes.groups):
        members = [
            i
            for i, g in enumerate(probes.groups)
            if g == group and slack[i] < TESTVECTORS_ATOL / 4 and _trimmed(probes.categories[i])
        ]
        for i in members[:TESTVECTORS_PER_GROUP]:
            features = [None if v != v else float(v) for v in probes.rows[i].tolist()]
            row = dict(zip(numeric, features, strict=True))
            row |= {name: (None if v == "" else v) for name, v in zip(categorical, probes.categories[i], strict=True)}
            case = {"group": group, "row": {name: row[name] for name in names}, "features": features}
            if offset is not None:  # the graph's input, and the row's value under the offset column
                case[contract.OFFSET_INPUT] = float(probes.offsets[i])
                case["row"][offset] = float(probes.offsets[i])
            if categorical:
                case["categories"] = [str(v) for v in probes.categories[i]]
                if contract.is_portable(props):  # what a portable graph's categories input takes for them
                    texts = np.array([case["categories"]], dtype=object)
                    case[contract.CASE_CATEGORY_CODES] = graph_texts(props, texts)[0].tolist()
            case |= {
                "label": int(labels[i]),
                "class_name": source.class_names[int(labels[i])],
                "probabilities": [float(v) for v in probabilities[i]],
            }
            case |= {name: _listed(values[i]) for name, values in explained.items()}
            cases.append(case)
    return {
        "format": contract.TESTVECTORS_FORMAT,
        "format_version": contract.TESTVECTORS_VERSION,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "inputs": contract.input_names(len(numeric), len(categorical), offset is not None),
        "outputs": [*contract.OUTPUT_NAMES, *explained],
        "feature_names": names,
        "columns": encoding.to_json(),
        "class_names": source.class_names,
        "atol": TESTVECTORS_ATOL,
        "rule": contract.TESTVECTORS_RULE,
        "cases": cases,
    }


def _listed(value: np.ndarray):
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def _trimmed(values) -> bool:
    """A row whose categorical values a client would send as they are (the probes also try untrimmed text, which
    the graph treats as unseen but a client trims first: such a row's raw form would mean another input)."""
    return all(v == v.strip() for v in values)
