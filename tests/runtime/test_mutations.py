"""Corrupted files, made by flipping, cutting and splicing bytes of real ones (seeded): a model file that is not byte
for byte what the exporter wrote is refused with ModelError, and `logreg predict` on a damaged CSV ends in exit code
0 or 2 with one line, never a traceback or an internal error."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from logreg_onnx import runtime
from logreg_onnx.cli import INTERNAL_ERROR_EXIT, main


def _mutations(data: bytes, count: int, seed: int):
    rng = random.Random(seed)
    for i in range(count):
        kind = ("flip", "cut", "splice")[i % 3]
        at = rng.randrange(len(data))
        if kind == "flip":
            mutated = bytearray(data)
            mutated[at] ^= 1 << rng.randrange(8)
            yield kind, bytes(mutated)
        elif kind == "cut":
            yield kind, data[:at] + data[at + rng.randint(1, 64) :]
        else:
            source = rng.randrange(len(data))
            piece = data[source : source + rng.randint(1, 64)]
            yield kind, data[:at] + piece + data[at:]


def test_every_corrupted_model_is_refused_with_model_error(tmp_path, example_path):
    original = example_path.read_bytes()
    refused = 0
    for i, (_kind, mutated) in enumerate(_mutations(original, 1200, seed=7)):
        if mutated == original:
            continue
        path = tmp_path / f"m{i}.onnx"
        path.write_bytes(mutated)
        with pytest.raises(runtime.ModelError):
            runtime.load(path)
        refused += 1
        path.unlink()
    assert refused > 1100


def test_predict_on_corrupted_csv_never_ends_in_a_traceback(tmp_path, example_path, model, vectors):
    header = ["id", *model.feature_names]
    lines = [",".join(header)] + [
        ",".join([f"r{i}", *(repr(float(v)) for v in row)]) for i, row in enumerate(vectors["X"][:12])
    ]
    original = ("\n".join(lines) + "\n").encode()
    runner = CliRunner()
    codes = {0: 0, 2: 0}
    for i, (kind, mutated) in enumerate(_mutations(original, 240, seed=11)):
        path = tmp_path / f"d{i}.csv"
        path.write_bytes(mutated)
        for engine in ("python", "auto"):
            result = runner.invoke(main, ["predict", str(example_path), str(path), "--keep", "id", "--engine", engine])
            assert result.exit_code in (0, 2), (kind, engine, result.exit_code, result.output, mutated)
            assert result.exit_code != INTERNAL_ERROR_EXIT and "Traceback" not in result.output
            if result.exit_code == 2:
                assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            codes[result.exit_code] += 1
    assert codes[0] and codes[2]  # some mutations stay valid CSV, most do not
