"""Multi-process training on torch.distributed: the collectives the streamed fit needs, and the ``--nproc`` launcher.

A job is started by ``torchrun`` (``logreg train --nproc N`` runs torchrun's own launcher, ``--standalone``, in
process; across machines people run ``torchrun ... -m logreg_onnx train ...`` on each host). Each process (rank) reads
its shard of the data; sums (loss, gradient, statistics, metrics) are all-reduced, so every rank holds the same
numbers and takes the same step. gloo on CPU, nccl on GPU.

Failure: a data or option error found by one rank is agreed on at the end of each pass (:meth:`Comm.agree`), so every
rank stops with that rank's message and rank 0 writes nothing. A rank that dies (killed, out of memory) makes
torchrun stop the others; the launcher then names it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..errors import TrainerError

if TYPE_CHECKING:  # torch is imported when a process group is made: `logreg train` asks under_torchrun() before
    import torch  # it starts its plotting helper, which must start before torch loads (see trainer.rundir.plots)

T = TypeVar("T")
ERROR_FILE_ENV = "LOGREG_ERROR_FILE"  # set by the launcher: rank 0 writes the job's error message there
# set by the launcher: the folder the ranks keep their row caches in, removed by the launcher when the job ends,
# so that nothing stays behind even when a rank is killed where it cannot run its own clean-up (SIGKILL, or SIGTERM
# while it waits inside a collective)
SCRATCH_ENV = "LOGREG_SCRATCH"


class JobError(TrainerError, RuntimeError):
    """Another rank's error, raised on every rank so that all stop together. ``rank`` is the rank that found it."""

    def __init__(self, message: str, rank: int) -> None:
        super().__init__(message)
        self.rank = rank


class Comm:
    """One process: every collective is the identity. :class:`TorchComm` is the distributed one."""

    rank = 0
    world = 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks, in place (float64 sums stay float64)."""
        return tensor

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value`` (a small picklable object), in rank order, on every rank."""
        return [value]

    def agree(self, function: Callable[..., T], *args, **kwargs) -> T:
        """``function(*args, **kwargs)``; if it raises a :class:`TrainerError` on any rank, every rank raises it
        (the failing rank its own exception, the others a :class:`JobError` with its message)."""
        error: TrainerError | None = None
        result = None
        try:
            result = function(*args, **kwargs)
        except TrainerError as exc:
            error = exc
        if self.world == 1:
            if error is not None:
                raise error
            return result  # type: ignore[return-value]
        messages = self.gather(None if error is None else str(error))
        for rank, message in enumerate(messages):
            if message is not None:
                if error is not None and rank == self.rank:
                    raise error
                raise JobError(message, rank)
        return result  # type: ignore[return-value]

    def close(self) -> None:
        pass


class TorchComm(Comm):
    """The process group torchrun describes in the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...)."""

    def __init__(self, device: torch.device, timeout_s: float = 1800.0) -> None:
        import torch
        import torch.distributed as dist

        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        self._dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self._device = device

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self._device.type == "cuda" and tensor.device.type != "cuda":
            moved = tensor.to(self._device)
            self._dist.all_reduce(moved)
            tensor.copy_(moved.cpu())
            return tensor
        self._dist.all_reduce(tensor)
        return tensor

    def gather(self, value: T) -> list[T]:
        out: list = [None] * self.world
        self._dist.all_gather_object(out, value)
        return out

    def close(self) -> None:
        if self._dist.is_initialized():
            self._dist.destroy_process_group()


def under_torchrun() -> bool:
    """This process was started by torchrun (or another launcher that sets the same variables)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def connect(device: torch.device) -> Comm:
    """The job's communicator: :class:`TorchComm` under torchrun with more than one process, else :class:`Comm`.
    SIGTERM (what torchrun sends the other ranks when one fails) ends a rank through its ``finally`` blocks, so its
    temporary files go with it."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Comm()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return TorchComm(device)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def report_error(message: str) -> None:
    """Under the ``--nproc`` launcher, hand the job's error line to it (it prints it once, for all ranks)."""
    path = os.environ.get(ERROR_FILE_ENV)
    if path:
        Path(path).write_text(message)


def launch(nproc: int, module_args: list[str], error_file: Path) -> tuple[str, bool] | None:
    """Run ``torchrun --standalone --nproc-per-node NPROC -m logreg_onnx MODULE_ARGS`` with torch's own launcher, in
    this process. Returns None when every rank succeeded, else one line saying what failed and whether it was the
    input (a data or option error a rank reported) rather than a rank that died."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for name in ("torch.distributed", "torch.distributed.elastic"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # its warnings and tracebacks are not for our users
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    os.environ[ERROR_FILE_ENV] = str(error_file)
    scratch = tempfile.mkdtemp(prefix="logreg-job-")
    os.environ[SCRATCH_ENV] = scratch
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0", "--module", "logreg_onnx", *module_args]
    )
    try:
        run(args)
    except ChildFailedError as exc:
        if error_file.is_file() and error_file.read_text().strip():
            return error_file.read_text().strip(), True
        return describe_failures(exc.failures), False
    except (SignalException, KeyboardInterrupt) as exc:  # Ctrl-C or a kill of this launcher: torchrun stopped the ranks
        name = exc.sigval.name if isinstance(exc, SignalException) else "SIGINT"
        return f"interrupted by {name}; the job stopped on every rank", False
    finally:
        os.environ.pop(ERROR_FILE_ENV, None)
        os.environ.pop(SCRATCH_ENV, None)
        shutil.rmtree(scratch, ignore_errors=True)
    return None


def describe_failures(failures: dict) -> str:
    """One line naming the rank that died first and how: a signal (killed, out of memory) or an exit code."""

    def order(item):
        rank, failure = item
        return (failure.exitcode >= 0, failure.timestamp, rank)  # a signal is the cause, the others' exits follow

    rank, failure = min(failures.items(), key=order)
    if failure.exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-failure.exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-failure.exitcode}"
    else:
        how = f"exited with code {failure.exitcode}"
    return f"rank {rank} {how}; the job stopped on every rank"
