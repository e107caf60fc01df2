"""Measuring helpers for the benchmarks: peak resident memory of one step, wall time, and table printing."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator


def rss_bytes(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


@contextlib.contextmanager
def peak_memory() -> Iterator[dict]:
    """Peak RSS above the RSS at entry, for the block: resets the kernel's high-water mark (Linux) first."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # 5 resets VmHWM to the current RSS
    result = {"start": rss_bytes()}
    started = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - started
    result["peak_extra"] = rss_bytes("VmHWM") - result["start"]


def table(header: list[str], rows: list[list[object]]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
