"""Benchmark for graph contract format 2 (issue 8): what imputation and categorical columns cost the runtime.

1. single-row latency of a numeric model, format 2 (the breast-cancer data trained now: its graph imputes, IsNaN and
   Where in front of the linear part) and the committed format-1 example (no imputation): runtime predict_one against
   the fastest raw onnxruntime call (IOBinding with preallocated buffers) on the same file;
2. single-row latency of the committed penguins model (5 numeric columns, 2 categorical, string input): runtime
   predict_one and predict_proba given a dict row, and run_inputs given ready arrays, against raw onnxruntime
   session.run with the same two input arrays;
3. batch throughput of the penguins model on 200,000 rows: predict_proba on a list of dicts and on ready arrays,
   against raw session.run on the arrays.

Latencies interleave the candidates round by round and keep each one's best median (see bench/runtime.py).

    python bench/categorical.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
# bench/runtime.py's helpers (it loads bench/_measure.py for machine() and table())
_runtime_spec = importlib.util.spec_from_file_location("_runtime_bench", HERE / "runtime.py")
_runtime_bench = importlib.util.module_from_spec(_runtime_spec)
_runtime_spec.loader.exec_module(_runtime_bench)
interleaved, raw_iobinding = _runtime_bench.interleaved, _runtime_bench.raw_iobinding
_record_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_record_spec)
_record_spec.loader.exec_module(record)

REPO = HERE.parent
V1_MODEL = REPO / "artifacts" / "example" / "model.onnx"
PENGUINS = REPO / "artifacts" / "example-penguins" / "model.onnx"


def raw_session(path: Path):
    """The raw reference: an onnxruntime session of the file's label and probabilities alone. A format 3 file's
    explain nodes would otherwise run on every call (onnxruntime runs the whole graph), which the runtime's own
    predict session leaves out too (runtime/prune.py): the reference computes what the runtime computes."""
    import onnxruntime as ort
    from logreg_onnx.runtime import contract
    from logreg_onnx.runtime.prune import without_outputs
    from logreg_onnx.runtime.session import session_options

    data = without_outputs(path.read_bytes(), contract.OUTPUT_NAMES)
    return ort.InferenceSession(data, session_options(None), providers=["CPUExecutionProvider"])


def numeric_v2_model(folder: Path) -> Path:
    """The breast-cancer model trained and exported now (format 3: its graph imputes missing values)."""
    run = folder / "run"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "logreg_onnx",
            "train",
            str(REPO / "examples" / "breast_cancer" / "breast_cancer.csv"),
            "--label",
            "diagnosis",
            "--out",
            str(run),
            "-q",
            "--export",
        ],
        check=True,
        capture_output=True,
    )
    return run / "model.onnx"


def numeric_latency(path: Path, rounds: int) -> dict[str, tuple[float, float]]:

    from logreg_onnx import runtime

    vectors = json.loads(path.with_name("model.testvectors.json").read_text())
    row = np.array(vectors["cases"][0]["features"], dtype=np.float32)
    model = runtime.load(path)
    session = raw_session(path)
    return interleaved(
        {
            "raw IOBinding (fastest)": raw_iobinding(session, row),
            "raw IOBinding, public API": raw_iobinding(session, row, public=True),
            "runtime predict_one": lambda: model.predict_one(row),
        },
        rounds=rounds,
        calls=4000,
    )


def categorical_latency(rounds: int) -> dict[str, tuple[float, float]]:

    from logreg_onnx import runtime

    model = runtime.load(PENGUINS)
    session = raw_session(PENGUINS)
    row = {
        "island": "Dream",
        "bill_length_mm": 46.0,
        "bill_depth_mm": 17.5,
        "flipper_length_mm": 192.0,
        "body_mass_g": 3700.0,
        "sex": "female",
        "year": 2008,
    }
    numeric = np.array([[46.0, 17.5, 192.0, 3700.0, 2008.0]], dtype=np.float32)
    categories = np.array([["Dream", "female"]], dtype=object)
    feed = {"features": numeric, "categories": categories}
    return interleaved(
        {
            "raw onnxruntime session.run (ready arrays)": lambda: session.run(None, feed),
            "runtime run_inputs (ready arrays)": lambda: model.run_inputs(numeric, categories),
            "runtime predict_one (dict row)": lambda: model.predict_one(row),
            "runtime predict_proba (dict row)": lambda: model.predict_proba(row),
        },
        rounds=rounds,
        calls=3000,
    )


def categorical_throughput(n_rows: int, repeats: int) -> dict[str, float]:

    from logreg_onnx import runtime

    rng = np.random.default_rng(0)
    model = runtime.load(PENGUINS)
    session = raw_session(PENGUINS)
    numeric = np.column_stack(
        [
            rng.normal(44, 5, n_rows),
            rng.normal(17, 2, n_rows),
            rng.normal(200, 14, n_rows),
            rng.normal(4200, 800, n_rows),
            rng.integers(2007, 2010, n_rows),
        ]
    ).astype(np.float32)
    numeric[rng.random(numeric.shape) < 0.02] = np.nan
    categories = np.column_stack(
        [rng.choice(["Biscoe", "Dream", "Torgersen"], n_rows), rng.choice(["female", "male", ""], n_rows)]
    ).astype(object)
    names = model.numeric_names
    rows = [
        dict(zip(names, (None if v != v else v for v in values), strict=True)) | {"island": c[0], "sex": c[1] or None}
        for values, c in zip(numeric.tolist(), categories.tolist(), strict=True)
    ]
    feed = {"features": numeric, "categories": categories}

    def best(call) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return n_rows / min(times)

    return {
        "raw onnxruntime session.run (ready arrays)": best(lambda: session.run(None, feed)),
        "runtime run_inputs (ready arrays)": best(lambda: model.run_inputs(numeric, categories)),
        "runtime predict_proba (list of dicts)": best(lambda: model.predict_proba(rows)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run, not recorded)")
    args = parser.parse_args()
    rounds = 2 if args.quick else 8
    tables, figures = [], {"numeric_us": {}, "penguins_us": {}, "penguins_rows_per_s": {}}
    with tempfile.TemporaryDirectory() as folder:
        v2 = numeric_v2_model(Path(folder))
        rows = []
        for name, path in (("imputes, format 3 (breast cancer, 30 numeric)", v2), ("format 1 example", V1_MODEL)):
            result = numeric_latency(path, rounds)
            fastest, public = result["raw IOBinding (fastest)"][0], result["raw IOBinding, public API"][0]
            ours = result["runtime predict_one"][0]
            rows.append(
                [
                    name,
                    f"{fastest:.2f}",
                    f"{public:.2f}",
                    f"{ours:.2f}",
                    f"{ours / fastest:.2f}x",
                    f"{ours / public:.2f}x",
                ]
            )
            figures["numeric_us"][name] = {k: v[0] for k, v in result.items()}
    tables.append(
        record.table(
            "Numeric model, single row (microseconds, best median)",
            ["model", "raw IOBinding", "raw IOBinding public", "runtime predict_one", "vs fastest", "vs public"],
            rows,
        )
    )

    lat = categorical_latency(rounds)
    raw = lat["raw onnxruntime session.run (ready arrays)"][0]
    ours = lat["runtime predict_one (dict row)"][0]
    figures["penguins_us"] = {name: {"median": m, "p99": p} for name, (m, p) in lat.items()}
    tables.append(
        record.table(
            "Penguins model (5 numeric + 2 categorical columns), single row (microseconds, best median)",
            ["call", "median us", "p99 us", "vs raw session.run"],
            [[name, f"{m:.2f}", f"{p:.2f}", f"{m / raw:.2f}x"] for name, (m, p) in lat.items()],
            note=f"Target, predict_one on a dict row within 1.5x of raw session.run on ready arrays: "
            f"{'met' if ours <= 1.5 * raw else 'missed'} ({ours / raw:.2f}x).",
        )
    )
    n_rows = 20_000 if args.quick else 200_000
    speeds = categorical_throughput(n_rows, 2 if args.quick else 3)
    base = speeds["raw onnxruntime session.run (ready arrays)"]
    figures["penguins_rows_per_s"] = speeds
    tables.append(
        record.table(
            f"Penguins model, batch of {n_rows:,} rows (rows per second)",
            ["call", "rows/s", "vs raw"],
            [[n, f"{s:,.0f}", f"{s / base:.2f}x"] for n, s in speeds.items()],
        )
    )
    record.show(tables)
    if not args.quick:
        title = "Format 2: imputation and categorical columns (bench/categorical.py)"
        print(f"\nwrote {record.write_record('categorical', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
