"""trainer.fit for data read in chunks: larger than memory, and shared among the ranks of a torch.distributed job.

The passes (see :mod:`trainer.scan` for the first two):

1. scan: rows, classes, column kinds, levels, missing cells, and the top-bits histograms of numeric values;
2. medians, exact, from the low-bits histograms of the middle buckets (only with ``missing="impute"``);
3. encode: each chunk to the design matrix, split (a seeded hash of the row id), written to a local row cache, while
   the training rows' mean and sum of squared deviations are merged chunk by chunk in float64 (Chan et al.);
4. optimize: ``lbfgs`` computes the full-batch loss and gradient chunk by chunk (summed over ranks); ``sgd`` and
   ``adam`` read mini-batches from a shuffled window of chunks, through DistributedDataParallel across ranks;
5. measure: exact sums (log-loss, accuracy, confusion matrix) over every row, and a seeded sample of each split for
   ROC AUC, calibration and the threshold table.

Peak memory (README, "Scaling out", gives the formula and measurements) is bounded whatever the file's size: chunk
buffers are reused from one chunk to the next, and each split's metrics sample is picked while encoding and kept on
disk, so that no small arrays accumulate between the chunk-sized ones (they would pin the heap).
The row cache takes ``rows * (design columns * 4 + 16)`` bytes of local disk (``$TMPDIR``), deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import Dataset
from ..data.table import Table, text_column
from ..engine.callbacks import TrainingState
from ..engine.model import LogisticModel, float64_copy
from ..engine.moments import chunk_moments, combine_moments, from_moments
from ..engine.optim import weight_penalty
from ..engine.plan import make_plan
from ..engine.result import FitResult, fit_result
from ..engine.training import (
    initial_model,
    optimize,
    resolve_device,
    training_hooks,
)
from ..errors import DataError, OptionError, Setting
from ..options import FitOptions, ReadOptions, StreamOptions
from ..stats.metrics import classification_metrics, confusion_matrix, confusion_metrics, log_loss
from .distributed import SCRATCH_ENV, Comm
from .rowcache import RowCache
from .scan import Scan, label_texts, scan, validation_rows
from .sources import Source
from .stream_optim import StreamObjective, stream_batches

_SAMPLE_SALT = 7919  # the metrics sample is a hash of the row id too, with another seed than the split


def fit_stream(
    data: str | Path,
    read: ReadOptions,
    opts: FitOptions,
    stream: StreamOptions | None = None,
    *,
    comm: Comm | None = None,
    progress: bool = False,
) -> FitResult:
    """Fit on DATA (a CSV, .npy or .npz file, a folder or a glob of them) without holding it in memory; under
    torch.distributed each rank reads its shard and every rank returns the same model. See the module docstring."""
    stream = stream or StreamOptions()
    comm = comm or Comm()
    device = resolve_device(opts.device)
    if opts.l2 == "auto":
        raise OptionError("l2", "auto needs the rows in memory (it cross-validates); with streamed data give a number")
    if opts.coefficients != "original":
        raise OptionError("coefficients", "applies to the coefficient table, which a streamed fit does not compute")
    if opts.se != "classical":
        raise OptionError("se", "applies to the coefficient table, which a streamed fit does not compute")
    if opts.weight is not None:
        raise OptionError("weight", "is not read by a streamed fit yet; train in memory (--in-memory) with weights")
    if opts.offset is not None:
        raise OptionError("offset", "is not read by a streamed fit yet; train in memory (--in-memory) with an offset")
    if opts.l1 == "auto" or opts.l1 > 0:
        raise OptionError("l1", "needs the rows in memory (proximal Newton steps); train in memory (--in-memory)")
    if opts.penalty != "l2":
        raise OptionError("penalty", f"{opts.penalty} needs the rows in memory; train in memory (--in-memory)")
    torch.manual_seed(opts.seed)
    na_values = set(opts.na_values)
    source = comm.agree(Source, data, read, missing=opts.missing, na_values=na_values, chunk_rows=stream.chunk_rows)
    forced = _categorical_positions(source, opts.categorical)
    found = scan(source, comm, forced_text=forced, seed=opts.seed, val_fraction=opts.val_fraction, opts=opts)
    if found.encoding.width() == 0:
        raise DataError(f"{source.data}: no usable features: every categorical column has a single level")
    folder = Path(tempfile.mkdtemp(prefix=f"logreg-rank{comm.rank}-", dir=os.environ.get(SCRATCH_ENV)))
    try:
        return _fit_cached(source, found, folder, opts, stream, comm, device, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _categorical_positions(source: Source, names) -> frozenset[int]:
    unknown = [n for n in names if n not in source.names]
    if unknown:
        raise DataError(
            f"{source.data}: ", Setting("categorical"), f" names {unknown[0]!r}, which is not a feature column"
        )
    return frozenset(source.names.index(n) for n in names)


def _fit_cached(source, found: Scan, folder, opts, stream, comm, device, progress) -> FitResult:
    encoding, class_names = found.encoding, found.class_names
    width, n_classes = encoding.width(), len(class_names)
    train, val = RowCache(folder, "train", width), RowCache(folder, "validation", width)
    totals = found.split_rows
    if totals["train"] == 0:
        raise DataError(f"{source.data}: ", Setting("val_fraction", opts.val_fraction), " leaves no training rows")
    train_counts = np.array([found.tally.train_labels.get(name, 0) for name in class_names], dtype=np.float64)
    # the plan first: a class_weight naming no class is said before the rows are encoded
    plan = make_plan(
        opts,
        device=device,
        class_names=class_names,
        train_counts=train_counts,
        n_features=width,
        source=str(source.data),
        newton=False,  # its Hessian needs the rows in memory
        streamed={**vars(stream), "processes": comm.world},
    )
    # each split's metrics sample, picked while encoding (its size is known from the scan) and kept on disk too: no
    # small arrays accumulating between the chunk-sized ones, which would pin the heap and grow the resident size
    samples = {split: RowCache(folder, f"{split}-sample", width) for split in totals}
    fractions = {split: min(1.0, stream.sample_rows / max(total, 1)) for split, total in totals.items()}
    moments = comm.agree(_encode, source, found, (train, val), samples, fractions, opts, comm)
    mean, scale = _merge_moments(comm.gather(moments))
    model = initial_model(n_classes, encoding, mean, scale).to(device)
    weights = plan.class_weights
    total_weight = float((weights.astype(np.float64) * train_counts).sum()) if weights is not None else totals["train"]
    common = {"comm": comm, "binary": model.is_binary, "device": device, "chunk_rows": stream.chunk_rows}
    objective = StreamObjective(
        train, mean, scale, l2=float(opts.l2), class_weights=weights, totals=(totals["train"], total_weight), **common
    )
    validation = StreamObjective(
        val, mean, scale, l2=0.0, class_weights=None, totals=(totals["validation"],) * 2, **common
    )
    evaluate_validation = validation.evaluator(model) if validation.n_rows else (lambda V=None: (None, None))
    state = TrainingState(model=model, optimizer=plan.optimizer, max_epochs=plan.epochs)
    hooks = training_hooks(plan, progress and comm.is_root, ())

    def minibatches(linear):
        return stream_batches(
            objective, linear, comm=comm, seed=opts.seed, window=stream.shuffle_window, batch_size=opts.batch_size
        )

    outcome = optimize(state, hooks, objective, model, plan, evaluate_validation, minibatches=minibatches)
    model = model.cpu().eval()
    metrics, sample = _metrics(
        totals, model, {"train": train, "validation": val}, samples, comm, weights, float(opts.l2), stream
    )
    y_sample = np.concatenate([sample[s][1] for s in ("train", "validation")])
    p_sample = np.concatenate([sample[s][2] for s in ("train", "validation")])
    n_train_sample = len(sample["train"][1])
    rows_train, rows_val = np.arange(n_train_sample), np.arange(n_train_sample, len(y_sample))
    tally = found.tally
    notes = [
        f"dropped {n} rows with a missing {what}"
        for n, what in ((tally.dropped_label, "label"), (tally.dropped, "value"))
        if n
    ]
    dataset = Dataset(
        X=np.concatenate([sample[s][0] for s in ("train", "validation")]),
        y=y_sample,
        feature_names=encoding.design_names(),
        class_names=class_names,
        source=str(source.data),
        notes=[*notes, *encoding.notes],
        encoding=encoding,
    )
    summary = {
        "n_rows": tally.rows,
        "class_counts": found.class_counts,
        "missing": {name: int(tally.missing.get(j, 0)) for j, name in enumerate(source.names)},
        "files": len(source.files),
        "streamed": True,
    }
    return fit_result(
        model=model,
        metrics=metrics,
        probabilities_of=lambda rows: p_sample[rows],
        train_rows=rows_train,
        val_rows=rows_val,
        dataset=dataset,
        plan=plan,
        state=state,
        outcome=outcome,
        coefficients=None,
        coefficients_absent="a streamed fit does not compute the coefficient table (it needs the rows in memory)",
        data_summary=summary,
    )


def _encode(source: Source, found: Scan, caches, samples: dict, fractions: dict, opts, comm: Comm):
    """Pass 3: every chunk of this rank encoded into the row caches (and each split's sample into its own); the
    training rows' (count, mean, M2)."""
    encoding = found.encoding
    index = {name: i for i, name in enumerate(found.class_names)}
    numeric = [j for j in range(len(source.names)) if j not in found.text]
    text = sorted(found.text)
    moments = (0, np.zeros(encoding.width()), np.zeros(encoding.width()))
    for chunk in source.chunks(comm.rank, comm.world, found.text):
        table = Table(
            list(source.names),
            ["categorical" if j in found.text else "numeric" for j in range(len(source.names))],
            np.stack([np.asarray(chunk.columns[j], dtype=np.float32) for j in numeric], axis=1)
            if numeric
            else np.empty((len(chunk.row_ids), 0), dtype=np.float32),
            np.stack([text_column(chunk.columns[j], source.na_values) for j in text], axis=1)
            if text
            else np.empty((len(chunk.row_ids), 0), dtype=object),
        )
        X = encoding.design(table)
        labels = np.asarray(label_texts(chunk.labels), dtype=object).astype(str)
        y = np.fromiter((index[t] for t in labels.tolist()), dtype=np.int64, count=len(labels))
        held_out = validation_rows(chunk.row_ids, opts.seed, opts.val_fraction)
        for split, cache, rows in zip(samples, caches, (~held_out, held_out), strict=True):
            ids = chunk.row_ids[rows]
            cache.append(X[rows], y[rows], ids)
            picked = validation_rows(ids, opts.seed + _SAMPLE_SALT, fractions[split])
            samples[split].append(X[rows][picked], y[rows][picked], ids[picked])
        moments = _chan(moments, X[~held_out])
        del chunk, table, X
    for cache in (*caches, *samples.values()):
        cache.finish()
    return moments


def _chan(moments: tuple, X: np.ndarray) -> tuple:
    """The running (count, mean, sum of squared deviations) with a chunk's rows added, in float64."""
    return combine_moments(moments, chunk_moments(X)) if len(X) else moments


def _merge_moments(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Every rank's moments merged in rank order: the float32 mean and scale, as in memory
    (:func:`trainer.engine.moments.standardization`)."""
    merged = (0, np.zeros_like(parts[0][1]), np.zeros_like(parts[0][2]))
    for part in parts:
        merged = combine_moments(merged, part)
    return from_moments(*merged)


def _probabilities(model64: LogisticModel, X: np.ndarray, buffer: torch.Tensor) -> np.ndarray:
    """``model64(X)`` as :func:`trainer.training.predict_proba_float64` computes it (float64, standardized in float64),
    standardizing in place in ``buffer`` (at least ``len(X)`` rows), reused from one chunk to the next."""
    rows = buffer[: len(X)].copy_(torch.from_numpy(X)).sub_(model64.mean).div_(model64.scale)
    return model64.probabilities_of_logits(model64.linear(rows)).numpy()


def _metrics(totals: dict, model, caches: dict, samples: dict, comm: Comm, weights, l2: float, stream: StreamOptions):
    """Per split: exact sums over every row of every rank, and the seeded sample (X, y, probabilities), gathered
    from every rank in row-id order (the same sample however many ranks)."""
    model64 = float64_copy(model)
    k = model.n_classes
    blocks, out = {}, {}
    for split, cache in caches.items():
        total = totals[split]
        out[split] = (np.zeros((0, cache.width), np.float32), np.zeros(0, np.int64), np.zeros((0, k)))
        if total == 0:
            continue
        sums = torch.zeros(4 + k * k, dtype=torch.float64)  # log-loss, weighted log-loss, weight, correct, matrix
        buffer = torch.empty((min(stream.chunk_rows, cache.n_rows), cache.width), dtype=torch.float64)
        with torch.no_grad():
            for X, y in cache.chunks(stream.chunk_rows):
                p = _probabilities(model64, X, buffer)
                row_weights = None if weights is None else weights[y].astype(np.float64)
                sums[0] += log_loss(y, p) * len(y)
                weight = float(row_weights.sum()) if row_weights is not None else float(len(y))
                sums[1] += log_loss(y, p, sample_weight=row_weights) * weight
                sums[2] += weight
                sums[3] += float((p.argmax(axis=1) == y).sum())
                sums[4:] += torch.from_numpy(confusion_matrix(y, p.argmax(axis=1), k).ravel().astype(np.float64))
            kept = [
                (ids.copy(), X.copy(), y.copy())
                for X, y, ids in samples[split].chunks(max(samples[split].n_rows, 1), with_ids=True)
            ]
            kept = [
                (
                    ids,
                    X,
                    y,
                    np.concatenate(
                        [_probabilities(model64, X[i : i + len(buffer)], buffer) for i in range(0, len(y), len(buffer))]
                    ),
                )
                for ids, X, y in kept
            ]
        comm.all_sum(sums)
        parts = [part for rank_parts in comm.gather(kept) for part in rank_parts]
        ids = np.concatenate([np.zeros(0, np.uint64), *(part[0] for part in parts)])
        order = np.argsort(ids, kind="stable")
        X_s, y_s, p_s = (
            np.concatenate([empty, *(part[i] for part in parts)])[order]
            for i, empty in ((1, out[split][0]), (2, out[split][1]), (3, out[split][2]))
        )
        block = classification_metrics(y_s, p_s) if len(y_s) else {"roc_auc": None}
        matrix = sums[4:].numpy().reshape(k, k).astype(np.int64)
        block |= {"n_rows": total, "log_loss": float(sums[0]) / total, "accuracy": float(sums[3]) / total}
        block |= confusion_metrics(matrix) | {"sample_rows": len(y_s)}
        if split == "train":
            penalty = float(weight_penalty(model.linear.weight.detach().double(), l2))
            block["objective"] = float(sums[1]) / float(sums[2]) + penalty
        blocks[split] = block
        out[split] = (X_s, y_s, p_s)
    return blocks, out
