"""One benchmark record: what a benchmark measured, written to bench/results/NAME.json for docs/benchmarks.md.

Every benchmark ends with ``write_record(name, tables=..., figures=...)``. ``make bench-docs`` turns the records into
the tables of docs/benchmarks.md, and a test checks that the page equals the records, so a table in the docs is always
the output of a run, with its commit, date and machine.

A table is ``{"title": str, "columns": [str, ...], "rows": [[cell, ...], ...], "note": str (optional)}``, its cells
already formatted as they should read (``"1.22 s"``, ``"0.44x"``). ``figures`` holds the raw numbers (seconds,
ratios, bytes) under names of the benchmark's choosing, for anyone who wants to compare two records.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

# LOGREG_BENCH_RESULTS: another folder, for a smoke run whose figures must not reach the docs
RESULTS = Path(os.environ.get("LOGREG_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def machine() -> dict:
    """The facts a reader needs to weigh a figure: processor, cores, memory, Python and the key libraries."""
    facts = {
        "processor": _cpu_model() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
    }
    from importlib import metadata

    for package in ("torch", "onnxruntime", "numpy", "scikit-learn", "glum"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            facts[package] = metadata.version(package)
    return facts


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def commit() -> str:
    """The commit measured, with ``+dirty`` when the work tree had changes (the figure is then about unsaved code)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True)
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def table(title: str, columns: list[str], rows: list[list[object]], note: str | None = None) -> dict:
    """One table of a record, its cells as text."""
    out = {"title": title, "columns": list(columns), "rows": [[str(c) for c in row] for row in rows]}
    if note:
        out["note"] = note
    return out


def markdown(table: dict) -> str:
    """A table of a record as GitHub markdown (padded columns, so that it also reads well in a terminal)."""
    cells = [table["columns"], *table["rows"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table["columns"]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def show(tables: list[dict]) -> None:
    """Print tables as the benchmark page shows them: title, table, note."""
    for t in tables:
        print(f"\n{t['title']}\n\n{markdown(t)}")
        if t.get("note"):
            print(f"\n{t['note']}")


def write_record(name: str, *, tables: list[dict], figures: dict | None = None, title: str | None = None) -> Path:
    """Write bench/results/NAME.json atomically and return its path."""
    for table in tables:
        width = len(table["columns"])
        bad = [row for row in table["rows"] if len(row) != width]
        if bad:
            raise ValueError(f"table {table['title']!r}: rows of {len(bad[0])} cells, expected {width}")
    record = {
        "name": name,
        "title": title or name,
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "tables": [{**t, "rows": [[str(c) for c in row] for row in t["rows"]]} for t in tables],
        "figures": figures or {},
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=RESULTS, delete=False, suffix=".tmp") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    os.replace(handle.name, path)
    return path
