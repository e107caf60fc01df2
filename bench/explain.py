"""Benchmark of format 3's explain outputs (issue 20): what explanations and intervals cost where the model runs.

- one row: ``predict_proba`` against ``explain(row, top=3)`` and the raw ``run_outputs`` of every output, in the
  Python runtime; the same in onnxruntime-node (examples/node/bench.js) and in C (the generated header's
  ``logreg_predict`` against ``logreg_explain``, compiled -O2), when Node.js and a C compiler are here;
- the ONNX file's size with and without the explain outputs and the training profile;
- ``logreg predict`` on a 1,000,000-row CSV with and without ``--explain 3``, rows/s.

The model: the breast-cancer data (30 numeric columns) fitted without a penalty, so that it has interval outputs.

    python bench/explain.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

REPO = HERE.parent
DATA = REPO / "examples" / "breast_cancer" / "breast_cancer.csv"
NODE_BENCH = REPO / "examples" / "node" / "bench.js"


def per_call(function, *, calls: int, repeats: int = 7) -> float:
    """Seconds per call: the best of ``repeats`` rounds of ``calls`` calls (the least disturbed round)."""
    function()
    rounds = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        rounds.append((time.perf_counter() - started) / calls)
    return min(rounds)


def train(folder: Path) -> Path:
    """The breast-cancer run, unpenalized (classical standard errors: interval outputs), exported."""
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    run = folder / "run"
    args = ["train", str(DATA), "--label", "diagnosis", "--l2", "0", "--out", str(run), "-q", "--export"]
    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        raise SystemExit(f"training failed: {result.output}")
    return run / "model.onnx"


def python_latency(path: Path, row: np.ndarray) -> dict[str, float]:
    from logreg_onnx import runtime

    model = runtime.load(path)
    names = [o.name for o in model.outputs]
    batch = row.reshape(1, -1)
    return {
        "predict_proba": per_call(lambda: model.predict_proba(row), calls=20_000),
        "explain": per_call(lambda: model.explain(batch, top=3), calls=5_000),
        "run_outputs": per_call(lambda: model.run_outputs(batch, None, names), calls=5_000),
    }


def node_latency(path: Path) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None or not NODE_BENCH.is_file() or not (NODE_BENCH.parent / "node_modules").is_dir():
        return None
    done = subprocess.run([node, str(NODE_BENCH), str(path)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(f"examples/node/bench.js failed: {done.stderr.strip()[:300]}", file=sys.stderr)
        return None
    figures = json.loads(done.stdout)
    return {k: float(v) * 1e-6 for k, v in figures.items() if k.endswith("_us")} or None


C_HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#define LOGREG_IMPLEMENTATION
#include "model.h"
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(void) {
  float x[LOGREG_N_FEATURES] = {ROW}, p[LOGREG_N_CLASSES];
  volatile float sink = 0; const long n = 2000000;
  double best_predict = 1e9, best_explain = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = now();
    for (long i = 0; i < n; i++) { x[0] += 1e-7f; sink += (float)logreg_predict(x, p) + p[0]; }
    double t1 = now();
    for (long i = 0; i < n; i++) { x[0] += 1e-7f; EXPLAIN_CALL; }
    double t2 = now();
    if (t1 - t0 < best_predict) best_predict = t1 - t0;
    if (t2 - t1 < best_explain) best_explain = t2 - t1;
  }
  printf("{\"predict_us\": %.4f, \"explain_us\": %.4f}\n", 1e6 * best_predict / n, 1e6 * best_explain / n);
  return sink == 12345.0f;
}
"""


def c_latency(path: Path, row: np.ndarray) -> dict[str, float] | None:
    """The generated header's two functions, one row at a time, -O2; None without a compiler or logreg_explain."""
    from logreg_onnx.exporter import c_code

    compiler = c_code.find_compiler()
    header = c_code.generate(path.read_bytes())
    if compiler is None or "float *p_lower, float *p_upper)" not in header:
        return None  # this harness calls the binary numeric model's logreg_explain, with intervals
    call = (
        "{ float l[LOGREG_N_LOGITS], c[LOGREG_N_COLUMNS * LOGREG_N_LOGITS], se[LOGREG_N_LOGITS], lo, hi; "
        "logreg_explain(x, l, c, se, &lo, &hi); sink += l[0] + c[0] + se[0] + lo + hi; }"
    )
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "model.h").write_text(header)
        source = C_HARNESS.replace("{ROW}", "{" + ", ".join(f"{v!r}f" for v in row.tolist()) + "}")
        Path(folder, "bench.c").write_text(source.replace("EXPLAIN_CALL", call))
        built = subprocess.run(
            [compiler, "-O2", "-std=c99", "-o", "bench", "bench.c", "-lm"], cwd=folder, capture_output=True, text=True
        )
        if built.returncode != 0:
            print(f"C harness did not compile: {built.stderr.strip()[:300]}", file=sys.stderr)
            return None
        done = subprocess.run([str(Path(folder, "bench"))], capture_output=True, text=True, timeout=600)
    figures = json.loads(done.stdout)
    return {"predict_proba": figures["predict_us"] * 1e-6, "explain": figures["explain_us"] * 1e-6}


