"""A PyTorch module of the tutorials' shapes (one linear map, then sigmoid, softmax or nothing) as an export source.

The module is recognised by tracing it (``torch.export``), not by its attributes' names: its forward must compute
one linear map of its input, followed by at most one of sigmoid, softmax or log-softmax over the classes, and
shape-only operations (a squeeze of the last dimension, dropout in eval mode). Anything else, such as a second linear
map (a hidden layer) or a ReLU, is refused naming the operation found. The weights are read from the traced
program's own parameters, so the exported graph is built from what forward actually uses; verification then runs
the user's module itself on the probe rows.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from logreg_onnx.trainer.data.columns import Encoding
from torch import nn

from .errors import ExportOptionError, first_line
from .source import Source, canonical_model, design_mean, sample_table
from .verify import Probes

OUTPUTS = ("probabilities", "logits")
SHAPE_ONLY = {
    "squeeze",
    "view",
    "reshape",
    "flatten",
    "unsqueeze",
    "alias",
    "clone",
    "contiguous",
    "detach",
    "dropout",
    "_to_copy",
    "to",
    "identity",
}
LINEAR = {"linear", "addmm", "matmul", "mm"}
ACTIVATIONS = {"sigmoid": "sigmoid", "softmax": "softmax", "_softmax": "softmax", "log_softmax": "log_softmax"}
ACTIVATIONS |= {"_log_softmax": "log_softmax"}


@dataclass(frozen=True)
class Traced:
    """What tracing found: the linear map's weight (n_outputs, d) and bias (n_outputs,), and the activation after it
    ("sigmoid", "softmax", "log_softmax" or None)."""

    weight: np.ndarray
    bias: np.ndarray
    activation: str | None


def source_of_module(
    module: nn.Module | dict,
    *,
    output: str | None = None,
    mean: object = None,
    scale: object = None,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    sample: object = None,
    threshold: float | None = None,
) -> Source:
    """The :class:`~exporter.source.Source` of a PyTorch module or of a ``state_dict`` (a linear map's weight and
    bias, taken as logits). ``output``: "probabilities" (default) or "logits" (what forward returns: a bare
    ``nn.Linear``); ``mean``, ``scale``: the standardization applied before the module."""
    if output is not None and output not in OUTPUTS:
        raise ExportOptionError("output", f"must be one of {', '.join(OUTPUTS)}, got {output!r}")
    notes = []
    given = "state_dict" if isinstance(module, dict) else None
    if isinstance(module, dict):
        module = linear_of_state_dict(module)
        notes.append("a state_dict holds no forward: its outputs are taken as logits (softmax over them)")
        output = "logits"
    module = copy.deepcopy(module).cpu().eval()  # the user's module is left as it was (training mode, device)
    width = _input_width(module, feature_names)
    traced = trace(module, width)
    if traced.activation is None and output != "logits":
        raise ExportOptionError(
            "output",
            "the module returns its linear map itself (no sigmoid or softmax after it): pass output='logits' "
            "(--output logits) to say these are logits",
        )
    if traced.activation is not None and output == "logits":
        raise ExportOptionError(
            "output", f"the module applies {traced.activation} after its linear map: its outputs are not logits"
        )
    n_outputs = traced.weight.shape[0]
    if traced.activation == "sigmoid" and n_outputs != 1:
        raise ExportOptionError(
            "model",
            f"a sigmoid over {n_outputs} outputs is {n_outputs} separate yes/no models (multi-label), not one "
            "logistic model of a class: use one output with sigmoid, or softmax over the classes",
        )
    n_classes = 2 if n_outputs == 1 else n_outputs
    names = _names(feature_names, width)
    classes = _class_names(class_names, n_classes)
    mean64, scale64 = _standardization(mean, scale, width)
    if n_outputs == 1:
        weight, bias = traced.weight, traced.bias
    elif n_classes == 2:  # a softmax over two logits: one logit, their difference
        weight, bias = traced.weight[1:] - traced.weight[:1], traced.bias[1:] - traced.bias[:1]
    else:
        weight, bias = traced.weight, traced.bias
    encoding = Encoding.numeric_only(names)
    model = canonical_model(encoding, weight, bias, n_classes=n_classes, mean=mean64, scale=scale64)
    chosen = 0.5 if threshold is None else float(threshold)
    kind = traced.activation or "logits"
    rows = sample_table(encoding, sample, ())
    return Source(
        model=model,
        class_names=classes,
        expected=_expected(module, traced.activation, mean64, scale64, chosen),
        origin=f"the PyTorch module {type(module).__name__}",
        threshold=chosen,
        sample=rows,
        facts={"source": f"PyTorch {torch.__version__.split('+')[0]} {given or _describe(module)} ({kind})"},
        notes=notes,
        baseline=(baseline := design_mean(encoding, rows)),
        baseline_note="the mean design row of the sample= rows" if baseline is not None else "",
        intervals_note="a PyTorch module carries no covariance of its weights",
    )


def trace(module: nn.Module, width: int) -> Traced:
    """Trace ``module`` on a batch of ``width`` features and find its one linear map and what follows it."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    example = torch.zeros(2, width, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, (example,), strict=False)
    except Exception as exc:  # the module's own failure on a (2, width) batch: its words are the evidence
        raise ExportOptionError(
            "model",
            f"could not trace {type(module).__name__} on a batch of shape (2, {width}) "
            f"({type(exc).__name__}: {first_line(exc, 200)}); a module for export takes one 2-D tensor of features",
        ) from None
    return _read_program(program, type(module).__name__)


