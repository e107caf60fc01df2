"""What ``logreg info`` reports: a model's signature, names, metadata, size, hash, and its own test vectors' verdict."""

from __future__ import annotations

from pathlib import Path

from . import contract, testvectors
from .model import Model


def model_info(model: Model, *, vectors: dict | None = None) -> dict:
    """Everything ``logreg info`` prints, as JSON-ready data; ``vectors``: the test-vector replay, when the caller
    has already run it (:func:`runtime.testvectors.replay`), else it is run here on the file beside the model."""
    return {
        "path": str(model.path),
        "bytes": model.path.stat().st_size,
        "sha256": model.sha256,
        "producer": model.producer,
        "opset": model.opset,
        "inputs": [{"name": i.name, "type": i.element_type, "shape": list(i.shape)} for i in model.inputs],
        "outputs": [{"name": o.name, "type": o.element_type, "shape": list(o.shape)} for o in model.outputs],
        "feature_names": model.feature_names,
        "columns": [c.to_json() for c in model.columns],
        "classes": model.classes,
        "threshold": model.threshold,
        "metadata": dict(model.metadata),
        "description": model.description,
        "test_vectors": testvectors.replay(model) if vectors is None else vectors,
    }


def _describe_column(column: dict) -> str:
    if column["kind"] == "numeric":
        if column["median"] is None:
            return f"{column['name']}: numeric"
        indicator = " and a missing indicator" if column["indicator"] else ""
        return f"{column['name']}: numeric, missing -> {column['median']:g}{indicator}"
    levels = ", ".join(repr(v) if v else "(missing)" for v in column["levels"][:10])
    more = f", ... ({len(column['levels'])} levels)" if len(column["levels"]) > 10 else ""
    other = f"; {len(column['other'])} rare levels and unseen values -> (other)" if column["other"] else ""
    reference = f"; reference {column['reference']!r}" if column["reference"] is not None else ""
    return f"{column['name']}: categorical {levels}{more}{other}{reference}"


def _describe_vectors(vectors: dict) -> str:
    """The test-vector line: the verdict, and what failed (the raw rows that could not be scored, say)."""
    status = vectors["status"]
    if status not in ("passed", "failed"):
        detail = f" ({vectors['error']})" if vectors.get("error") else ""
        return f"test vectors {status}: {vectors['path']}{detail}"
    cases = vectors["cases"]
    failing = vectors.get("failing_count", len(vectors.get("failing_cases", ())))
    line = (
        f"test vectors {status.upper()}: {cases - failing}/{cases} cases within {vectors['atol']:g} "
        f"(max difference {vectors['max_abs']:.2e}), {Path(vectors['path']).name}"
    )
    return line + (f"; {vectors['error']}" if vectors.get("error") else "")


def format_info(info: dict, top: int | None = 10) -> str:
    def shape(value: dict) -> str:
        dims = ", ".join(str(d) for d in value["shape"])
        return f"{value['name']}: {value['type']} [{dims}]"

    lines = [
        f"model        {info['path']} ({info['bytes']:,} bytes)",
        f"sha256       {info['sha256']}",
        f"format       logreg-onnx {info['metadata'].get(contract.KEY_FORMAT)}, "
        f"ONNX opset {info['opset'] or 'unknown'}",
        f"input        {'; '.join(shape(i) for i in info['inputs'])}",
        f"outputs      {'; '.join(shape(o) for o in info['outputs'])}",
        f"features     ({len(info['feature_names'])}) {', '.join(info['feature_names'])}",
    ]
    if any(c["kind"] == "categorical" or c["median"] is not None for c in info["columns"]):
        lines += [f"{'column':<13}{_describe_column(c)}" for c in info["columns"]]
    lines += [
        f"classes      ({len(info['classes'])}) {', '.join(info['classes'])}",
        f"threshold    {info['threshold']:g}",
    ]
    explain = info["metadata"].get(contract.KEY_EXPLAIN)
    if isinstance(explain, dict):  # format 3
        intervals = "95% intervals" if explain.get("intervals") else f"no intervals ({explain.get('intervals_note')})"
        lines.append(f"explain      contributions from {explain.get('baseline_note')}; {intervals}")
    metrics = info["metadata"].get(contract.KEY_METRICS)
    if isinstance(metrics, dict):
        for split, values in metrics.items():
            if not isinstance(values, dict):
                continue
            shown = ", ".join(
                f"{k} {values[k]:.4f}"
                for k in ("log_loss", "accuracy", "roc_auc", "f1")
                if isinstance(values.get(k), float)
            )
            lines.append(f"{'metrics':<13}{split}: {shown} ({values.get('n_rows')} rows)")
    versions = info["metadata"].get(contract.KEY_VERSIONS)
    if isinstance(versions, dict):
        lines.append(f"written by   {', '.join(f'{k} {v}' for k, v in versions.items())}")
    source = info["metadata"].get(contract.KEY_SOURCE)
    if source:  # brought from PyTorch, scikit-learn, statsmodels: no model.pt, a hash of the weights exported
        lines.append(f"exported from {source}")
        lines.append(f"weights      sha256 {info['metadata'].get(contract.KEY_MODEL_SHA256, 'unknown')}")
    else:
        lines.append(f"model.pt     sha256 {info['metadata'].get(contract.KEY_MODEL_SHA256, 'unknown')}")
    lines.append(_describe_vectors(info["test_vectors"]))
    lines.append(f"description  {info['description']}")
    coefficients = info["metadata"].get(contract.KEY_COEFFICIENTS)
    if isinstance(coefficients, dict) and coefficients.get("rows"):
        from .coefficients import format_coefficients

        lines += ["", format_coefficients(coefficients, top=top)]
    return "\n".join(lines)
