"""``logreg export --code``: each language's generated scorer, built and run with its own toolchain, reproduces the
user's model (the test vectors: PyTorch's outputs) for binary, multiclass, text-and-NA and thresholded models, and
fresh rows through onnxruntime; a model's offset is taken after the inputs and added to the logit (a NaN one
refused); a wrong generator fails every language's export, which then writes nothing. (A trained offset model's
export: tests/exporter/test_offset_export.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import scorers
from logreg_onnx.exporter.scorers import LANGUAGES

from logreg_onnx import runtime
from logreg_onnx.cli import main

ALL = list(LANGUAGES)
MISSING = [key for key in ALL if LANGUAGES[key].missing_tools()]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"toolchains not installed for {MISSING} (make test-deps installs them)"
)
EXPECTED_FILES = {
    "js": ["model.mjs", "model.d.mts"],
    "java": ["Model.java"],
    "go": ["model.go"],
    "rust": ["model.rs"],
    "csharp": ["Model.cs"],
}


def _export(run: Path, *extra: str) -> str:
    result = CliRunner().invoke(main, ["export", str(run), "--code", "all", *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("which", ["binary_run", "multiclass_run", "penguins_run"])
def test_every_language_reproduces_the_test_vectors(which, request):
    run = request.getfixturevalue(which)
    output = _export(run)
    vectors = json.loads((run / "model.testvectors.json").read_text())
    for key in ALL:
        row = next(line for line in output.splitlines() if line.startswith(f"{LANGUAGES[key].title} scorer"))
        assert "pass" in row and f"{len(vectors['cases'])} test vectors" in row, row
        for name in EXPECTED_FILES[key]:
            assert (run / name).is_file(), name
    if which == "penguins_run":  # text columns, NA cells and format 3's explain outputs
        assert "explain: logit, contributions" in output
        groups = {case["group"] for case in vectors["cases"]}
        assert any("unseen" in g for g in groups) and any("missing" in g for g in groups), groups


def test_a_thresholded_model_decides_by_its_threshold(binary_run, tmp_path):
    """Rows whose probability lies between 0.3 and 0.5 (on a line between two rows of the vectors), labelled by the
    graph's own label output (onnxruntime), replayed through every language."""
    out = tmp_path / "model.onnx"
    args = ["export", str(binary_run), "--out", str(out), "--threshold", "0.3", "--code", "all"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.count(" scorer (") == len(ALL) and "FAIL" not in result.output
    model = runtime.load(out)
    vectors = json.loads((tmp_path / "model.testvectors.json").read_text())
    data = [c["features"] for c in vectors["cases"] if c["group"] in ("training data", "near boundary")]
    probabilities = model.predict_proba(np.array(data, dtype=np.float32))[:, 1]
    ends = np.array([data[int(probabilities.argmin())], data[int(probabilities.argmax())]], dtype=float)
    line = ends[0] + np.linspace(0, 1, 4001)[:, None] * (ends[1] - ends[0])
    p1 = model.predict_proba(line.astype(np.float32))[:, 1]
    rows = line[(p1 > 0.3) & (p1 < 0.5)][::10]
    assert len(rows) >= 5
    labels, probabilities = model.run(rows.astype(np.float32))
    assert (np.asarray(labels) == 1).all()  # the graph's label: above 0.3, not 0.5
    cases = [
        {"group": "between", "features": row.tolist(), "label": int(label), "probabilities": p.tolist()}
        for row, label, p in zip(rows, labels, probabilities, strict=True)
    ]
    s = scorers.scorer_of(out.read_bytes())
    for key in ALL:
        proof = scorers.prove(key, s, "model", {"cases": cases, "atol": 1e-5, "outputs": ["label", "probabilities"]})
        assert proof.passed and proof.cases == len(cases), (key, proof.detail)


def test_fresh_rows_equal_onnxruntime_in_javascript(penguins_run, tmp_path):
    """Beyond the vectors: rows with every kind of missing value and unseen text, through the ES module in Node.js,
    against runtime.load (onnxruntime)."""
    _export(penguins_run)
    model = runtime.load(penguins_run / "model.onnx")
    rng = np.random.default_rng(3)
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    rows = []
    for i in range(200):
        row = {
            "island": ["Biscoe", "Dream", "Torgersen", "Atlantis", None][i % 5],
            "sex": ["male", "female", None][i % 3],
        }
        for j, name in enumerate(numeric):
            row[name] = None if (i + j) % 7 == 0 else float(rng.normal([44, 17, 200, 4200][j], [5, 2, 14, 800][j]))
        row["year"] = float(2007 + i % 3)
        rows.append(row)
    names = model.feature_names
    features = [[row.get(n) for n in model.numeric_names] for row in rows] if hasattr(model, "numeric_names") else None
    script = tmp_path / "fresh.mjs"
    module = penguins_run / "model.mjs"
    script.write_text(
        f"import {{ predict, FEATURE_NAMES, CATEGORICAL_NAMES }} from {json.dumps(str(module))};\n"
        f"const rows = {json.dumps(rows)};\n"
        "const out = rows.map((r) => predict(FEATURE_NAMES.map((n) => r[n] ?? null), "
        "CATEGORICAL_NAMES.map((n) => r[n] ?? null)).probabilities);\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    got = np.array(json.loads(subprocess.run(["node", str(script)], capture_output=True, text=True, check=True).stdout))
    expected = model.predict_proba([{n: row.get(n) for n in names} for row in rows])
    assert features is None or len(features) == len(rows)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_a_wrong_bias_fails_every_language_and_writes_nothing(binary_run, monkeypatch):
    right = scorers.scorer_of

    def wrong(model_bytes):
        s = right(model_bytes)
        return type(s)(**{**s.__dict__, "bias": [b + 0.05 for b in s.bias]})

    monkeypatch.setattr(scorers, "scorer_of", wrong)
    for name in ("model.onnx", *[f for files in EXPECTED_FILES.values() for f in files]):
        (binary_run / name).unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["export", str(binary_run), "--code", "all"])
    assert result.exit_code == 1, result.output
    rows = [line for line in result.output.splitlines() if " scorer (" in line]
    assert len(rows) == len(ALL) and all("FAIL" in row for row in rows), rows
    assert not (binary_run / "model.onnx").exists() and (binary_run / "model.rejected.onnx").exists()
    assert not any((binary_run / f).exists() for files in EXPECTED_FILES.values() for f in files)


def test_without_a_toolchain_the_file_is_written_and_said_unverified(binary_run, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(
        "logreg_onnx.exporter.scorers.languages.shutil.which", lambda tool: None if tool == "rustc" else real(tool)
    )
    result = CliRunner().invoke(main, ["export", str(binary_run), "--code", "rust,js"])
    assert result.exit_code == 0, result.output
    assert "Rust scorer not run: rustc not found (Debian: apt-get install rustc); it is written unverified" in (
        result.output
    )
    assert (binary_run / "model.rs").is_file() and "JavaScript scorer (node)" in result.output


@pytest.mark.parametrize("value", ["cobol", "js,,perl", ""])
def test_an_unknown_language_is_refused_in_one_line(value, binary_run):
    result = CliRunner().invoke(main, ["export", str(binary_run), "--code", value])
    assert result.exit_code == 2
    assert "expected a comma-separated list of js, java, go, rust, csharp (or all)" in result.output
    assert "Traceback" not in result.output


def test_the_generated_go_is_gofmt_clean_and_names_are_identifiers(penguins_run, tmp_path):
    out = tmp_path / "my-model.v2.onnx"
    result = CliRunner().invoke(main, ["export", str(penguins_run), "--out", str(out), "--code", "go,java,csharp"])
    assert result.exit_code == 0, result.output
    go = tmp_path / "my_model_v2.go"
    assert "package my_model_v2" in go.read_text()
    assert subprocess.run(["gofmt", "-l", str(go)], capture_output=True, text=True).stdout == ""
    assert "public final class MyModelV2" in (tmp_path / "MyModelV2.java").read_text()
    assert "public static class MyModelV2" in (tmp_path / "MyModelV2.cs").read_text()


def test_a_model_with_text_columns_only_exports_to_every_language_and_both_headers(tmp_path):
    """No numeric column at all: empty feature arrays in every language, and C99's lack of empty initializers."""
    rng = np.random.default_rng(5)
    colors = rng.choice(["red", "green", "blue", ""], 400)
    y = ((colors == "red") ^ (rng.random(400) < 0.2)).astype(int)
    data = tmp_path / "text.csv"
    data.write_text(
        "color,size,y\n"
        + "".join(f"{c},{s},{v}\n" for c, s, v in zip(colors, rng.choice(["S", "M", "L"], 400), y, strict=True))
    )
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["train", str(data), "--label", "y", "--out", str(run), "-q"]).exit_code == 0
    result = CliRunner().invoke(main, ["export", str(run), "--code", "all", "--c", "--c-fixed"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if " scorer (" in line or line.startswith("C99 ")]
    assert len(rows) == len(ALL) + 2 and all(" pass " in row for row in rows), rows


def test_a_missing_value_the_model_cannot_impute_is_refused_by_every_language(binary_run):
    """The runtime refuses a missing value in a column without a training median (contract.js says "a missing value,
    and this model cannot impute it"); so does each scorer, rather than return the label of NaN probabilities. The
    proof's harness replays one row with the first feature missing and must exit non-zero with that reason."""
    from dataclasses import replace

    from logreg_onnx.exporter.scorers.proof import prove

    s = scorers.scorer_of((binary_run / "model.onnx").read_bytes())
    without = replace(s, medians=[float("nan"), *s.medians[1:]])  # the first column has no median
    vectors = json.loads((binary_run / "model.testvectors.json").read_text())
    case = next(c for c in vectors["cases"] if None not in c["features"])
    row = {**case, "features": [None, *case["features"][1:]]}
    for key in ALL:
        proof = prove(key, without, "model", {**vectors, "cases": [row]})
        assert proof.passed is False, (key, proof)
        assert f"{s.numeric_names[0]}: a missing value, and this model cannot impute it" in proof.detail, (key, proof)
        # the same row with the median back is scored
        assert prove(key, s, "model", {**vectors, "cases": [case]}).passed, key


@pytest.mark.parametrize(
    ("stem", "names"),
    [
        ("harness", {"js": "harness_model", "java": "HarnessModel", "go": "harness_model", "rust": "harness_model",
                     "csharp": "HarnessModel"}),
        ("math", {"js": "math", "java": "MathModel", "go": "math", "rust": "math", "csharp": "MathModel"}),
    ],
)  # fmt: skip
def test_a_file_stem_that_is_a_keyword_or_the_harness_gets_a_suffix_and_passes(binary_run, tmp_path, stem, names):
    assert {key: LANGUAGES[key].name_of(stem) for key in ALL} == names
    assert LANGUAGES["go"].name_of("main") == "main_model" and LANGUAGES["rust"].name_of("type") == "type_model"
    assert LANGUAGES["java"].name_of("string") == "StringModel"
    out = tmp_path / f"{stem}.onnx"
    result = CliRunner().invoke(main, ["export", str(binary_run), "--out", str(out), "--code", "all"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if " scorer (" in line]
    assert len(rows) == len(ALL) and all(" pass " in row for row in rows), rows
    for key in ALL:
        assert (tmp_path / LANGUAGES[key].file_of(names[key])).is_file(), key


def test_a_wide_model_builds_in_every_language(binary_run):
    """6,000 design columns and a harness of 6,000-wide rows: Java's 64 KB limit on a static initializer's bytecode
    (about 5,000 double literals) does not apply to numbers given as text. The reference is numpy's sigmoid."""
    from dataclasses import replace

    from logreg_onnx.exporter.scorers.proof import prove

    rng = np.random.default_rng(11)
    width = 6000
    names = ["größe 😀", "ratio:1:2", *[f"x{j}" for j in range(2, width)]]  # Java keeps names as LENGTH:TEXT
    mean, scale = rng.normal(size=width), rng.uniform(0.5, 2.0, size=width)
    weight, bias = rng.normal(size=width) / np.sqrt(width), 0.25
    base = scorers.scorer_of((binary_run / "model.onnx").read_bytes())
    wide = replace(
        base, numeric_names=names, column_names=names, medians=mean.tolist(), indicator_index=[],
        mean=mean.tolist(), scale=scale.tolist(), weight=[weight.tolist()], bias=[bias], baseline=None,
        coefficients=None, column_of=None,
    )  # fmt: skip
    rows = rng.normal(size=(4, width))
    rows[0, :10] = np.nan  # imputed with the medians: the means here
    imputed = np.where(np.isnan(rows), mean, rows)
    p1 = 1.0 / (1.0 + np.exp(-(bias + ((imputed - mean) / scale) @ weight)))
    cases = [
        {"group": "wide", "features": [None if v != v else float(v) for v in row], "label": int(p > 0.5),
         "probabilities": [1.0 - p, p]}
        for row, p in zip(rows, p1, strict=True)
    ]  # fmt: skip
    vectors = {"inputs": ["features"], "outputs": ["label", "probabilities"], "atol": 1e-9, "cases": cases}
    for key in ALL:
        proof = prove(key, wide, "wide", vectors)
        assert proof.passed, (key, proof.detail[:500])
    out = _run_java_names(wide)
    assert out[:2] == ["größe 😀", "ratio:1:2"] and len(out) == width


def test_every_language_adds_the_offset_to_the_logit_and_refuses_a_nan_one(binary_run):
    """A binary scorer given an offset column: each language's predict takes the offset after the features and
    adds it to the logit (numpy's sigmoid of the logit plus the offset is the reference, offsets from 0 to past
    saturation), and refuses a NaN offset, as the runtime does, rather than return NaN probabilities."""
    from dataclasses import replace

    from logreg_onnx.exporter.scorers.proof import prove

    s = replace(scorers.scorer_of((binary_run / "model.onnx").read_bytes()), offset_column="prior")
    assert s.offset and not s.categorical_names
    vectors = json.loads((binary_run / "model.testvectors.json").read_text())
    rows = [c["features"] for c in vectors["cases"] if c["group"] == "training data"][:6]
    offsets = [0.0, 2.5, -2.5, 0.125, 40.0, -40.0]
    mean, scale, weight = (np.array(v, dtype=np.float64) for v in (s.mean, s.scale, s.weight[0]))
    design = np.array(rows, dtype=np.float64)  # no missing value, no text: the design row is the features
    assert design.shape[1] == s.n_design
    p1 = 1.0 / (1.0 + np.exp(-(s.bias[0] + ((design - mean) / scale) @ weight + np.array(offsets))))
    cases = [
        {"group": "offset", "features": row, "offset": offset, "label": int(p > s.threshold),
         "probabilities": [1.0 - p, p]}
        for row, offset, p in zip(rows, offsets, p1, strict=True)
    ]  # fmt: skip
    shifted = {"inputs": ["features", "offset"], "outputs": ["label", "probabilities"], "atol": 1e-9, "cases": cases}
    refused = {**shifted, "cases": [{**cases[1], "offset": float("nan")}]}
    for key in ALL:
        proof = prove(key, s, "model", shifted)
        assert proof.passed and proof.cases == len(cases), (key, proof.detail[:500])
        proof = prove(key, s, "model", refused)
        assert proof.passed is False and "offset must be a finite number, got " in proof.detail, (key, proof.detail)


def _run_java_names(s) -> list[str]:
    """FEATURE_NAMES as the compiled Java class holds them, printed one per line (UTF-8)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "Wide.java").write_text(LANGUAGES["java"].files(s, "wide")["Wide.java"], encoding="utf-8")
        (work / "Names.java").write_text(
            "public final class Names {\n    public static void main(String[] args) throws Exception {\n"
            '        java.io.PrintStream out = new java.io.PrintStream(System.out, true, "UTF-8");\n'
            "        for (String name : Wide.FEATURE_NAMES) {\n            out.println(name);\n        }\n    }\n}\n"
        )
        subprocess.run(["javac", "-encoding", "UTF-8", "-d", ".", "Wide.java", "Names.java"], cwd=work, check=True)
        done = subprocess.run(["java", "-cp", ".", "Names"], cwd=work, capture_output=True, check=True)
    return done.stdout.decode("utf-8").splitlines()
