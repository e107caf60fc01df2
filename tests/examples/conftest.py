"""The clients in other languages need their npm packages: installed by the tests themselves, into node_modules/
folders that git ignores."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "examples" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "build" / "test-artifacts"  # screenshots the browser tests keep


def npm_install(folder: Path) -> None:
    """``npm ci`` into ``folder/node_modules`` when it is missing or older than the lock file; skips the test, with
    the reason, when Node.js is not installed. --ignore-scripts: onnxruntime-node's install script downloads from a
    host this project cannot reach, and its npm package already carries the CPU binaries."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js (node and npm) is not installed: apt-get install nodejs npm")
    stamp = folder / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= (folder / "package-lock.json").stat().st_mtime:
        return
    result = subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci failed in {folder}: {result.stderr[-2000:]}")


def browser_ready() -> Path:
    """The folder of the page scripts, with playwright-core installed; skips, saying why, without Debian's chromium.
    Also makes :data:`ARTIFACTS` for the screenshots."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (make test tries)")
    npm_install(BROWSER_DIR)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return BROWSER_DIR
