"""What a row brings besides its features and label: a frequency weight (``weight=COL``, ``sample_weight=``) and a
cluster id (``se="cluster:COL"``), read from the data's columns, which are then not features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import DataError, Setting
from .dataset import Dataset, check_weights, take_column


def frequency_weights(dataset: Dataset, column: str | None) -> Dataset:
    """``weight=COL``: the dataset without column COL, its values as the rows' frequency weights (checked)."""
    if column is None:
        return dataset
    dataset, values = take_column(dataset, column, role=Setting("weight", column))
    weights = check_weights(values, len(dataset.y), what=f"{dataset.source}: column {column!r}",
                            role=Setting("weight", column))  # fmt: skip
    return replace(dataset, weights=weights)


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
