"""Reading a model file and opening its onnxruntime session: the integrity digest first, then the session with the
options below and external data refused.

Session options, chosen for small models and measured in bench/runtime.py (see the README's table):
- ``intra_op_num_threads``: onnxruntime's default (one per physical core) unless ``threads`` says otherwise. A
  one-row run is not split across threads, so this costs single rows nothing, and large batches use every core.
- ``session.intra_op.allow_spinning = 0``: idle pool threads sleep instead of busy-waiting, so an app that predicts
  now and then does not burn a core between calls; for this model's short operators spinning bought no speed.
- one ``inter_op`` thread, sequential execution: the graph is a short chain of operators.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import onnxruntime as ort

from . import contract, integrity
from .errors import ModelError

ORT_FORMAT_MAGIC = b"ORTM"  # bytes 4..8 of onnxruntime's .ort (flatbuffer) files


def read_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        raise ModelError(f"{path}: empty file, not a model")
    return data


def check_integrity(path: Path, data: bytes) -> None:
    try:
        integrity.verify(data)
    except ModelError as exc:
        if contract.KEY_FORMAT.encode() not in data:
            raise ModelError(
                f"{path}: not a logreg-onnx model (no {contract.KEY_FORMAT!r} metadata), or a truncated one; the "
                "runtime reads models written by `logreg export`"
            ) from None
        raise type(exc)(
            f"{path}: {exc}: the file is damaged or was changed after export (or was written before logreg-onnx "
            "0.2); export it again"
        ) from None


def open_session(path: Path, data: bytes, threads: int | None) -> ort.InferenceSession:
    # External data would be read from this empty folder, so a model that refers to any is refused: a logreg-onnx model
    # is one file. onnxruntime >= 1.25 also refuses paths that leave that folder (see the README).
    empty = tempfile.mkdtemp(prefix="logreg-onnx-")
    try:
        options = session_options(threads)
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", empty)
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types, varying by version
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if "external data" in message.lower():
            raise ModelError(
                f"{path}: refers to external data files; a logreg-onnx model is one self-contained file, and the "
                f"runtime reads nothing else (onnxruntime: {message})"
            ) from None
        raise ModelError(f"{path}: not an ONNX model onnxruntime can load ({message})") from None
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def tensor_specs(values) -> tuple[contract.TensorSpec, ...]:
    return tuple(
        contract.TensorSpec(v.name, contract.ELEMENT_TYPES.get(v.type, v.type), tuple(v.shape)) for v in values
    )


def session_options(threads: int | None, *, spinning: bool = False) -> ort.SessionOptions:
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return options
