"""runtime.load and Model: a thin, thread-safe wrapper over one onnxruntime session, fast on one row and on a million.

The concepts it joins, a file each: how the file is read and the session opened (digest, options, external data
refused): runtime/session.py; every input form made one array: runtime/inputs.py; the single-row path
(``predict_one``, and ``predict_proba`` of one row), an IOBinding per thread over preallocated buffers:
runtime/binding.py; a model's categorical columns (unseen values, one dict row's lean ``session.run``):
runtime/categorical.py; the one finishing step every path, fast or careful, ends in (the graph's own ``label`` and
``probabilities`` as the answer, one rule for rows that scored NaN): runtime/finish.py.
"""

from __future__ import annotations

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
from .binding import SingleRow, bind_single_row, native_float32
from .categorical import TextColumns
from .errors import ContractError, InputError, ModelError
from .finish import Finish
from .inputs import offsets_in_rows, to_columns, to_matrix, to_offsets
from .prune import without_outputs
from .session import ORT_FORMAT_MAGIC, check_integrity, open_session, read_file, tensor_specs

UNSEEN_POLICIES = ("predict", "error")


def load(
    path: str | os.PathLike[str],
    *,
    threads: int | None = None,
    expected_sha256: str | None = None,
    unseen: str = "predict",
) -> Model:
    """Load a model written by logreg-onnx.

    Parameters
    ----------
    path : path of the ``.onnx`` (or ``.ort``) file
    threads : onnxruntime intra-op threads; ``None`` for its default (one per physical core)
    expected_sha256 : if given, the file's SHA-256 must match (hex, any case), or :class:`ModelError` is raised
    unseen : what a categorical value never seen in training does: ``"predict"`` scores it as the contract says
        (the column's "other" level, or nothing from that column) and counts it in :attr:`Model.unseen_counts`;
        ``"error"`` raises :class:`InputError` naming the column, the value and the known levels

    Raises :class:`ModelError` for a missing, truncated, non-ONNX or foreign file, :class:`IntegrityError` (a
    ModelError) for a file changed since the exporter wrote it, and :class:`ContractError` (a ModelError) for a graph
    that does not follow the contract. Nothing but the file itself is read: a model referring to external data files
    is refused.
    """
    path = Path(path)
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen must be one of {', '.join(UNSEEN_POLICIES)}, got {unseen!r}")
    data = read_file(path)
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256.strip().lower():
        raise ModelError(
            f"{path}: SHA-256 is {sha256}, expected {expected_sha256.strip().lower()}; the file is not "
            "the one you meant to load (or it was modified)"
        )
    if data[4:8] != ORT_FORMAT_MAGIC:  # .ort files carry no digest of their own; the .onnx they came from does
        check_integrity(path, data)
    session = open_session(path, data, threads)
    try:
        metadata = dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError:
        raise ModelError(f"{path}: its metadata are not valid UTF-8 text") from None
    checks = contract.check_graph(tensor_specs(session.get_inputs()), tensor_specs(session.get_outputs()), metadata)
    problem = contract.first_failure(checks)
    if problem is not None:
        if not checks[0].passed:
            raise ContractError(
                f"{path}: not a logreg-onnx model (no {contract.KEY_FORMAT!r} metadata); the runtime reads models "
                "written by `logreg export`",
                checks,
            )
        raise ContractError(f"{path}: does not follow the logreg-onnx graph contract: {problem}", checks)
    predict_session = None
    if (
        metadata.get(contract.KEY_FORMAT) not in ("1", contract.FORMAT_WITHOUT_EXPLAIN)
        and data[4:8] != ORT_FORMAT_MAGIC
    ):
        # format 3: predictions run a session without the explain outputs' nodes, which onnxruntime would run anyway
        try:
            predict_session = open_session(path, without_outputs(data, contract.OUTPUT_NAMES), threads)
        except (ValueError, ModelError):
            predict_session = None  # not prunable after all (a foreign layout): the full session serves both
    return Model(
        predict_session or session,
        metadata,
        path=path,
        sha256=sha256,
        checks=checks,
        unseen=unseen,
        full_session=session,
    )


