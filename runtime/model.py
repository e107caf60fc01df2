"""runtime.load and Model: a thin, thread-safe wrapper over one onnxruntime session, fast on one row and on a million.

Session options, chosen for small models and measured in bench/runtime.py (see the README's table):
- ``intra_op_num_threads``: onnxruntime's default (one per physical core) unless ``threads`` says otherwise. A
  one-row run is not split across threads, so this costs single rows nothing, and large batches use every core.
- ``session.intra_op.allow_spinning = 0``: idle pool threads sleep instead of busy-waiting, so an app that predicts
  now and then does not burn a core between calls; for this model's short operators spinning bought no speed.
- one ``inter_op`` thread, sequential execution: the graph is a chain of five operators.

The single-row path (``predict_one``, and ``predict_proba`` of one row) skips ``session.run``'s per-call setup: each
thread keeps an IOBinding whose input and output buffers are preallocated numpy arrays, so a call copies the row in
(through a memoryview, the cheapest copy Python has), runs the session's C++ ``run_with_iobinding`` directly, and reads
the probabilities out.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import onnxruntime as ort

from . import contract
from .errors import InputError, ModelError
from .inputs import describe_names, find_nonfinite, to_matrix
from .protobuf import WireFormatError, external_data_locations


def load(path: str | os.PathLike[str], *, threads: int | None = None, expected_sha256: str | None = None) -> Model:
    """Load a model written by logreg-onnx.

    Parameters
    ----------
    path : path of the ``.onnx`` (or ``.ort``) file
    threads : onnxruntime intra-op threads; ``None`` for its default (one per physical core)
    expected_sha256 : if given, the file's SHA-256 must match (hex, any case), or :class:`ModelError` is raised

    Raises :class:`ModelError` for a missing, truncated, non-ONNX or foreign file, a graph that does not follow the
    toolkit's contract, a checksum mismatch, or external data outside the model's folder.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256.strip().lower():
        raise ModelError(
            f"{path}: SHA-256 is {sha256}, expected {expected_sha256.strip().lower()}; the file is not "
            "the one you meant to load (or it was modified)"
        )
    if not data:
        raise ModelError(f"{path}: empty file, not a model")
    is_ort_format = data[4:8] == b"ORTM"
    locations: list[str] = []
    if not is_ort_format:
        try:
            locations = external_data_locations(data)
        except WireFormatError as exc:
            raise ModelError(f"{path}: not an ONNX model, or a truncated one ({exc})") from None
        _check_external_data(path, locations)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    try:
        # with external data (inside the folder, checked above) the session needs the path to find them
        source = str(path) if locations or is_ort_format else data
        session = ort.InferenceSession(source, session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: onnxruntime cannot load it ({message})") from None
    return Model(session, path=path, sha256=sha256)


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


def _check_external_data(path: Path, locations: list[str]) -> None:
    folder = path.resolve().parent
    for location in locations:
        target = (folder / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(folder):
            raise ModelError(
                f"{path}: its external data {location!r} point outside the model's folder {folder}; refusing to load it"
            )


class Model:
    """A loaded model. Use :func:`load`; all methods are safe to call from several threads at once.

    Read-only properties
    --------------------
    feature_names : tuple of str, the input columns in order
    classes : tuple of str, the class names in probability-column order
    metadata : read-only mapping of the file's metadata, JSON values decoded
    sha256 : str, SHA-256 of the file's bytes
    path : pathlib.Path
    threshold : float, the binary decision threshold the file was exported with
    n_features : int
    """

    def __init__(self, session: ort.InferenceSession, *, path: Path, sha256: str) -> None:
        self._session = session
        self._path = path
        self._sha256 = sha256
        raw = session.get_modelmeta().custom_metadata_map
        self._check_contract(raw)
        self._metadata = MappingProxyType({key: _decode(value) for key, value in raw.items()})
        self._feature_names: tuple[str, ...] = tuple(self._metadata[contract.KEY_FEATURE_NAMES])
        self._classes: tuple[str, ...] = tuple(self._metadata[contract.KEY_CLASS_NAMES])
        self._threshold = float(self._metadata[contract.KEY_THRESHOLD])
        self._n_features = len(self._feature_names)
        self._class_array = np.array(self.classes)
        self._output_names = list(contract.OUTPUT_NAMES)
        self._local = threading.local()
        self._binary = len(self.classes) == 2
        self._first_class, self._second_class = self.classes[0], self.classes[1]

    # -- facts -------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<Model {self.path.name}: {len(self.feature_names)} features -> {len(self.classes)} classes "
            f"{list(self.classes)}>"
        )

    # read-only facts: predictions rely on them, so they cannot be reassigned
    @property
    def path(self) -> Path:
        return self._path

    @property
    def sha256(self) -> str:
        return self._sha256

    @property
    def metadata(self) -> Mapping[str, object]:
        return self._metadata

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._feature_names

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def n_features(self) -> int:
        return self._n_features

    # -- predictions -------------------------------------------------------------------------------------------
    def predict_proba(self, X: object, *, check_finite: bool = True) -> np.ndarray:
        """Probabilities, float32 array of shape (n_rows, n_classes), columns in :attr:`classes` order.

        ``X``: array-like of shape (n_rows, n_features) or one row (see :func:`runtime.inputs.to_matrix` for the
        forms accepted). NaN or infinite features raise :class:`InputError` unless ``check_finite=False``, in which
        case their rows come back as NaN.
        """
        return self.run(X, check_finite=check_finite)[1]

    def predict(self, X: object, *, threshold: float | None = None, check_finite: bool = True) -> np.ndarray:
        """Class names, array of shape (n_rows,). ``threshold`` (binary models only) replaces 0.5: the second class
        is predicted when its probability is above it."""
        labels, probabilities = self.run(X, check_finite=check_finite)
        if threshold is not None:
            labels = self.labels_at(probabilities, threshold)
        return self._class_array[labels]

    def run(self, X: object, *, check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs of the graph contract: class indices (int64, shape (n_rows,)) and probabilities."""
        matrix = to_matrix(X, self.feature_names)
        return self._probabilities(X, matrix, check_finite)

    def labels_at(self, probabilities: np.ndarray, threshold: float) -> np.ndarray:
        """Class indices of a binary model at ``threshold`` on the second class's probability."""
        if len(self.classes) != 2:
            raise ValueError(f"a threshold applies to binary models; this one has {len(self.classes)} classes")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        return (probabilities[:, 1] > threshold).astype(np.int64)

    def predict_one(self, row: object) -> dict[str, float]:
        """One row (1-D array, list, or dict of feature name to value) to a dict of class name to probability:
        the low-latency path."""
        try:
            features, run, probabilities, _ = self._local.single
        except AttributeError:
            features, run, probabilities, _ = self._local.single = self._single_row_path()
        try:
            # ``features`` is a memoryview: only a float32 row of exactly n_features values fits, copied at C speed.
            # Anything else (lists, dicts, float64, a wrong length) raises and goes through the careful path.
            features[:] = row
        except (TypeError, ValueError):
            matrix = to_matrix(row, self.feature_names)
            if len(matrix) != 1:
                raise InputError(
                    f"predict_one takes one row, got {len(matrix)}; use predict_proba for several"
                ) from None
            features[:] = matrix[0]
        run()
        values = probabilities.tolist()
        if values[0] != values[0]:  # NaN: a non-finite feature (every one reaches every output, see _probabilities)
            matrix = to_matrix(row, self.feature_names)  # a float64 value beyond float32's range is named here
            raise find_nonfinite(row, matrix, self.feature_names) or _overflow_error()
        if self._binary:
            return {self._first_class: values[0], self._second_class: values[1]}
        return dict(zip(self._classes, values))  # noqa: B905 (equal lengths by construction; strict= costs time here)

    # -- internals ---------------------------------------------------------------------------------------------
    def _probabilities(self, X: object, matrix: np.ndarray, check_finite: bool) -> tuple[np.ndarray, np.ndarray]:
        n_rows = len(matrix)
        if n_rows == 1:
            try:
                features, run, probabilities, label = self._local.single
            except AttributeError:
                features, run, probabilities, label = self._local.single = self._single_row_path()
            features[:] = matrix[0]
            run()
            if check_finite and probabilities.item(0) != probabilities.item(0):
                raise find_nonfinite(X, matrix, self.feature_names) or _overflow_error()
            return label.copy(), probabilities.reshape(1, -1).copy()
        if n_rows == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, len(self.classes)), dtype=np.float32)
        labels, p = self._session.run(self._output_names, {contract.INPUT_NAME: matrix})
        # A NaN or infinite feature always reaches the output as NaN: NaN propagates through Sub, Div and Gemm, and an
        # infinite one makes 0 * inf = NaN in the binary graph's zero row, or an infinite logit, which the softmax
        # turns into NaN; a NaN logit makes the softmax's sum, and so every column, NaN. So checking the first column
        # of the (small) output replaces checking the (large) input.
        if check_finite and np.isnan(p[:, 0]).any():
            raise find_nonfinite(X, matrix, self.feature_names) or _overflow_error()
        return labels, p

    def _single_row_path(self) -> tuple[memoryview, functools.partial, np.ndarray, np.ndarray]:
        """This thread's IOBinding over preallocated buffers: (features view, run, probabilities, label)."""
        features = np.zeros(self._n_features, dtype=np.float32)
        label = np.zeros(1, dtype=np.int64)
        probabilities = np.zeros(len(self.classes), dtype=np.float32)
        values = (
            ort.OrtValue.ortvalue_from_numpy(features.reshape(1, -1)),
            ort.OrtValue.ortvalue_from_numpy(label),
            ort.OrtValue.ortvalue_from_numpy(probabilities.reshape(1, -1)),
        )
        binding = self._session.io_binding()
        binding.bind_ortvalue_input(contract.INPUT_NAME, values[0])
        binding.bind_ortvalue_output(contract.LABEL_OUTPUT, values[1])
        binding.bind_ortvalue_output(contract.PROBABILITIES_OUTPUT, values[2])
        run = functools.partial(self._session._sess.run_with_iobinding, binding._iobinding, ort.RunOptions())
        # The binding refers to these OrtValues, which borrow the numpy arrays' memory: all of them must live as
        # long as the binding, or a run reads and writes freed memory (seen as garbage under 8 threads).
        run.keepalive = (binding, values, features)
        return memoryview(features), run, probabilities, label

    def _check_contract(self, metadata: Mapping[str, str]) -> None:
        where = f"{self.path}"
        if contract.KEY_FORMAT not in metadata:
            raise ModelError(
                f"{where}: not a logreg-onnx model (no {contract.KEY_FORMAT!r} metadata); the runtime "
                "reads models written by `logreg export`"
            )
        if metadata[contract.KEY_FORMAT] != contract.FORMAT_VERSION:
            raise ModelError(
                f"{where}: logreg-onnx format {metadata[contract.KEY_FORMAT]!r}; this runtime reads "
                f"format {contract.FORMAT_VERSION}"
            )
        missing = [key for key in contract.REQUIRED_METADATA if key not in metadata]
        if missing:
            raise ModelError(f"{where}: metadata {', '.join(missing)} missing")
        try:
            feature_names = json.loads(metadata[contract.KEY_FEATURE_NAMES])
            class_names = json.loads(metadata[contract.KEY_CLASS_NAMES])
            float(metadata[contract.KEY_THRESHOLD])
        except ValueError as exc:
            raise ModelError(f"{where}: unreadable metadata ({exc})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        problems = []
        if [i.name for i in inputs] != [contract.INPUT_NAME] or inputs[0].type != "tensor(float)":
            problems.append(
                f"inputs {[(i.name, i.type) for i in inputs]}, expected one float32 {contract.INPUT_NAME!r}"
            )
        elif (
            len(inputs[0].shape) != 2 or inputs[0].shape[1] != len(feature_names) or isinstance(inputs[0].shape[0], int)
        ):
            problems.append(
                f"input shape {inputs[0].shape}, expected [batch, {len(feature_names)}] with a dynamic batch"
            )
        if [o.name for o in outputs] != list(contract.OUTPUT_NAMES):
            problems.append(
                f"outputs {[o.name for o in outputs]}, expected {list(contract.OUTPUT_NAMES)} in that order"
            )
        elif outputs[0].type != "tensor(int64)" or outputs[1].type != "tensor(float)":
            problems.append(f"output types {[o.type for o in outputs]}, expected int64 label and float32 probabilities")
        elif len(outputs[1].shape) != 2 or outputs[1].shape[1] != len(class_names):
            problems.append(f"probabilities shape {outputs[1].shape}, expected [batch, {len(class_names)}]")
        if problems:
            raise ModelError(f"{where}: does not follow the logreg-onnx graph contract: {'; '.join(problems)}")
        if len(set(feature_names)) != len(feature_names) or len(class_names) < 2:
            raise ModelError(
                f"{where}: metadata names {describe_names(feature_names)} and classes {class_names}: "
                "feature names must be distinct and there must be two classes or more"
            )


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _overflow_error() -> InputError:
    return InputError(
        "the features are finite but so large that the model's float32 logits overflow; check their units"
    )
