"""The engine matrix: every runtime we claim, against every kind of model, from real runs (``make engines``).

Trains and exports four models into build/engines/ (numeric binary: the breast-cancer data; multiclass: the penguins'
numeric columns, with missing values imputed in the graph; categorical: the raw penguins; and the raw penguins again
with ``--portable``, text columns as int64 codes), then replays each model's
test vectors in onnxruntime (the Python runtime), onnxruntime-node (examples/node), tract and OpenVINO (each in its own
venv, examples/engines/replay.py), the generated C99 (``logreg export --c``; ``--c-fixed``, integer-only) and the
generated scorers in JavaScript, Java, Go, Rust and C# (``logreg export --code``), format 3's explain outputs too where
the check replays them. Prints the table and writes it into docs/clients.md between the ``engines`` markers.

    .venv/bin/python examples/engines/matrix.py [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "engines"
PENGUINS = REPO / "examples" / "penguins" / "penguins.csv"
MODELS = {
    "numeric binary": [str(REPO / "examples" / "breast_cancer" / "breast_cancer.csv"), "--label", "diagnosis"],
    "multiclass": [str(PENGUINS), "--label", "species", "--drop", "island,sex"],
    "categorical": [str(PENGUINS), "--label", "species"],
    "categorical, portable": [str(PENGUINS), "--label", "species"],  # exported with --portable: int64 codes
}
VENVS = {"tract": REPO / ".venv-tract", "OpenVINO": REPO / ".venv-openvino"}
START, END = "<!-- engines:start -->", "<!-- engines:end -->"


def build_models() -> dict[str, Path]:
    models = {}
    for name, arguments in MODELS.items():
        run = BUILD / name.replace(", ", "-").replace(" ", "-")
        shutil.rmtree(run, ignore_errors=True)
        logreg = [sys.executable, "-m", "logreg_onnx"]
        subprocess.run([*logreg, "train", *arguments, "--out", str(run), "--quiet"], check=True)
        export = [*logreg, "export", str(run), "--c", "--quiet", *(["--portable"] if "portable" in name else [])]
        subprocess.run(export, check=True, stdout=subprocess.DEVNULL)
        models[name] = run / "model.onnx"
    return models


def cell(passed: bool | None, difference: float | None, note: str = "") -> str:
    if passed is None:
        return f"not run ({note})"
    text = f"{'pass' if passed else 'FAIL'}, {difference:.1e}" if difference is not None else "FAIL"
    return text + (f" ({note})" if note and not passed else "")


def explain_note(passed: bool | None, relative: float | None, failing: list[str] = ()) -> str:
    """The format 3 explain outputs' part of a cell ("" when the model or the check has none)."""
    if passed is None:
        return ""
    if passed:
        return f"; explain pass, {relative:.1e}"
    return "; explain FAIL" + (f" ({', '.join(failing)})" if failing else "")


def onnxruntime_cell(model: Path) -> str:
    from logreg_onnx.runtime.testvectors import replay

    from logreg_onnx import runtime

    report = replay(runtime.load(model))
    return cell(report["status"] == "passed", report.get("max_abs"), report.get("error", ""))


def node_cell(model: Path) -> str:
    if shutil.which("node") is None:
        return "not run (no Node.js)"
    folder = REPO / "examples" / "node"
    if not (folder / "node_modules").exists():
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, check=True)
    out = subprocess.run(["node", str(folder / "cli.js"), "check", str(model)], capture_output=True, text=True)
    found = re.search(r"max abs difference ([\d.e+-]+)", out.stdout)
    return cell(out.returncode == 0, float(found.group(1)) if found else None, out.stderr.strip()[:80])


