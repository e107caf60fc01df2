"""``logreg report RUN``: one self-contained HTML file about a training run, from its own files (metrics.json,
history.csv): the data, the metrics, the confusion matrix, ROC and precision-recall curves, the calibration diagram,
the coefficients with a forest plot of odds ratios, the training curve and the threshold table. Figures are inline SVG
(matplotlib); no script, no network, nothing outside the file."""

from __future__ import annotations

import csv
import datetime
import html
import io
import json
import math
import re
from pathlib import Path

REPORT_FILE = "report.html"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; max-width: 68rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0; }
h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0.2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.6rem 0; }
th, td { border: 1px solid #d5d5d5; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f4f4f6; } td.l, th.l { text-align: left; }
.figs { display: flex; flex-wrap: wrap; gap: 1rem; } .figs svg { max-width: 100%; height: auto; }
.note { color: #6a4a00; background: #fff7e0; padding: 0.3rem 0.6rem; border-radius: 4px; }
tr.chosen td { background: #e8f0ff; font-weight: 600; }
"""


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` (default: ``RUN/report.html``); returns its path."""
    from logreg_onnx.runtime.files import write_text_atomic

    run = Path(run_dir)
    target = Path(out) if out is not None else run / REPORT_FILE
    write_text_atomic(target, render(run))
    return target


def render(run: Path) -> str:
    metrics = json.loads((run / "metrics.json").read_text())
    history = _history(run / "history.csv")
    classes = metrics["class_names"]
    binary = len(classes) == 2
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>logreg-onnx report: {html.escape(run.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Training run <code>{html.escape(run.name)}</code></h1>",
        f"<p class='sub'>{'binary' if binary else f'{len(classes)}-class'} logistic regression; "
        f"{html.escape(_solver_line(metrics))}; report written {datetime.date.today()}</p>",
        _data_section(metrics),
        _metrics_section(metrics),
        _confusion_section(metrics),
    ]
    figures = []
    if binary and metrics.get("thresholds"):
        figures += [_roc_figure(metrics), _pr_figure(metrics)]
    calibration = (metrics.get("validation") or metrics.get("train") or {}).get("calibration")
    if calibration:
        figures.append(_calibration_figure(calibration))
    if figures:
        parts.append("<h2>Curves</h2><div class='figs'>" + "".join(figures) + "</div>")
        if calibration:
            parts.append(
                f"<p>Calibration ({'validation' if metrics.get('validation') else 'training'} rows, "
                f"{html.escape(calibration['of'])}): Brier score {calibration['brier']:.4f}, expected calibration "
                f"error {calibration['ece']:.4f} over {len(calibration['bins'])} non-empty bins.</p>"
            )
    if metrics.get("coefficients"):
        parts.append(_coefficients_section(metrics["coefficients"]))
    if history:
        unit = "iteration" if (metrics.get("options") or {}).get("optimizer") == "lbfgs" else "epoch"
        parts.append("<h2>Training curve</h2><div class='figs'>" + _history_figure(history, unit) + "</div>")
    for name in ("l2", "l1"):
        if metrics.get(f"{name}_path"):
            parts.append(_penalty_section(metrics[f"{name}_path"], (metrics.get("options") or {}).get(name), name))
    if binary and metrics.get("thresholds"):
        parts.append(_threshold_section(metrics))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _solver_line(metrics: dict) -> str:
    options, training = metrics.get("options") or {}, metrics.get("training") or {}
    return (
        f"{options.get('optimizer', '?')}, l2 {_cell(options.get('l2'))}, {training.get('stop_reason', '')}, "
        f"{training.get('seconds', '?')} s"
    )


def _table(header: list[str], rows: list[list], left: int = 1, classes: list[str] | None = None) -> str:
    out = [
        "<table><tr>"
        + "".join(f"<th{' class=l' if i < left else ''}>{html.escape(h)}</th>" for i, h in enumerate(header))
        + "</tr>"
    ]
    for r, row in enumerate(rows):
        css = f" class='{classes[r]}'" if classes and classes[r] else ""
        out.append(
            f"<tr{css}>"
            + "".join(f"<td{' class=l' if i < left else ''}>{html.escape(_cell(v))}</td>" for i, v in enumerate(row))
            + "</tr>"
        )
    return "".join(out) + "</table>"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _data_section(metrics: dict) -> str:
    data = metrics.get("data") or {}
    counts = data.get("class_counts") or {}
    rows = [[name, count] for name, count in counts.items()]
    text = (
        f"<h2>Data</h2><p>{data.get('n_rows', '?'):,} rows from <code>{html.escape(str(data.get('path')))}</code>"
        f" (label <code>{html.escape(str(data.get('label')))}</code>), {data.get('n_features', '?')} design "
        f"columns.</p>" + _table(["class", "rows"], rows)
    )
    columns = data.get("columns") or []
    missing = data.get("missing") or {}
    if columns:
        described = []
        for c in columns:
            if c["kind"] == "categorical":
                kind = f"categorical, {len(c.get('levels') or [])} levels"
            else:
                kind = "numeric" + (f", median {c['median']:g} imputed" if c.get("indicator") else "")
            described.append([c["name"], kind, missing.get(c["name"], "")])
        text += _table(["column", "kind", "missing values"], described, left=2)
    for note in data.get("notes") or []:
        text += f"<p class='note'>{html.escape(note)}</p>"
    return text


def _metrics_section(metrics: dict) -> str:
    from .summary import METRIC_ROWS

    splits = [s for s in ("train", "validation") if s in metrics]
    rows = [[title, *[metrics[s].get(key) for s in splits]] for title, key in METRIC_ROWS]
    rows.append(["Brier score", *[(metrics[s].get("calibration") or {}).get("brier") for s in splits]])
    rows.append(["calibration error", *[(metrics[s].get("calibration") or {}).get("ece") for s in splits]])
    return "<h2>Metrics</h2>" + _table(["", *splits], rows)


def _confusion_section(metrics: dict) -> str:
    split = "validation" if "validation" in metrics else "train"
    matrix = metrics[split].get("confusion_matrix")
    if not matrix:
        return ""
    classes = metrics["class_names"]
    rows = [[f"true {name}", *row] for name, row in zip(classes, matrix, strict=True)]
    return f"<h2>Confusion matrix</h2><p>{split} rows, at the most probable class.</p>" + _table(
        ["", *[f"predicted {c}" for c in classes]], rows
    )


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"^<\?xml[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)  # RDF about the file: nothing to show
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, selectable labels
    return plt


def _roc_figure(metrics: dict) -> str:
    plt = _plt()
    table = metrics["thresholds"]
    fpr = [1.0] + [r["fpr"] for r in table] + [0.0]
    tpr = [1.0] + [r["tpr"] for r in table] + [0.0]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(fpr, tpr, color="#3b7dd8")
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":")
    chosen = metrics.get("threshold") or {}
    if "fpr" in chosen:
        ax.plot([chosen["fpr"]], [chosen["tpr"]], "o", color="#d8553b", label=f"threshold {chosen['value']:g}")
        ax.legend(loc="lower right")
    auc = (metrics.get("validation") or metrics["train"]).get("roc_auc")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC (AUC {auc:.3f})")
    fig.tight_layout()
    return _svg(fig)


def _pr_figure(metrics: dict) -> str:
    plt = _plt()
    points = [(r["recall"], r["precision"]) for r in metrics["thresholds"] if r["precision"] is not None]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([p[0] for p in points], [p[1] for p in points], color="#3b7dd8")
    chosen = metrics.get("threshold") or {}
    if chosen.get("precision") is not None:
        ax.plot([chosen["recall"]], [chosen["precision"]], "o", color="#d8553b", label=f"threshold {chosen['value']:g}")
        ax.legend(loc="lower left")
    ax.set(xlabel="recall", ylabel="precision", title="Precision and recall", xlim=(0, 1.02), ylim=(0, 1.02))
    fig.tight_layout()
    return _svg(fig)


def _calibration_figure(calibration: dict) -> str:
    plt = _plt()
    bins = calibration["bins"]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", label="perfect")
    ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], "o-", color="#3b7dd8", label="observed")
    ax.set(
        xlabel=f"predicted probability ({calibration['of']})",
        ylabel="observed frequency",
        title="Reliability diagram",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _svg(fig)


def _history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [
            {k: float(v) if v not in ("", None) else None for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def _history_figure(history: list[dict], unit: str) -> str:
    plt = _plt()
    steps = [row["epoch"] for row in history]  # history.csv numbers epochs and solver iterations alike
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot(steps, [row["train_loss"] for row in history], label="training")
    if any(row.get("val_loss") is not None for row in history):
        ax.plot(steps, [row.get("val_loss") for row in history], label="validation")
    ax.set(xlabel=unit, ylabel="log-loss", title="Training curve")
    ax.legend()
    fig.tight_layout()
    return _svg(fig)


def _coefficients_section(table: dict) -> str:
    from logreg_onnx.runtime.coefficients import format_p, inference_words, model_words

    classical = table["classical"]
    header = (
        ["class", "term", "estimate"]
        + (["std error", "z", "p", "95% low", "95% high"] if classical else [])
        + ["odds ratio"]
        + (["OR low", "OR high"] if classical else [])
    )
    rows = []
    for r in table["rows"]:
        row = [r["class"], r["term"], r["estimate"]]
        if classical:
            row += [r["std_error"], r["z"], format_p(r["p_value"]), r["ci_low"], r["ci_high"]]
        row.append(r["odds_ratio"])
        if classical:
            row += [r["odds_ratio_low"], r["odds_ratio_high"]]
        rows.append(row)
    fit = table["fit"]
    text = (
        "<h2>Coefficients</h2>"
        f"<p>log-likelihood {fit['log_likelihood']:.4f} (null {fit['null_log_likelihood']:.4f}), McFadden pseudo "
        f"R<sup>2</sup> {_cell(fit['pseudo_r2'])}, AIC {fit['aic']:.2f}, BIC {fit['bic']:.2f}"
        + (f", likelihood-ratio test p {format_p(fit['llr_p_value'])}" if fit.get("llr_p_value") is not None else "")
        + (
            f"; each class against <b>{html.escape(table['reference_class'])}</b>"
            if table.get("reference_class")
            else ""
        )
        + ".</p>"
    )
    if table.get("note"):
        text += f"<p class='note'>{html.escape(table['note'])}</p>"
    for line in [*model_words(table), *inference_words(table)]:
        text += f"<p class='note'>{html.escape(line)}.</p>"
    text += _table(header, rows, left=2)
    text += "<div class='figs'>" + _forest_figure(table) + "</div>"
    return text


def _forest_figure(table: dict) -> str:
    plt = _plt()
    rows = [r for r in table["rows"] if r["term"] != "Intercept" and r["odds_ratio"] is not None]
    labels = [f"{r['class']}: {r['term']}" if r["class"] else r["term"] for r in rows]
    height = max(2.0, 0.28 * len(rows) + 1.0)
    fig, ax = plt.subplots(figsize=(6.5, height))
    y = list(range(len(rows)))[::-1]
    ax.axvline(1.0, color="#999", linestyle=":")
    if table["classical"]:
        low = [r["odds_ratio"] - max(r["odds_ratio_low"] or 0, 1e-300) for r in rows]
        high = [min(r["odds_ratio_high"] or math.inf, 1e300) - r["odds_ratio"] for r in rows]
        ax.errorbar([r["odds_ratio"] for r in rows], y, xerr=[low, high], fmt="o", color="#3b7dd8", capsize=2)
    else:
        ax.plot([r["odds_ratio"] for r in rows], y, "o", color="#3b7dd8")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="odds ratio" + (" (95% interval)" if table["classical"] else ""), title="Odds ratios")
    fig.tight_layout()
    return _svg(fig)


def _penalty_section(path: list[dict], chosen: float | None, name: str = "l2") -> str:
    plt = _plt()
    values = [p[name] for p in path]
    means = [p["mean"] for p in path]
    spreads = [p["std"] for p in path]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.errorbar(values, means, yerr=spreads, fmt="o-", color="#3b7dd8", capsize=2, label="mean +- sd over folds")
    if chosen is not None:
        ax.axvline(chosen, color="#d8553b", linestyle="--", label=f"chosen {chosen:.3g}")
    ax.set_xscale("log")
    ax.set(xlabel=f"{name} penalty", ylabel="validation log-loss", title="Penalty path (cross-validation)")
    ax.legend()
    fig.tight_layout()
    rows = [[p[name], p["mean"], p["std"]] for p in path]
    return (
        f"<h2>Penalty path</h2><p>--{name} auto: each value's validation log-loss over the folds; the model is "
        "refitted on every training row with the lowest mean.</p><div class='figs'>"
        + _svg(fig)
        + "</div>"
        + _table([name, "mean validation log-loss", "spread (sd)"], rows, left=0)
    )


def _threshold_section(metrics: dict) -> str:
    chosen = metrics.get("threshold") or {}
    value = chosen.get("value", 0.5)
    table = [r for r in metrics["thresholds"] if round(r["threshold"] * 1000) % 50 == 0]
    if not any(abs(r["threshold"] - value) < 1e-9 for r in table):
        table = sorted(
            [*table, min(metrics["thresholds"], key=lambda r: abs(r["threshold"] - value))],
            key=lambda r: r["threshold"],
        )
    rows = [[r["threshold"], r["precision"], r["recall"], r["f1"], r["fpr"], r["cost"]] for r in table]
    marks = ["chosen" if abs(r["threshold"] - value) < 0.0025 else "" for r in table]
    return (
        f"<h2>Decision threshold</h2><p>The model predicts the second class when its probability is above "
        f"<b>{value:g}</b> (rule <code>{html.escape(str(chosen.get('rule', '0.5')))}</code>, picked on the "
        f"{html.escape(str(chosen.get('rows', 'validation')))} rows); the exported graph's label output uses it.</p>"
        + _table(
            ["threshold", "precision", "recall", "F1", "false positive rate", "cost per row"],
            rows,
            left=0,
            classes=marks,
        )
    )
