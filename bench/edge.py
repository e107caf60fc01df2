"""Benchmark of the edge scorers (issue 22): what running without a runtime buys.

- size: the ES module `logreg export --code js` writes, minified (terser) and gzipped, against the onnxruntime-web
  files the browser page loads to score the same model (as the page fetched them in the same run), gzipped too;
- the browser page (examples/browser/, headless Chromium): navigation to the first probabilities shown, with
  onnxruntime-web (WASM) and with ?scorer=module, the median of --page-runs loads each;
- Node.js, one row: the module's predict against onnxruntime-node's session.run on ready tensors, and the client's
  Model.predict(rows) over each (examples/node/bench_scorer.js);
- microcontrollers: the float and fixed-point C headers' flash and RAM on Cortex-M0 and Cortex-M4F
  (arm-none-eabi-gcc -Os, exporter/c_size.py), when arm-none-eabi-gcc is installed;
- the portable profile's cost in the Python runtime: the penguins model exported with and without ``--portable``,
  one dict row and a 10,000-row batch (the runtime maps the texts to codes for the portable graph).

Models: the breast-cancer data (30 numeric columns, binary) and the raw penguins (text columns, NA, 3 classes).

    python bench/edge.py [--page-runs 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

REPO = HERE.parent
NODE = REPO / "examples" / "node"
BROWSER = REPO / "examples" / "browser"
TOOLS = REPO / "build" / "bench-npm"  # terser, installed here by the benchmark (not a dependency of the examples)
CHROMIUM = Path("/usr/bin/chromium")
DATA = {  # label -> (the run folder's name, the data, its label column)
    "breast cancer (30 numeric, binary)": (
        "cancer",
        REPO / "examples" / "breast_cancer" / "breast_cancer.csv",
        "diagnosis",
    ),
    "penguins (text, NA, 3 classes)": ("penguins", REPO / "examples" / "penguins" / "penguins.csv", "species"),
}
TERSER = "terser@5.36.0"


def train_and_export(run: Path, data: Path, label: str) -> Path:
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    result = CliRunner().invoke(main, ["train", str(data), "--label", label, "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    args = ["export", str(run), "--code", "js", "--c", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return run / "model.onnx"


def npm_ready() -> None:
    for folder in (NODE, BROWSER):
        if not (folder / "node_modules").is_dir() or not any((folder / "node_modules").iterdir()):
            subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, check=True)
    if not (TOOLS / "node_modules" / ".bin" / "terser").exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(TOOLS), "--ignore-scripts", "--no-audit", "--no-fund", TERSER],
            check=True,
        )


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def module_sizes(module: Path) -> dict:
    minified = subprocess.run(
        [str(TOOLS / "node_modules" / ".bin" / "terser"), str(module), "--module", "--compress", "--mangle"],
        capture_output=True,
        check=True,
    ).stdout
    return {"bytes": module.stat().st_size, "minified": len(minified), "gzipped": gzipped(minified)}


def drive(url: str, model: Path, tmp: Path, name: str) -> dict:
    row = json.loads(model.with_name("model.testvectors.json").read_text())["cases"][0]["row"]
    (tmp / "row.json").write_text(json.dumps(row))
    csv = tmp / "one.csv"
    csv.write_text(",".join(row) + "\n" + ",".join("" if v is None else str(v) for v in row.values()) + "\n")
    out = subprocess.run(
        [
            "node",
            str(BROWSER / "drive.mjs"),
            url,
            str(tmp / "row.json"),
            str(csv),
            str(tmp / f"{name}.png"),
            str(CHROMIUM),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["ready"] == "true" and not seen["pageErrors"], seen
    return seen


def page_loads(models: dict[str, Path], runs: int, tmp: Path) -> dict:
    """Per model and mode, the first-prediction times (ms) and what the page fetched."""
    free = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    port = free.stdout.strip()
    arguments = [a for model in models.values() for a in ("--model", str(model))]
    server = subprocess.Popen(
        [sys.executable, str(BROWSER / "serve.py"), "--port", port, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        import time
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/models/index.json", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for label, model in models.items():
            name = model.parent.name  # serve.py names a model.onnx by its folder: the run's
            for mode, query in (("onnxruntime-web", ""), ("module", "&scorer=module")):
                seen = [
                    drive(f"http://127.0.0.1:{port}/browser/?model={name}{query}", model, tmp, f"{name}-{mode}")
                    for _ in range(runs)
                ]
                results[(label, mode)] = {
                    "first_prediction_ms": [s["firstPredictionMs"] for s in seen],
                    "resources": seen[-1]["resources"],
                }
        return results
    finally:
        server.kill()


def runtime_files(resources: list[dict]) -> dict[str, int]:
    """The onnxruntime-web files a page fetched, with their gzipped sizes (read from the served folder)."""
    files = {}
    for r in resources:
        if "onnxruntime-web" in r["name"]:
            path = REPO / "examples" / r["name"].lstrip("/")
            data = path.read_bytes()
            files[path.name] = {"bytes": len(data), "gzipped": gzipped(data)}
    return files


def node_latency(model: Path, seconds: float) -> dict:
    out = subprocess.run(
        ["node", str(NODE / "bench_scorer.js"), str(model), str(model.with_suffix(".mjs")), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def portable_cost(run: Path, tmp: Path) -> list[list[str]]:
    """Seconds per call of the string and the portable graph of one run, through the Python runtime."""
    import time

    import pandas
    from click.testing import CliRunner

    from logreg_onnx import runtime
    from logreg_onnx.cli import main

    portable = tmp / "portable.onnx"
    result = CliRunner().invoke(main, ["export", str(run), "--out", str(portable), "--portable", "-q"])
    assert result.exit_code == 0, result.output
    frame = pandas.read_csv(DATA["penguins (text, NA, 3 classes)"][1]).drop(columns=["species"])
    batch = pandas.concat([frame] * (10_000 // len(frame) + 1)).head(10_000)
    row = {k: (None if v != v else v) for k, v in frame.iloc[0].to_dict().items()}

    def best(call, calls: int) -> float:
        call()
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                call()
            rounds.append((time.perf_counter() - started) / calls)
        return min(rounds)

    rows = []
    timings = {}
    for name, path in (("string graph", run / "model.onnx"), ("portable graph", portable)):
        model = runtime.load(path)
        timings[name] = (
            best(lambda m=model: m.predict_proba(row), 2000),
            best(lambda m=model: m.predict_proba(batch), 20),
        )
    for name, (one, many) in timings.items():
        base_one, base_many = timings["string graph"]
        rows.append(
            [name, f"{one * 1e6:.1f} µs", f"{one / base_one:.2f}x", f"{many * 1e3:.2f} ms", f"{many / base_many:.2f}x"]
        )
    return rows


EXAMPLE_NOTE = "30 numeric, binary, format 1: no imputation"
EMLEARN_ROW = ["emlearn (published: README)", "microcontrollers", "its models", "-", "from 2 kB", "from 50 bytes", "-"]


def chip_sizes(model: Path) -> list[dict]:
    """exporter/c_size.py's report for the model's float and integer-only headers (as the export writes them)."""
    from logreg_onnx.exporter import c_code, c_fixed, c_size
    from logreg_onnx.exporter.c_graph import read_graph

    data = model.read_bytes()
    g = read_graph(data)
    rows = []
    for text, fixed in ((c_code.generate(data), False), (c_fixed.generate(data), True)):
        found = c_size.size_report(
            text, prefix="logreg", fixed=fixed, n_categorical=len(g.categorical_names), n_features=len(g.numeric_names)
        )
        rows += [r for r in found if fixed is False or r["header"] != "baseline"]
    return rows


def chip_table(rows: list[dict]) -> list[list[str]]:
    baseline = {r["target"]: r["program_text"] + r["program_data"] for r in rows if r["header"] == "baseline"}
    out = []
    for r in rows:
        if r["header"] == "baseline":
            continue
        out.append(
            [
                r["target"],
                "integer-only (int32)" if r["header"] == "fixed" else "float",
                f"{r['function_text'] + r['function_data']:,} B",
                f"{r['program_text'] + r['program_data']:,} B",
                f"{r['program_data'] + r['program_bss']:,} B",
                f"{baseline[r['target']]:,} B",
            ]
        )
    return out


def chip_rows_fresh(figures: dict) -> list[list[str]]:
    return [
        [label, *row]
        for label, facts in figures["models"].items()
        if "c_size" in facts
        for row in chip_table(facts["c_size"])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page-runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    npm_ready()
    fixed = shutil.which("arm-none-eabi-gcc") is not None
    tables, figures = [], {"models": {}}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        models = {}
        for label, (name, data, column) in DATA.items():
            models[label] = train_and_export(tmp / name, data, column)
        pages = page_loads(models, args.page_runs, tmp) if CHROMIUM.exists() else {}
        size_rows, page_rows, node_rows, chip_rows = [], [], [], []
        for label, model in models.items():
            sizes = module_sizes(model.with_suffix(".mjs"))
            facts = figures["models"][label] = {"module": sizes}
            if pages:
                runtime = runtime_files(pages[(label, "onnxruntime-web")]["resources"])
                runtime_gz = sum(f["gzipped"] for f in runtime.values())
                facts["onnxruntime_web_files"] = runtime
                size_rows.append(
                    [
                        label,
                        f"{sizes['bytes']:,}",
                        f"{sizes['minified']:,}",
                        f"{sizes['gzipped']:,}",
                        f"{runtime_gz:,} ({', '.join(runtime)})",
                        f"{runtime_gz / sizes['gzipped']:,.0f}x",
                    ]
                )
                ort_ms = statistics.median(pages[(label, "onnxruntime-web")]["first_prediction_ms"])
                module_ms = statistics.median(pages[(label, "module")]["first_prediction_ms"])
                facts["page_first_prediction_ms"] = {
                    m: pages[(label, m)]["first_prediction_ms"] for m in ("onnxruntime-web", "module")
                }
                page_rows.append([label, f"{ort_ms:.0f} ms", f"{module_ms:.0f} ms", f"{ort_ms / module_ms:.1f}x"])
            node = facts["node"] = node_latency(model, args.seconds)
            node_rows.append(
                [
                    label,
                    f"{node['session_run_us']:.1f} µs",
                    f"{node['module_predict_us']:.2f} µs",
                    f"{node['session_run_us'] / node['module_predict_us']:.0f}x",
                    f"{node['client_onnxruntime_us']:.1f} µs",
                    f"{node['client_module_us']:.1f} µs",
                    f"{node['client_onnxruntime_us'] / node['client_module_us']:.1f}x",
                ]
            )
            if fixed:
                facts["c_size"] = chip_sizes(model)
                chip_rows.append(label)
        if size_rows:
            tables.append(
                record.table(
                    "The ES module against onnxruntime-web: bytes the browser downloads to score (the page's fetches)",
                    ["model", "module", "minified", "min+gzip", "onnxruntime-web, gzipped", "ratio"],
                    size_rows,
                    "terser --module --compress --mangle, gzip -9; the runtime's files as the page fetched them in the "
                    "same run (the WASM binary and its loader), gzipped; target: at least 100x smaller",
                )
            )
            tables.append(
                record.table(
                    f"The browser page: navigation to the first probabilities shown (headless Chromium, median of "
                    f"{args.page_runs} loads, loopback server)",
                    ["model", "onnxruntime-web", "generated module", "ratio"],
                    page_rows,
                )
            )
        tables.append(
            record.table(
                "Node.js, one row: onnxruntime-node against the generated module (best of 5 rounds)",
                [
                    "model",
                    "session.run",
                    "module predict",
                    "ratio",
                    "Model.predict (ort)",
                    "Model.predict (module)",
                    "ratio",
                ],
                node_rows,
                "bare calls: the session's run on ready tensors, the module's predict(features, categories); "
                "Model.predict: examples/node/contract.js's row rules over each",
            )
        )
        tables.append(
            record.table(
                "The portable profile's cost: penguins through the Python runtime (best of 5 rounds)",
                ["graph", "one dict row", "vs string", "10,000 rows", "vs string"],
                portable_cost(models["penguins (text, NA, 3 classes)"].parent, tmp),
                "the portable graph takes int64 codes; the runtime maps the texts to them before the session runs",
            )
        )
        if chip_rows:
            example = REPO / "artifacts" / "example" / "model.onnx"
            figures["example_c_size"] = chip_sizes(example)
            chip_rows = [
                [f"the committed example ({EXAMPLE_NOTE})", *row] for row in chip_table(figures["example_c_size"])
            ]
            chip_rows += [r for r in chip_rows_fresh(figures)]
            chip_rows.append(EMLEARN_ROW)
            tables.append(
                record.table(
                    "Microcontrollers: flash and RAM of a minimal program calling predict (arm-none-eabi-gcc -Os, "
                    "newlib-nano, --gc-sections)",
                    [
                        "model",
                        "target",
                        "header",
                        "predict, flash",
                        "program, flash",
                        "program, RAM",
                        "empty program, flash",
                    ],
                    chip_rows,
                    "flash = text + data; RAM = data + bss; predict: the function with the tables it reads "
                    "(exporter/c_size.py); target for the committed example on Cortex-M0: the integer-only program at "
                    "most 2,048 bytes of flash. emlearn: its README's published range for its own models, not this one",
                )
            )
    record.write_record("edge", tables=tables, figures=figures)
    for t in tables:
        print(record.markdown(t), "\n")


if __name__ == "__main__":
    main()
