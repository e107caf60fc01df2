"""What the exporter exports: any supported logistic model in one canonical form, beside the user's own object.

Every kind of model (a run of ``logreg train``, a :class:`~trainer.engine.result.FitResult`, the estimator, a PyTorch
module, a scikit-learn pipeline, a statsmodels result) becomes a :class:`Source`: the toolkit's
:class:`~trainer.engine.model.LogisticModel` (its encoding, standardization and linear map: what the graph is built
from) and ``expected``, which runs **the user's own object** on the verification's probe rows. The graph is built from
the first and proven against the second, so a wrong conversion (one weight mapped to the wrong column) fails the
export instead of passing a comparison of the toolkit's copy with itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from logreg_onnx.trainer.data.columns import Encoding
from logreg_onnx.trainer.data.table import Table
from logreg_onnx.trainer.engine.model import LogisticModel
from logreg_onnx.trainer.errors import DataError
from logreg_onnx.trainer.options import DEFAULT_NA_VALUES

from .errors import ExportOptionError
from .explain import Explainer, explainer_of
from .verify import Probes, torch_reference

# The user's object on probe rows: (label indices int64 (n,), probabilities float (n, n_classes)); a row the object
# refuses (a level its encoder raises on) has NaN probabilities and is left out of the comparison, with a note.
Expected = Callable[[Probes], tuple[np.ndarray, np.ndarray]]


@dataclass
class Source:
    """A model ready to export: the canonical ``model`` the graph is built from, and ``expected``, the user's own
    object run on probe rows (what verification compares the ONNX file with).

    Attributes
    ----------
    model : LogisticModel, with its ``encoding`` (never None here)
    class_names : list of str, in the order of the probabilities' columns
    expected : callable, see :data:`Expected`
    origin : str, the user's object in words ("scikit-learn Pipeline(StandardScaler, LogisticRegression)")
    threshold : float, a binary model's decision threshold on the second class's probability
    metrics : dict, the blocks written into the metadata: "train"/"validation" and "coefficients" when known
    na_values : list of str, cell texts that mean a missing value when ``logreg predict`` reads a CSV
    sample : Table or None, the user's rows (``sample=``) or a run's training rows: probes besides the synthetic ones
    facts : dict, what the verification report's ``model`` block says about where the model came from
    notes : list of str, said in the report (what the conversion decided)
    model_sha256 : str, the metadata's ``model_sha256``: a run's model.pt hash, else computed from the canonical model
    baseline : ndarray of shape (n_design,) or None, the design row contributions are measured from: the training
        means of the design (None: the zero row); ``baseline_note`` says which
    covariance : ndarray of shape (n_logits, n_design + 1, n_design + 1) or None, each logit's covariance of its
        ``[w | b]`` on the model's standardized design (see :mod:`exporter.explain`); ``intervals_note`` says why
        there is none
    """

    model: LogisticModel
    class_names: list[str]
    expected: Expected
    origin: str
    threshold: float = 0.5
    metrics: dict = field(default_factory=dict)
    na_values: list[str] = field(default_factory=lambda: list(DEFAULT_NA_VALUES))
    sample: Table | None = None
    facts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_sha256: str = ""
    baseline: np.ndarray | None = None
    baseline_note: str = ""
    covariance: np.ndarray | None = None
    intervals_note: str = ""

    @cached_property
    def explainer(self) -> Explainer:
        """What the graph's explain outputs are computed from (:mod:`exporter.explain`): made once (the covariance's
        factorization among it), for the graph, the test vectors and the verification alike."""
        return explainer_of(
            self.model,
            baseline=self.baseline,
            baseline_note=self.baseline_note,
            covariance=self.covariance,
            intervals_note=self.intervals_note,
        )

    def __post_init__(self) -> None:
        if not self.model_sha256:
            self.model_sha256 = self._digest()

    @property
    def encoding(self) -> Encoding:
        return self.model.encoding or Encoding.numeric_only([f"x{j}" for j in range(self.model.n_features)])

    def _digest(self) -> str:
        """SHA-256 of the canonical model: weights, standardization, encoding, classes and threshold."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        spec = {"columns": self.encoding.to_json(), "classes": self.class_names, "threshold": self.threshold}
        digest.update(json.dumps(spec, sort_keys=True).encode())
        return digest.hexdigest()


def torch_expected(model: LogisticModel, threshold: float) -> Expected:
    """The toolkit's own PyTorch model as the reference (a run, a FitResult, the estimator)."""

    def expected(probes: Probes) -> tuple[np.ndarray, np.ndarray]:
        return torch_reference(model, probes, threshold)

    return expected


def canonical_model(
    encoding: Encoding,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    n_classes: int,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> LogisticModel:
    """The LogisticModel of a linear model on ``encoding``'s design matrix: logits ``weight @ ((x - mean) / scale) +
    bias``, ``weight`` of shape (1, n_design) for a binary model (the second class's logit) or (n_classes,
    n_design); ``mean`` and ``scale`` of shape (n_design,), zeros and ones by default. Stored as float32, as the graph
    computes."""
    width = encoding.width()
    weight = np.asarray(weight, dtype=np.float64).reshape(-1, width)
    for name, values in (("weights", weight), ("bias", bias), ("means", mean), ("scales", scale)):
        if values is not None and not np.isfinite(np.asarray(values, dtype=np.float64)).all():
            raise ExportOptionError(
                "model", f"the model's {name} hold NaN or infinity (did training diverge?); nothing to export"
            )
    rows = 1 if n_classes == 2 else n_classes
    if weight.shape[0] != rows:
        raise ValueError(f"expected {rows} weight rows for {n_classes} classes, got {weight.shape[0]}")
    model = LogisticModel(width, n_classes, encoding)
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        model.linear.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32).reshape(rows)))
        if mean is not None:
            model.mean.copy_(torch.from_numpy(np.asarray(mean, dtype=np.float32).reshape(width)))
        if scale is not None:
            model.scale.copy_(torch.from_numpy(np.asarray(scale, dtype=np.float32).reshape(width)))
    return model.eval()


def design_mean(encoding: Encoding, rows: Table | None) -> np.ndarray | None:
    """The mean design row of ``rows`` (float64) that the model can score (a missing value it does not impute
    leaves a row out), or None when there are none."""
    if rows is None or not len(rows):
        return None
    design = encoding.design(rows).astype(np.float64)
    scorable = np.isfinite(design).all(axis=1)
    return design[scorable].mean(axis=0) if scorable.any() else None


def label_indices(predicted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The user's predicted labels (values of ``classes``) as indices into ``classes``."""
    index = {value: i for i, value in enumerate(np.asarray(classes).tolist())}
    return np.array([index[value] for value in np.asarray(predicted).tolist()], dtype=np.int64)


def sample_table(encoding: Encoding, sample: object, na_values) -> Table | None:
    """The user's ``sample`` rows (a DataFrame with the feature columns, a 2-D array in their order, or a Table) as
    a Table typed by ``encoding``, or None."""
    if sample is None or isinstance(sample, Table):
        return sample
    try:
        return encoding.prepare(sample, na_values)
    except DataError as exc:
        raise ExportOptionError("sample", f"rows unlike the model's inputs: {exc}") from None
