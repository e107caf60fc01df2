"""Build the ONNX graph of a trained model: the toolkit's contract, metadata inside, weights inline, one file."""

from __future__ import annotations

import json
import logging
import warnings
from importlib import metadata as importlib_metadata

import numpy as np
import onnx
import torch
from logreg_onnx.runtime import contract, integrity
from logreg_onnx.trainer.engine.model import LogisticModel
from logreg_onnx.trainer.errors import Setting
from torch import nn

from .errors import ExportOptionError
from .explain import Explainer
from .options import CATEGORICAL_MIN_OPSET, DEFAULT_OPSET, MIN_OPSET
from .preprocess import DESIGN, splice


class ContractModule(nn.Module):
    """The graph that gets exported: raw features in, ``label`` and ``probabilities`` out, and with an
    :class:`~exporter.explain.Explainer` format 3's ``logit``, ``contributions`` and intervals.

    Standardization stays as its own Sub and Div nodes rather than folded into the weights: folding computes
    ``b - sum(w * mean / scale)``, which loses digits in float32 when a feature's mean is large next to its spread.
    Both classes of a binary model come from one softmax over the logits ``[0, z]`` (a first weight row of zeros):
    softmax subtracts the row maximum first, so every probability is in [0, 1] and each row sums to 1 even when
    ``|z|`` is in the thousands, where a float32 Sigmoid is reported to return slightly negative values on some
    platforms. ``label`` is the argmax, i.e. the second class when its probability is above 0.5; a binary model with
    another ``threshold`` compares the second class's probability with it (a Gather, a Greater and a Cast).

    ``centered``: how many leading design columns (the numeric ones) arrive already minus their mean, centered by
    :func:`exporter.preprocess.splice` before the imputation; their mean here is 0 and the explainer's baseline is
    shifted by the same float32 amount.

    A design column whose weight is 0 in every logit (an L1 or elastic-net fit's zeros) is dropped: a Gather of the
    ``used`` columns comes before the Sub, Div and Gemm, which then hold only theirs, so a sparse model is a smaller
    graph. The logits add ``0 * sum(design row)``, so that a value that is not finite (infinity; NaN where nothing
    imputes) still makes the row NaN, which the runtime refuses, as in a dense graph. The explain outputs keep every
    column (a dropped one contributes 0); a model with intervals keeps them all, as its ``logit_se`` reads the whole
    standardized row.
    """

    def __init__(
        self, model: LogisticModel, threshold: float = 0.5, explainer: Explainer | None = None, centered: int = 0
    ) -> None:
        super().__init__()
        self.threshold = float(threshold) if model.is_binary and threshold != 0.5 else None
        mean = model.mean.detach().clone().to(torch.float32)
        self.centers = mean[:centered].numpy().copy()  # float32; not a buffer: the traced graph does not use it
        mean[:centered] = 0.0
        self.register_buffer("mean", mean)
        self.register_buffer("scale", model.scale.detach().clone())
        weight = model.linear.weight.detach()
        bias = model.linear.bias.detach()
        intervals = explainer is not None and explainer.factor is not None
        self.used = None if intervals else used_columns(weight.numpy())
        if self.used is not None:
            self.register_buffer("used_index", torch.from_numpy(self.used))
            self.mean, self.scale, weight = self.mean[self.used], self.scale[self.used], weight[:, self.used]
        if model.is_binary:
            weight = torch.cat([torch.zeros_like(weight), weight])
            bias = torch.cat([torch.zeros_like(bias), bias])
        self.linear = nn.Linear(weight.shape[1], model.n_classes)
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)
        self.explain = explainer is not None
        self.intervals = self.explain and explainer.factor is not None
        self.binary, self.n_classes = model.is_binary, model.n_classes
        self.offset = model.offset is not None
        if self.offset:  # the offset reaches the second class's logit only: [0, z + offset]
            self.register_buffer("offset_mask", torch.tensor([0.0, 1.0]))
        if explainer is not None:  # format 3's outputs: see exporter/explain.py for the formulas
            baseline = _float32(explainer.baseline)
            baseline[:centered] -= torch.from_numpy(self.centers)  # float32, as the graph centers the design rows
            self.register_buffer("baseline", baseline)
            self.register_buffer("coefficients", _float32(explainer.coefficients))
            self.grouped = explainer.grouped
            if self.grouped:
                self.register_buffer("groups", _float32(explainer.group_matrix()))
            if self.intervals:
                width = model.n_features
                self.register_buffer("factor_w", _float32(explainer.factor[:, :width, :]))
                self.register_buffer("factor_b", _float32(explainer.factor[:, width:, :]))

    def forward(self, design: torch.Tensor, offset: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        used = design if self.used is None else torch.index_select(design, 1, self.used_index)
        standardized = (used - self.mean) / self.scale
        logits = self.linear(standardized)
        if self.used is not None:  # a column not read still turns a non-finite value into NaN, as a dense graph does
            logits = logits + design.sum(dim=1, keepdim=True) * 0.0
        if offset is not None:
            logits = logits + offset.unsqueeze(1) * self.offset_mask
        probabilities = torch.softmax(logits, dim=1)
        if self.threshold is not None:
            label = (probabilities[:, 1] > self.threshold).to(torch.int64)
        else:
            label = torch.argmax(probabilities, dim=1)
        if not self.explain:
            return label, probabilities
        logit = logits[:, 1:] - logits[:, :1]  # binary: z - 0, exactly z
        terms = (design - self.baseline).unsqueeze(2) * self.coefficients  # (batch, design, logits)
        contributions = torch.matmul(self.groups, terms) if self.grouped else terms
        if not self.intervals:
            return label, probabilities, logit, contributions
        projected = torch.matmul(standardized, self.factor_w) + self.factor_b  # (logits, batch, rank)
        logit_se = torch.sqrt((projected * projected).sum(dim=2)).transpose(0, 1)
        if not self.binary:
            return label, probabilities, logit, contributions, logit_se
        reach = contract.Z_95 * logit_se[:, 0]
        lower = _logistic(logit[:, 0] - reach)
        upper = _logistic(logit[:, 0] + reach)
        return label, probabilities, logit, contributions, logit_se, lower, upper

    def output_names(self) -> list[str]:
        version = contract.FORMAT_VERSION if self.explain else contract.FORMAT_WITHOUT_EXPLAIN
        return contract.expected_outputs(version, self.n_classes, self.intervals)


def used_columns(weight: np.ndarray) -> np.ndarray | None:
    """The design columns (int64, ascending) that some row of ``weight`` (n_logits, n_design) is not 0 for; None
    when that is all of them. A model with every weight 0 keeps its first column, so the Gemm has one."""
    used = np.flatnonzero((weight != 0).any(axis=0)).astype(np.int64)
    if len(used) == weight.shape[1]:
        return None
    return used if len(used) else np.zeros(1, np.int64)


def _logistic(t: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-t))`` as Exp, Add and Reciprocal: onnxruntime's Sigmoid kernel is an approximation good to
    about 1e-5 relative in the tails (a 0.0024 interval bound came out 1.8e-5 off), its Exp is exact to float32
    rounding; ``exp(-t)`` overflowing to infinity gives 0, as it should."""
    return torch.reciprocal(torch.exp(-t) + 1.0)


def _float32(values) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def resolve_opset(model: LogisticModel, opset: int | None, *, portable: bool = False) -> int:
    """The opset to write: ``opset``, or by default 18 (19 when the model has categorical columns, for string
    ``Equal``, unless ``portable``: int64 codes). Raises :class:`ExportOptionError` for one this exporter or the model
    cannot use."""
    text = model.encoding is not None and model.encoding.categorical and not portable
    needs = CATEGORICAL_MIN_OPSET if text else MIN_OPSET
    if opset is None:
        return max(DEFAULT_OPSET, needs)
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= latest:
        raise ExportOptionError(
            "opset",
            f"{opset} is not supported: this exporter writes opsets {MIN_OPSET} to {latest} (the installed onnx's "
            "newest); leave it out for the default",
        )
    if opset < needs:
        raise ExportOptionError(
            "opset",
            f"{opset} is too old for this model: its categorical columns need opset {needs} or newer "
            "(string Equal); leave ",
            Setting("opset"),
            " out for the default",
        )
    return opset


def export_graph(
    model: LogisticModel,
    *,
    opset: int | None = None,
    threshold: float = 0.5,
    explainer: Explainer | None = None,
    portable: bool = False,
) -> onnx.ModelProto:
    """Trace ``model`` into an ONNX model following :mod:`runtime.contract` (no metadata yet).

    Uses the torch.export-based exporter (``dynamo=True``): it is the one PyTorch maintains, while the TorchScript
    exporter is deprecated; its dynamic shapes are declared, not inferred from a trace, so the batch dimension is
    dynamic by construction. ``external_data=False`` keeps the weights inside the one file. When the model imputes
    or has categorical columns, the traced graph takes the design matrix and :func:`exporter.preprocess.splice`
    puts the nodes that make it from the raw inputs in front.
    """
    opset = resolve_opset(model, opset, portable=portable)
    encoding = model.encoding
    raw = encoding is None or encoding.is_identity
    centered = 0 if raw else len(encoding.numeric)
    module = ContractModule(model, threshold, explainer, centered).eval()
    input_name = contract.INPUT_NAME if raw else DESIGN
    example = torch.zeros(2, model.n_features)
    batch = torch.export.Dim("batch", min=1)
    args, names, dims = (example,), [input_name], {"design": {0: batch}}
    if module.offset:
        args, names, dims = (example, torch.zeros(2)), [*names, contract.OFFSET_INPUT], {**dims, "offset": {0: batch}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes on skipped torchvision ops and deprecations are not ours
        quiet = logging.getLogger("torch.onnx")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=names,
                output_names=module.output_names(),
                dynamic_shapes=dims,
                opset_version=opset,
                external_data=False,
                optimize=True,
                verbose=False,
            )
        finally:
            quiet.setLevel(level)
    proto = program.model_proto
    if not raw:
        proto = splice(proto, encoding, module.centers, portable=portable)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def add_metadata(
    proto: onnx.ModelProto,
    *,
    feature_names: list[str],
    class_names: list[str],
    metrics: dict,
    model_sha256: str,
    columns: list[dict] | None = None,
    na_values: list[str] | None = None,
    threshold: float = 0.5,
    origin: str | None = None,
    profile: dict | None = None,
    explain: dict | None = None,
    portable: bool = False,
    offset: str | None = None,
) -> onnx.ModelProto:
    """Make the file self-describing: names, threshold, opset, metrics, versions, where the model came from
    (``origin``: "scikit-learn 1.9.1 Pipeline(...)", for a model not trained by this toolkit), the training rows'
    ``profile`` (for drift checks), the ``explain`` outputs' constants (format 3), a doc_string in words,
    and (last) a placeholder for the integrity digest that :func:`serialize` fills in."""
    versions = {
        "logreg-onnx": _version("logreg-onnx"),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
    entries = {
        contract.KEY_FORMAT: contract.FORMAT_VERSION if explain is not None else contract.FORMAT_WITHOUT_EXPLAIN,
        contract.KEY_FEATURE_NAMES: json.dumps(feature_names),
        contract.KEY_CLASS_NAMES: json.dumps(class_names),
        contract.KEY_COLUMNS: json.dumps(
            columns or [{"name": n, "kind": "numeric", "median": None, "indicator": False} for n in feature_names]
        ),
        contract.KEY_NA_VALUES: json.dumps(list(na_values or [])),
        contract.KEY_THRESHOLD: repr(float(threshold)),
        contract.KEY_OPSET: str(opset_of(proto)),
        contract.KEY_MODEL_SHA256: model_sha256,
        contract.KEY_METRICS: json.dumps({k: metrics[k] for k in ("train", "validation") if k in metrics}),
        contract.KEY_VERSIONS: json.dumps(versions),
        **({contract.KEY_COEFFICIENTS: json.dumps(metrics["coefficients"])} if metrics.get("coefficients") else {}),
        **({contract.KEY_SOURCE: origin} if origin else {}),
        **({contract.KEY_PROFILE: json.dumps(profile, separators=(",", ":"))} if profile else {}),
        **({contract.KEY_EXPLAIN: json.dumps(explain, separators=(",", ":"))} if explain is not None else {}),
        **({contract.KEY_CATEGORY_CODES: json.dumps(contract.CATEGORY_CODES)} if _coded(columns, portable) else {}),
        **({contract.KEY_OFFSET: json.dumps({"column": offset})} if offset is not None else {}),
        contract.KEY_DIGEST: integrity.PLACEHOLDER,  # last, by convention; its value is set by serialize()
    }
    del proto.metadata_props[:]
    for key, value in entries.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = contract.PRODUCER
    proto.producer_version = versions["logreg-onnx"]
    proto.doc_string = describe(
        columns or [{"name": n, "kind": "numeric"} for n in feature_names], class_names, threshold, explain, portable
    ) + (
        f" Input '{contract.OFFSET_INPUT}': float32 [batch], a known term added to the logit (the training's column "
        f"{json.dumps(offset)}); feed 0 for a row without one."
        if offset is not None
        else ""
    )
    proto.graph.name = "logistic_regression"
    return proto


def opset_of(proto: onnx.ModelProto) -> int:
    return next(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx"))


def serialize(proto: onnx.ModelProto) -> bytes:
    """The file's bytes, with the integrity digest (see runtime/integrity.py) computed and filled in. The digest
    entry must be the last metadata entry (:func:`add_metadata` puts it there); its old value is ignored."""
    entry = proto.metadata_props[-1] if proto.metadata_props else None
    if entry is None or entry.key != contract.KEY_DIGEST:
        raise ValueError(f"the last metadata entry must be {contract.KEY_DIGEST!r}; use add_metadata()")
    entry.value = integrity.PLACEHOLDER
    return integrity.seal(proto.SerializeToString())


def _coded(columns: list[dict] | None, portable: bool) -> bool:
    """Whether the graph takes text columns as codes: a portable graph with one or more."""
    return portable and any(c["kind"] == "categorical" for c in columns or ())


def describe(
    columns: list[dict],
    class_names: list[str],
    threshold: float = 0.5,
    explain: dict | None = None,
    portable: bool = False,
) -> str:
    kind = "binary (sigmoid-equivalent)" if len(class_names) == 2 else "multinomial (softmax)"
    rule = (
        f"the second class when its probability is above {threshold:g}, else the first"
        if len(class_names) == 2
        else "the class of highest probability"
    )
    numeric = [c["name"] for c in columns if c["kind"] == "numeric"]
    categorical = [c["name"] for c in columns if c["kind"] == "categorical"]
    imputed = any(c.get("median") is not None for c in columns if c["kind"] == "numeric")
    inputs = ""
    if numeric:
        inputs += (
            f"Input '{contract.INPUT_NAME}': float32 [batch, {len(numeric)}], raw (unstandardized) values of the "
            f"numeric features {json.dumps(numeric)} in this order"
            + ("; NaN is a missing value, imputed inside the graph. " if imputed else ". ")
        )
    if categorical and portable:
        inputs += (
            f"Input '{contract.CATEGORIES_INPUT}': int64 [batch, {len(categorical)}], the codes of the categorical "
            f"features {json.dumps(categorical)}: each column's levels then its other levels (metadata 'columns') "
            f"numbered from 0, {contract.CODE_MISSING} for a missing value, {contract.CODE_UNSEEN} for an unseen one "
            "(metadata 'category_codes'); one-hot encoded inside the graph. "
        )
    elif categorical:
        inputs += (
            f"Input '{contract.CATEGORIES_INPUT}': string [batch, {len(categorical)}], the values of the categorical "
            f'features {json.dumps(categorical)}, trimmed, "" for a missing value; one-hot encoded inside the '
            "graph with the training levels (metadata 'columns'). "
        )
    return (
        f"Logistic regression, {kind}, written by logreg-onnx. {inputs}Standardization is inside the graph. "
        f"Output '{contract.LABEL_OUTPUT}': int64 [batch], index into the classes {json.dumps(class_names)}: {rule}. "
        f"Output '{contract.PROBABILITIES_OUTPUT}': float32 [batch, {len(class_names)}], one column per class in that "
        "order, each row summing to 1." + (_describe_explain(columns, class_names, explain) if explain else "")
    )


def _describe_explain(columns: list[dict], class_names: list[str], explain: dict) -> str:
    n_logits = len(class_names) - 1
    text = (
        f" Output '{contract.LOGIT_OUTPUT}': float32 [batch, {n_logits}], log(p_k / p_0) of each class after the first "
        f"against {json.dumps(class_names[0])}. Output '{contract.CONTRIBUTIONS_OUTPUT}': float32 [batch, "
        f"{len(columns)}, {n_logits}], each input column's part of each logit, measured from the baseline design row "
        "(metadata 'explain': baseline, baseline_logit), so that baseline_logit + the sum over columns == logit."
    )
    if not explain.get("intervals"):
        return text + f" No interval outputs: {explain.get('intervals_note')}."
    text += (
        f" Output '{contract.LOGIT_SE_OUTPUT}': float32 [batch, {n_logits}], the delta-method standard error of each "
        "logit."
    )
    if n_logits == 1:
        text += (
            f" Outputs '{contract.PROBABILITY_LOWER_OUTPUT}', '{contract.PROBABILITY_UPPER_OUTPUT}': float32 [batch], "
            "the 95% interval of the second class's probability."
        )
    return text


def _version(distribution: str) -> str:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"
