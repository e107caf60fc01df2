"""Pictures of a run: training progress (loss and accuracy per epoch) and, for binary models, the ROC curve.

matplotlib takes about a second to import and draw its first figure; :class:`Renderer` does that in a helper process
started before the trainer imports torch, so on a machine with two cores or more the two start-ups overlap, and the
two plots drawn once the fit ends are drawn side by side: what the user waits on after the fit is the longer of them.
This module imports neither numpy nor matplotlib itself, so that ``logreg train`` starts the helper at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from logreg_onnx.runtime.files import write_bytes_atomic

if TYPE_CHECKING:  # numpy is imported by the plots themselves: `logreg train` starts this helper before loading it
    import numpy as np


class Renderer:
    """Helper processes for plotting: ``with Renderer() as r: r.submit(plot_history, ...); r.wait()``.

    The helper is a new interpreter (not a fork: the caller may already run threads, torch's or a test runner's, and
    a forked child of a threaded process can deadlock), started with :mod:`subprocess` rather than
    :mod:`multiprocessing`'s spawn, which would also start its resource tracker and re-run the caller's main script:
    two more start-ups competing with the caller's for the cores. It imports matplotlib and draws a throwaway figure
    while the caller imports torch, then forks a twin (safe there: it holds no locks of its own, and its only other
    thread, OpenBLAS's, is stopped and restarted around a fork by OpenBLAS), so that the two plots a run draws once
    the fit ends are drawn side by side: :meth:`submit` deals jobs (pickled, over pipes) to the two in
    turn, and each runs its jobs in order. Errors raised while plotting come back from :meth:`wait`. On leaving the
    block both are stopped at once: they hold nothing worth a clean exit, which would cost matplotlib's teardown,
    and must not outlive the command (they share its stdout and stderr, which a caller may be reading to the end).
    If the command dies first, each reads the end of its job pipe and exits.
    """

    workers = 2

    def __enter__(self) -> Renderer:
        ends = [os.pipe() for _ in range(2 * self.workers)]  # per worker: its jobs, its results
        theirs = [fd for i, (read, write) in enumerate(ends) for fd in ((read,) if i % 2 == 0 else (write,))]
        ours = [fd for i, (read, write) in enumerate(ends) for fd in ((write,) if i % 2 == 0 else (read,))]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _HELPER, *map(str, theirs)],
                pass_fds=theirs,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # one group to stop at once, and Ctrl-C stays the caller's to handle
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self._jobs = [Connection(fd, readable=False) for fd in ours[0::2]]
        self._results = [Connection(fd, writable=False) for fd in ours[1::2]]
        self._jobs[0].send(sys.path)  # so that the helper imports what the caller would (a checkout, a test's path)
        self._pending = [0] * self.workers
        self._submitted = 0
        return self

    def submit(self, function, /, *args, **kwargs) -> None:
        worker = self._submitted % self.workers
        try:
            self._jobs[worker].send((function, args, kwargs))
        except BrokenPipeError:
            raise RuntimeError("the plotting helper process died") from None
        self._pending[worker] += 1
        self._submitted += 1

    def wait(self) -> None:
        failures = []
        for worker, results in enumerate(self._results):
            while self._pending[worker]:
                try:
                    outcome = results.recv()
                except EOFError:
                    raise RuntimeError("the plotting helper process died") from None
                self._pending[worker] -= 1
                if outcome is not None:
                    failures.append(outcome)
        if failures:
            raise RuntimeError(f"plotting failed: {failures[0]}")

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)  # the helper and its twin
            self._process.wait()
            for connection in (*self._jobs, *self._results):
                connection.close()


# The helper's program: its pipes (jobs and results of the first worker, then of its twin), the caller's sys.path,
# then the job loop.
_HELPER = """
import sys
from multiprocessing.connection import Connection
pipes = [Connection(int(fd), writable=i % 2 == 1, readable=i % 2 == 0) for i, fd in enumerate(sys.argv[1:])]
sys.path[:] = pipes[0].recv()
from logreg_onnx.trainer.rundir.plots import serve
serve(list(zip(pipes[0::2], pipes[1::2])))
"""


def serve(workers: list[tuple[Connection, Connection]]) -> None:
    """The helper's loop: warm up, fork one process per further (jobs, results) pair, then run each job of its pair
    and report None (done) or the error's text; exit when the caller closes its end. Should the fork fail, this
    process serves every pair, in the order the caller deals jobs."""
    warm_up()
    mine = list(workers)
    for pair in workers[1:]:
        try:
            child = os.fork()
        except OSError:
            break  # this process keeps the pairs not forked off
        if child == 0:
            mine = [pair]
            break
        mine.remove(pair)
    for pair in workers:
        if pair not in mine:  # another process's: closed here, so that its end of file is seen when it ends
            for connection in pair:
                connection.close()
    while True:
        for jobs, results in mine:
            try:
                function, args, kwargs = jobs.recv()
            except EOFError:
                os._exit(0)  # the caller is done: no teardown, as on being stopped
            try:
                function(*args, **kwargs)
                outcome = None
            except Exception as exc:  # reported to the parent, which raises it
                outcome = f"{type(exc).__name__}: {exc}"
            try:
                results.send(outcome)
            except OSError:
                os._exit(0)  # the caller has gone: nobody to tell, and no traceback on its stderr


def warm_up() -> None:
    """Import matplotlib and draw a throwaway figure: what the first real plot would otherwise wait for."""
    plt = _pyplot()
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.5, 0.1], label="warm-up")
    _log_scale(ax)
    ax.legend()
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _log_scale(ax) -> None:
    """A log y axis labelled in plain numbers (0.05, 0.1, 1): matplotlib's default labels (10^-1) are mathtext, whose
    parser costs the helper 40 ms to build, and the user a few milliseconds a label to wait on after the fit."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def _num_to_string(self, x, vmin, vmax) -> str:
            return f"{x:g}"

    ax.set_yscale("log")  # which installs the default formatters: replaced after it
    ax.yaxis.set_major_formatter(PlainLogFormatter())
    ax.yaxis.set_minor_formatter(PlainLogFormatter())


def _save(fig, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    # margins are set by each figure: "tight" bboxes cost a second draw. zlib's fastest level: the same pixels in a
    # file about a tenth larger, and 40 ms less for the user to wait on after a fit (level 6, the default, is a third
    # of the history figure's time)
    fig.savefig(buffer, format="png", dpi=110, pil_kwargs={"compress_level": 1})
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
        _log_scale(loss_ax)
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
    from ..stats.metrics import roc_curve

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
