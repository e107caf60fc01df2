"""Benchmark for statistics v2 (issue 23): a frequency-weighted fit and a robust (HC1) fit with their standard errors,
against statsmodels' GLM (``freq_weights``; ``cov_type="HC0"``, as its Logit gives no other) and glum (``alpha=0``,
``covariance_matrix(robust=...)``) on the same rows, in one run.

Each contender computes what a user reading the table needs: the estimates and their standard errors. Each runs in a
process of its own (a user runs one; in one process, OpenBLAS's and torch's thread pools slow whichever runs next), a
first call and a second one; the table gives the second (warm) call and how far each one's estimates are from
statsmodels' (the same objective: the unpenalized weighted maximum likelihood). Data: seeded, binary, 50 features,
weights 0 to 4.

    python bench/robust_fits.py [--rows 100000 1000000] [--features 50]
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
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

CASES = ("weighted", "robust")
CONTENDERS = ("ours", "statsmodels", "glum")


def data(rows: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) * np.geomspace(0.1, 10, features) + 3.0
    w = rng.normal(size=features) / np.geomspace(0.1, 10, features) * 0.5
    p = 1 / (1 + np.exp(-((X - 3.0) @ w)))
    y = (rng.random(rows) < p).astype(np.int64)
    weights = rng.integers(0, 5, rows).astype(np.float64)
    return X.astype(np.float32), y, weights


def run_contender(name: str, case: str, rows: int, features: int) -> dict:
    X, y, weights = data(rows, features)
    sample_weight = weights if case == "weighted" else None
    times, estimates, errors = [], None, None
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "ours":
                from logreg_onnx.trainer import fit

                started = time.perf_counter()
                result = fit(X, y, l2=0, val_fraction=0, sample_weight=sample_weight,
                             se="robust" if case == "robust" else "classical")  # fmt: skip
                times.append(time.perf_counter() - started)
                estimates = [r["estimate"] for r in result.coefficients.rows]
                errors = [r["std_error"] for r in result.coefficients.rows]
            elif name == "statsmodels":
                import statsmodels.api as sm

                exog = sm.add_constant(X.astype(np.float64))
                started = time.perf_counter()
                model = sm.GLM(y, exog, family=sm.families.Binomial(), freq_weights=sample_weight)
                fitted = model.fit(cov_type="HC0") if case == "robust" else model.fit()
                times.append(time.perf_counter() - started)
                estimates, errors = fitted.params.tolist(), fitted.bse.tolist()
            else:
                import glum

                X64 = X.astype(np.float64)  # glum's float32 path crashed (SIGSEGV) here; float64 is its usual input
                started = time.perf_counter()
                model = glum.GeneralizedLinearRegressor(family="binomial", alpha=0, gradient_tol=1e-8)
                model.fit(X64, y, sample_weight=sample_weight)
                covariance = model.covariance_matrix(X=X64, y=y, sample_weight=sample_weight, robust=case == "robust")
                times.append(time.perf_counter() - started)
                estimates = [float(model.intercept_), *model.coef_.tolist()]
                errors = np.sqrt(np.diag(covariance)).tolist()
    return {"times": times, "estimates": estimates, "errors": errors}


def _in_process(name: str, case: str, rows: int, features: int) -> dict:
    command = [sys.executable, __file__, "--contender", name, "--case", case, "--rows", str(rows),
               "--features", str(features)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--case", choices=CASES)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(run_contender(args.contender, args.case, args.rows[0], args.features)))
        return
    rows_out, figures = [], {}
    for rows in args.rows:
        for case in CASES:
            found = {name: _in_process(name, case, rows, args.features) for name in CONTENDERS}
            reference = np.array(found["statsmodels"]["estimates"])
            fastest = min(found[n]["times"][1] for n in ("statsmodels", "glum"))
            for name in CONTENDERS:
                seconds = found[name]["times"][1]
                difference = np.abs(np.array(found[name]["estimates"]) - reference)
                off = float(np.max(difference / np.maximum(np.abs(reference), 1e-3)))
                ratio = seconds / fastest
                label = {"weighted": "frequency-weighted, classical SEs", "robust": "robust SEs (ours: HC1)"}[case]
                rows_out.append([f"{rows:,} x {args.features}", label, name, f"{found[name]['times'][0]:.2f} s",
                                 f"{seconds:.2f} s", f"{ratio:.2f}x", f"{off:.1e}"])  # fmt: skip
                figures[f"{rows}/{case}/{name}"] = {"first_s": found[name]["times"][0], "second_s": seconds,
                                                    "ratio": ratio, "estimate_rel_diff": off}  # fmt: skip
            print(rows, case, {n: round(found[n]["times"][1], 3) for n in CONTENDERS}, flush=True)
    table = {
        "title": "Weighted and robust fits with their standard errors; each contender in a process of its own",
        "columns": [
            "data",
            "fit",
            "contender",
            "first call",
            "second call",
            "vs the faster reference",
            "estimates vs statsmodels (max rel)",
        ],
        "rows": rows_out,
        "note": "statsmodels: GLM Binomial (freq_weights; cov_type HC0 for robust, its Logit and GLM give HC0 for "
        "every HC kind); glum: GeneralizedLinearRegressor(alpha=0) and covariance_matrix; ours: trainer.fit with "
        "l2=0, val_fraction=0 (sample_weight, se='robust'), the coefficient table included. Target: at most 0.5x "
        "the faster reference's second call.",
    }
    record.write_record("statistics", tables=[table], figures=figures)


if __name__ == "__main__":
    main()
