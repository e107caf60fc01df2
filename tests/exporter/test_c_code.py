"""``logreg export --c``: the generated C99 compiles warning-free and reproduces onnxruntime on the test vectors and on
fresh rows (missing values, unseen and folded levels), for binary, multiclass and categorical models; format 3's
``logreg_explain`` (logits, contributions, and with classical standard errors ``logit_se`` and a binary model's
probability interval) too, and a wrong generator fails the export."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import c_code, c_proof
from logreg_onnx.runtime import contract

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import REPO as ROOT

PENGUINS = ROOT / "examples" / "penguins" / "penguins.csv"
EXPLAIN_ATOL = 1e-5  # the test vectors' rule for the explain outputs: |got - expected| <= atol * max(1, |expected|)

pytestmark = pytest.mark.skipif(c_code.find_compiler() is None, reason="no C compiler (cc, gcc or clang) installed")


def _export_c(run: Path) -> Path:
    result = CliRunner().invoke(main, ["export", str(run), "--c"])
    assert result.exit_code == 0, result.output
    assert "C99 model.h" in result.output and "pass" in result.output
    header = run / "model.h"
    assert header.exists() and f"wrote {run / 'model.onnx'}, {header}" in result.output
    return header


@pytest.fixture(scope="module")
def penguin_runs(tmp_path_factory) -> dict[str, Path]:
    runs = {}
    for name, extra in (("penguins", []), ("penguins-other", ["--min-frequency", "60"])):
        run = tmp_path_factory.mktemp(name) / "run"
        result = CliRunner().invoke(
            main, ["train", str(PENGUINS), "--label", "species", "--out", str(run), "-q", *extra]
        )
        assert result.exit_code == 0, result.output
        runs[name] = run
    return runs


def export_spector(folder: Path, *, c: bool = True) -> Path:
    """Statsmodels' spector data (32 students, GPA, TUCE, PSI -> grade improved) fitted without a penalty, so the
    model has classical standard errors and its graph the interval outputs; exported (with model.h when ``c``).
    Its model.onnx."""
    import statsmodels.api as sm
    from logreg_onnx.trainer import fit

    data = sm.datasets.spector.load_pandas()
    result = fit(data.exog, data.endog.astype(int), l2=0, val_fraction=0)
    exported = result.export(folder / "model.onnx", c=c)
    assert exported.report.passed and (exported.c_path is not None) == c
    return folder / "model.onnx"


@pytest.fixture(scope="module")
def spector_model(tmp_path_factory) -> Path:
    return export_spector(tmp_path_factory.mktemp("spector"))


@pytest.fixture(scope="module")
def iris_pipeline_model(tmp_path_factory) -> Path:
    """A scikit-learn pipeline exported without ``sample=``: its baseline is the zero row, not the scaler's mean,
    so the graph holds a ``baseline`` initializer of its own (the toolkit's baseline is its mean: one initializer)."""
    from logreg_onnx.exporter import export
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    path = tmp_path_factory.mktemp("iris") / "model.onnx"
    exported = export(pipeline, path, c=True, feature_names=["sl", "sw", "pl", "pw"], class_names=["s", "ve", "vi"])
    assert exported.report.passed and exported.c_path is not None
    return path


def _compile_and_run(header: Path, cases: list[dict], n_categorical: int, folder: Path, outputs=()) -> list[dict]:
    """Our harness, compiled the strict way; per case, what it printed (label, probabilities, explain outputs)."""
    (folder / "harness.c").write_text(c_code.harness(str(header), cases, n_categorical, outputs))
    compiler = c_code.find_compiler()
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
    subprocess.run([compiler, *flags, "harness.c", "-o", "harness", "-lm"], cwd=folder, check=True)
    out = subprocess.run([str(folder / "harness")], capture_output=True, text=True, check=True).stdout
    return c_code.parse_harness(out, len(cases), outputs)


def _fresh_cases(model: runtime.Model, seed: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Rows the test vectors do not hold: random numbers around the training range with some NaN, and texts that
    are known levels, unseen ones, empty (missing) and non-ASCII."""
    rng = np.random.default_rng(seed)
    n = 200
    numeric = rng.normal(0, 1, size=(n, len(model.numeric_names))).astype(np.float32)
    scale = np.array([float(c.median or 1.0) for c in model.columns if c.kind == "numeric"], dtype=np.float32)
    numeric = numeric * np.abs(scale) * 0.3 + scale if len(scale) else numeric
    if model.imputes:
        numeric[rng.random(numeric.shape) < 0.1] = np.nan
    pool = {c.name: [*c.levels, "", "unseen", 'Ünïcode ?? \\ "q"'] for c in model.columns if c.kind == "categorical"}
    categories = np.array(
        [[pool[name][rng.integers(len(pool[name]))] for name in model.categorical_names] for _ in range(n)],
        dtype=object,
    ).reshape(n, len(model.categorical_names))
    cases = [
        {"features": [None if v != v else float(v) for v in row], "categories": list(texts)}
        for row, texts in zip(numeric.tolist(), categories.tolist(), strict=True)
    ]
    return cases, numeric, categories


def _explain_names(model: runtime.Model) -> list[str]:
    return [o.name for o in model.outputs if o.name not in contract.OUTPUT_NAMES]


def _assert_explain_equal(got: list[dict], expected: dict[str, np.ndarray], names: list[str]) -> float:
    """Every explain output of every row within the test vectors' rule of onnxruntime's; the largest relative
    difference."""
    worst = 0.0
    for name in names:
        values = np.array([case[name] for case in got])
        wanted = expected[name].astype(np.float64).reshape(len(got), -1)
        relative = np.abs(values - wanted) / np.maximum(1.0, np.abs(wanted))
        assert np.isfinite(values).all(), name
        assert relative.max() <= EXPLAIN_ATOL, (name, relative.max())
        worst = max(worst, float(relative.max()))
    return worst


@pytest.mark.parametrize("which", ["binary", "multiclass", "penguins", "penguins-other", "spector", "iris pipeline"])
def test_generated_c_matches_onnxruntime(
    which, binary_run, multiclass_run, penguin_runs, spector_model, iris_pipeline_model, tmp_path
):
    if which in ("spector", "iris pipeline"):  # exported through the Python API, with c=True
        path = spector_model if which == "spector" else iris_pipeline_model
        header = path.with_suffix(".h")
    else:
        run = {"binary": binary_run, "multiclass": multiclass_run, **penguin_runs}[which]
        header = _export_c(run)
        path = run / "model.onnx"
    model = runtime.load(path)
    n_categorical = len(model.categorical_names)
    names = _explain_names(model)
    expected_names = ["logit", "contributions"]
    if which == "spector":
        expected_names += ["logit_se", "probability_lower", "probability_upper"]
    assert names == expected_names  # the outputs this case means to exercise
    cases, numeric, categories = _fresh_cases(model, seed=len(which))
    got = _compile_and_run(header, cases, n_categorical, tmp_path, names)
    _, expected = model.run_inputs(numeric, categories if n_categorical else None)
    probabilities = np.array([case["probabilities"] for case in got])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    assert np.abs(probabilities - expected).max() < 1e-5
    explained = model.run_outputs(numeric, categories if n_categorical else None, names)
    _assert_explain_equal(got, explained, names)


def test_the_baseline_of_its_own_is_read_from_the_contributions_node(iris_pipeline_model):
    """The pipeline's baseline (zeros) is not its mean: the header's baseline is the graph's ``baseline`` tensor,
    found as the one the contributions' Sub takes, and its mean the standardization's."""
    proto = onnx.load(iris_pipeline_model)
    values = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    graph = c_code.read_graph(iris_pipeline_model.read_bytes())
    np.testing.assert_array_equal(graph.explain.baseline, values["baseline"])
    np.testing.assert_array_equal(graph.mean, values["mean"])
    assert not np.array_equal(values["baseline"], values["mean"])


def test_an_unexpected_explain_layout_is_refused(spector_model):
    """A graph whose contributions are not ``Unsqueeze(design - baseline) * constant`` gets no header, rather than
    one guessed from tensor names."""
    proto = onnx.load(spector_model)
    multiply = next(n for n in proto.graph.node if n.output[0] == "contributions")
    multiply.input[1] = multiply.input[0]  # the square of the shifted row: no constant coefficients
    with pytest.raises(ValueError, match="the contributions output: expected a Mul of a tensor and a constant"):
        c_code.read_graph(proto.SerializeToString())


def _probe_program(model: runtime.Model, header: Path, row: list[float]) -> str:
    """A C program calling logreg_explain on ``row`` with every output, then with each output alone (the others
    NULL), printing the column names, the baseline logits and each call's values."""
    names = _explain_names(model)
    optional = [n for n in ("logit_se", "probability_lower", "probability_upper") if n in names]
    pointers = {"logit": "logit", "contributions": "contributions", "logit_se": "se"}
    pointers |= {"probability_lower": "&lower", "probability_upper": "&upper"}
    every = ["logit", "contributions", *optional]
    calls = [[pointers[n] for n in every]] + [[pointers[n] if n == alone else "0" for n in every] for alone in every]
    floats = ", ".join(f"{v!r}f" for v in row)
    lines = [
        "#define LOGREG_IMPLEMENTATION",
        f'#include "{header}"',
        "#include <stdio.h>",
        "int main(void)",
        "{",
        f"    const float row[] = {{{floats}}};",
        "    float logit[LOGREG_N_LOGITS], contributions[LOGREG_N_COLUMNS * LOGREG_N_LOGITS];",
        "    float se[LOGREG_N_LOGITS], lower = -1.0f, upper = -1.0f;",
        "    int k, call;",
        "    (void)se; (void)lower; (void)upper;",
        '    for (k = 0; k < LOGREG_N_COLUMNS; k++) printf("%s\\n", LOGREG_COLUMN_NAMES[k]);',
        '    for (k = 0; k < LOGREG_N_LOGITS; k++) printf("%.9g ", (double)LOGREG_BASELINE_LOGIT[k]);',
        '    printf("\\n");',
        f"    for (call = 0; call < {len(calls)}; call++) {{",
        "        for (k = 0; k < LOGREG_N_LOGITS; k++) logit[k] = se[k] = -1.0f;",
        "        for (k = 0; k < LOGREG_N_COLUMNS * LOGREG_N_LOGITS; k++) contributions[k] = -1.0f;",
        "        lower = upper = -1.0f;",
        *[f"        if (call == {i}) logreg_explain(row, {', '.join(c)});" for i, c in enumerate(calls)],
        '        for (k = 0; k < LOGREG_N_LOGITS; k++) printf("%.9g ", (double)logit[k]);',
        '        for (k = 0; k < LOGREG_N_COLUMNS * LOGREG_N_LOGITS; k++) printf("%.9g ", (double)contributions[k]);',
        '        for (k = 0; k < LOGREG_N_LOGITS; k++) printf("%.9g ", (double)se[k]);',
        '        printf("%.9g %.9g\\n", (double)lower, (double)upper);',
        "    }",
        "    return 0;",
        "}",
        "",
    ]
    return "\n".join(lines)


@pytest.mark.parametrize("which", ["spector", "binary"])
def test_each_explain_output_may_be_asked_alone(which, spector_model, binary_run, tmp_path):
    """NULL outputs are skipped and the others written as in the full call; the header names the columns in
    feature_names order, and its baseline logits plus the contributions give the logit (metadata ``explain``)."""
    path = spector_model if which == "spector" else binary_run / "model.onnx"
    header = path.with_suffix(".h") if which == "spector" else _export_c(binary_run)
    model = runtime.load(path)
    row = [float(c.median) * 1.1 for c in model.columns]
    (tmp_path / "probe.c").write_text(_probe_program(model, header, row))
    compiler = c_code.find_compiler()
    subprocess.run([compiler, *c_code.COMPILE_FLAGS, "probe.c", "-o", "probe", "-lm"], cwd=tmp_path, check=True)
    lines = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, check=True).stdout.splitlines()
    n_columns = len(model.feature_names)
    assert lines[:n_columns] == model.feature_names
    baseline_logit = np.array([float(v) for v in lines[n_columns].split()])
    np.testing.assert_allclose(baseline_logit, model.metadata[contract.KEY_EXPLAIN]["baseline_logit"], rtol=1e-5)
    calls = np.array([[float(v) for v in line.split()] for line in lines[n_columns + 1 :]])
    full, alone = calls[0], calls[1:]
    n_logits = len(model.classes) - 1
    spans = [n_logits, n_columns * n_logits] + ([n_logits, 1, 1] if which == "spector" else [])
    edges = np.cumsum([0, *spans])
    assert len(alone) == len(spans)
    for i, single in enumerate(alone):  # call i writes output i only; the rest keep their -1 fill
        inside = np.zeros(len(full), dtype=bool)
        inside[edges[i] : edges[i + 1]] = True
        np.testing.assert_array_equal(single[inside], full[inside])
        assert (single[~inside] == -1.0).all()
    logit, contributions = full[: edges[1]], full[edges[1] : edges[2]].reshape(n_columns, n_logits)
    np.testing.assert_allclose(baseline_logit + contributions.sum(axis=0), logit, rtol=1e-5, atol=1e-5)
    expected = model.run_outputs(np.array([row], dtype=np.float32), None, _explain_names(model))
    np.testing.assert_allclose(logit, expected["logit"][0], rtol=1e-5, atol=1e-5)


def test_the_c_interval_is_statsmodels_interval(spector_model, tmp_path):
    """Independent of the graph: statsmodels' GLM on the same data and its get_prediction's 95% interval of the
    mean (the logit's interval through the logistic), against the C code on the training rows."""
    import statsmodels.api as sm

    data = sm.datasets.spector.load_pandas()
    glm = sm.GLM(data.endog, sm.add_constant(data.exog), family=sm.families.Binomial()).fit()
    frame = glm.get_prediction(sm.add_constant(data.exog)).summary_frame(alpha=0.05)
    model = runtime.load(spector_model)
    cases = [{"features": [float(v) for v in row]} for row in data.exog.to_numpy()]
    names = _explain_names(model)
    got = _compile_and_run(spector_model.with_suffix(".h"), cases, 0, tmp_path, names)
    lower = np.array([case["probability_lower"][0] for case in got])
    upper = np.array([case["probability_upper"][0] for case in got])
    np.testing.assert_allclose(lower, frame["mean_ci_lower"], atol=1e-4)
    np.testing.assert_allclose(upper, frame["mean_ci_upper"], atol=1e-4)
    assert (upper - lower).min() > 0.01  # real intervals, not a point


def test_the_export_fails_closed_when_the_c_code_is_wrong(binary_run, monkeypatch):
    """A generator bug (here: the one logit's bias off by one) fails the export and writes no model."""
    real = c_code.generate
    patched = []

    def broken(model_bytes: bytes, **names) -> str:
        text = real(model_bytes, **names)
        wrong = text.replace("static const float logreg_bias[1] = {", "static const float logreg_bias[1] = {1.0f + ", 1)
        patched.append(wrong != text)
        return wrong

    monkeypatch.setattr(c_code, "generate", broken)
    (binary_run / "model.onnx").unlink()
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c"])
    assert patched == [True]
    assert result.exit_code == 1, result.output
    assert "C99 model.h" in result.output and "FAIL" in result.output
    assert not (binary_run / "model.onnx").exists() and not (binary_run / "model.h").exists()


def test_the_export_fails_closed_when_logreg_explain_is_wrong(binary_run, monkeypatch):
    """A bug in logreg_explain alone (the contributions measured from minus the baseline) fails the export: the
    proof replays the vectors' explain outputs too, not only the probabilities."""
    real = c_code.generate
    patched = []

    def broken(model_bytes: bytes, **names) -> str:
        text = real(model_bytes, **names)
        wrong = text.replace("design[d] - logreg_baseline[d]", "design[d] + logreg_baseline[d]")
        patched.append(wrong != text)
        return wrong

    monkeypatch.setattr(c_code, "generate", broken)
    (binary_run / "model.onnx").unlink()
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c"])
    assert patched == [True]
    assert result.exit_code == 1, result.output
    assert "C99 model.h" in result.output and "FAIL" in result.output and "contributions off by" in result.output
    assert not (binary_run / "model.onnx").exists() and not (binary_run / "model.h").exists()


@pytest.mark.parametrize(
    ("wrong", "right", "output"),
    [
        ("                projected += logreg_factor_b[l][r];\n", "", "logit_se"),  # the factor's constant row lost
        ("reach = LOGREG_Z * se[0]", "reach = 1.645f * se[0]", "probability_lower"),  # a 90% interval
        ("*p_upper = 1.0f / (expf(-(z + reach))", "*p_upper = 1.0f / (expf(-(z + 2.0f * reach))", "probability_upper"),
    ],
)
def test_a_wrong_interval_fails_the_proof(wrong, right, output, spector_model):
    header = c_code.generate(spector_model.read_bytes())
    vectors = json.loads(spector_model.with_name("model.testvectors.json").read_text())
    assert c_code.prove(header, vectors).passed
    assert wrong in header
    proof = c_code.prove(header.replace(wrong, right), vectors)
    assert proof.passed is False and f"{output} off by" in proof.detail, proof.detail


def test_a_wrong_probability_fails_the_proof_of_a_format_1_model():
    """The committed example (format 1: label and probabilities only) still generates, and its proof still checks
    the probabilities: the one logit's bias off by one fails it."""
    example = ROOT / "artifacts" / "example"
    header = c_code.generate((example / "model.onnx").read_bytes())
    vectors = json.loads((example / "model.testvectors.json").read_text())
    assert "logreg_explain" not in header and c_code.explain_outputs(vectors) == []
    wrong = header.replace("static const float logreg_bias[1] = {", "static const float logreg_bias[1] = {1.0f + ", 1)
    assert wrong != header
    proof = c_code.prove(wrong, vectors)
    assert proof.passed is False and "max difference" in proof.detail, proof.detail


def test_without_a_compiler_the_header_is_written_and_the_export_says_it_is_unverified(binary_run, monkeypatch):
    monkeypatch.setattr(c_proof, "find_compiler", lambda: None)  # prove() looks its compiler up there
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c"])
    assert result.exit_code == 0, result.output
    assert "model.h not compiled: no C compiler found (cc, gcc or clang); it is written unverified" in result.output
    assert (binary_run / "model.h").exists()


def test_object_size_of_the_example_model(tmp_path):
    """The committed example (30 features, 2 classes): the number the README quotes, compiled with -Os."""
    example = ROOT / "artifacts" / "example"
    proof = c_code.prove(
        c_code.generate((example / "model.onnx").read_bytes()),
        json.loads((example / "model.testvectors.json").read_text()),
    )
    assert proof.passed, proof.detail
    if shutil.which("size"):
        assert proof.object_bytes is not None and 0 < proof.object_bytes < 4096


def test_two_prefixed_models_link_into_one_program(penguins_run, tmp_path):
    """--c-prefix: the example model and the penguins model in one C program, each giving its own test vector's
    probabilities (one header's names would clash with the other's without the prefixes)."""
    example = ROOT / "artifacts" / "example"
    models = {"cancer": example / "model.onnx", "penguin": penguins_run / "model.onnx"}
    cases = {}
    for prefix, model in models.items():
        (tmp_path / f"{prefix}.h").write_text(c_code.generate(model.read_bytes(), prefix=prefix))
        vectors = json.loads(model.with_name("model.testvectors.json").read_text())
        cases[prefix] = next(c for c in vectors["cases"] if None not in c["features"])
    x = ", ".join(f"{v!r}f" for v in cases["cancer"]["features"])
    y = ", ".join(f"{v!r}f" for v in cases["penguin"]["features"])
    texts = ", ".join(c_code.c_string(t) for t in cases["penguin"]["categories"])
    (tmp_path / "main.c").write_text(
        "#define CANCER_IMPLEMENTATION\n#define PENGUIN_IMPLEMENTATION\n"
        '#include "cancer.h"\n#include "penguin.h"\n#include "cancer.h"\n#include <stdio.h>\n'
        f"static const float x[CANCER_N_FEATURES] = {{{x}}};\n"
        f"static const float y[PENGUIN_N_FEATURES] = {{{y}}};\n"
        f"static const char *const texts[PENGUIN_N_CATEGORICAL] = {{{texts}}};\n"
        "int main(void) {\n"
        "    float p[CANCER_N_CLASSES], q[PENGUIN_N_CLASSES];\n"
        "    int a = cancer_predict(x, p), b = penguin_predict(y, texts, q), k;\n"
        '    printf("%d", a); for (k = 0; k < CANCER_N_CLASSES; k++) printf(" %.9g", (double)p[k]); printf("\\n");\n'
        '    printf("%d", b); for (k = 0; k < PENGUIN_N_CLASSES; k++) printf(" %.9g", (double)q[k]); printf("\\n");\n'
        "    return 0;\n}\n"
    )
    compiler = c_code.find_compiler()
    subprocess.run([compiler, *c_code.COMPILE_FLAGS, "main.c", "-o", "main", "-lm"], cwd=tmp_path, check=True)
    lines = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout.split("\n")
    for line, prefix in zip(lines, models, strict=False):
        label, *probabilities = line.split()
        assert int(label) == cases[prefix]["label"]
        np.testing.assert_allclose([float(v) for v in probabilities], cases[prefix]["probabilities"], atol=1e-5)
