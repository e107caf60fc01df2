"""How sharp is export verification? Change each weight of an exported model in its 5th significant digit, up and
down, and count the changes `exporter.parity.verify_file` catches; also check the untouched model passes. Each
tampered graph is sealed with a correct integrity digest first (as an exporter bug would seal its wrong graph), so what
is measured is the numerical comparison, not the digest.

Runs on the bundled breast-cancer model (binary) and a synthetic 4-class model, both trained here.

    python bench/verify_strength.py
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
_spec = importlib.util.spec_from_file_location("_record", REPO / "bench" / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

from logreg_onnx.exporter.graph import add_metadata, export_graph, serialize  # noqa: E402
from logreg_onnx.exporter.parity import verify_file  # noqa: E402
from logreg_onnx.trainer.data.dataset import load_dataset  # noqa: E402
from logreg_onnx.trainer.engine.training import fit_dataset  # noqa: E402
from logreg_onnx.trainer.options import ReadOptions  # noqa: E402

from logreg_onnx import trainer  # noqa: E402
from tests.conftest import synthetic  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="verify-strength-"))
TITLE = "Verification strength (bench/verify_strength.py)"


def verify_model(proto, model) -> dict:
    path = FOLDER / "candidate.onnx"
    path.write_bytes(serialize(proto))
    return verify_file(path, model)


def sweep(result) -> tuple[bool, int, int, list[str]]:
    model = result.model
    proto = add_metadata(
        export_graph(model),
        feature_names=result.feature_names,
        class_names=result.class_names,
        metrics=result.metrics,
        model_sha256="0" * 64,
    )
    honest = verify_model(proto, model).passed
    initializer = next(t for t in proto.graph.initializer if t.name == "linear.weight")
    W = numpy_helper.to_array(initializer)
    caught = total = 0
    missed = []
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            w = float(W[k, j])
            if w == 0:
                continue  # the constant zero row of a binary graph
            for sign in (1, -1):
                changed = W.copy()
                changed[k, j] = np.float32(w + sign * 10 ** (math.floor(math.log10(abs(w))) - 4))
                tampered = onnx.ModelProto()
                tampered.CopyFrom(proto)
                target = next(t for t in tampered.graph.initializer if t.name == "linear.weight")
                target.CopyFrom(numpy_helper.from_array(changed, target.name))
                total += 1
                if verify_model(tampered, model).passed:
                    missed.append(f"W[{k},{j}]={w:.6g} ({'+' if sign > 0 else '-'})")
                else:
                    caught += 1
    return honest, caught, total, missed


def main() -> None:
    warnings.simplefilter("ignore")
    data = load_dataset(REPO / "examples" / "breast_cancer" / "breast_cancer.csv", ReadOptions(label="diagnosis"))
    binary = fit_dataset(data)
    X, y = synthetic(2000, 6, 4, seed=3)
    multiclass = trainer.fit(X, y, l2=1e-3)
    rows, figures = [], {}
    for key, name, model in (
        ("binary", "breast cancer, binary, 30 features", binary),
        ("multiclass", "synthetic, 4 classes, 6 features", multiclass),
    ):
        honest, caught, total, missed = sweep(model)
        rows.append([name, "yes" if honest else "NO", f"{caught}/{total}", ", ".join(missed) or "-"])
        figures[key] = {"untouched_passes": honest, "caught": caught, "changes": total, "missed": missed}
    tables = [
        record.table(
            "Every weight changed in its 5th significant digit, up and down, each against verification",
            ["model", "untouched model passes", "single-weight 5th-digit changes caught", "missed"],
            rows,
        )
    ]
    record.show(tables)
    print(f"\nwrote {record.write_record('verify_strength', tables=tables, figures=figures, title=TITLE)}")


if __name__ == "__main__":
    main()