class Model:
    """A loaded model. Use :func:`load`; all methods are safe to call from several threads at once.

    Read-only properties
    --------------------
    feature_names : list of str, the input columns in order (a new list each time, so ``df[model.feature_names]``
        selects the columns of a pandas DataFrame)
    columns : list of :class:`runtime.contract.ColumnSpec`, each column's kind, median and levels
    numeric_names, categorical_names : list of str, the columns of the ``features`` and ``categories`` inputs
    unseen_counts : dict of column name to the number of values unseen in training scored so far
    classes : list of str, the class names in probability-column order
    metadata : read-only mapping of the file's metadata, JSON values decoded
    inputs, outputs : tuple of :class:`runtime.contract.TensorSpec`, the graph's signature
    contract_checks : tuple of :class:`runtime.contract.Check`, what :func:`load` checked
    opset : int or None, the ONNX opset the graph was written at
    description : str, what the model expects and returns, in words
    sha256 : str, SHA-256 of the file's bytes
    path : pathlib.Path
    threshold : float, the binary decision threshold the file was exported with
    n_features : int
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        metadata: Mapping[str, str],
        *,
        path: Path,
        sha256: str,
        checks: list[contract.Check],
        unseen: str = "predict",
        full_session: ort.InferenceSession | None = None,
    ) -> None:
        self._session = session  # label and probabilities
        self._full_session = full_session or session  # every output of the file (format 3's explain outputs)
        self._checks = tuple(checks)
        self._path = path
        self._sha256 = sha256
        self._metadata = MappingProxyType({key: _decode(value) for key, value in metadata.items()})
        self._inputs = tensor_specs(session.get_inputs())
        self._outputs = tensor_specs(self._full_session.get_outputs())
        meta = session.get_modelmeta()
        self._description = meta.description
        self._producer = meta.producer_name or None
        self._feature_names: tuple[str, ...] = tuple(self._metadata[contract.KEY_FEATURE_NAMES])
        self._classes: tuple[str, ...] = tuple(self._metadata[contract.KEY_CLASS_NAMES])
        self._threshold = float(self._metadata[contract.KEY_THRESHOLD])
        self._n_features = len(self._feature_names)
        self._class_array = np.array(self._classes)
        self._output_names = list(contract.OUTPUT_NAMES)
        self._local = threading.local()
        self._binary = len(self._classes) == 2
        self._first_class, self._second_class = self._classes[0], self._classes[1]
        self._columns = tuple(contract.columns_of(metadata) or ())
        self._numeric_names = tuple(c.name for c in self._columns if c.kind == "numeric")
        self._categorical = tuple(c for c in self._columns if c.kind == "categorical")
        imputed = np.array([c.imputed for c in self._columns if c.kind == "numeric"], dtype=bool)
        self._missing_ok = bool(imputed.any())
        self._na_values = frozenset(self._metadata.get(contract.KEY_NA_VALUES) or ())
        portable = contract.is_portable(metadata)  # its categories input takes int64 codes
        self._text = TextColumns(session, self._columns, self._na_values, strict=unseen == "error", codes=portable)
        numeric_positions = [j for j, c in enumerate(self._columns) if c.kind == "numeric"]
        self._finisher = Finish(self._numeric_names, numeric_positions, imputed)
        self._finish = self._finisher.finish
        self._offset = contract.offset_column(metadata)  # the column a row gives the offset input in, or None
        # the single-row fast paths bind the numeric input alone: a model with text columns or an offset takes
        # the careful path
        self._lean = not self._categorical and self._offset is None

    # -- facts -------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<Model {self.path.name}: {self._n_features} features -> {len(self._classes)} classes "
            f"{list(self._classes)}>"
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
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    @property
    def columns(self) -> list[contract.ColumnSpec]:
        return list(self._columns)

    @property
    def numeric_names(self) -> list[str]:
        return list(self._numeric_names)

    @property
    def categorical_names(self) -> list[str]:
        return [c.name for c in self._categorical]

    @property
    def imputes(self) -> bool:
        """True when some numeric column imputes a missing value (NaN) inside the graph."""
        return self._missing_ok

    @property
    def na_values(self) -> list[str]:
        return sorted(self._na_values)

    @property
    def unseen_counts(self) -> dict[str, int]:
        return self._text.unseen_counts

    @property
    def offset_column(self) -> str | None:
        """The column a row gives the model's ``offset`` input in (a model trained with an offset), or None."""
        return self._offset

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def inputs(self) -> tuple[contract.TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[contract.TensorSpec, ...]:
        return self._outputs

    @property
    def opset(self) -> int | None:
        value = self._metadata.get(contract.KEY_OPSET)
        return value if isinstance(value, int) else None

    @property
    def contract_checks(self) -> tuple[contract.Check, ...]:
        """The graph-contract checks :func:`load` ran on this file (all passed, or it would not have loaded)."""
        return self._checks

    @property
    def description(self) -> str:
        return self._description

    @property
    def producer(self) -> str | None:
        return self._producer

    # -- predictions -------------------------------------------------------------------------------------------
    # Every path ends in ``_finish`` (runtime/finish.py), which takes the graph's two outputs as they are (the label
    # is the graph's own, with the exported threshold in it) and refuses rows that scored NaN. The paths differ only
    # in how the inputs reach the session: one numeric row through this thread's IOBinding, one dict row of a model
    # with text columns through a lean ``session.run``, anything else converted by runtime/inputs.py, then
    # ``session.run``.
    def predict_proba(self, X: object, *, offset: object = None, check_finite: bool = True) -> np.ndarray:
        """Probabilities, float32 array of shape (n_rows, n_classes), columns in :attr:`classes` order.

        ``X``: array-like of shape (n_rows, n_features) or one row (see :func:`runtime.inputs.to_matrix` for the
        forms accepted). NaN or infinite features raise :class:`InputError` unless ``check_finite=False``, in which
        case their rows come back as NaN. ``offset`` (a model with an offset input, :attr:`offset_column`):
        array-like of shape (n_rows,), each row's known term of the logit; without it, rows by column name give it
        under the offset column, and a row that does not gets 0.
        """
        if type(X) is np.ndarray and self._lean and offset is None:
            # one float32 row: straight into the bound buffer (the memoryview takes nothing else), the latency path
            try:
                row, run, _, label, rows = self._local.single
            except AttributeError:
                row, run, _, label, rows = self._local.single = self._single_row()
            try:
                row[:] = X
            except (TypeError, ValueError):
                pass
            else:
                run()
                probabilities = rows.copy()
                first = probabilities.item(0)
                if first != first:  # NaN: _finish names the cause (or, without check_finite, lets it through)
                    self._finish(label, probabilities, X, check_finite)
                return probabilities
        return self.run(X, offset=offset, check_finite=check_finite)[1]

    def predict(
        self, X: object, *, offset: object = None, threshold: float | None = None, check_finite: bool = True
    ) -> np.ndarray:
        """Class names, array of shape (n_rows,): the graph's ``label`` (a binary model's second class when its
        probability is above the threshold it was exported with, :attr:`threshold`). ``threshold`` (binary models
        only) replaces that one for this call; ``offset`` as :meth:`predict_proba` takes it."""
        labels, probabilities = self.run(X, offset=offset, check_finite=check_finite)
        if threshold is not None:
            labels = self.labels_at(probabilities, threshold)
        return self._class_array[labels]

    def run(self, X: object, *, offset: object = None, check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs of the graph contract: class indices (int64, shape (n_rows,)) and probabilities; ``offset``
        as :meth:`predict_proba` takes it."""
        if self._offset is not None or offset is not None:
            numeric, categories = self.graph_inputs(X)
            offsets = self.offsets_of(X, offset, len(numeric))
            return self.run_inputs(numeric, categories, offsets=offsets, check_finite=check_finite)
        if self._categorical:
            if type(X) is dict:
                outputs = self._text.dict_row(X)
                if outputs is not None:
                    return outputs
            numeric, categories = to_columns(X, self._columns, self._na_values)
            return self.run_inputs(numeric, categories, check_finite=check_finite)
        return self._run_numeric(to_matrix(X, self._numeric_names, missing_ok=self._missing_ok), check_finite)

    def offsets_of(self, X: object, offset: object, n_rows: int) -> np.ndarray | None:
        """The ``offset`` input for ``n_rows`` rows ``X``: ``offset`` when given (a number per row), else each
        row's value under :attr:`offset_column` (rows by column name), 0 where a row has none; None for a model
        without the input."""
        if self._offset is None:
            if offset is not None:
                raise InputError(
                    f"offset given, but {self._path.name} takes no offset (it was trained without --offset); leave "
                    "it out"
                )
            return None
        if offset is not None:
            return to_offsets(offset, n_rows)
        return offsets_in_rows(X, self._offset, n_rows)

    def graph_inputs(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """Rows in any accepted form as the graph's inputs: float32 numeric columns (NaN where missing) and an
        object array of the categorical columns' texts ("" where missing; zero columns for a numeric model)."""
        if self._categorical:
            return to_columns(X, self._columns, self._na_values)
        matrix = to_matrix(X, self._numeric_names, missing_ok=self._missing_ok)
        return matrix, np.empty((len(matrix), 0), dtype=object)

    def drift(self, X: object) -> dict:
        """How far the rows ``X`` (any accepted form, like :meth:`predict`) have moved from the training rows'
        profile stored in the model: per column and for the score, PSI with its band, KS (numbers) or chi-square
        (text), missing rates and unseen levels (see :mod:`runtime.drift`). Raises :class:`ModelError` for a model
        exported without a profile."""
        numeric, categories = self.graph_inputs(X)
        return self.drift_of_inputs(numeric, categories, self.offsets_of(X, None, len(numeric)))

    def drift_of_inputs(self, numeric: np.ndarray, categories: np.ndarray, offsets: np.ndarray | None = None) -> dict:
        """:meth:`drift` of rows given as the graph's inputs (:meth:`graph_inputs`), and a model's offsets."""
        from .drift import Profile

        profile = Profile.from_metadata(self._metadata)
        if profile is None:
            raise ModelError(
                f"{self._path}: the model holds no training profile (exported without training rows); export it "
                "again from its run, or with sample= rows, to compare new rows with"
            )
        _, probabilities = self.run_inputs(
            numeric, categories if self._categorical else None, offsets=offsets, check_finite=False
        )
        return profile.compare(self._numeric_names, numeric, categories, probabilities)

    def explain(self, X: object, *, top: int = 3) -> list[dict]:
        """Why each row of ``X`` (any form :meth:`predict` takes) came out as it did, and how sure the model is: per
        row, the predicted class, the ``top`` columns that pushed hardest toward it and away from it with their
        contributions (in logit units), the logits against the reference class, and the interval (a binary model's
        95% interval of the second class's probability; a multinomial model's per-logit intervals). See
        :mod:`runtime.explain`. Raises :class:`ModelError` for a file of format 1 or 2, which has no explain outputs,
        and :class:`InputError` as :meth:`predict` does."""
        from .explain import explain_rows

        numeric, categories = self.graph_inputs(X)
        return explain_rows(self, numeric, categories, top=top, offsets=self.offsets_of(X, None, len(numeric)))

    def run_outputs(
        self,
        numeric: np.ndarray,
        categories: np.ndarray | None,
        names: list[str] | None = None,
        *,
        offsets: np.ndarray | None = None,
        check_finite: bool = True,
    ) -> dict[str, np.ndarray]:
        """Any of the file's outputs (``names``, default all) for rows given as the graph's inputs
        (:meth:`graph_inputs`), by name; rows that scored NaN raise :class:`InputError` as :meth:`predict` does,
        unless ``check_finite=False``; ``offsets`` the ``offset`` input (0 when not given, in a model that has it). The
        explain outputs run on a session of the whole graph; predictions never pay for them."""
        available = [o.name for o in self._outputs]
        names = available if names is None else list(names)
        unknown = [n for n in names if n not in available]
        if unknown:
            raise InputError(f"this model has no output {unknown[0]!r}; its outputs are {', '.join(available)}")
        feed = self._feed(numeric, categories, offsets)
        wanted = list(dict.fromkeys([contract.PROBABILITIES_OUTPUT, *names]))
        session = self._session if set(wanted) <= set(contract.OUTPUT_NAMES) else self._full_session
        values = dict(zip(wanted, session.run(wanted, feed), strict=True))
        probabilities = values[contract.PROBABILITIES_OUTPUT]
        if check_finite and len(probabilities) and np.isnan(probabilities[:, 0]).any():
            raise self.nonfinite_error(np.asarray(numeric, dtype=np.float64).reshape(len(probabilities), -1))
        return {name: values[name] for name in names}

    def run_inputs(
        self,
        numeric: np.ndarray,
        categories: np.ndarray | None = None,
        *,
        offsets: np.ndarray | None = None,
        check_finite: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graph's own inputs, already prepared: ``numeric`` float32 (n_rows, n_numeric), NaN where missing,
        (for a model with categorical columns) ``categories``, an object array of str (n_rows, n_categorical), ""
        where missing, and (a model with an offset input) ``offsets``, shape (n_rows,), 0 when not given. Unseen
        categorical values are counted, or raise with ``unseen="error"``."""
        if self._lean and offsets is None:
            return self._run_numeric(native_float32(numeric), check_finite)
        feed = self._feed(numeric, categories, offsets)
        if len(numeric) == 0:
            return self._no_rows()
        labels, probabilities = self._session.run(self._output_names, feed)
        return self._finish(labels, probabilities, numeric, check_finite)

    def _feed(
        self, numeric: np.ndarray, categories: np.ndarray | None, offsets: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """The session's inputs from the graph's inputs, the categories' shape checked and unseen values counted
        (or refused, with ``unseen="error"``), the offsets 0 when not given."""
        feed = {}
        if self._offset is not None:
            feed[contract.OFFSET_INPUT] = (
                np.zeros(len(numeric), dtype=np.float32) if offsets is None else to_offsets(offsets, len(numeric))
            )
        elif offsets is not None:
            raise InputError(f"offsets given, but {self._path.name} takes no offset input; leave them out")
        if self._categorical:
            if categories is None or categories.shape != (len(numeric), len(self._categorical)):
                raise InputError(
                    f"categories must have shape ({len(numeric)}, {len(self._categorical)}), got "
                    f"{None if categories is None else categories.shape}"
                )
            self._text.check_unseen(categories)
            feed[contract.CATEGORIES_INPUT] = self._text.graph_feed(categories)
        if self._numeric_names:
            numeric = native_float32(numeric)
            if numeric.ndim != 2 or numeric.shape[1] != len(self._numeric_names):
                raise InputError(
                    f"numeric must have shape (n_rows, {len(self._numeric_names)}) (the columns "
                    f"{', '.join(self._numeric_names[:5])}{' ...' if len(self._numeric_names) > 5 else ''}), got "
                    f"{numeric.shape}; Model.graph_inputs(rows) makes it from rows in any form"
                )
            feed[contract.INPUT_NAME] = numeric
        return feed

    def _no_rows(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(self._classes)), dtype=np.float32)

    def _run_numeric(self, matrix: np.ndarray, check_finite: bool) -> tuple[np.ndarray, np.ndarray]:
        """A numeric model on float32 rows: one row through this thread's IOBinding, several through session.run."""
        n_rows = len(matrix)
        if n_rows == 1:
            try:
                row, run, _, label, rows = self._local.single
            except AttributeError:
                row, run, _, label, rows = self._local.single = self._single_row()
            row[:] = matrix[0]
            run()
            return self._finish(label.copy(), rows.copy(), matrix, check_finite)
        if n_rows == 0:
            return self._no_rows()
        labels, probabilities = self._session.run(self._output_names, {contract.INPUT_NAME: matrix})
        return self._finish(labels, probabilities, matrix, check_finite)

    def nonfinite_cell(self, numeric: np.ndarray) -> tuple[int, int, float] | None:
        """Why rows scored NaN: (row, column among the numeric ones, value) of the first value that is infinite, or
        NaN in a column the model does not impute; None when every value is allowed (the logits overflowed).
        ``numeric``: the numeric input, (n_rows, n_numeric)."""
        return self._finisher.nonfinite_cell(numeric)

    def nonfinite_error(self, numeric: np.ndarray) -> InputError:
        """The error for rows that scored NaN (what :meth:`predict_proba` raises), from the numeric input."""
        return self._finisher.nonfinite_error(numeric)

    def labels_at(self, probabilities: np.ndarray, threshold: float) -> np.ndarray:
        """Class indices of a binary model at ``threshold`` on the second class's probability."""
        if len(self._classes) != 2:
            raise ValueError(f"a threshold applies to binary models; this one has {len(self._classes)} classes")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        return (probabilities[:, 1] > threshold).astype(np.int64)

    def predict_one(self, row: object) -> dict[str, float]:
        """One row (1-D array, list, or dict of feature name to value) to a dict of class name to probability:
        the low-latency path."""
        if not self._lean:
            outputs = self._text.dict_row(row) if type(row) is dict and self._offset is None else None
            if outputs is None:  # any other form, or a value the lean path does not take: the careful path names it
                outputs = self.run(row)
                if len(outputs[1]) != 1:
                    raise InputError(f"predict_one takes one row, got {len(outputs[1])}; use predict_proba for several")
            return dict(zip(self._classes, outputs[1][0].tolist()))  # noqa: B905 (equal lengths by construction)
        try:
            features, run, probabilities, label, rows = self._local.single
        except AttributeError:
            features, run, probabilities, label, rows = self._local.single = self._single_row()
        try:
            # ``features`` is a memoryview: only a float32 row of exactly n_features values fits, copied at C speed.
            # Anything else (lists, dicts, float64, a wrong length) raises and goes through the careful path.
            features[:] = row
            numeric = row
        except (TypeError, ValueError):
            numeric = to_matrix(row, self._numeric_names, missing_ok=self._missing_ok)
            if len(numeric) != 1:
                raise InputError(
                    f"predict_one takes one row, got {len(numeric)}; use predict_proba for several"
                ) from None
            features[:] = numeric[0]
        run()
        values = probabilities.tolist()
        if values[0] != values[0]:  # NaN: _finish names the cause
            self._finish(label, rows, numeric, True)
        if self._binary:
            return {self._first_class: values[0], self._second_class: values[1]}
        return dict(zip(self._classes, values))  # noqa: B905 (equal lengths by construction; strict= costs time here)

    # -- internals ---------------------------------------------------------------------------------------------
    def _single_row(self) -> SingleRow:
        """This thread's IOBinding over preallocated buffers (runtime/binding.py)."""
        return bind_single_row(self._session, len(self._numeric_names), len(self._classes))


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except ValueError:
        return value
