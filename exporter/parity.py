"""Verify a model file the way users run it: load it with ``runtime.load`` and compare its outputs, and those of onnx's
ReferenceEvaluator, with the PyTorch model's; then the paths users call (dict rows through the runtime's API, the
server's request handling, the test-vector replay of ``logreg info`` and of the server's readiness); report as a
:class:`VerificationReport` (``parity.json``) and as a table."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from logreg_onnx.runtime.categorical import graph_texts
from logreg_onnx.trainer.engine.model import LogisticModel

from logreg_onnx import runtime

from .errors import BadModelFileError, first_line
from .options import DEFAULT_ATOL, DEFAULT_RTOL
from .verify import (
    Probes,
    check_signature,
    compare,
    float32_slack,
    make_probes,
    torch_reference,
)

# (numeric rows, categories, the offset input or None) -> (label, probabilities)
Runner = Callable[[np.ndarray, np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]
SMALL_BATCH_ROWS = 16  # rows run one at a time and two at a time, spread over every probe group
USER_PATH_ROWS_PER_GROUP = 64  # rows of each probe group sent through the users' paths (dicts, JSON): a sample
RUNTIME = "runtime.load (onnxruntime)"
REFERENCE = "onnx.reference"
DICT_ROWS = "runtime.run (dict rows)"
SERVER_PREDICT = "server /predict"
SERVER_INFER = "server V2 infer"
TOLERANCE_RULE = (
    "|got - torch| <= atol + rtol*|torch| + slack, slack_k = p_k*((1-p_k)*e_k + sum_{m!=k} p_m*e_m), "
    "e_m = (sqrt(n_features)+2)*eps32*(sum_j |W_mj x_j| + |b_m|): float32 rounding of the logits carried through "
    "the softmax"
)


@dataclass
class VerificationReport:
    """What a verification checked and found; written as ``parity.json`` (:meth:`to_json`, :meth:`from_json`).

    ``contract``: one entry per graph-contract check (name, passed, detail); ``results``: one per runtime, batch size
    and output (the comparison's figures, or a ``detail`` saying why it could not run); ``probes``: rows per probe
    group; ``model``: facts about the file, set by whoever wrote it. :attr:`passed` is derived, never stored apart.
    """

    atol: float
    rtol: float
    contract: list[dict] = field(default_factory=list)
    probes: dict[str, int] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: dict | None = None
    rule: str = TOLERANCE_RULE

    @property
    def passed(self) -> bool:
        """Every contract check and every result passed (and there was something to compare)."""
        return bool(self.results) and all(c["passed"] for c in self.contract) and all(r["passed"] for r in self.results)

    def add(self, results: Iterable[dict]) -> None:
        self.results.extend(results)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def failures(self) -> list[dict]:
        return [c for c in self.contract if not c["passed"]] + [r for r in self.results if not r["passed"]]

    def to_json(self) -> dict:
        """The ``parity.json`` document (its format since logreg-onnx 0.1: ``passed`` first, ``model`` last)."""
        document = {
            "passed": self.passed,
            "tolerance": {"atol": self.atol, "rtol": self.rtol, "rule": self.rule},
            "contract": self.contract,
            "probes": self.probes,
            "results": self.results,
            "notes": self.notes,
        }
        if self.model is not None:
            document["model"] = self.model
        return document

    def to_text(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, document: Mapping) -> VerificationReport:
        """A report from a ``parity.json`` document (any written so far); KeyError or TypeError if it is not one."""
        tolerance = document["tolerance"]
        return cls(
            atol=float(tolerance["atol"]),
            rtol=float(tolerance["rtol"]),
            contract=list(document["contract"]),
            probes=dict(document["probes"]),
            results=list(document["results"]),
            notes=list(document.get("notes", [])),
            model=document.get("model"),
            rule=tolerance.get("rule", TOLERANCE_RULE),
        )


def runtime_runner(model: runtime.Model) -> Runner:
    """The runtime's own path: one row goes through its IOBinding fast path, several through ``session.run``."""

    def run(rows: np.ndarray, categories: np.ndarray, offsets=None) -> tuple[np.ndarray, np.ndarray]:
        return model.run_inputs(rows, categories, offsets=offsets, check_finite=False)

    return run


def reference_outputs(proto: onnx.ModelProto, names: list[str] | None = None):
    """onnx.reference.ReferenceEvaluator: onnx's own numpy implementation of the operators, independent of both.
    Returns a function of (numeric rows, categories) giving the outputs ``names`` (default every one) by name."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(proto)
    wanted = names or [o.name for o in proto.graph.output]
    input_names = [i.name for i in proto.graph.input]

    props = {p.key: p.value for p in proto.metadata_props}

    def run(rows: np.ndarray, categories: np.ndarray, offsets=None) -> dict[str, np.ndarray]:
        if contract.CATEGORIES_INPUT in input_names:
            categories = graph_texts(props, categories)  # a portable graph takes the texts' codes
        offsets = np.zeros(len(rows), dtype=np.float32) if offsets is None else offsets
        feed = {contract.INPUT_NAME: rows, contract.CATEGORIES_INPUT: categories, contract.OFFSET_INPUT: offsets}
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # its Exp overflows to inf on saturated rows, as it may
            return dict(zip(wanted, evaluator.run(wanted, {n: feed[n] for n in input_names}), strict=True))

    return run


def reference_runner(proto: onnx.ModelProto) -> Runner:
    """The reference evaluator's label and probabilities (:func:`reference_outputs`)."""
    outputs = reference_outputs(proto, list(contract.OUTPUT_NAMES))

    def run(rows: np.ndarray, categories: np.ndarray, offsets=None) -> tuple[np.ndarray, np.ndarray]:
        got = outputs(rows, categories, offsets)
        return np.asarray(got[contract.LABEL_OUTPUT]), np.asarray(got[contract.PROBABILITIES_OUTPUT])

    return run


def dict_rows(model: runtime.Model, rows: np.ndarray, categories: np.ndarray, offsets=None) -> list[dict]:
    """Probe rows as a user gives them: dicts by column name, None for a missing value (NaN, or "" in a text
    column), in the model's column order; a model's offset under its column, left out where it is 0 (a row that
    does not give one)."""
    numeric, categorical = model.numeric_names, model.categorical_names
    out = []
    for i, (values, texts) in enumerate(zip(rows.tolist(), categories.tolist(), strict=True)):
        row = {name: (None if v != v else v) for name, v in zip(numeric, values, strict=True)}
        row |= {name: (None if t == "" else t) for name, t in zip(categorical, texts, strict=True)}
        named = {name: row[name] for name in model.feature_names}
        if offsets is not None and offsets[i] != 0:
            named[model.offset_column] = float(offsets[i])
        out.append(named)
    return out


def dict_runner(model: runtime.Model) -> Runner:
    """``Model.run`` on dict rows: one row as one dict (the single-row paths), several as a list of dicts."""

    def run(rows: np.ndarray, categories: np.ndarray, offsets=None) -> tuple[np.ndarray, np.ndarray]:
        named = dict_rows(model, rows, categories, offsets)
        return model.run(named[0] if len(named) == 1 else named, check_finite=False)

    return run


def _completed(coroutine):
    """The value of a coroutine that never waits (the server's infer without a batcher), run here without an event
    loop, so that an export works inside one too (a notebook's)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the server's infer waited for something; it cannot be checked in process")


def server_runners(model: runtime.Model) -> dict[str, Runner]:
    """The server's request handling (``answer_predict`` of runtime/serve_predict.py, ``answer_infer`` of
    runtime/server.py: what its routes call), in process on JSON bodies; empty when the server's extra is not
    installed."""
    try:
        from logreg_onnx.runtime.server import Limits, Served, answer_infer, answer_predict
    except ImportError:
        return {}
    entry, limits = Served("model", model, ready=True), Limits()
    classes = model.classes

    def predict(rows: np.ndarray, categories: np.ndarray, offsets=None) -> tuple[np.ndarray, np.ndarray]:
        body = json.dumps({"instances": dict_rows(model, rows, categories, offsets)}).encode()
        answer = json.loads(answer_predict(entry, body, limits)[0])["predictions"]
        labels = np.array([classes.index(p["label"]) for p in answer], dtype=np.int64)
        return labels, np.array([[p["probabilities"][c] for c in classes] for p in answer], dtype=np.float32)

    def infer(rows: np.ndarray, categories: np.ndarray, offsets=None) -> tuple[np.ndarray, np.ndarray]:
        inputs = []
        if offsets is not None:
            data = [float(v) for v in offsets.tolist()]
            inputs.append({"name": contract.OFFSET_INPUT, "shape": [len(rows)], "datatype": "FP32", "data": data})
        if model.numeric_names:
            data = [None if v != v else v for v in rows.ravel().tolist()]
            inputs.append({"name": contract.INPUT_NAME, "shape": list(rows.shape), "datatype": "FP32", "data": data})
        if model.categorical_names:
            inputs.append(
                {
                    "name": contract.CATEGORIES_INPUT,
                    "shape": list(categories.shape),
                    "datatype": "BYTES",
                    "data": [str(t) for t in categories.ravel().tolist()],
                }
            )
        body = json.dumps({"inputs": inputs}).encode()
        content = _completed(answer_infer(entry, body, None, limits))[0]
        outputs = {o["name"]: o for o in json.loads(content)["outputs"]}
        probabilities = outputs[contract.PROBABILITIES_OUTPUT]
        return (
            np.array(outputs[contract.LABEL_OUTPUT]["data"], dtype=np.int64),
            np.array(probabilities["data"], dtype=np.float32).reshape(probabilities["shape"]),
        )

    return {SERVER_PREDICT: predict, SERVER_INFER: infer}


def verify_file(
    path: str | Path,
    model: LogisticModel,
    *,
    data_rows=None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
    reference: bool = True,
    label: str = RUNTIME,
    threshold: float = 0.5,
    user_paths: bool = True,
    expected: Callable[[Probes], tuple[np.ndarray, np.ndarray]] | None = None,
    against: str = "the PyTorch model",
) -> VerificationReport:
    """Compare the model file at ``path`` with ``expected`` (the user's own object on the probe rows; by default
    ``model`` in PyTorch): through ``runtime.load`` and (``reference``) onnx's ReferenceEvaluator, and
    (``user_paths``) through dict rows and the server's request handling. ``model`` (the canonical form the file was
    built from) gives the probe rows and the float32 slack. Rows ``expected`` refuses (NaN probabilities: a level
    the user's encoder raises on) are left out, with a note. Returns the report; ``report.passed`` says whether
    every check passed.

    Raises :class:`~exporter.errors.BadModelFileError` for a file that is not an ONNX model at all, and
    :class:`~exporter.errors.SignatureMismatchError` for one made for other features or classes.
    """
    path = Path(path)
    runners: dict[str, Runner] = {}
    users: dict[str, Runner] = {}
    checks: list[dict] = []
    load_failure = None
    try:
        loaded = runtime.load(path)
    except runtime.ContractError as exc:
        checks, load_failure = [asdict(c) for c in exc.checks], str(exc)
    except runtime.IntegrityError as exc:
        checks, load_failure = [{"name": "integrity digest", "passed": False, "detail": str(exc)}], str(exc)
    except runtime.ModelError as exc:
        raise BadModelFileError(str(exc)) from None
    else:
        run_features = model.encoding.names if model.encoding is not None else loaded.feature_names
        check_signature(
            loaded.feature_names, len(loaded.classes), run_features=run_features, run_classes=model.n_classes
        )
        checks = [{"name": "integrity digest", "passed": True, "detail": "matches"}]
        checks += [asdict(c) for c in loaded.contract_checks]
        runners[label] = runtime_runner(loaded)
        if user_paths:
            users = {DICT_ROWS: dict_runner(loaded), **server_runners(loaded)}
    if reference and path.suffix != ".ort":
        try:
            proto = onnx.load_model_from_string(path.read_bytes())
        except Exception as exc:  # onnx raises protobuf's DecodeError and others
            raise BadModelFileError(f"{path}: not a valid ONNX model ({exc})") from None
        runners[REFERENCE] = reference_runner(proto)

    probes = make_probes(model, data_rows, seed=seed)
    outputs = expected(probes) if expected is not None else torch_reference(model, probes, threshold)
    notes = list(probes.notes)
    scored = np.flatnonzero(np.isfinite(np.asarray(outputs[1], dtype=np.float64)).all(axis=1))
    if len(scored) < len(probes.rows):
        refused = len(probes.rows) - len(scored)
        notes.append(f"{refused} probe rows {against} refuses (unseen levels or missing values) were not compared")
        probes, outputs = probes.subset(scored), (outputs[0][scored], outputs[1][scored])
    expected = (np.asarray(outputs[0], dtype=np.int64), np.asarray(outputs[1]))
    slack = float32_slack(model, probes.design, expected[1], probes.offsets)
    report = VerificationReport(atol=atol, rtol=rtol, contract=checks, probes=_group_counts(probes), notes=notes)
    report.note(f"reference: {against}")
    if load_failure is not None:
        report.add([{"runtime": label, "batch": "-", "output": "(load)", "passed": False, "detail": load_failure}])
    for name, runner in runners.items():
        report.add(_run_batches(name, runner, probes, slack, expected, atol=atol, rtol=rtol, threshold=threshold))
    sample = _user_sample(probes, loaded) if users else None
    if users and not len(sample):
        report.note("no probe row is one a user could send as it is: the users' paths were not checked")
        users = {}
    if users:
        for name, runner in users.items():
            report.add(
                _run_batches(
                    name, runner, probes, slack, expected, atol=atol, rtol=rtol, threshold=threshold, subset=sample
                )
            )
        if not any(name in users for name in (SERVER_PREDICT, SERVER_INFER)):
            report.note("the server's request handling was not checked: its extra (serve) is not installed")
    return report


def check_test_vectors(path: str | Path, vectors: dict | Path) -> list[dict]:
    """Replay test vectors on the model file at ``path`` through ``runtime.testvectors.replay`` and
    ``runtime.info.format_info``: what ``logreg info`` prints and what the server's readiness waits for, graph inputs
    and raw rows. ``vectors``: the document the exporter is about to write, or the path of one written beside a
    model."""
    import tempfile

    from logreg_onnx.runtime import testvectors
    from logreg_onnx.runtime.info import format_info, model_info

    name = "logreg info, server ready"
    with tempfile.TemporaryDirectory() as folder:
        if isinstance(vectors, Path):
            vectors_path = vectors
        else:
            vectors_path = Path(folder) / f"model{contract.TESTVECTORS_SUFFIX}"
            vectors_path.write_text(json.dumps(vectors), encoding="utf-8")
        try:
            loaded = runtime.load(path)
            replayed = testvectors.replay(loaded, vectors_path)
            format_info(model_info(loaded, vectors=replayed))
        except Exception as exc:  # whatever breaks here would break `logreg info` and the server: the evidence
            detail = f"{type(exc).__name__}: {first_line(exc)}"
            return [{"runtime": name, "batch": "-", "output": "(run)", "passed": False, "detail": detail}]
    if replayed["status"] not in ("passed", "failed"):  # not found, unreadable: the server would not be ready
        detail = f"test vectors {replayed['status']}: {replayed['path']}"
        detail += f" ({replayed['error']})" if replayed.get("error") else ""
        return [{"runtime": name, "batch": "-", "output": "test vectors", "passed": False, "detail": detail}]
    detail = f"{replayed.get('cases', 0)} test vectors {replayed['status']} (graph inputs and raw rows)"
    if "max_abs" in replayed:
        detail += f", max abs diff {replayed['max_abs']:.1e}"
    if replayed.get("error"):
        detail += f"; {replayed['error']}"
    return [
        {
            "runtime": name,
            "batch": str(replayed.get("cases", "-")),
            "output": "test vectors",
            "passed": replayed["status"] == "passed",
            "detail": detail,
        }
    ]


def _user_sample(probes: Probes, model: runtime.Model) -> np.ndarray:
    """Up to :data:`USER_PATH_ROWS_PER_GROUP` rows of each probe group, among those a user would send as they are:
    text already trimmed (the probes also try untrimmed text, which the graph treats as unseen but every client trims
    first), and missing numbers only where the file's metadata say the model imputes them."""
    groups = np.array(probes.groups)
    trimmed = np.array([all(v == v.strip() for v in row) for row in probes.categories.tolist()], dtype=bool)
    imputed = np.array([c.imputed for c in model.columns if c.kind == "numeric"], dtype=bool)
    allowed = trimmed & ~(np.isnan(probes.rows) & ~imputed).any(axis=1)
    chosen = []
    for group in dict.fromkeys(probes.groups):
        members = np.flatnonzero((groups == group) & allowed)
        if len(members) > USER_PATH_ROWS_PER_GROUP:
            members = members[np.linspace(0, len(members) - 1, USER_PATH_ROWS_PER_GROUP).astype(int)]
        chosen.append(members)
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


def _run_batches(name, runner, probes, slack, expected, *, atol, rtol, threshold=0.5, subset=None) -> list[dict]:
    """All probes (or ``subset``, indices into them) at once, then a spread of rows one at a time and two at a time."""
    everything = np.arange(len(probes.rows)) if subset is None else np.asarray(subset)
    spread = everything[np.linspace(0, len(everything) - 1, SMALL_BATCH_ROWS).astype(int)]
    batchings = {
        f"{len(everything)}": [everything],
        "1": [spread[i : i + 1] for i in range(len(spread))],
        "2": [spread[i : i + 2] for i in range(0, len(spread), 2)],
    }
    results = []
    for batch_name, batches in batchings.items():
        rows = np.concatenate(batches)
        try:
            outputs = [
                runner(np.ascontiguousarray(probes.rows[b]), probes.categories[b], probes.offsets_at(b))
                for b in batches
            ]
        except Exception as exc:  # a fixed batch size, a broken graph: the engine's own words are the evidence
            message = first_line(exc)
            results.append(
                {
                    "runtime": name,
                    "batch": batch_name,
                    "output": "(run)",
                    "passed": False,
                    "detail": f"{type(exc).__name__}: {message}",
                }
            )
            continue
        got = (np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs]))
        for entry in compare(probes, slack, expected, got, atol=atol, rtol=rtol, rows=rows, threshold=threshold):
            results.append({"runtime": name, "batch": batch_name, **entry})
    return results


