"""Pictures of a run: training progress (loss and accuracy per epoch) and, for binary models, the ROC curve.

matplotlib takes about a second to import and draw its first figure; :class:`Renderer` does that in a helper process
started before the trainer imports torch, so on a machine with two cores or more the two start-ups overlap and the
plots cost the user almost nothing.
"""

from __future__ import annotations

import io
import multiprocessing
import os

import numpy as np
from logreg_onnx.runtime.files import write_bytes_atomic

from ..stats.metrics import roc_curve


class Renderer:
    """A helper process for plotting: ``with Renderer() as r: r.submit(plot_history, ...); r.wait()``.

    The helper is spawned (not forked: the caller may already run threads, torch's or a test runner's, and a forked
    child of a threaded process can deadlock), imports matplotlib at once, then runs the jobs it is sent in order.
    Errors raised while plotting come back from :meth:`wait`. On leaving the block the helper is stopped at once: it
    holds nothing worth a clean exit, which would cost matplotlib's teardown, and it must not outlive the command
    (it shares the command's stdout and stderr, which a caller may be reading to the end).
    """

    def __enter__(self) -> Renderer:
        context = multiprocessing.get_context("spawn")
        self._jobs, self._results = context.SimpleQueue(), context.SimpleQueue()
        self._process = context.Process(target=_serve, args=(self._jobs, self._results), daemon=True)
        self._process.start()
        self._pending = 0
        return self

    def submit(self, function, /, *args, **kwargs) -> None:
        self._jobs.put((function, args, kwargs))
        self._pending += 1

    def wait(self) -> None:
        failures = []
        while self._pending:
            if not self._process.is_alive() and self._results.empty():
                raise RuntimeError("the plotting helper process died")
            outcome = self._results.get()
            self._pending -= 1
            if outcome is not None:
                failures.append(outcome)
        if failures:
            raise RuntimeError(f"plotting failed: {failures[0]}")

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self._process.terminate()
            self._process.join()


def _serve(jobs, results) -> None:
    """The helper's loop: warm up, then run each job and report None (done) or the error's text."""
    warm_up()
    while True:
        function, args, kwargs = jobs.get()
        try:
            function(*args, **kwargs)
            results.put(None)
        except Exception as exc:  # reported to the parent, which raises it
            results.put(f"{type(exc).__name__}: {exc}")


def warm_up() -> None:
    """Import matplotlib and draw a throwaway figure: what the first real plot would otherwise wait for."""
    plt = _pyplot()
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.5, 0.1], label="warm-up")
    ax.set_yscale("log")  # log tick labels are mathtext, whose parser loads on first use
    ax.legend()
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)  # margins are set by each figure: "tight" bboxes cost a second draw
    write_bytes_atomic(path, buffer.getvalue())


_SPLIT_NAMES = {"train": "training", "val": "validation"}


def plot_history(history: list[dict], path: str | os.PathLike[str], *, unit: str = "epoch") -> None:
    """Two panels, log-loss and accuracy against the epoch (or solver iteration), training and validation."""
    plt = _pyplot()
    fig = history_figure(history, unit=unit)
    _save(fig, path)
    plt.close(fig)


def history_figure(history: list[dict], *, unit: str = "epoch"):
    """The figure of :func:`plot_history`, unsaved (tests read its legends and ticks)."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    fig.subplots_adjust(left=0.09, right=0.985, bottom=0.14, top=0.91, wspace=0.25)
    from matplotlib.ticker import MaxNLocator

    for key, loss_label, style in (
        ("train", "training (objective, with L2 penalty)", "-"),
        ("val", "validation", "--"),
    ):
        losses = [r[f"{key}_loss"] for r in history]
        if any(v is not None for v in losses):
            loss_ax.plot(epochs, losses, style, label=loss_label)
            acc_ax.plot(epochs, [r[f"{key}_accuracy"] for r in history], style, label=_SPLIT_NAMES[key])
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    loss_ax.set(xlabel=unit, ylabel="loss", title="Loss")
    if history and all(r["train_loss"] > 0 for r in history):
        loss_ax.set_yscale("log")
    acc_ax.set(xlabel=unit, ylabel="accuracy", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        if history:
            ax.legend()
        else:
            ax.text(
                0.5, 0.5, "converged at the start:\nno iterations", ha="center", va="center", transform=ax.transAxes
            )
    return fig


def plot_roc(
    y: np.ndarray,
    positive_probability: np.ndarray,
    path: str | os.PathLike[str],
    *,
    auc: float | None,
    positive_class: str,
    split: str,
) -> None:
    """ROC curve of the positive (second) class."""
    plt = _pyplot()
    fpr, tpr = roc_curve(y == 1, positive_probability)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    fig.subplots_adjust(left=0.16, right=0.96, bottom=0.12, top=0.92)
    label = f"{split} (AUC {auc:.4f})" if auc is not None else split
    ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC, positive class {positive_class!r}",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    _save(fig, path)
    plt.close(fig)
