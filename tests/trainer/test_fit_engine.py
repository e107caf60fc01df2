"""One fit engine: the mini-batch loop fed by a batch iterator (against numpy's gradient descent), the shuffled
slices of an in-memory fit, and one plan and one result assembly for the in-memory and the streamed fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from logreg_onnx.trainer.data.dataset import load_dataset
from logreg_onnx.trainer.engine import optim
from logreg_onnx.trainer.engine.callbacks import History, TrainingState
from logreg_onnx.trainer.engine.training import fit_dataset
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions
from logreg_onnx.trainer.scale.streaming import fit_stream

from ..conftest import PENGUINS, synthetic


def _standardized(n=300, seed=21):
    X, y = synthetic(n, 3, 2, seed=seed)
    X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
def test_full_batch_sgd_through_the_loop_is_numpys_gradient_descent(weighted):
    """One batch an epoch (the whole data, row weights or none): each SGD step is V - lr * gradient of the weighted
    mean log-loss plus l2/2 ||W||^2, computed here in numpy from the formula."""
    X, y = _standardized()
    w = np.where(y == 1, 3.0, 0.5).astype(np.float32) if weighted else None
    l2, lr, epochs = 0.05, 0.5, 6
    objective = optim.Objective(
        torch.from_numpy(X), torch.from_numpy(y), None if w is None else torch.from_numpy(w), binary=True, l2=l2
    )
    linear = torch.nn.Linear(3, 1)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    state = TrainingState(model=linear, optimizer="sgd", max_epochs=epochs)
    history = History()

    def one_batch():
        yield objective.X, objective.y, objective.weights

    optim.run_minibatch(
        state, objective, linear, [history], lambda: (None, None), algorithm="sgd", lr=lr, epoch_batches=one_batch
    )
    beta, bias = np.zeros(3), 0.0
    weights = np.ones(len(y)) if w is None else w.astype(np.float64)
    X64 = X.astype(np.float64)
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(X64 @ beta + bias)))
        residual = weights * (p - y) / weights.sum()
        beta, bias = beta - lr * (X64.T @ residual + l2 * beta), bias - lr * residual.sum()
    np.testing.assert_allclose(linear.weight.detach().numpy()[0], beta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(linear.bias.detach()[0]), bias, rtol=1e-5, atol=1e-6)
    assert state.epoch == epochs and len(state.history) == epochs
    p = 1 / (1 + np.exp(-(X64 @ beta + bias)))
    loss = -(weights * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / weights.sum() + 0.5 * l2 * beta @ beta
    assert state.history[-1]["train_loss"] == pytest.approx(loss, rel=1e-5)


def test_shuffled_slices_cover_every_row_once_an_epoch_in_a_new_order():
    X, y = _standardized(103)
    objective = optim.Objective(torch.from_numpy(X), torch.from_numpy(y), None, binary=True, l2=0.0)
    epoch = optim.shuffled_slices(objective, 10, torch.Generator().manual_seed(0))
    orders = []
    for _ in range(2):
        batches = list(epoch())
        assert [len(b[1]) for b in batches] == [10] * 10 + [3]
        rows = np.concatenate([b[0].numpy() for b in batches])
        order = np.array([int(np.flatnonzero((row == X).all(axis=1))[0]) for row in rows])
        assert sorted(order) == list(range(103))
        orders.append(order)
    assert (orders[0] != orders[1]).any()


def test_one_plan_and_one_result_for_the_in_memory_and_the_streamed_fit():
    read = ReadOptions(label="species")
    opts = FitOptions(val_fraction=0.0, optimizer="lbfgs", class_weight={"Gentoo": 2.0})
    in_memory = fit_dataset(load_dataset(PENGUINS, read), opts)
    streamed = fit_stream(PENGUINS, read, opts, StreamOptions(chunk_rows=80))
    assert in_memory.options["solver"] == "newton" and streamed.options["solver"] == "lbfgs"
    assert set(streamed.options) - set(in_memory.options) == {"streamed"}
    same = {k for k in in_memory.options if k != "solver"}
    assert {k: streamed.options[k] for k in same} == {k: in_memory.options[k] for k in same}
    assert in_memory.options["class_weight"] == {"Gentoo": 2.0}
    assert in_memory.coefficients is not None and in_memory.coefficients_absent == ""
    assert streamed.coefficients is None and "streamed fit" in streamed.coefficients_absent
    for result in (in_memory, streamed):
        assert result.converged and result.stop_reason.startswith("converged after")
        assert set(result.metrics["train"]["calibration"]) == set(in_memory.metrics["train"]["calibration"])
