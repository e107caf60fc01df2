"""What a row brings besides its features and label: a frequency weight (``weight=COL``, ``sample_weight=``), an
offset (``offset=COL``, ``fit(offset=o)``) and a cluster id (``se="cluster:COL"``), read from the data's columns,
which are then not features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import DataError, Setting
from .dataset import Dataset, check_offsets, check_weights, take_column


def frequency_weights(dataset: Dataset, column: str | None) -> Dataset:
    """``weight=COL``: the dataset without column COL, its values as the rows' frequency weights (checked)."""
    if column is None:
        return dataset
    dataset, weights = _numbers(dataset, column, "weight", check_weights)
    return replace(dataset, weights=weights)


def offset_values(dataset: Dataset, column: str | None) -> Dataset:
    """``offset=COL``: the dataset without column COL, its values as the rows' offsets (checked)."""
    if column is None:
        return dataset
    dataset, offsets = _numbers(dataset, column, "offset", check_offsets)
    return replace(dataset, offsets=offsets, offset_name=column)


def _numbers(dataset: Dataset, column: str, option: str, check) -> tuple[Dataset, np.ndarray]:
    """The dataset without ``column``, and that column's values checked by ``check`` for the ``option``."""
    role = Setting(option, column)
    dataset, values = take_column(dataset, column, role=role)
    return dataset, check(values, len(dataset.y), what=f"{dataset.source}: column {column!r}", role=role)


def cluster_ids(dataset: Dataset, column: str) -> tuple[Dataset, np.ndarray]:
    """``se="cluster:COL"``: the dataset without column COL, and its values (the rows' clusters, two or more)."""
    dataset, values = take_column(dataset, column, role=Setting("se", f"cluster:{column}"))
    if len(np.unique(values)) < 2:
        raise DataError(f"{dataset.source}: column {column!r} holds one cluster; clustered errors need two or more")
    return dataset, values


def row_weights(class_weights: np.ndarray | None, dataset: Dataset, rows: np.ndarray) -> np.ndarray | None:
    """Each of ``rows``' weight in the log-loss, float64: its class's weight (``class_weight``) times its frequency
    weight (``weight``, ``sample_weight``); None when neither is given."""
    y = dataset.y[rows]
    weights = None if class_weights is None else class_weights[y].astype(np.float64)
    if dataset.weights is not None:
        weights = dataset.weights[rows] if weights is None else weights * dataset.weights[rows]
    return weights