def _read_program(program, name: str) -> Traced:
    signature = program.graph_signature
    tensors = {
        **{k: program.state_dict[v] for k, v in signature.inputs_to_parameters.items()},
        **{k: program.state_dict[v] for k, v in signature.inputs_to_buffers.items() if v in program.state_dict},
        **{k: program.constants[v] for k, v in getattr(signature, "inputs_to_lifted_tensor_constants", {}).items()},
    }
    weight = bias = None
    activation = None
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        op = _op_name(node.target)
        if op in LINEAR:
            if weight is not None:
                raise ExportOptionError(
                    "model",
                    f"{name} computes a second linear map (aten.{op}) after the first: a hidden layer is not a "
                    "logistic model; export one nn.Linear followed by sigmoid, softmax or nothing",
                )
            weight, bias = _linear_args(node, op, tensors, name)
            continue
        if op in ACTIVATIONS and weight is not None and activation is None:
            activation = ACTIVATIONS[op]
            if activation != "sigmoid" and _dim(node) not in (1, -1):
                raise ExportOptionError(
                    "model", f"{name} applies {activation} over dim={_dim(node)}: over the classes it is dim=1"
                )
            continue
        if op in SHAPE_ONLY or op.startswith("sym_") or op in ("getitem",):
            continue
        where = "after its linear map" if weight is not None else "before its linear map"
        if activation is not None:
            where = f"after {activation}"
        raise ExportOptionError(
            "model",
            f"{name} computes aten.{op} {where}; a logistic model for export is one linear map followed by "
            "sigmoid, softmax or nothing",
        )
    if weight is None:
        raise ExportOptionError("model", f"{name} computes no linear map of its input: nothing to export")
    return Traced(weight, bias, activation)


