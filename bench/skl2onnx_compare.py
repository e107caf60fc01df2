"""The penguins pipeline through skl2onnx and through ``logreg_onnx.exporter.export``: what each file is, and how far
each is from the pipeline's own ``predict_proba``.

Run: ``.venv/bin/python bench/skl2onnx_compare.py`` with skl2onnx importable (it is no dependency of ours; e.g.
``pip install --no-deps --target /tmp/skl2onnx skl2onnx`` and ``PYTHONPATH=/tmp/skl2onnx``). Writes
``bench/results/skl2onnx_compare.json``.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

DATA = REPO / "examples" / "penguins" / "penguins.csv"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
TEXT = ["island", "sex"]


def pipeline_and_rows(add_indicator: bool, text_missing: str = "NaN"):
    """The pipeline of docs/from-sklearn.md fitted on the raw CSV (with missing indicators or not), and the rows to
    compare on: every training row, plus unseen islands, missing text and numbers, and all-missing rows."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(DATA)
    X, y = frame.drop(columns="species"), frame["species"]
    X["year"] = X["year"].astype("float64")
    if text_missing == "''":  # what skl2onnx's text imputer takes: missing text as "", not NaN
        X[TEXT] = X[TEXT].astype(object).fillna("")
    numbers = make_pipeline(SimpleImputer(strategy="median", add_indicator=add_indicator), StandardScaler())
    marker = np.nan if text_missing == "NaN" else ""
    texts = make_pipeline(
        SimpleImputer(strategy="most_frequent", missing_values=marker), OneHotEncoder(handle_unknown="ignore")
    )
    columns = ColumnTransformer([("num", numbers, NUMERIC), ("cat", texts, TEXT)])
    pipeline = Pipeline([("pre", columns), ("lr", LogisticRegression(max_iter=5000))]).fit(X, y)
    odd = []
    for change in (
        {"island": "Atlantis"},
        {"sex": np.nan if text_missing == "NaN" else ""},
        {"bill_length_mm": np.nan, "body_mass_g": np.nan},
        dict.fromkeys(NUMERIC, np.nan) | dict.fromkeys(TEXT, np.nan if text_missing == "NaN" else ""),
    ):
        odd += [row | change for row in X.iloc[[0, 100, 200]].to_dict("records")]
    rows = pd.concat([X, pd.DataFrame(odd, columns=X.columns).astype(X.dtypes.to_dict())], ignore_index=True)
    return pipeline, X, rows


def skl2onnx_file(pipeline, zipmap: bool) -> bytes:
    """skl2onnx's documented API: one input per DataFrame column, typed."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [(c, FloatTensorType([None, 1])) for c in NUMERIC] + [(c, StringTensorType([None, 1])) for c in TEXT]
    options = None if zipmap else {id(pipeline): {"zipmap": False}}
    return convert_sklearn(pipeline, initial_types=types, options=options, target_opset=18).SerializeToString()


def skl2onnx_probabilities(model_bytes: bytes, rows, zipmap: bool) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = {c: rows[c].to_numpy(np.float32).reshape(-1, 1) for c in NUMERIC}
    # text goes in as strings: a missing cell as "" (a string tensor has no NaN)
    feed |= {c: rows[c].fillna("").astype(str).to_numpy(object).reshape(-1, 1) for c in TEXT}
    _, probabilities = session.run(None, feed)
    if zipmap:
        classes = sorted(probabilities[0])
        return np.array([[p[c] for c in classes] for p in probabilities])
    return np.asarray(probabilities)


def describe(model_bytes: bytes) -> tuple[str, str, str]:
    import onnx

    proto = onnx.load_model_from_string(model_bytes)

    def kind(value) -> str:
        t = value.type
        if t.HasField("tensor_type"):
            return f"{value.name}: tensor {onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type).name}"
        return f"{value.name}: {onnx.helper.printable_type(t)}"

    ops = sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in proto.graph.node})
    graph_inputs = proto.graph.input
    many = len(graph_inputs) > 3
    inputs = f"{len(graph_inputs)} inputs, one per column" if many else "; ".join(map(kind, graph_inputs))
    return inputs, "; ".join(map(kind, proto.graph.output)), ", ".join(ops)


def compare(add_indicator: bool, text_missing: str = "NaN") -> tuple[list[dict], int, int]:
    from logreg_onnx.exporter import export

    from logreg_onnx import runtime

    pipeline, X, rows = pipeline_and_rows(add_indicator, text_missing)
    expected = pipeline.predict_proba(rows)
    which = f"add_indicator={add_indicator}, missing text {text_missing}"
    results = []
    for zipmap in (True, False):
        entry = {"pipeline": which, "converter": f"skl2onnx convert_sklearn (zipmap={zipmap})", "verified": "no"}
        started = time.perf_counter()
        try:
            model_bytes = skl2onnx_file(pipeline, zipmap)
        except Exception as exc:  # skl2onnx's own words are the finding
            results.append(entry | {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
            continue
        seconds = time.perf_counter() - started
        got = skl2onnx_probabilities(model_bytes, rows, zipmap)
        inputs, outputs, ops = describe(model_bytes)
        results.append(
            entry
            | {
                "inputs": inputs,
                "outputs": outputs,
                "operators": ops,
                "bytes": len(model_bytes),
                "max_abs_diff": float(np.abs(got - expected).max()),
                "seconds": seconds,
            }
        )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = export(pipeline, Path(folder) / "m.onnx", sample=X)
        seconds = time.perf_counter() - started
        model_bytes = result.model_path.read_bytes()
        got = runtime.load(result.model_path).predict_proba(rows)
    inputs, outputs, ops = describe(model_bytes)
    results.append(
        {
            "pipeline": which,
            "converter": "logreg_onnx.exporter.export",
            "inputs": inputs,
            "outputs": outputs,
            "operators": ops,
            "bytes": len(model_bytes),
            "max_abs_diff": float(np.abs(got - expected).max()),
            "seconds": seconds,
            "verified": "yes" if result.report.passed else "FAILED",
        }
    )
    return results, len(rows), len(X)


def main() -> None:
    results = []
    for add_indicator, text_missing in ((True, "NaN"), (False, "NaN"), (False, "''")):
        part, n_rows, n_train = compare(add_indicator, text_missing)
        results += part
    import skl2onnx
    import sklearn

    columns = ["pipeline", "converter", "inputs", "outputs", "bytes", "max |p - predict_proba|", "seconds", "verified"]

    def cells(r: dict) -> list:
        if "error" in r:
            return [r["pipeline"], r["converter"], f"conversion fails: {r['error']}", "", "", "", "", "no"]
        figures = [r["inputs"], r["outputs"], r["bytes"], f"{r['max_abs_diff']:.1e}", f"{r['seconds']:.2f}"]
        return [r["pipeline"], r["converter"], *figures, r["verified"]]

    table = record.table(
        f"The penguins pipeline ({n_rows} rows: {n_train} training rows and {n_rows - n_train} with unseen or "
        f"missing values), scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}",
        columns,
        [cells(r) for r in results],
        note="seconds: skl2onnx's conversion alone; export's conversion plus its verification (probe rows through "
        "onnxruntime, onnx.reference, dict rows, the server's handlers, test vectors)",
    )
    operators = record.table(
        "Operators in each file",
        ["pipeline", "converter", "operators"],
        [[r["pipeline"], r["converter"], r.get("operators", "-")] for r in results],
    )
    record.show([table, operators])
    path = record.write_record(
        "skl2onnx_compare", tables=[table, operators], figures={"results": results}, title="skl2onnx compared"
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
