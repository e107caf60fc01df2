"""The single-row fast path: an IOBinding over preallocated numpy buffers, so that one row skips ``session.run``'s
per-call setup (its row is copied in through a memoryview, the cheapest copy Python has, and the probabilities read
out of a buffer the session wrote)."""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort

from . import contract

# (features as a float32 memoryview, run, probabilities of shape (n_classes,), label of shape (1,), and the
# probabilities again as one row of shape (1, n_classes)): what each thread of a Model keeps
SingleRow = tuple[memoryview, functools.partial, np.ndarray, np.ndarray, np.ndarray]


def bind_single_row(session: ort.InferenceSession, n_numeric: int, n_classes: int) -> SingleRow:
    """A new IOBinding of ``session`` over new buffers (one per thread: a binding is not shared between threads).

    Only numeric inputs can be bound (onnxruntime's Python IOBinding takes numeric tensors only), so a model with
    categorical columns has no such path."""
    features = np.zeros(n_numeric, dtype=np.float32)
    label = np.zeros(1, dtype=np.int64)
    probabilities = np.zeros(n_classes, dtype=np.float32)
    values = (
        ort.OrtValue.ortvalue_from_numpy(features.reshape(1, -1)),
        ort.OrtValue.ortvalue_from_numpy(label),
        ort.OrtValue.ortvalue_from_numpy(probabilities.reshape(1, -1)),
    )
    binding = session.io_binding()
    binding.bind_ortvalue_input(contract.INPUT_NAME, values[0])
    binding.bind_ortvalue_output(contract.LABEL_OUTPUT, values[1])
    binding.bind_ortvalue_output(contract.PROBABILITIES_OUTPUT, values[2])
    run = functools.partial(session.run_with_iobinding, binding)
    # The binding refers to these OrtValues, which borrow the numpy arrays' memory: all of them must live as
    # long as the binding, or a run reads and writes freed memory (seen as garbage under 8 threads).
    run.keepalive = (binding, values, features)
    return memoryview(features), run, probabilities, label, probabilities.reshape(1, -1)


def native_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as C-contiguous, aligned float32. np.ascontiguousarray keeps an unaligned array as it is (a binary
    tensor read with np.frombuffer from an odd offset of a request body), and its buffer does not fit the single-row
    path's float32 memoryview."""
    return np.require(array, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])
