"""Benchmark for ``--l2 auto`` (issue 11): choosing the penalty by 5-fold cross-validated log-loss over the same 13
values, against scikit-learn's LogisticRegressionCV given the same standardized data, folds and grid, in one run.

The reference is set up as a user would for speed: lbfgs (its default), ``n_jobs`` 1 and -1 (both cores) measured, the
faster one is the reference. Data: 100,000 x 50, binary, seeded. Both refit on all rows with the chosen value.

    python bench/penalty.py [--rows 100000] [--features 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
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


def data(rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) * np.geomspace(0.1, 10, features) + 3.0
    w = rng.normal(size=features) / np.geomspace(0.1, 10, features) * 0.5
    p = 1 / (1 + np.exp(-((X - 3.0) @ w)))
    return X.astype(np.float32), (rng.random(rows) < p).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegressionCV

    import trainer
    from trainer.penalty import GRID, stratified_folds

    X, y = data(args.rows, args.features)
    fold = stratified_folds(y, 5, seed=0)
    splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(5)]
    n_train = np.mean([len(train) for train, _ in splits])
    runs: dict = {"ours": [], 1: [], -1: []}
    choices, scores = {}, {}
    for _ in range(args.repeats):  # interleaved, so that a slow moment of the machine hits every contender
        started = time.perf_counter()
        result = trainer.fit(X, y, l2="auto", val_fraction=0, folds=5, seed=0)
        runs["ours"].append(time.perf_counter() - started)
        standardized = ((X - result.model.mean.numpy()) / result.model.scale.numpy()).astype(np.float64)
        for jobs in (1, -1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                reference = LogisticRegressionCV(
                    Cs=[1.0 / (l2 * n_train) for l2 in GRID],
                    cv=splits,
                    scoring="neg_log_loss",
                    n_jobs=jobs,
                    max_iter=1000,
                ).fit(standardized, y)
                runs[jobs].append(time.perf_counter() - started)
            scores[jobs] = -next(iter(reference.scores_.values())).mean(axis=0)
            choices[jobs] = GRID[int(np.argmin(scores[jobs]))]
    timings = {key: float(np.median(values)) for key, values in runs.items()}
    ours = timings.pop("ours")
    path = result.metrics["l2_path"]
    best_jobs = min(timings, key=timings.get)
    print(
        f"--l2 auto benchmark, {args.rows:,} x {args.features}, 5 folds x {len(GRID)} values; {_measure.machine()}; "
        f"median of {args.repeats} interleaved runs (ours: {', '.join(f'{t:.2f}' for t in runs['ours'])} s)"
    )
    cold = {key: values[0] for key, values in runs.items()}  # the process's first call: joblib starts its workers
    rows = [
        [
            "logreg-onnx --l2 auto (Newton, warm starts)",
            f"{cold['ours']:.2f}",
            f"{ours:.2f}",
            f"{result.options['l2']:.3g}",
            "1.00x",
        ],
        *[
            [
                f"LogisticRegressionCV lbfgs, n_jobs={jobs}",
                f"{cold[jobs]:.2f}",
                f"{timings[jobs]:.2f}",
                f"{choices[jobs]:.3g}",
                f"{ours / timings[jobs]:.2f}x",
            ]
            for jobs in (1, -1)
        ],
    ]
    print(_measure.table(["", "first call s", "median s", "chosen l2", "ours / this (medians)"], rows))
    difference = np.max(np.abs(np.array([p["mean"] for p in path]) - scores[best_jobs]) / scores[best_jobs])
    print(f"mean validation log-loss along the path, largest relative difference: {difference:.1e}")
    target = ours <= 0.5 * timings[best_jobs]
    print(f"target (<= 0.5x the faster reference): {'met' if target else 'NOT met'} ({ours / timings[best_jobs]:.2f}x)")


if __name__ == "__main__":
    main()
