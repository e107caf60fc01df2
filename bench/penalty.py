"""Benchmark for ``--l2 auto`` (issue 11): choosing the penalty by 5-fold cross-validated log-loss over the same 13
values, against scikit-learn's LogisticRegressionCV given the same standardized data, folds and grid, in one run.

The reference is set up as a user would for speed: lbfgs (its default), ``n_jobs`` 1 and -1 (both cores) measured, the
faster one is the reference. Data: 100,000 x 50, binary, seeded. Both refit on all rows with the chosen value.
Each contender runs in a process of its own (a user runs one or the other; in one process, scikit-learn's OpenBLAS
threads and torch's get in each other's way and slow whichever runs next), a first call and a second one, three
processes each, interleaved; the table gives the medians.

    python bench/penalty.py [--rows 100000] [--features 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_measure", HERE / "_measure.py")
_measure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_measure)
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)


def data(rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) * np.geomspace(0.1, 10, features) + 3.0
    w = rng.normal(size=features) / np.geomspace(0.1, 10, features) * 0.5
    p = 1 / (1 + np.exp(-((X - 3.0) @ w)))
    return X.astype(np.float32), (rng.random(rows) < p).astype(np.int64)


def run_contender(name: str, rows: int, features: int) -> dict:
    """One contender in a process of its own (as a user runs one or the other, never both in one process, where
    OpenBLAS's and torch's thread pools would get in each other's way): its first call, then a second one."""
    X, y = data(rows, features)
    times = []
    if name == "ours":
        from logreg_onnx.trainer import fit  # imported before the clock starts, as scikit-learn is below

        for _ in range(2):
            started = time.perf_counter()
            result = fit(X, y, l2="auto", val_fraction=0, folds=5, seed=0)
            times.append(time.perf_counter() - started)
        return {"times": times, "l2": result.options["l2"], "path": [p["mean"] for p in result.metrics["l2_path"]]}
    from logreg_onnx.trainer.engine.penalty import (  # numpy only, as trainer.penalty is imported here
        GRID,
        stratified_folds,
    )
    from sklearn.linear_model import LogisticRegressionCV

    fold = stratified_folds(y, 5, seed=0)
    splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(5)]
    n_train = np.mean([len(train) for train, _ in splits])
    # the data exactly as ours standardizes it: float64 moments, float32 mean and scale, float32 arithmetic
    mean = X.mean(axis=0, dtype=np.float64)
    scale = np.sqrt(((X - mean) ** 2).mean(axis=0))
    standardized = ((X - mean.astype(np.float32)) / scale.astype(np.float32)).astype(np.float64)
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            reference = LogisticRegressionCV(
                Cs=[1.0 / (l2 * n_train) for l2 in GRID],
                cv=splits,
                scoring="neg_log_loss",
                n_jobs=int(name),
                max_iter=1000,
            ).fit(standardized, y)
            times.append(time.perf_counter() - started)
    scores = -next(iter(reference.scores_.values())).mean(axis=0)
    return {"times": times, "l2": GRID[int(np.argmin(scores))], "path": scores.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # internal: run one contender, print JSON
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(run_contender(args.contender, args.rows, args.features)))
        return
    names = ["ours", "1", "-1"]
    runs: dict = {name: [] for name in names}
    for _ in range(args.repeats):  # interleaved, so that a slow moment of the machine hits every contender
        for name in names:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--contender",
                    name,
                    "--rows",
                    str(args.rows),
                    "--features",
                    str(args.features),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[name].append(json.loads(child.stdout.strip().splitlines()[-1]))
    cold = {name: float(np.median([r["times"][0] for r in runs[name]])) for name in names}
    warm = {name: float(np.median([r["times"][1] for r in runs[name]])) for name in names}
    ours = warm["ours"]
    labels = {
        "ours": "logreg-onnx --l2 auto (Newton, warm starts)",
        "1": "LogisticRegressionCV lbfgs, n_jobs=1",
        "-1": "LogisticRegressionCV lbfgs, n_jobs=-1",
    }
    rows = [
        [
            labels[name],
            f"{cold[name]:.2f}",
            f"{warm[name]:.2f}",
            f"{runs[name][-1]['l2']:.3g}",
            f"{ours / warm[name]:.2f}x",
        ]
        for name in names
    ]
    best = min(("1", "-1"), key=warm.get)
    ours_path, reference_path = np.array(runs["ours"][-1]["path"]), np.array(runs[best][-1]["path"])
    difference = float(np.max(np.abs(ours_path - reference_path) / reference_path))
    target = ours <= 0.5 * warm[best]
    seconds = ", ".join(f"{r['times'][1]:.2f}" for r in runs["ours"])
    tables = [
        record.table(
            f"--l2 auto, {args.rows:,} x {args.features}, binary, 5 folds x 13 values; each contender in a process of "
            f"its own, {args.repeats} interleaved processes each, a first and a second call (medians)",
            ["", "first call s", "second call s", "chosen l2", "ours / this (second calls)"],
            rows,
            note=f"Ours, second calls: {seconds} s. Mean validation log-loss along the path, largest relative "
            f"difference from the faster reference: {difference:.1e}. Target, at most 0.5x the faster reference: "
            f"{'met' if target else 'missed'} ({ours / warm[best]:.2f}x).",
        )
    ]
    record.show(tables)
    figures = {
        "first_call_s": cold,
        "second_call_s": warm,
        "chosen_l2": {name: runs[name][-1]["l2"] for name in names},
        "path_relative_difference": difference,
        "rows": args.rows,
        "features": args.features,
    }
    title = "Choosing the penalty: --l2 auto (bench/penalty.py)"
    print(f"\nwrote {record.write_record('penalty', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    main()
