"""What a run prints: the data set and its encoding in a line or two, the metrics table (shared with the report)."""

from __future__ import annotations


def describe_dataset(dataset, roles: tuple[str, ...] = ()) -> str:
    """One line: rows, feature columns (numeric and categorical; not the ``roles`` columns, read for weights, an
    offset or clusters), and each class with its count."""
    import numpy as np

    counts = np.bincount(dataset.y, minlength=len(dataset.class_names)).tolist()
    classes = ", ".join(f"{name} {count:,}" for name, count in zip(dataset.class_names, counts, strict=True))
    notes = "".join(f"; {note}" for note in dataset.notes)
    table = dataset.table
    if table is not None and table.categorical_names:
        numeric = [n for n in table.numeric_names if n not in roles]
        categorical = [n for n in table.categorical_names if n not in roles]
        features = (
            f"{len(numeric) + len(categorical)} features ({len(numeric)} numeric, {len(categorical)} "
            f"categorical: {', '.join(categorical)})"
        )
    else:
        features = f"{len([n for n in dataset.feature_names if n not in roles])} features"
    return f"{len(dataset.y):,} rows, {features}; classes: {classes}{notes}"


def describe_encoding(encoding) -> str:
    """What the model does with missing values and categories, in a line or two."""
    parts = []
    imputed = [c for c in encoding.numeric if c.indicator]
    if imputed:
        parts.append(
            "missing values imputed with the training median, plus an indicator: "
            + ", ".join(f"{c.name} ({c.median:g})" for c in imputed)
        )
    for c in encoding.categorical:
        levels = ", ".join("(missing)" if v == "" else v for v in c.levels[:8])
        more = f", ... ({len(c.levels)} in all)" if len(c.levels) > 8 else ""
        folded = f"; {len(c.other)} rare levels as (other)" if c.other else ""
        parts.append(f"{c.name}: {levels}{more}{folded}")
    parts += list(encoding.notes)
    return "\n".join(parts)


METRIC_ROWS = [  # (title, metrics.json key), in the order the metrics table and the report show them
    ("rows", "n_rows"),
    ("log-loss", "log_loss"),
    ("accuracy", "accuracy"),
    ("ROC AUC", "roc_auc"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("F1", "f1"),
]


def format_metrics(metrics: dict) -> str:
    """A plain-text table, one column per split."""
    splits = [s for s in ("train", "validation") if s in metrics]
    rows = METRIC_ROWS
    lines = [f"{'':<10}" + "".join(f"{s:>12}" for s in splits)]
    for title, key in rows:
        cells = []
        for split in splits:
            value = metrics[split].get(key)
            cells.append("n/a" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}")
        lines.append(f"{title:<10}" + "".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)
