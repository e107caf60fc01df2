"""A run directory's layout and its metrics.json as types: written by :mod:`trainer.rundir.run`, read by the
exporter, both through :meth:`RunRecord.to_json` and :meth:`RunRecord.from_json`.

Imports neither torch nor matplotlib: a reader needs only this. Runs written before a field existed still load: a
missing option takes its declared default (:func:`trainer.options.from_json`), never a default restated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..options import FitOptions, ReadOptions, StreamOptions, from_json, to_json
from ..threshold import ThresholdRule

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"  # written last: its presence says the run is complete
COEFFICIENTS_FILE = "coefficients.csv"
HISTORY_FILE = "history.csv"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
TRAINING_PLOT = "training.png"
ROC_PLOT = "roc.png"  # binary models only


@dataclass(frozen=True)
class ResolvedOptions:
    """metrics.json's ``options``: the fit's options with each ``auto`` replaced by what the fit chose (optimizer,
    epochs, lr, device, the l2 cross-validation picked), the solver it ran and, for a streamed fit, its
    :class:`StreamOptions` and number of processes. ``extra`` keeps any other key as written."""

    fit: FitOptions
    solver: str | None = None
    stream: StreamOptions | None = None
    processes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**to_json(self.fit), "solver": self.solver}
        if self.stream is not None:
            out["streamed"] = {**to_json(self.stream), "processes": self.processes}
        return out | self.extra

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ResolvedOptions:
        streamed = document.get("streamed")
        known = {*to_json(FitOptions()), "solver", "streamed"}
        return cls(
            fit=from_json(FitOptions, document),
            solver=document.get("solver"),
            stream=from_json(StreamOptions, streamed) if streamed is not None else None,
            processes=streamed.get("processes") if streamed is not None else None,
            extra={key: value for key, value in document.items() if key not in known},
        )


@dataclass(frozen=True)
class TrainedOn:
    """metrics.json's ``data``: the rows a run was trained on. ``path`` (absolute) and ``sha256`` let verification
    read them again, unchanged; ``None`` for a fit on arrays. ``summary``: the counts, columns and notes written
    beside them."""

    path: str | None
    label: str | None
    sha256: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "sha256": self.sha256, **self.summary}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TrainedOn:
        rest = {key: value for key, value in document.items() if key not in ("path", "label", "sha256")}
        return cls(document.get("path"), document.get("label"), document.get("sha256"), rest)


def threshold_of(metrics: dict) -> float:
    """A binary model's decision threshold as training picked it (metrics.json's, or a FitResult's, ``threshold``
    block); for a run older than thresholds, the value of the declared default rule."""
    block = metrics.get("threshold") or {}
    if "value" in block:
        return float(block["value"])
    return float(ThresholdRule.parse(FitOptions().threshold).value)


@dataclass(frozen=True)
class RunRecord:
    """A run's metrics.json. Typed where it is read back (the options, how the file was read, the data); the
    metric blocks (``train``, ``validation``, ``threshold``...), the training summary, the coefficient table and
    the versions stay as the fit produced them."""

    metrics: dict[str, Any]
    class_names: list[str]
    feature_names: list[str]
    options: ResolvedOptions
    read: ReadOptions | None  # None: fitted on arrays, or a run written before the read options were stored
    training: dict[str, Any]
    data: TrainedOn
    coefficients: dict[str, Any] | None
    model_sha256: str | None
    versions: dict[str, str]

    @property
    def threshold(self) -> float:
        """A binary model's decision threshold as training picked it (:func:`threshold_of` its metrics)."""
        return threshold_of(self.metrics)

    def read_options(self) -> ReadOptions:
        """How the training file was read (the declared defaults for a run that did not store it)."""
        return self.read if self.read is not None else ReadOptions()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "class_names": list(self.class_names),
            "feature_names": list(self.feature_names),
            "options": self.options.to_json(),
            "read": to_json(self.read) if self.read is not None else None,
            "training": self.training,
            "data": self.data.to_json(),
            "coefficients": self.coefficients,
            "model_sha256": self.model_sha256,
            "versions": self.versions,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RunRecord:
        """The record of a metrics.json; raises :class:`~trainer.errors.OptionError` for options that are not valid
        (a file edited by hand, or from a newer toolkit)."""
        named = ("class_names", "feature_names", "options", "read", "training", "data", "coefficients")
        named += ("model_sha256", "versions")
        read = document.get("read")
        return cls(
            metrics={key: value for key, value in document.items() if key not in named},
            class_names=list(document.get("class_names") or []),
            feature_names=list(document.get("feature_names") or []),
            options=ResolvedOptions.from_json(document.get("options") or {}),
            read=from_json(ReadOptions, read) if read is not None else None,
            training=document.get("training") or {},
            data=TrainedOn.from_json(document.get("data") or {}),
            coefficients=document.get("coefficients"),
            model_sha256=document.get("model_sha256"),
            versions=document.get("versions") or {},
        )
