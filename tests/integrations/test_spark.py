"""logreg_onnx.runtime.spark on a local Spark (local[2]): 100,000 penguins rows, NA cells included, scored through
mapInPandas equal ``runtime.load(...).predict_proba`` and ``predict`` on the same rows; the driver's checks."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from logreg_onnx.runtime import spark as runtime_spark

from logreg_onnx import runtime

from ..conftest import PENGUINS, PENGUINS_MODEL

N_ROWS = 100_000


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.fail("Spark needs Java, which is not installed; `make test-deps` installs openjdk-17-jdk-headless")
    from pyspark.sql import SparkSession  # the 'spark' extra: make install puts it in .venv

    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors' Python workers: this venv, with logreg_onnx
    session = (
        SparkSession.builder.master("local[2]")
        .appName("logreg-onnx tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if previous is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = previous


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """100,000 rows of the penguins' schema: the file's rows drawn with replacement (its NA cells too), and one
    numeric cell in 50 blanked, with an id to put Spark's output back in order."""
    source = pd.read_csv(PENGUINS)
    rng = np.random.default_rng(19)
    frame = source.iloc[rng.integers(0, len(source), N_ROWS)].reset_index(drop=True)
    for name in ("bill_length_mm", "body_mass_g"):
        frame.loc[rng.random(N_ROWS) < 0.02, name] = np.nan
    frame.insert(0, "id", np.arange(N_ROWS))
    return frame


def test_spark_scores_as_the_runtime(spark, rows):
    scored = runtime_spark.predict(spark.createDataFrame(rows), PENGUINS_MODEL)
    model = runtime.load(PENGUINS_MODEL)
    columns = [f"p_{name}" for name in model.classes]
    assert scored.columns == [*rows.columns, "label", *columns]
    assert [f.dataType.simpleString() for f in scored.schema.fields[-4:]] == ["string", "float", "float", "float"]
    out = scored.toPandas().sort_values("id").reset_index(drop=True)
    assert len(out) == N_ROWS
    assert out["bill_length_mm"].isna().sum() == rows["bill_length_mm"].isna().sum() > 0  # NA cells went through
    assert out["sex"].isna().sum() == rows["sex"].isna().sum() > 0
    np.testing.assert_allclose(out[columns].to_numpy(), model.predict_proba(rows), rtol=0, atol=1e-6)
    assert out["label"].tolist() == model.predict(rows).tolist()
    pd.testing.assert_frame_equal(out[rows.columns], rows, check_dtype=False)  # df's columns passed through


def test_labels_alone_without_probabilities(spark, rows):
    head = rows.head(500)
    scored = runtime_spark.predict(spark.createDataFrame(head), PENGUINS_MODEL, probabilities=False)
    assert scored.columns == [*head.columns, "label"]
    out = scored.toPandas().sort_values("id")
    assert out["label"].tolist() == runtime.load(PENGUINS_MODEL).predict(head).tolist()


def test_the_driver_refuses_a_missing_column_and_a_clash_before_any_job(spark, rows):
    frame = spark.createDataFrame(rows.head(10))
    with pytest.raises(runtime.InputError, match=r"^the DataFrame has no column 'sex'; the model reads island, "):
        runtime_spark.predict(frame.drop("sex"), PENGUINS_MODEL)
    with pytest.raises(runtime.InputError, match=r"^the DataFrame already has a column 'label', which predict adds"):
        runtime_spark.predict(frame.withColumnRenamed("species", "label"), PENGUINS_MODEL)


def test_each_process_keeps_one_session_per_file(tmp_path):
    """The executors' cache: one Model per path and SHA-256, and a changed file at the path is refused."""
    copy = tmp_path / "model.onnx"
    copy.write_bytes(PENGUINS_MODEL.read_bytes())
    sha256 = runtime.load(copy).sha256
    first = runtime_spark.cached_model(str(copy), sha256, 1, "predict")
    assert runtime_spark.cached_model(str(copy), sha256, 1, "predict") is first
    with pytest.raises(runtime.ModelError, match="SHA-256 is"):
        runtime_spark.cached_model(str(copy), "0" * 64, 1, "predict")
