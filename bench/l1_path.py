"""Benchmark for ``--l1 auto`` (issue 23): the L1 strength chosen by 5-fold cross-validation over a path of 20
values, then the refit at the chosen value, against glum's ``GeneralizedLinearRegressorCV`` and scikit-learn's
``LogisticRegressionCV(penalty="l1", solver="saga")`` given the same standardized rows, folds and grid, in one run.

Ours runs first (``trainer.fit(X, y, l1="auto", val_fraction=0)``: the standardization, the path, the refit and the
coefficient table); the references then get its standardized rows (float64), its folds
(``trainer.engine.penalty.stratified_folds``) and its grid (glum's ``alphas``; scikit-learn's ``Cs = 1 / (l1 * the
folds' mean training rows)``), and fit with ``refit=True``. Each contender runs in a process of its own, a first call
and a second; the table gives the second (warm) call, the value each chose, and its refit's penalized objective
(mean log-loss plus ``l1 * ||w||_1`` on the standardized rows) against the lowest of the three. scikit-learn's saga
runs at 100,000 rows only (tol 1e-4; at 1,000,000 rows its 100 fits take hours here). Data: seeded, binary, 50
features, 10 of them informative.

    python bench/l1_path.py [--rows 100000 1000000] [--features 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

CONTENDERS = ("ours", "glum", "scikit-learn")
SAGA_MAX_ROWS = 100_000
FOLDS = 5


def data(rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.1, 10, features)
    X = rng.normal(size=(rows, features)) * scales + 3.0
    w = np.zeros(features)
    w[:: features // 10] = rng.normal(size=len(w[:: features // 10])) / scales[:: features // 10]
    p = 1 / (1 + np.exp(-((X - 3.0) @ w)))
    y = (rng.random(rows) < p).astype(np.int64)
    return X.astype(np.float32), y


def objective(Xs: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, l1: float) -> float:
    z = Xs @ coef + intercept
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + l1 * np.abs(coef).sum())


def run_contender(name: str, rows: int, features: int, shared: Path) -> dict:
    X, y = data(rows, features)
    times = []
    out: dict = {}
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "ours":
                from logreg_onnx.trainer import fit

                started = time.perf_counter()
                result = fit(X, y, l1="auto", val_fraction=0)
                times.append(time.perf_counter() - started)
                path = result.metrics["l1_path"]
                grid = np.array([p["l1"] for p in path])
                mean, scale = result.model.mean.numpy(), result.model.scale.numpy()
                chosen = float(grid[np.argmin([p["mean"] for p in path])])
                coef = result.model.linear.weight.detach().double().numpy()[0]
                intercept = float(result.model.linear.bias.detach().double()[0])
                np.savez(shared, grid=grid, mean=mean, scale=scale)
                out = {"chosen": chosen, "coef": coef.tolist(), "intercept": intercept}
            else:
                saved = np.load(shared)
                grid = saved["grid"]
                Xs = ((X - saved["mean"]) / saved["scale"]).astype(np.float64)
                from logreg_onnx.trainer.engine.penalty import stratified_folds

                fold = stratified_folds(y, FOLDS, 0)
                splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(FOLDS)]
                if name == "glum":
                    import glum

                    started = time.perf_counter()
                    model = glum.GeneralizedLinearRegressorCV(
                        family="binomial", alphas=grid, l1_ratio=1.0, cv=splits, scale_predictors=False,
                        gradient_tol=1e-8,
                    ).fit(Xs, y)  # fmt: skip
                    times.append(time.perf_counter() - started)
                    out = {"chosen": float(model.alpha_), "coef": model.coef_.tolist(),
                           "intercept": float(model.intercept_)}  # fmt: skip
                else:
                    from sklearn.linear_model import LogisticRegressionCV

                    n_train = np.mean([len(train) for train, _ in splits])
                    started = time.perf_counter()
                    model = LogisticRegressionCV(
                        Cs=list(1.0 / (grid * n_train)), penalty="l1", solver="saga", tol=1e-4, max_iter=10000,
                        cv=splits, scoring="neg_log_loss",
                    ).fit(Xs, y)  # fmt: skip
                    times.append(time.perf_counter() - started)
                    out = {"chosen": float(1.0 / (model.C_[0] * n_train)), "coef": model.coef_[0].tolist(),
                           "intercept": float(model.intercept_[0])}  # fmt: skip
    return {"times": times, **out}


def _in_process(name: str, rows: int, features: int, shared: Path) -> dict:
    command = [sys.executable, __file__, "--contender", name, "--rows", str(rows), "--features", str(features),
               "--shared", str(shared)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--shared", type=Path)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(run_contender(args.contender, args.rows[0], args.features, args.shared)))
        return
    rows_out, figures = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            shared = Path(folder) / f"path-{rows}.npz"
            names = [n for n in CONTENDERS if n != "scikit-learn" or rows <= SAGA_MAX_ROWS]
            found = {name: _in_process(name, rows, args.features, shared) for name in names}
            X, y = data(rows, args.features)
            saved = np.load(shared)
            Xs = ((X - saved["mean"]) / saved["scale"]).astype(np.float64)
            objectives = {
                n: objective(Xs, y, np.array(f["coef"]), f["intercept"], f["chosen"]) for n, f in found.items()
            }
            fastest = min(found[n]["times"][1] for n in names if n != "ours")
            for name in names:
                seconds = found[name]["times"][1]
                gap = objectives[name] / min(objectives.values()) - 1.0
                ratio = seconds / fastest
                rows_out.append([f"{rows:,} x {args.features}", name, f"{found[name]['times'][0]:.2f} s",
                                 f"{seconds:.2f} s", f"{ratio:.2f}x", f"{found[name]['chosen']:.3g}",
                                 f"{gap:.1e}"])  # fmt: skip
                figures[f"{rows}/{name}"] = {"first_s": found[name]["times"][0], "second_s": seconds, "ratio": ratio,
                                             "chosen_l1": found[name]["chosen"], "objective_gap": gap}  # fmt: skip
            print(rows, {n: round(found[n]["times"][1], 3) for n in names}, flush=True)
    table = {
        "title": "--l1 auto: 5-fold cross-validation over 20 values and the refit, each contender in its own process",
        "columns": [
            "data",
            "contender",
            "first call",
            "second call",
            "vs the faster reference",
            "chosen l1",
            "refit objective vs the lowest",
        ],
        "rows": rows_out,
        "note": "Same standardized rows, folds and grid for all. glum: GeneralizedLinearRegressorCV(alphas=grid, "
        "l1_ratio=1, scale_predictors=False, gradient_tol=1e-8); scikit-learn: LogisticRegressionCV(penalty='l1', "
        "solver='saga', tol=1e-4, Cs=1/(grid * mean training rows)), at 100,000 rows only; ours: trainer.fit(X, y, "
        "l1='auto', val_fraction=0), the table included. Target: at most 0.5x the faster reference's second call.",
    }
    record.write_record("l1_path", tables=[table], figures=figures)


if __name__ == "__main__":
    main()
