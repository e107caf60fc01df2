"""Hooks the training loop calls: history recording, early stopping and the progress bar implement them."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field

import click
import torch


@dataclass
class TrainingState:
    """What a hook may read, and the one thing it may set: ``stop_training``."""

    model: torch.nn.Module
    optimizer: str
    max_epochs: int
    epoch: int = 0
    stop_training: bool = False
    stop_reason: str | None = None
    history: list[dict] = field(default_factory=list)


def end_epoch(state: TrainingState, callbacks, *, train_loss: float, train_accuracy: float, validation) -> None:
    """Count the epoch (or iteration), record its losses and accuracies, validation included, and call every hook.

    ``validation`` is a function returning ``(val_loss, val_accuracy)``, ``(None, None)`` without a validation split.
    """
    state.epoch += 1
    val_loss, val_accuracy = validation()
    record = {
        "epoch": state.epoch,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
    }
    for callback in callbacks:
        callback.on_epoch_end(state, record)


class Callback:
    """No-op hooks; subclasses override what they need."""

    def on_train_begin(self, state: TrainingState) -> None:
        pass

    def on_epoch_end(self, state: TrainingState, record: dict) -> None:
        """Called after each epoch (mini-batch) or iteration (L-BFGS) with that step's history row."""

    def on_train_end(self, state: TrainingState) -> None:
        """Called once at the end, also after Ctrl-C or early stopping."""


class History(Callback):
    """Keeps each epoch's record (a dict of losses and accuracies) in ``state.history``."""

    def on_epoch_end(self, state: TrainingState, record: dict) -> None:
        state.history.append(dict(record))


class EarlyStopping(Callback):
    """Stops when the monitored loss has not improved for ``patience`` epochs, then restores the best weights.

    Monitors ``val_loss`` when a validation split exists, else ``train_loss``.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.best_state: dict | None = None

    def on_epoch_end(self, state: TrainingState, record: dict) -> None:
        loss = record.get("val_loss")
        if loss is None:
            loss = record["train_loss"]
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, record["epoch"]
            self.best_state = copy.deepcopy(state.model.state_dict())
        elif record["epoch"] - self.best_epoch >= self.patience:
            state.stop_training = True
            state.stop_reason = (
                f"early stopping: no improvement for {self.patience} epochs after epoch {self.best_epoch}"
            )

    def on_train_end(self, state: TrainingState) -> None:
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)


class ProgressBar(Callback):
    """A progress bar on stderr showing the current losses."""

    def __init__(self, file=None) -> None:
        self.file = file or sys.stderr
        self._bar = None
        self._last: dict = {}

    def on_train_begin(self, state: TrainingState) -> None:
        unit = "iteration" if state.optimizer == "lbfgs" else "epoch"
        self._bar = click.progressbar(
            length=state.max_epochs,
            label=f"{state.optimizer} ({unit}s)",
            file=self.file,
            show_pos=True,
            item_show_func=lambda _: self._describe(),
        )
        self._bar.__enter__()

    def on_epoch_end(self, state: TrainingState, record: dict) -> None:
        self._last = record
        self._bar.update(1, record)

    def on_train_end(self, state: TrainingState) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def _describe(self) -> str:
        if not self._last:
            return ""
        text = f"loss {self._last['train_loss']:.6g}"
        if self._last.get("val_loss") is not None:
            text += f"  val {self._last['val_loss']:.6g}"
        return text