def _group_counts(probes: Probes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for group in probes.groups:
        counts[group] = counts.get(group, 0) + 1
    return counts


def format_report(report: VerificationReport) -> str:
    """The human table: contract checks that failed, then one line per runtime, batch size and output."""
    lines = []
    probes = ", ".join(f"{name} {count}" for name, count in report.probes.items())
    lines.append(f"probe rows: {probes}")
    for note in report.notes:
        lines.append(f"note: {note}")
    for check in report.contract:
        if not check["passed"]:
            lines.append(f"FAIL contract: {check['name']}: {check['detail']}")
    header = (
        f"{'runtime':<28}{'batch':>6}  {'output':<14}{'max abs':>10}{'max rel':>10}  {'label diff':>10}  "
        f"{'result':<6} worst row / detail"
    )
    lines += ["", header, "-" * len(header)]
    for r in report.results:
        result = "pass" if r["passed"] else "FAIL"
        if "detail" in r:
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {'':>10}  {result:<6} "
                f"{r['detail']}"
            )
        elif r["output"] == contract.LABEL_OUTPUT:
            diff = f"{r['disagreements']} ({r['disagreements_off_boundary']} off)"
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {diff:>10}  "
                f"{result:<6} {r['worst_row'] or ''}"
            )
        else:
            extra = []
            if not r.get("in_unit_interval", True):  # probabilities only: the explain outputs have no such bound
                extra.append("probabilities outside [0, 1]")
            if not r.get("rows_sum_to_one", True):
                extra.append("rows do not sum to 1")
            if r["violations"]:
                extra.append(f"{r['violations']} values beyond tolerance")
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{r['max_abs']:>10.2e}{r['max_rel']:>10.2e}"
                f"  {'':>10}  {result:<6} {r['worst_row'] or ''} {'; '.join(extra)}".rstrip()
            )
    lines += [
        "",
        f"tolerance: atol {report.atol:g}, rtol {report.rtol:g}, plus float32 slack per row",
        f"verification {'PASSED' if report.passed else 'FAILED'}",
    ]
    return "\n".join(lines)
