"""Benchmark for streamed training (issue 12): ``logreg train --stream`` on a generated .npy file several times larger
than the training process's measured peak memory, for each optimizer, against the in-memory fit of a subsample
that fits (the strongest setup a user without streaming would choose), in one run.

Each training is a fresh ``logreg train`` process; its peak resident memory is the kernel's own count (``wait4``'s
``ru_maxrss``), so the number includes Python, torch and every buffer. Both models are scored on the same 500,000
rows held out of both fits.

    python bench/stream.py [--rows 10000000] [--features 50] [--sgd-epochs 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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

HOLDOUT = 500_000


def write_data(path: Path, rows: int, features: int, seed: int = 0, block: int = 1_000_000) -> None:
    """A float32 .npy of ``rows`` x (features + label), written a block at a time (the bench holds none of it)."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.1, 10, features)
    w = rng.normal(size=features) / scales * 0.5
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, features + 1)}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, rows, block):
            n = min(block, rows - start)
            X = rng.normal(size=(n, features)) * scales + 3.0
            y = rng.random(n) < 1 / (1 + np.exp(-((X - 3.0) @ w)))
            handle.write(np.column_stack([X, y]).astype(np.float32).tobytes())


def run_training(data: Path, out: Path, *args: str) -> dict:
    """``logreg train`` in a child process: wall seconds, peak RSS and the run's metrics.

    The peak is the child's own high-water mark (``VmHWM`` in /proc, sampled every 20 ms until it exits; it only
    grows, so the last sample is the peak but for the last 20 ms). Not ``wait4``'s ``ru_maxrss``: Linux carries the
    parent's resident size at fork into it, which would charge this script's arrays to the training process."""
    command = [sys.executable, "-m", "logreg_onnx", "train", str(data), "--out", str(out), "-q", *args]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_file, peak = Path(f"/proc/{child.pid}/status"), 0
    while child.poll() is None:
        try:
            text = status_file.read_text()
        except OSError:
            break
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.02)
    stderr = child.stderr.read().decode()
    child.wait()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "peak_rss": peak, "metrics": metrics}


def holdout_log_loss(run: Path, X: np.ndarray, y: np.ndarray) -> float:
    import torch
    from logreg_onnx.trainer.engine.model import load_model
    from logreg_onnx.trainer.stats.metrics import log_loss

    model, _ = load_model(run / "model.pt")
    with torch.no_grad():
        p = model.double()(torch.from_numpy(X.astype(np.float64))).numpy()
    return log_loss(y.astype(np.int64), p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--subsample", type=int, default=1_000_000, help="rows of the in-memory reference fit")
    parser.add_argument("--sgd-epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as folder:
        folder = Path(folder)
        data = folder / "big.npy"
        write_data(data, args.rows + HOLDOUT, args.features)
        full = np.load(data, mmap_mode="r")
        train_file, holdout = folder / "train.npy", np.array(full[args.rows :])
        # the streamed runs read the first --rows rows: the same file without the holdout, written a block at a time
        with open(train_file, "wb") as handle:
            np.lib.format.write_array_header_1_0(
                handle, {"descr": "<f4", "fortran_order": False, "shape": (args.rows, args.features + 1)}
            )
            for start in range(0, args.rows, 1_000_000):
                handle.write(np.ascontiguousarray(full[start : min(start + 1_000_000, args.rows)]).tobytes())
        sub_file = folder / "subsample.npz"
        np.savez(sub_file, X=full[: args.subsample, :-1], y=full[: args.subsample, -1].astype(np.int64))
        del full
        data.unlink()
        X_hold, y_hold = holdout[:, :-1], holdout[:, -1]
        size = train_file.stat().st_size
        common = ("--val-fraction", "0.02", "--l2", "1e-4")
        runs = {}
        for optimizer, extra in (
            ("lbfgs", ()),
            ("sgd", ("--epochs", str(args.sgd_epochs), "--batch-size", "1024")),
            ("adam", ("--epochs", str(args.sgd_epochs), "--batch-size", "1024")),
        ):
            runs[f"streamed {optimizer}"] = run_training(
                train_file, folder / optimizer, "--optimizer", optimizer, *extra, *common
            )
        reference = f"in memory, {args.subsample:,}-row subsample, lbfgs"
        runs[reference] = run_training(sub_file, folder / "sub", "--in-memory", *common)
        rows, figures = [], {"file_bytes": size, "rows": args.rows, "features": args.features, "runs": {}}
        for name, run in runs.items():
            n_rows = run["metrics"]["data"]["n_rows"]
            out = folder / {"streamed lbfgs": "lbfgs", "streamed sgd": "sgd", "streamed adam": "adam"}.get(name, "sub")
            held_out = holdout_log_loss(out, X_hold, y_hold)
            rows.append(
                [
                    name,
                    f"{n_rows:,}",
                    f"{run['seconds']:.1f}",
                    f"{n_rows / run['seconds']:,.0f}",
                    f"{run['peak_rss'] / 2**20:,.0f}",
                    f"{size / run['peak_rss']:.1f}x" if name.startswith("streamed") else "",
                    f"{held_out:.6f}",
                ]
            )
            figures["runs"][name] = {
                "rows": n_rows,
                "seconds": run["seconds"],
                "peak_rss_bytes": run["peak_rss"],
                "held_out_log_loss": held_out,
            }
    tables = [
        record.table(
            f"Streamed training on a {size / 2**30:.2f} GiB .npy ({args.rows:,} x {args.features} float32 + label); "
            f"log-loss on {HOLDOUT:,} rows held out of every fit",
            ["run", "rows", "wall s", "rows/s", "peak RSS MiB", "file / peak RSS", "held-out log-loss"],
            rows,
        )
    ]
    record.show(tables)
    title = "Streaming past memory (bench/stream.py)"
    print(f"\nwrote {record.write_record('stream', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    main()
