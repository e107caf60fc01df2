"""What ``logreg serve`` serves: models by name and version, loaded from files or a Triton-style repository folder,
each version verified on its test vectors before it is ready, swapped in and out while the server runs.

A repository is ``ROOT/NAME/VERSION/model.onnx`` (VERSION a positive integer; the test vectors beside the file, as the
exporter writes them). Single files (``logreg serve MODEL``, ``--model NAME=PATH``) are a repository whose models
have one version, ``1``. Which versions of a model are served is the version policy (:class:`VersionPolicy`).

Every change happens on the event loop's thread; loading a file and replaying its vectors happen in a worker thread,
so the server keeps answering meanwhile. A request holds the :class:`Served` it resolved, so a swap or an unload never
changes the version a request in flight runs on: the old session is freed when its last request finishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import testvectors
from .drift import Profile
from .errors import ModelError
from .explain import explainable
from .model import Model, load
from .serve_drift import DriftWindow

logger = logging.getLogger(__name__)
MODEL_FILE = "model.onnx"
READY, UNAVAILABLE, LOADING = "READY", "UNAVAILABLE", "LOADING"  # Triton's model states


class RepositoryError(LookupError):
    """A model or version this server does not have, or cannot serve now: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Statistics:
    """Triton's statistics extension for one version: counts and cumulative nanoseconds of the successful and failed
    requests and of their phases (queue: waiting for a batch; compute_input/infer/output: decoding, the model run,
    encoding), rows scored (inference_count) and model runs (execution_count, fewer than requests when batched)."""

    success: list = field(default_factory=lambda: [0, 0])
    fail: list = field(default_factory=lambda: [0, 0])
    queue: list = field(default_factory=lambda: [0, 0])
    compute_input: list = field(default_factory=lambda: [0, 0])
    compute_infer: list = field(default_factory=lambda: [0, 0])
    compute_output: list = field(default_factory=lambda: [0, 0])
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request(self, ok: bool, total_ns: int, *, rows: int = 0, queue_ns: int = 0, phases=(0, 0, 0)) -> None:
        """One request's outcome and its phases' durations (input, infer, output); ``rows`` scored when ``ok``."""
        with self.lock:
            bucket = self.success if ok else self.fail
            bucket[0] += 1
            bucket[1] += total_ns
            if ok:
                self.inference_count += rows
                self.queue[0] += 1
                self.queue[1] += queue_ns
                for phase, ns in zip(
                    (self.compute_input, self.compute_infer, self.compute_output), phases, strict=True
                ):
                    phase[0] += 1
                    phase[1] += ns
            self.last_inference_ms = time.time_ns() // 1_000_000

    def execution(self) -> None:
        with self.lock:
            self.execution_count += 1

    def document(self, name: str, version: str) -> dict:
        """This version's entry of ``model_stats``, in Triton's shape."""
        with self.lock:
            phases = {
                key: {"count": value[0], "ns": value[1]}
                for key, value in (
                    ("success", self.success),
                    ("fail", self.fail),
                    ("queue", self.queue),
                    ("compute_input", self.compute_input),
                    ("compute_infer", self.compute_infer),
                    ("compute_output", self.compute_output),
                )
            }
            phases["cache_hit"] = {"count": 0, "ns": 0}
            phases["cache_miss"] = {"count": 0, "ns": 0}
            return {
                "name": name,
                "version": version,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": phases,
                "batch_stats": [],
            }


@dataclass
class Served:
    """One version of one model, as the server answers it."""

    name: str
    model: Model
    version: str = "1"
    ready: bool = False
    reason: str = ""  # why it is not ready
    vectors: dict = field(default_factory=dict)
    window: DriftWindow | None = None  # the last rows scored, with --drift-window and a model with a profile
    profile: Profile | None = None
    stats: Statistics = field(default_factory=Statistics)
    batcher: object | None = None  # a serve_batch.Batcher, with --max-batch-size
    outputs: tuple[str, ...] = field(init=False)  # the graph's outputs, in its order
    explains: bool = field(init=False)  # format 3: the explain outputs are among them

    def __post_init__(self) -> None:
        self.outputs = tuple(o.name for o in self.model.outputs)
        self.explains = explainable(self.model)


def verified(name: str, version: str, model: Model, drift_window: int = 0) -> Served:
    """``model`` as version ``version`` of ``name``, ready if its test vectors pass (or it has none)."""
    entry = Served(name, model, version)
    report = testvectors.replay(model)
    entry.vectors = report
    entry.ready = report["status"] in ("passed", "not found")
    if not entry.ready:
        entry.reason = _vectors_reason(report)
    if drift_window:
        entry.profile = Profile.from_metadata(model.metadata)
        if entry.profile is not None:
            entry.window = DriftWindow(
                drift_window, len(model.numeric_names), len(model.categorical_names), len(model.classes)
            )
    return entry


