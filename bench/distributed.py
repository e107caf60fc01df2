"""Benchmark for multi-process training (issue 12): ``logreg train --nproc 2`` against one process on 2,000,000 x 50,
wall time and log-loss, lbfgs and adam, in one run; the in-memory fit (one process, the data in RAM) alongside as the
reference a user with enough memory would choose.

Every run is a fresh ``logreg train`` process (the 2-process one launches torchrun with gloo on loopback), so the
times include start-up, torch's import and every pass over the data.

    python bench/distributed.py [--rows 2000000] [--features 50] [--adam-epochs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_stream = _load("stream")
record = _load("record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--adam-epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as folder:
        folder = Path(folder)
        data = folder / "data.npy"
        _stream.write_data(data, args.rows, args.features)
        import numpy as np

        array = np.load(data)
        npz = folder / "data.npz"
        np.savez(npz, X=array[:, :-1], y=array[:, -1].astype(np.int64))
        del array
        common = ("--val-fraction", "0.05", "--l2", "1e-4")
        adam = ("--optimizer", "adam", "--epochs", str(args.adam_epochs), "--batch-size", "1024")
        cases = [
            ("lbfgs", "in memory, 1 process", npz, ("--in-memory", "--optimizer", "lbfgs")),
            ("lbfgs", "streamed, 1 process", data, ("--stream", "--optimizer", "lbfgs")),
            ("lbfgs", "streamed, 2 processes", data, ("--nproc", "2", "--optimizer", "lbfgs")),
            ("adam", "in memory, 1 process", npz, ("--in-memory", *adam)),
            ("adam", "streamed, 1 process", data, ("--stream", *adam)),
            ("adam", "streamed, 2 processes", data, ("--nproc", "2", *adam)),
        ]
        rows, baseline, figures = [], {}, {"rows": args.rows, "features": args.features, "runs": []}
        for i, (optimizer, name, path, extra) in enumerate(cases):
            run = _stream.run_training(path, folder / f"run{i}", *extra, *common)
            metrics = run["metrics"]
            baseline.setdefault(optimizer, run["seconds"])
            rows.append(
                [
                    optimizer,
                    name,
                    f"{run['seconds']:.1f}",
                    f"{metrics['training']['seconds']:.1f}",
                    f"{baseline[optimizer] / run['seconds']:.2f}x",
                    f"{metrics['train']['objective']:.8f}",
                    f"{metrics['validation']['log_loss']:.8f}",
                ]
            )
            figures["runs"].append(
                {
                    "optimizer": optimizer,
                    "run": name,
                    "wall_s": run["seconds"],
                    "fit_s": metrics["training"]["seconds"],
                    "train_objective": metrics["train"]["objective"],
                    "validation_log_loss": metrics["validation"]["log_loss"],
                }
            )
    tables = [
        record.table(
            f"{args.rows:,} x {args.features}, binary, --l2 1e-4 --val-fraction 0.05; adam {args.adam_epochs} epochs "
            "at batch 1,024 per process; every run a fresh process",
            ["optimizer", "run", "wall s", "fit s", "speed vs in memory", "train objective", "val log-loss"],
            rows,
        )
    ]
    record.show(tables)
    title = "Several processes (bench/distributed.py)"
    print(f"\nwrote {record.write_record('distributed', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    main()