def venv_cell(engine: str, model: Path) -> str:
    python = VENVS[engine] / "bin" / "python"
    if not python.exists():
        return f"not run (no {VENVS[engine].name}: make engines)"
    out = subprocess.run(
        [str(python), str(REPO / "examples" / "engines" / "replay.py"), engine.lower(), str(model)],
        capture_output=True,
        text=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["max_abs_diff"] is None and not report["passed"] and report["detail"].startswith("not run"):
        return "not run (no string tensors)"
    explained = report.get("explain") or {}
    relative = max((entry["max_rel_diff"] or 0.0 for entry in explained.values()), default=None)
    failing = [name for name, entry in explained.items() if not entry["passed"]]
    note = explain_note(report.get("explain_passed"), relative, failing)
    return cell(report["passed"], report["max_abs_diff"], report["detail"]) + note


def c_cell(model: Path) -> str:
    from logreg_onnx.exporter import c_code

    vectors = json.loads(model.with_name("model.testvectors.json").read_text())
    proof = c_code.prove(model.with_suffix(".h").read_text(), vectors)
    if proof.passed is None:
        return "not run (no C compiler)"
    explained = proof.explain_max_diff is not None
    note = explain_note(proof.explain_max_diff <= vectors["atol"] if explained else None, proof.explain_max_diff)
    return cell(proof.passed, proof.max_abs_diff, proof.detail[:80]) + note


CHROMIUM = Path("/usr/bin/chromium")


class WebPage:
    """examples/browser/serve.py on a loopback port offering every model, for examples/browser/replay.mjs to replay
    each one's test vectors in onnxruntime-web (WASM) in headless Chromium."""

    def __init__(self, models: dict[str, Path]) -> None:
        self.models = models
        self.server = None
        self.base = ""

    def cell(self, model: Path) -> str:
        if not CHROMIUM.exists() or shutil.which("node") is None:
            return "not run (no chromium or Node.js)"
        folder = REPO / "examples" / "browser"
        if self.server is None:
            if not (folder / "node_modules").exists():
                subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, check=True)
            self._start(folder)
        out = subprocess.run(
            ["node", str(folder / "replay.mjs"), self.base, model.parent.name, str(CHROMIUM)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if out.returncode != 0:
            return f"FAIL ({out.stderr.strip()[-80:]})"
        report = json.loads(out.stdout.strip().splitlines()[-1])
        if "error" in report:
            return f"FAIL ({report['error'][:80]})"
        return cell(report["passed"], report["maxAbsDiff"], "; ".join(report["failures"])[:80])

    def _start(self, folder: Path) -> None:
        import socket
        import time
        import urllib.request

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        arguments = [a for m in self.models.values() for a in ("--model", str(m))]
        command = [sys.executable, str(folder / "serve.py"), "--port", str(port), "--no-isolation", *arguments]
        self.server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.base}/models/index.json", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("examples/browser/serve.py did not start")

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()


def c_fixed_cell(model: Path) -> str:
    """The integer-only header (exporter/c_fixed.py), by its own rule: every probability within the bound it states
    (plus the float32 graph's rounding), on the test vectors and 10,000 random rows against onnxruntime."""
    from logreg_onnx.exporter import c_fixed

    data = model.read_bytes()
    vectors = json.loads(model.with_name("model.testvectors.json").read_text())
    proof = c_fixed.prove(c_fixed.generate(data), vectors, data)
    if proof.passed is None:
        return "not run (no C compiler)"
    worst = max(proof.max_abs_diff, proof.random_max_abs_diff)
    return cell(proof.passed, worst, proof.detail[:80]) + f" (bound {proof.bound:.1e})"


def scorer_cell(key: str, model: Path) -> str:
    """A generated language's scorer, built and run against the test vectors by its toolchain (exporter/scorers)."""
    from logreg_onnx.exporter import scorers

    vectors = json.loads(model.with_name("model.testvectors.json").read_text())
    proof = scorers.prove(key, scorers.scorer_of(model.read_bytes()), model.stem, vectors)
    if proof.passed is None:
        return f"not run ({proof.detail.split(' (')[0]})"
    explained = proof.explain_max_diff is not None
    note = explain_note(proof.explain_max_diff <= vectors["atol"] if explained else None, proof.explain_max_diff)
    return cell(proof.passed, proof.max_abs_diff, proof.detail[:80]) + note


def versions() -> str:
    import onnxruntime

    found = [f"onnxruntime {onnxruntime.__version__}"]
    package = REPO / "examples" / "node" / "node_modules" / "onnxruntime-node" / "package.json"
    if package.exists():
        found.append(f"onnxruntime-node {json.loads(package.read_text())['version']}")
    web = REPO / "examples" / "browser" / "node_modules" / "onnxruntime-web" / "package.json"
    if web.exists():
        found.append(f"onnxruntime-web {json.loads(web.read_text())['version']}")
    for engine, folder in VENVS.items():
        python = folder / "bin" / "python"
        if python.exists():
            module = engine.lower()
            code = f"import {module}; print(getattr({module}, '__version__', None) or {module}.version())"
            out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
            found.append(f"{engine} {out.stdout.strip().split('-')[0]}")
    compiler = shutil.which("cc")
    if compiler:
        first = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        found.append(first)
    return ", ".join(found)


def _languages():
    from logreg_onnx.exporter.scorers import LANGUAGES

    return LANGUAGES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    models = build_models()
    web = WebPage(models)
    engines = {
        "onnxruntime (Python runtime)": onnxruntime_cell,
        "onnxruntime-node (examples/node)": node_cell,
        "onnxruntime-web, WASM (headless Chromium)": web.cell,
        "tract": lambda m: venv_cell("tract", m),
        "OpenVINO (f32)": lambda m: venv_cell("OpenVINO", m),
        "C99 model.h (logreg export --c)": c_cell,
        "C99 integer-only model_fixed.h (logreg export --c-fixed)": c_fixed_cell,
        **{
            f"{language.title} (logreg export --code {key})": (lambda m, k=key: scorer_cell(k, m))
            for key, language in _languages().items()
        },
    }
    lines = [
        "| engine | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    try:
        for engine, check in engines.items():
            lines.append(f"| {engine} | " + " | ".join(check(model) for model in models.values()) + " |")
    finally:
        web.close()
    stamp = (
        f"Written by `make engines` on {datetime.date.today()} ({versions()}): pass or FAIL by the test vectors' "
        'rule, with the largest probability difference; "explain": format 3\'s explain outputs (logit, '
        "contributions), replayed by atol * max(1, |expected|), with the largest difference in that unit, where the "
        "engine's check replays them (onnxruntime's pass includes them)."
    )
    table = "\n".join([stamp, "", *lines])
    print(table)
    if not args.no_readme:
        readme = REPO / "docs" / "clients.md"
        text = readme.read_text()
        if START not in text or END not in text:
            sys.exit(f"docs/clients.md has no {START} ... {END} section to write the matrix into")
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        readme.write_text(f"{before}{START}\n{table}\n{END}{after}")


if __name__ == "__main__":
    main()
