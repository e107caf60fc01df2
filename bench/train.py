"""Training benchmark (issue 7), every ratio measured in the same run, each candidate in its own process.

1. The exact optimum, warm: ``trainer.fit(X, y, l2=0, val_fraction=0)`` (everything a default fit computes: the
   coefficient table with standard errors, metrics, calibration, the threshold table) against the strongest fair
   scikit-learn setup, ``make_pipeline(StandardScaler(), LogisticRegression(C=inf, tol=1e-7))`` (standardization
   included on both sides), and glum's ``GeneralizedLinearRegressor(family="binomial", alpha=0)``, on 1,000,000 x 50.
   Each process fits once on a small sample first (the libraries' one-time start-up), then the full fit REPEATS
   times; the best time counts. Log-losses are evaluated independently in float64 and compared with a converged
   reference (the same pipeline in float64, tol=1e-10). Target: equal log-loss (1e-6 relative) in at most 0.5x the
   pipeline's time and 0.5x glum's; peak memory at most 2x the float32 data.
2. The same problem on unscaled features (scikit-learn's default solver, no scaler): kept for continuity, labelled;
   it is not what a user should run.
3. Cold start: ``logreg train`` on the bundled CSV in a new process against a scikit-learn script doing the same job
   (read the CSV, standardize, fit, save with joblib; the faster of a csv-module and a pandas version), one untimed
   round then 7 interleaved ones, medians; every candidate with compiled bytecode (see :func:`cold_start`). Target: at
   most 1.0x its wall time (never above 1.5x). ``--only cold`` runs this section alone.
4. How ``logreg train`` grows: wall time and peak memory at 10,000, 100,000 and 1,000,000 rows (30 features, CSV).

    python bench/train.py [--rows N] [--features D] [--skip-unscaled] [--skip-scaling] [--only cold]

Writes bench/results/train.json (bench/record.py) with every table printed and the raw figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/runtime.py must not shadow the runtime package: take bench/ off the path, load the helpers by file
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_measure", HERE / "_measure.py")
_measure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_measure)
machine, table, peak_memory = _measure.machine, _measure.table, _measure.peak_memory
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
_record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_record)
write_record = _record.write_record
REPO = HERE.parent
REPEATS = 3


def make_data(rows: int, features: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    X *= np.geomspace(0.1, 10, features, dtype=np.float32)  # mixed scales, as real features have
    X += np.linspace(0, 50, features, dtype=np.float32)  # and offsets
    w = rng.standard_normal(features) / np.geomspace(0.1, 10, features)
    y = np.empty(rows, dtype=np.int64)
    for start in range(0, rows, 1 << 18):  # chunks keep float64 temporaries small
        z = (X[start : start + (1 << 18)] - np.linspace(0, 50, features)) @ w * 0.7
        y[start : start + (1 << 18)] = rng.random(len(z)) < 1 / (1 + np.exp(-z))
    return X, y


def float64_log_loss(X, y, coef, intercept) -> float:
    import numpy as np

    total = 0.0
    for start in range(0, len(X), 1 << 16):
        z = X[start : start + (1 << 16)].astype(np.float64) @ coef + intercept
        total += float(np.sum(np.logaddexp(0, z) - y[start : start + (1 << 16)] * z))
    return total / len(X)


def worker(solver: str, rows: int, features: int) -> dict:
    import warnings

    import numpy as np

    X, y = make_data(rows, features)
    out: dict = {"solver": solver, "data_bytes": X.nbytes, "times": []}
    if solver.startswith("sklearn"):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        data = X.astype(np.float64) if solver == "sklearn-exact" else X

        def build():
            if solver == "sklearn-unscaled":
                return LogisticRegression(C=np.inf, max_iter=10_000)
            tol = 1e-10 if solver == "sklearn-exact" else 1e-7
            return make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, tol=tol, max_iter=10_000))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build().fit(data[:2000], y[:2000])
            for _ in range(1 if solver != "sklearn" else REPEATS):
                with peak_memory() as m:
                    model = build().fit(data, y)
                out["times"].append(m["seconds"])
        last = model[-1] if hasattr(model, "steps") else model
        scale = model[0].scale_ if hasattr(model, "steps") else np.ones(features)
        mean = model[0].mean_ if hasattr(model, "steps") else np.zeros(features)
        coef = last.coef_[0] / scale
        intercept = last.intercept_[0] - coef @ mean
        out["iterations"] = int(last.n_iter_[0])
    elif solver == "glum":
        from glum import GeneralizedLinearRegressor

        def build():
            return GeneralizedLinearRegressor(family="binomial", alpha=0)

        # float64 rows, converted before the clock starts: on a million float32 rows glum's float32 Hessian sums
        # come out singular ("A singular matrix detected"), and in float64 it also needs fewer iterations
        data = X.astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build().fit(data[:2000], y[:2000])
            for _ in range(REPEATS):
                with peak_memory() as m:
                    model = build().fit(data, y)
                out["times"].append(m["seconds"])
        coef, intercept = np.asarray(model.coef_, dtype=np.float64), float(model.intercept_)
        out["iterations"] = int(model.n_iter_)
    else:
        from logreg_onnx import trainer

        trainer.fit(X[:2000], y[:2000], val_fraction=0, l2=0)  # torch's one-time start-up, not the solver's
        optimizer = "adam" if solver == "adam" else "lbfgs"
        for _ in range(REPEATS if optimizer == "lbfgs" else 1):
            with peak_memory() as m:
                result = trainer.fit(
                    X, y, optimizer=optimizer, l2=0.0, val_fraction=0, epochs=3 if solver == "adam" else None
                )
            out["times"].append(m["seconds"])
        model = result.model
        coef = (model.linear.weight.detach().double()[0] / model.scale.double()).numpy()
        intercept = float(model.linear.bias.double()[0]) - float(coef @ model.mean.double().numpy())
        out["iterations"] = len(result.history)
    out["log_loss"] = float64_log_loss(X, y, coef, intercept)
    out["seconds"] = min(out["times"])
    out["peak_extra_bytes"] = m["peak_extra"]
    return out


def run(solver: str, rows: int, features: int) -> dict:
    command = [sys.executable, __file__, "--worker", solver, "--rows", str(rows), "--features", str(features)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{command} failed with status {status}")
    return time.perf_counter() - started, usage.ru_maxrss * 1024


SKLEARN_CSV = """
import csv, sys
import joblib, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
label = header.index(sys.argv[2])
X = np.array([[float(v) for i, v in enumerate(r) if i != label] for r in rows])
y = np.array([r[label] for r in rows])
joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), sys.argv[3])
"""
SKLEARN_PANDAS = """
import sys
import joblib, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
frame = pd.read_csv(sys.argv[1])
y = frame.pop(sys.argv[2])
joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y), sys.argv[3])
"""
COLD_ROUNDS = 7
LOGREG_COLD = "logreg train (default fit, plots, metrics, model.pt)"


def cold_start(rounds: int) -> tuple[list[list[object]], dict]:
    """Section 3: every candidate once untimed, then ``rounds`` interleaved timed rounds; medians.

    Every candidate runs with compiled bytecode, as an installed package does: pip writes the .pyc files of what it
    installs, but an editable checkout's modules are compiled by their first import, which PYTHONDONTWRITEBYTECODE
    (set in some shells and CI images) turns into a compile on every start, a cost no user of an install pays. So
    the children write and read their bytecode under a private PYTHONPYCACHEPREFIX, the same for both sides, and the
    untimed round fills it (and the page cache) for every candidate alike.
    """
    data = REPO / "examples" / "breast_cancer" / "breast_cancer.csv"
    logreg = str(Path(sys.executable).with_name("logreg"))
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = f"{folder}/pycache"
        python = [sys.executable, "-c"]
        candidates = {
            LOGREG_COLD: [logreg, "train", str(data), "--label", "diagnosis", "--out", f"{folder}/run", "-q"],
            "scikit-learn script, csv module": [*python, SKLEARN_CSV, str(data), "diagnosis", f"{folder}/a"],
            "scikit-learn script, pandas": [*python, SKLEARN_PANDAS, str(data), "diagnosis", f"{folder}/b"],
        }
        for command in candidates.values():
            timed(command, REPO, env)
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in candidates}
        for _ in range(rounds):  # interleaved, so machine noise hits every candidate alike
            for name, command in candidates.items():
                results[name].append(timed(command, REPO, env))
    medians = {name: (statistics.median(t for t, _ in r), max(m for _, m in r)) for name, r in results.items()}
    reference = min(v[0] for k, v in medians.items() if k.startswith("scikit"))
    rows = [
        [name, f"{wall:.2f}", f"{wall / reference:.2f}x", f"{peak / 2**20:.0f}"]
        for name, (wall, peak) in medians.items()
    ]
    logreg_wall = medians[LOGREG_COLD][0]
    figures = {
        "logreg_seconds": logreg_wall,
        "sklearn_seconds": reference,
        "ratio": logreg_wall / reference,
        "rounds": rounds,
        "runs": {name: [t for t, _ in r] for name, r in results.items()},
    }
    return rows, figures


def scaling(sizes: list[int], features: int = 30) -> list[list[object]]:
    import numpy as np

    rows_out = []
    logreg = str(Path(sys.executable).with_name("logreg"))
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            X, y = make_data(n, features, seed=n)
            path = Path(folder) / f"d{n}.csv"
            with open(path, "w") as handle:
                handle.write(",".join([*(f"x{j}" for j in range(features)), "y"]) + "\n")
                for start in range(0, n, 100_000):
                    block = np.column_stack([X[start : start + 100_000], y[start : start + 100_000]])
                    np.savetxt(handle, block, delimiter=",", fmt=["%.7g"] * features + ["%d"])
            wall, peak = timed(
                [logreg, "train", str(path), "--label", "y", "--out", f"{folder}/r{n}", "-q", "--val-fraction", "0.2"],
                REPO,
            )
            rows_out.append([f"{n:,}", f"{path.stat().st_size / 2**20:.0f}", f"{wall:.2f}", f"{peak / 2**20:.0f}"])
            path.unlink()
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--skip-optimum", action="store_true", help="skip sections 1 and 2")
    parser.add_argument("--skip-unscaled", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument(
        "--only",
        choices=["cold"],
        help="run one section (cold: section 3) and keep the record's other tables, each noting when it was measured",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.features)))
        return

    print(f"# Training benchmark ({machine()}, {time.strftime('%Y-%m-%d')})\n")
    only = args.only is not None
    tables, figures = optimum(args) if not (args.skip_optimum or only) else ([], {})
    cold_title = f"Cold start: the bundled CSV (569 x 30), a new process each time, median of {COLD_ROUNDS}"
    print(f"\n## {cold_title}\n")
    cold_header = ["command", "wall s", "vs scikit-learn (faster script)", "peak RSS MiB"]
    cold_rows, cold_figures = cold_start(COLD_ROUNDS)
    print(table(cold_header, cold_rows))
    cold_table = {"title": cold_title, "columns": cold_header, "rows": cold_rows}
    if only:
        tables, figures = _kept(cold_table)
        figures["cold_start"] = cold_figures
        path = write_record("train", tables=tables, figures=figures, title="Training")
        print(f"\nwrote {path} (the other tables kept as they were)")
        return
    tables.append(cold_table)
    figures["cold_start"] = cold_figures
    if not args.skip_scaling:
        scaling_title = "logreg train as the data grow (30 features, CSV, 20% validation)"
        print(f"\n## {scaling_title}\n")
        scaling_header = ["rows", "CSV MiB", "wall s", "peak RSS MiB"]
        scaling_rows = scaling([10_000, 100_000, 1_000_000])
        print(table(scaling_header, scaling_rows))
        tables.append({"title": scaling_title, "columns": scaling_header, "rows": scaling_rows})
    path = write_record("train", tables=tables, figures=figures, title="Training")
    print(f"\nwrote {path}")


def _kept(cold_table: dict) -> tuple[list[dict], dict]:
    """The last record's tables with ``cold_table`` in place of its cold-start table, and its figures; each kept
    table notes the commit and date it was measured at, since the record's own are this run's."""
    path = _record.RESULTS / "train.json"
    if not path.is_file():
        return [cold_table], {}
    record = json.loads(path.read_text())
    measured = f"measured {record['date']} at commit {record['commit']}"
    tables, placed = [], False
    for kept in record["tables"]:
        if kept["title"].startswith("Cold start"):
            tables.append(cold_table)
            placed = True
            continue
        note = kept.get("note", "")
        if "at commit" not in note:  # kept once already: its note says when
            note = f"{note} ({measured})" if note else f"({measured})"
        tables.append({**kept, "note": note})
    if not placed:
        tables.append(cold_table)
    figures = {k: v for k, v in record.get("figures", {}).items() if k != "cold_start"}
    return tables, figures


def optimum(args) -> tuple[list[dict], dict]:
    """Sections 1 and 2: the tables printed, and the raw figures, for the record."""
    title = f"Exact optimum, warm: {args.rows:,} x {args.features} binary, float32, l2 = 0"
    print(f"## {title}\n")
    # interleaved, each in its own process: machine noise hits every candidate alike
    pipeline = run("sklearn", args.rows, args.features)
    glum = run("glum", args.rows, args.features)
    ours = run("lbfgs", args.rows, args.features)
    exact = run("sklearn-exact", args.rows, args.features)
    mib = 1 << 20
    rows = []
    for name, r in (
        ("logreg-onnx trainer.fit (Newton, with coefficient table, metrics, calibration)", ours),
        ("StandardScaler + LogisticRegression(C=inf, tol=1e-7)", pipeline),
        ('glum GeneralizedLinearRegressor(family="binomial", alpha=0), float64 rows', glum),
        ("same pipeline, float64, tol=1e-10 (the optimum)", exact),
    ):
        rows.append(
            [
                name,
                f"{r['seconds']:.2f}",
                f"{r['seconds'] / pipeline['seconds']:.2f}x",
                f"{r['seconds'] / glum['seconds']:.2f}x",
                r["iterations"],
                f"{r['log_loss']:.12f}",
                f"{(r['log_loss'] - exact['log_loss']) / exact['log_loss']:+.1e}",
                f"{r['peak_extra_bytes'] / mib:.0f}",
                f"{r['peak_extra_bytes'] / ours['data_bytes']:.2f}x",
            ]
        )
    header = [
        "solver",
        "best of 3, s",
        "time vs pipeline",
        "time vs glum",
        "iterations",
        "log-loss",
        "vs optimum",
        "peak MiB",
        "/ data",
    ]
    print(table(header, rows))
    relative = abs(ours["log_loss"] - exact["log_loss"]) / exact["log_loss"]
    verdicts = {
        "the exact optimum (1e-6 relative)": relative <= 1e-6,
        "at most 0.5x the pipeline's time": ours["seconds"] <= 0.5 * pipeline["seconds"],
        "at most 0.5x glum's time": ours["seconds"] <= 0.5 * glum["seconds"],
        "peak memory at most 2x the float32 data": ours["peak_extra_bytes"] <= 2 * ours["data_bytes"],
    }
    print(f"\nall times (s): ours {ours['times']}, pipeline {pipeline['times']}, glum {glum['times']}")
    for target, ok in verdicts.items():
        print(f"target {'met' if ok else 'MISSED'}: {target}")
    adam = run("adam", args.rows, args.features)
    adam_epoch = adam["seconds"] / max(adam["iterations"], 1)
    print(f"\nadam, batch 256: {adam_epoch:.2f} s per epoch")
    note = f"adam, batch 256: {adam_epoch:.2f} s per epoch"
    tables = [{"title": title, "columns": header, "rows": rows, "note": note}]
    figures = {
        "fit_seconds": ours["seconds"],
        "pipeline_seconds": pipeline["seconds"],
        "glum_seconds": glum["seconds"],
        "ratio_vs_pipeline": ours["seconds"] / pipeline["seconds"],
        "ratio_vs_glum": ours["seconds"] / glum["seconds"],
        "log_loss_relative_to_optimum": relative,
        "peak_extra_over_data": ours["peak_extra_bytes"] / ours["data_bytes"],
        "times": {"ours": ours["times"], "pipeline": pipeline["times"], "glum": glum["times"]},
        "targets_met": verdicts,
        "adam_seconds_per_epoch": adam_epoch,
    }

    if not args.skip_unscaled:
        unscaled_title = "Unscaled features (not what a user should run; kept for continuity)"
        print(f"\n## {unscaled_title}\n")
        unscaled = run("sklearn-unscaled", args.rows, args.features)
        unscaled_header = ["solver", "s", "iterations", "log-loss", "vs optimum"]
        unscaled_rows = [
            [
                "LogisticRegression(C=inf), raw float32 features",
                f"{unscaled['seconds']:.2f}",
                unscaled["iterations"],
                f"{unscaled['log_loss']:.12f}",
                f"{(unscaled['log_loss'] - exact['log_loss']) / exact['log_loss']:+.1e}",
            ]
        ]
        print(table(unscaled_header, unscaled_rows))
        tables.append({"title": unscaled_title, "columns": unscaled_header, "rows": unscaled_rows})
        figures["unscaled_seconds"] = unscaled["seconds"]
    return tables, figures


if __name__ == "__main__":
    main()
