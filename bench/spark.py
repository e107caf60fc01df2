"""Benchmark for scoring Spark DataFrames (issue 19): ``logreg_onnx.runtime.spark.predict`` on ``local[2]`` against
the runtime alone in one process (``Model.run`` on a pandas DataFrame), on the same rows: the raw penguins' schema
(text columns, NA cells), the committed model artifacts/example-penguins/model.onnx.

Spark's input is cached in Spark's memory first and the output goes to Spark's ``noop`` sink, so the figure is the
scoring (Arrow batches to the Python workers, the runtime, Arrow back), not reading or collecting. Also measured: the
same mapInPandas returning its batches untouched (what Arrow and the workers cost without scoring), and the first
call (Python workers started, sessions opened). Warm figures are the median of ``--repeats``.

    python bench/spark.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

REPO = HERE.parent
PENGUINS = REPO / "examples" / "penguins" / "penguins.csv"
MODEL = REPO / "artifacts" / "example-penguins" / "model.onnx"


def penguin_rows(n_rows: int):
    """``n_rows`` rows of the penguins file drawn with replacement (its NA cells too), seeded."""
    import pandas as pd

    source = pd.read_csv(PENGUINS)
    rng = np.random.default_rng(19)
    return source.iloc[rng.integers(0, len(source), n_rows)].reset_index(drop=True)


def timed(function, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def identity(batches):
    yield from batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from logreg_onnx.runtime import spark as runtime_spark
    from pyspark.sql import SparkSession

    from logreg_onnx import runtime

    frame = penguin_rows(args.rows)
    model = runtime.load(MODEL)
    runtime_seconds = timed(lambda: model.run(frame), args.repeats)

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench/spark.py")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    data = spark.createDataFrame(frame).repartition(2).cache()
    data.count()  # cached in Spark's memory: the timings below read no pandas frame and no file

    def run_spark():
        runtime_spark.predict(data, MODEL).write.format("noop").mode("overwrite").save()

    def run_identity():
        data.mapInPandas(identity, data.schema).write.format("noop").mode("overwrite").save()

    cold = timed(run_spark, 1)[0]
    spark_seconds = timed(run_spark, args.repeats)
    identity_seconds = timed(run_identity, args.repeats)
    spark.stop()

    n = args.rows
    alone, scored, passthrough = (statistics.median(s) for s in (runtime_seconds, spark_seconds, identity_seconds))
    rows = [
        ["runtime alone, one process (Model.run, pandas)", f"{alone:.2f} s", f"{n / alone:,.0f}", "1.00x"],
        ["Spark local[2], predict (warm)", f"{scored:.2f} s", f"{n / scored:,.0f}", f"{alone / scored:.2f}x"],
        ["Spark local[2], predict (first call)", f"{cold:.2f} s", f"{n / cold:,.0f}", f"{alone / cold:.2f}x"],
        [
            "Spark local[2], mapInPandas returning its batches (no scoring)",
            f"{passthrough:.2f} s",
            f"{n / passthrough:,.0f}",
            f"{alone / passthrough:.2f}x",
        ],
    ]
    note = (
        f"{n:,} rows of the raw penguins' schema (7 columns, 2 of them text, NA cells), "
        "artifacts/example-penguins/model.onnx. Spark's input cached in memory, output to the noop sink; each "
        "executor session with 1 onnxruntime thread (predict's default), the runtime alone with onnxruntime's "
        f"default. Warm: median of {args.repeats}. Speed: the runtime alone's seconds over each row's."
    )
    tables = [
        record.table(
            "Scoring a Spark DataFrame (logreg_onnx.runtime.spark.predict)",
            ["path", "seconds", "rows/s", "speed"],
            rows,
            note,
        )
    ]
    record.show(tables)
    figures = {
        "rows": n,
        "runtime_seconds": runtime_seconds,
        "spark_seconds": spark_seconds,
        "spark_first_seconds": cold,
        "identity_seconds": identity_seconds,
    }
    print(f"\nwrote {record.write_record('spark', tables=tables, figures=figures, title='Spark (bench/spark.py)')}")


if __name__ == "__main__":
    main()