def sizes(run_model: Path) -> dict[str, int]:
    """Bytes of the ONNX file as the exporter builds it (exporter.write.build_model), with and without the explain
    outputs and the training profile, from the same run."""
    from logreg_onnx.exporter.from_toolkit import source_of_run
    from logreg_onnx.exporter.graph import serialize
    from logreg_onnx.exporter.rundir import load_run
    from logreg_onnx.exporter.write import build_model

    source = source_of_run(load_run(run_model.parent))
    variants = {
        "format 3, profile (the default)": (True, True),
        "format 3, no profile": (True, False),
        "format 2 (label, probabilities), profile": (False, True),
        "format 2, no profile": (False, False),
    }
    return {
        name: len(serialize(build_model(source, explain=explain, profile=profile)))
        for name, (explain, profile) in variants.items()
    }


def cli_rows_per_second(path: Path, n_rows: int, folder: Path) -> dict[str, float]:
    import pandas as pd

    data = pd.read_csv(DATA).drop(columns=["diagnosis"])
    rng = np.random.default_rng(20)
    big = folder / "rows.csv"
    data.iloc[rng.integers(0, len(data), n_rows)].to_csv(big, index=False)
    logreg = str(Path(sys.executable).with_name("logreg"))
    out = {}
    for name, extra in (("predict", []), ("predict --explain 3", ["--explain", "3"])):
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([logreg, "predict", str(path), str(big), "-o", str(folder / "out.csv"), *extra], check=True)
            seconds.append(time.perf_counter() - started)
        out[name] = n_rows / statistics.median(seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = train(folder)
        row = pd.read_csv(DATA).drop(columns=["diagnosis"]).to_numpy(np.float32)[0]
        engines = {"Python runtime": python_latency(path, row)}
        node = node_latency(path)
        if node is not None:
            engines["onnxruntime-node"] = {"predict_proba": node["predict_us"], "explain": node["explain_us"]}
        c = c_latency(path, row)
        if c is not None:
            engines["C header (-O2)"] = c
        file_sizes = sizes(path)
        throughput = cli_rows_per_second(path, args.rows, folder)
    latency_rows = [
        [
            engine,
            f"{figures['predict_proba'] * 1e6:.2f} us",
            f"{figures['explain'] * 1e6:.2f} us",
            f"{figures['explain'] / figures['predict_proba']:.2f}x",
        ]
        for engine, figures in engines.items()
    ]
    default = file_sizes["format 3, profile (the default)"]
    size_rows = [[name, f"{size:,} B", f"{size / default:.2f}x"] for name, size in file_sizes.items()]
    base = throughput["predict"]
    cli_rows = [[name, f"{rate:,.0f}", f"{rate / base:.2f}x"] for name, rate in throughput.items()]
    tables = [
        record.table(
            "One row: predict_proba against explain (top 3, with the interval)",
            ["engine", "predict_proba", "explain", "explain / predict_proba"],
            latency_rows,
            "Breast cancer, 30 numeric columns, unpenalized (interval outputs). Best of 7 rounds. The Python "
            "runtime's predict_proba runs the session without the explain nodes (runtime/prune.py); explain runs "
            "the whole graph and ranks the contributions.",
        ),
        record.table(
            "The ONNX file's size",
            ["file", "bytes", "of the default"],
            size_rows,
            "The same run built four ways; the explain outputs hold the baseline, the coefficients and the "
            "covariance factor (31 x 31 floats).",
        ),
        record.table(
            f"logreg predict on {args.rows:,} rows (CSV in, CSV out, pyarrow engine)",
            ["command", "rows/s", "speed"],
            cli_rows,
            "Median of 3 runs of the command, start-up included.",
        ),
    ]
    record.show(tables)
    figures = {"latency_seconds": engines, "bytes": file_sizes, "rows_per_second": throughput, "rows": args.rows}
    title = "Explanations and intervals (bench/explain.py)"
    print(f"\nwrote {record.write_record('explain', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    main()