def _vectors_reason(report: dict) -> str:
    if report["status"] == "failed":
        return (
            f"its test vectors failed ({report.get('failing_count')} of {report.get('cases')} cases, largest "
            f"difference {report.get('max_abs', float('nan')):.3g}, tolerance {report.get('atol')}): {report['path']}"
        )
    return f"its test vectors are {report['status']}: {report.get('error')} ({report['path']})"


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions on disk are served: ``latest`` (the highest, the default), ``all``, or listed numbers
    (``"1,3"``), as Triton's ``version_policy``."""

    kind: str = "latest"
    numbers: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        text = text.strip().lower()
        if text in ("latest", "all"):
            return cls(text)
        try:
            numbers = tuple(sorted({int(part) for part in text.split(",")}))
        except ValueError:
            numbers = ()
        if not numbers or min(numbers) < 1:
            raise ValueError(
                f"a version policy is latest, all, or version numbers like 1,3 (positive integers), got {text!r}"
            )
        return cls("specific", numbers)

    def choose(self, versions: list[int]) -> list[int]:
        if self.kind == "latest":
            return sorted(versions)[-1:]
        if self.kind == "all":
            return sorted(versions)
        return [v for v in sorted(versions) if v in self.numbers]

    def __str__(self) -> str:
        return ",".join(map(str, self.numbers)) if self.kind == "specific" else self.kind


def _stamp(path: Path) -> tuple:
    """What changes when a file is replaced or rewritten (missing files stamp as None)."""
    stamps = []
    for each in (path, testvectors.path_for(path)):
        try:
            info = each.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(stamps)


@dataclass
class ModelSlot:
    """A model's versions: those served (ready or not), and the last refusal of each version that could not be."""

    name: str
    versions: dict[int, Served] = field(default_factory=dict)
    stamps: dict[int, tuple] = field(default_factory=dict)  # of the files each served version was loaded from
    refused: dict[int, tuple[tuple, str]] = field(default_factory=dict)  # version -> (stamp, why)
    seen: dict[int, tuple] = field(default_factory=dict)  # the stamp of each version's files at the last poll
    unloaded: bool = False  # by the repository API: not served until loaded again
    latest: Served | None = None  # the highest ready version: what an unversioned request gets

    def settle(self) -> None:
        ready = [v for v in sorted(self.versions) if self.versions[v].ready]
        self.latest = self.versions[ready[-1]] if ready else None


