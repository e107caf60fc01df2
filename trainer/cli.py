"""``logreg train``: parse options, load and check the data, fit, write the run, print the metrics."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import click

from runtime.cli import BadInput, require_extra


def _column_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("give at least one column name", param_hint="--features")
    return names


@click.command()
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", metavar="COL", help="Label column of a CSV (any two or more distinct values).")
@click.option(
    "--features",
    metavar="A,B,...",
    help="Feature columns, comma-separated, in this order. [default: every column but the label]",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory for model.pt, metrics.json, history.csv and plots. [default: artifacts/<DATA stem>]",
)
@click.option(
    "--optimizer",
    type=click.Choice(["auto", "lbfgs", "sgd", "adam"]),
    default="auto",
    show_default=True,
    help="lbfgs: full batch to the exact optimum (auto picks it when the data fit on the device); "
    "sgd/adam: mini-batch with early stopping.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Epochs for sgd/adam [default: 100]; iteration cap for lbfgs [default: 1000].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Mini-batch rows.")
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Learning rate for sgd/adam [default: 0.1 for sgd, 0.01 for adam].",
)
@click.option(
    "--l2",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Penalty l2/2*||w||^2 on the weights (not the bias), added to the mean log-loss. "
    "0 is plain maximum likelihood.",
)
@click.option(
    "--val-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Fraction of rows held out (stratified) for validation, in [0, 1). 0: none.",
)
@click.option(
    "--class-weight",
    type=click.Choice(["none", "balanced"]),
    default="none",
    show_default=True,
    help="balanced weighs each class by n_rows / (n_classes * class rows).",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="sgd/adam: stop after this many epochs without a lower validation loss.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for the split and shuffling; the same seed gives the same run, bit for bit, on the same machine.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--export", "export_onnx", is_flag=True, help="Also export and verify RUN/model.onnx (as logreg export).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no metrics table.")
def train(
    data: Path,
    label,
    features,
    out_dir,
    optimizer,
    epochs,
    batch_size,
    lr,
    l2,
    val_fraction,
    class_weight,
    patience,
    seed,
    device,
    export_onnx,
    quiet,
) -> None:
    """Fit a logistic-regression model to DATA, a CSV with a header (give --label) or an .npz with arrays X, y.

    Two classes give a binary (sigmoid) model, more a multinomial (softmax) model. Bad input stops with one line
    naming the file, line and column, exit code 2, and nothing written.

    \b
    Example:
      logreg train examples/breast_cancer/breast_cancer.csv --label diagnosis --export
    """
    require_extra("train", "torch", "matplotlib")
    from .data import load_dataset
    from .errors import TrainerError
    from .run import write_run
    from .training import fit_dataset

    if not 0 <= val_fraction < 1:
        raise BadInput(f"--val-fraction must be in [0, 1), got {val_fraction}")
    out_dir = out_dir or Path("artifacts") / data.stem
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir}: exists and is not a directory")
    try:
        dataset = load_dataset(data, label=label, features=_column_names(features))
    except TrainerError as exc:
        raise BadInput(str(exc)) from None

    progress = not quiet and sys.stderr.isatty()
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit_dataset(
                dataset,
                progress=progress,
                optimizer=optimizer,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                l2=l2,
                val_fraction=val_fraction,
                class_weight=class_weight,
                seed=seed,
                device=device,
                patience=patience,
            )
        except TrainerError as exc:
            raise BadInput(str(exc)) from None
    seconds = time.perf_counter() - started
    for warning in caught:
        if not issubclass(warning.category, (DeprecationWarning, FutureWarning)):
            click.echo(f"warning: {warning.message}", err=True)

    write_run(out_dir, result, dataset, seconds=seconds, label=label)
    if not quiet:
        click.echo(format_metrics(result.metrics))
        click.echo(f"\n{result.options['optimizer']}: {result.stop_reason} in {seconds:.2f} s")
    click.echo(
        f"wrote {out_dir}/ (model.pt, metrics.json, history.csv, training.png"
        f"{', roc.png' if len(result.class_names) == 2 else ''})"
    )
    if result.interrupted:
        click.echo(f"interrupted: {result.stop_reason}; the run holds the model as trained so far", err=True)
        sys.exit(130)
    if export_onnx:
        from exporter.cli import export_run

        export_run(out_dir, quiet=quiet)


def format_metrics(metrics: dict) -> str:
    """A plain-text table, one column per split."""
    splits = [s for s in ("train", "validation") if s in metrics]
    rows = [
        ("rows", "n_rows"),
        ("log-loss", "log_loss"),
        ("accuracy", "accuracy"),
        ("ROC AUC", "roc_auc"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("F1", "f1"),
    ]
    lines = [f"{'':<10}" + "".join(f"{s:>12}" for s in splits)]
    for title, key in rows:
        cells = []
        for split in splits:
            value = metrics[split].get(key)
            cells.append("n/a" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}")
        lines.append(f"{title:<10}" + "".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)