def _linear_args(node, op: str, tensors: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    def tensor(arg) -> torch.Tensor:
        if getattr(arg, "op", None) == "placeholder" and arg.name in tensors:
            return tensors[arg.name]
        raise ExportOptionError(
            "model", f"{name}'s linear map (aten.{op}) takes weights computed at run time; give it fixed weights"
        )

    args = node.args
    if op == "linear":
        weight = tensor(args[1]).detach().double().numpy()
        bias = tensor(args[2]).detach().double().numpy() if len(args) > 2 and args[2] is not None else None
    elif op == "addmm":  # bias + input @ weight.T: its weight argument is a transpose of the parameter
        bias = tensor(args[0]).detach().double().numpy()
        weight = _transposed(args[2], tensors, name).T
    else:
        weight = _transposed(args[1], tensors, name).T
        bias = None
    if weight.ndim != 2:
        raise ExportOptionError("model", f"{name}'s linear map has a weight of shape {list(weight.shape)}")
    return weight, (np.zeros(weight.shape[0]) if bias is None else bias.reshape(weight.shape[0]))


def _transposed(arg, tensors: dict, name: str) -> np.ndarray:
    """The (d, n_outputs) matrix an addmm/matmul multiplies by: a placeholder, or a transpose (``t``) of one."""
    if getattr(arg, "op", None) == "placeholder" and arg.name in tensors:
        return tensors[arg.name].detach().double().numpy()
    if getattr(arg, "op", None) == "call_function" and _op_name(arg.target) in ("t", "transpose", "permute"):
        inner = arg.args[0]
        if getattr(inner, "op", None) == "placeholder" and inner.name in tensors:
            return tensors[inner.name].detach().double().numpy().T
    raise ExportOptionError("model", f"{name}'s linear map multiplies by a tensor computed at run time")


def linear_of_state_dict(state_dict: dict) -> nn.Linear:
    """The nn.Linear of a state_dict holding one weight matrix (n_outputs, d) and its bias (n_outputs,)."""
    matrices = {k: v for k, v in state_dict.items() if v.ndim == 2}
    if len(matrices) != 1:
        found = ", ".join(f"{k} {list(v.shape)}" for k, v in matrices.items()) or "none"
        raise ExportOptionError(
            "model",
            f"expected a state_dict with one weight matrix (a single nn.Linear), got {len(matrices)} ({found}); "
            "a hidden layer is not a logistic model",
        )
    ((key, weight),) = matrices.items()
    prefix = key[: -len("weight")] if key.endswith("weight") else ""
    bias = state_dict.get(f"{prefix}bias")
    vectors = [k for k, v in state_dict.items() if v.ndim == 1]
    if bias is None and len(vectors) == 1:
        bias = state_dict[vectors[0]]
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ExportOptionError(
            "model", f"the bias has shape {list(bias.shape)}, expected [{weight.shape[0]}] for weight {key}"
        )
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    return linear


def _expected(module: nn.Module, activation: str | None, mean, scale, threshold: float):
    """The user's module on the probe rows, standardized as the user did (float64, then the module's dtype)."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)

    def expected(probes: Probes) -> tuple[np.ndarray, np.ndarray]:
        x = (probes.rows.astype(np.float64) - mean) / scale
        with torch.no_grad():
            out = module(torch.from_numpy(x).to(dtype)).double()
        out = out.reshape(len(x), -1).numpy()
        if activation == "sigmoid":
            p = np.concatenate([1.0 - out, out], axis=1)
        elif activation == "softmax":
            p = out
        elif activation == "log_softmax":
            p = np.exp(out)
        elif out.shape[1] == 1:  # logits
            p = np.exp(-np.logaddexp(0.0, np.concatenate([out, -out], axis=1)))  # sigmoid(-z), sigmoid(z)
        else:
            shifted = np.exp(out - out.max(axis=1, keepdims=True))
            p = shifted / shifted.sum(axis=1, keepdims=True)
        if p.shape[1] == 2:
            return (p[:, 1] > threshold).astype(np.int64), p
        return p.argmax(axis=1).astype(np.int64), p

    return expected


def _input_width(module: nn.Module, feature_names: list[str] | None) -> int:
    if feature_names is not None:
        return len(feature_names)
    for sub in module.modules():  # only to size the tracing batch; the trace decides what the module computes
        if isinstance(sub, nn.Linear):
            return sub.in_features
    matrices = [p for p in module.parameters() if p.ndim == 2]
    if matrices:
        return matrices[0].shape[1]
    raise ExportOptionError("feature_names", "cannot tell how many features the module takes: give feature_names")


def _names(feature_names: list[str] | None, width: int) -> list[str]:
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(width)]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ExportOptionError("feature_names", f"must be distinct non-empty strings, got {names!r}")
    return names


def _class_names(class_names: list[str] | None, n_classes: int) -> list[str]:
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    names = [str(c) for c in class_names]
    if len(names) != n_classes or len(set(names)) != n_classes:
        raise ExportOptionError(
            "class_names", f"expected {n_classes} distinct names (one per class the module scores), got {names!r}"
        )
    return names


def _standardization(mean, scale, width: int) -> tuple[np.ndarray, np.ndarray]:
    def vector(value, default: float, name: str) -> np.ndarray:
        if value is None:
            return np.full(width, default)
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
        array = array.reshape(-1) if array.size == width else array
        if array.shape != (width,) or not np.isfinite(array).all():
            raise ExportOptionError(name, f"expected {width} finite numbers (one per feature), got shape {array.shape}")
        return array

    mean64, scale64 = vector(mean, 0.0, "mean"), vector(scale, 1.0, "scale")
    if (scale64 == 0).any():
        raise ExportOptionError("scale", f"must not be 0 (feature {int(np.argmax(scale64 == 0))})")
    return mean64, scale64


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Sequential):
        return f"Sequential({', '.join(type(m).__name__ for m in module)})"
    return type(module).__name__


def _op_name(target) -> str:
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0]


def _dim(node) -> int | None:
    if len(node.args) > 1:
        return node.args[1]
    return node.kwargs.get("dim")