class Repository:
    """The models this server answers, by name and version.

    Parameters
    ----------
    files : name -> path of single models (each served as version 1); or
    root : a Triton-style repository folder, ``root/NAME/VERSION/model.onnx``
    policy : which versions of each model in ``root`` are served
    drift_window : rows kept per version for the drift gauges (0: none)
    """

    def __init__(
        self,
        *,
        files: dict[str, Path] | None = None,
        root: Path | None = None,
        policy: VersionPolicy | None = None,
        drift_window: int = 0,
        on_change: Callable[[Served], None] | None = None,
    ) -> None:
        if (files is None) == (root is None):
            raise ValueError("a repository is files or a root folder, one of them")
        self.files = {name: Path(path) for name, path in (files or {}).items()}
        self.root = Path(root) if root is not None else None
        self.policy = policy or VersionPolicy()
        self.drift_window = drift_window
        self.on_change = on_change  # called with each version put into service (the batcher, say)
        self.slots: dict[str, ModelSlot] = {}
        self.failures = 0  # loads refused since the start (a metric)
        self._refreshing: asyncio.Lock | None = None

    # -- what is on disk ------------------------------------------------------------------------------------------
    def on_disk(self, name: str | None = None) -> dict[str, dict[int, Path]]:
        """name -> {version: model file} as the files or the folder have them now (all versions, before the policy)."""
        if self.root is None:
            chosen = self.files if name is None else {k: v for k, v in self.files.items() if k == name}
            return {key: {1: path} for key, path in chosen.items()}
        found: dict[str, dict[int, Path]] = {}
        try:
            folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError as exc:
            logger.warning("cannot read the repository %s: %s", self.root, exc)
            return found
        for folder in folders:
            if name is not None and folder.name != name:
                continue
            versions = {}
            for child in folder.iterdir():
                if child.is_dir() and child.name.isdigit() and int(child.name) > 0 and (child / MODEL_FILE).is_file():
                    versions[int(child.name)] = child / MODEL_FILE
            found[folder.name] = versions
        return found

    # -- loading ----------------------------------------------------------------------------------------------------
    def load_now(self) -> None:
        """The first load, before serving (no event loop needed): every model on disk, by the policy."""
        for name, versions in self.on_disk().items():
            slot = self.slots.setdefault(name, ModelSlot(name))
            for version in self.policy.choose(list(versions)):
                path = versions[version]
                stamp = _stamp(path)
                self._install(slot, version, stamp, *_load_version(name, version, path, self.drift_window))
            slot.settle()

    async def refresh(self, name: str | None = None, *, explicit: bool = False) -> list[str]:
        """Bring the served versions in line with the disk: load new or replaced versions (in a worker thread),
        retire the ones gone or out of the policy once a newer one is ready. ``explicit``: a load request, which
        also brings back an unloaded model and retries refused files. Returns the refusals, one line each."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:  # one refresh at a time: a poll and a load request never race
            problems = []
            disk = self.on_disk(name)
            for key, versions in disk.items():
                slot = self.slots.setdefault(key, ModelSlot(key))
                if slot.unloaded and not explicit:
                    continue
                slot.unloaded = False
                wanted = self.policy.choose(list(versions))
                for version in wanted:
                    path = versions[version]
                    stamp = _stamp(path)
                    if slot.stamps.get(version) == stamp and version in slot.versions:
                        continue
                    refused = slot.refused.get(version)
                    if refused is not None and refused[0] == stamp and not explicit:
                        continue  # the same bad file as last time
                    settled = slot.seen.get(version) == stamp
                    slot.seen[version] = stamp
                    if not settled and not explicit:
                        continue  # changed since the last poll: maybe still being written; loaded once it holds still
                    entry, why = await asyncio.to_thread(_load_version, key, version, path, self.drift_window)
                    problem = self._install(slot, version, stamp, entry, why)
                    if problem:
                        problems.append(problem)
                self._retire(slot, {v for v in wanted}, set(versions))
            for key, slot in self.slots.items():  # models whose folder is gone
                if (name is None or key == name) and key not in disk and slot.versions:
                    logger.warning("model %s: its files are gone; unloaded", key)
                    slot.versions.clear()
                    slot.stamps.clear()
                    slot.settle()
            return problems

    def install(self, name: str, version: int, entry: Served) -> None:
        """Serve ``entry`` (already loaded and verified by the caller) as ``version`` of ``name``."""
        slot = self.slots.setdefault(name, ModelSlot(name))
        self._install(slot, version, _stamp(entry.model.path), entry, "")

    def _install(self, slot: ModelSlot, version: int, stamp: tuple, entry: Served | None, why: str) -> str:
        """Put a freshly loaded version into service, unless it failed: then the version it would replace keeps
        serving and the refusal is kept (the index shows it; a metric counts it). Returns the refusal, or ''."""
        if entry is None or not entry.ready:
            why = why or (entry.reason if entry is not None else "it could not be loaded")
            if entry is not None and version not in slot.versions and not slot.versions:
                slot.versions[version] = entry  # nothing else to serve: listed, not ready (as a single file)
                slot.stamps[version] = stamp
            slot.refused[version] = (stamp, why)
            self.failures += 1
            problem = f"model {slot.name} version {version}: refused, {why}"
            logger.warning("%s", problem)
            slot.settle()
            return problem
        slot.refused.pop(version, None)
        if self.on_change is not None:
            self.on_change(entry)
        slot.versions[version] = entry  # one assignment: the next request resolves to it
        slot.stamps[version] = stamp
        slot.settle()
        logger.info("model %s version %s: ready (%s)", slot.name, version, entry.model.path)
        return ""

    def _retire(self, slot: ModelSlot, wanted: set[int], present: set[int]) -> None:
        """Unload versions whose files are gone, and versions out of the policy once a wanted one is ready."""
        ready_wanted = any(slot.versions[v].ready for v in wanted if v in slot.versions)
        for version in list(slot.versions):
            if version not in present or (version not in wanted and ready_wanted):
                del slot.versions[version]
                slot.stamps.pop(version, None)
                logger.info("model %s version %s: retired", slot.name, version)
        for version in list(slot.refused):
            if version not in present:
                del slot.refused[version]
        slot.settle()

    async def unload(self, name: str) -> None:
        """Stop serving every version of ``name`` until it is loaded again (requests in flight finish)."""
        slot = self.slots.get(name)
        if slot is None:
            raise RepositoryError(404, f"unknown model {name!r}; the repository has {sorted(self.slots)}")
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            slot.versions.clear()
            slot.stamps.clear()
            slot.unloaded = True
            slot.settle()

    async def load(self, name: str) -> None:
        """Load ``name`` from disk again (every version its policy names); RepositoryError when it cannot be."""
        if name not in self.on_disk(name):
            raise RepositoryError(404, f"no model {name!r} in {self.root or 'the files served'}; see the index")
        problems = await self.refresh(name, explicit=True)
        slot = self.slots[name]
        if slot.latest is None:
            raise RepositoryError(400, problems[0] if problems else f"model {name!r} has no version to load")

    # -- answering --------------------------------------------------------------------------------------------------
    def resolve(self, name: str, version: str | None = None) -> Served:
        """The version a request for ``name`` (and ``version``, or the latest ready one) runs on."""
        slot = self.slots.get(name)
        if slot is None:
            raise RepositoryError(404, f"unknown model {name!r}; this server has {sorted(self.slots)}")
        if version is None:
            if slot.latest is not None:
                return slot.latest
            if slot.versions:  # none ready: the newest, whose answers say why
                entry = slot.versions[max(slot.versions)]
                raise RepositoryError(503, f"model {name!r} is not ready: {entry.reason}")
            raise RepositoryError(
                404, f"model {name!r} is not loaded; load it (POST /v2/repository/models/{name}/load)"
            )
        entry = slot.versions.get(int(version)) if version.isdigit() else None
        if entry is None:
            served = ", ".join(map(str, sorted(slot.versions))) or "none"
            raise RepositoryError(404, f"model {name!r} has no version {version!r} loaded; its versions: {served}")
        if not entry.ready:
            raise RepositoryError(503, f"model {name!r} version {version} is not ready: {entry.reason}")
        return entry

    def find(self, name: str, version: str | None = None) -> Served:
        """Like :meth:`resolve`, but a version that is not ready is found too (for metadata and readiness)."""
        try:
            return self.resolve(name, version)
        except RepositoryError as exc:
            slot = self.slots.get(name)
            if exc.status != 503 or slot is None or not slot.versions:
                raise
            wanted = max(slot.versions) if version is None else int(version)
            return slot.versions[wanted]

    def ready(self) -> bool:
        """Every model that is not unloaded has a ready version."""
        return all(slot.latest is not None for slot in self.slots.values() if not slot.unloaded)

    def served(self) -> Iterator[Served]:
        for slot in self.slots.values():
            yield from slot.versions.values()

    def versions(self, name: str) -> list[str]:
        slot = self.slots.get(name)
        return [str(v) for v in sorted(slot.versions)] if slot else []

    def index(self, ready_only: bool = False) -> list[dict]:
        """Triton's repository index: one entry a model version (state READY or UNAVAILABLE, and the reason)."""
        entries = []
        for name in sorted(set(self.slots) | set(self.on_disk())):
            slot = self.slots.get(name) or ModelSlot(name)
            listed = set(slot.versions) | set(slot.refused)
            for version in sorted(listed):
                entry = slot.versions.get(version)
                state = READY if entry is not None and entry.ready else UNAVAILABLE
                reason = ""
                if version in slot.refused:
                    reason = slot.refused[version][1]
                    if entry is not None and entry.ready:
                        reason = f"serving the file loaded before; the new one was refused: {reason}"
                elif entry is not None and not entry.ready:
                    reason = entry.reason
                entries.append({"name": name, "version": str(version), "state": state, "reason": reason})
            if not listed:
                reason = "unloaded" if slot.unloaded else "not loaded"
                entries.append({"name": name, "version": "", "state": UNAVAILABLE, "reason": reason})
        return [e for e in entries if e["state"] == READY] if ready_only else entries

    def statistics(self, name: str | None = None, version: str | None = None) -> list[dict]:
        """``model_stats`` of the statistics extension: every served version, or those of ``name``."""
        if name is None:
            return [entry.stats.document(entry.name, entry.version) for entry in self.served()]
        if version is None:
            slot = self.slots.get(name)
            if slot is None:
                raise RepositoryError(404, f"unknown model {name!r}; this server has {sorted(self.slots)}")
            return [slot.versions[v].stats.document(name, str(v)) for v in sorted(slot.versions)]
        entry = self.find(name, version)
        return [entry.stats.document(name, entry.version)]


def _load_version(name: str, version: int, path: Path, drift_window: int) -> tuple[Served | None, str]:
    """Load and verify one version (in a worker thread when the server runs): (the version, '') or (None, why)."""
    try:
        model = load(path)
    except ModelError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    return verified(name, str(version), model, drift_window), ""


def check_root(root: Path) -> dict[str, dict[int, Path]]:
    """The models of a repository folder, or ValueError naming what is wrong with it (for the CLI, before serving)."""
    if not root.is_dir():
        raise ValueError(f"--repository {root}: not a folder; expected ROOT/NAME/VERSION/{MODEL_FILE}")
    found = Repository(root=root).on_disk()
    if not any(found.values()):
        raise ValueError(
            f"--repository {root}: no model found; expected ROOT/NAME/VERSION/{MODEL_FILE} (VERSION a positive "
            f"integer), got {sorted(os.listdir(root))[:5] or 'an empty folder'}"
        )
    return found
