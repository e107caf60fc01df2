"""Every training option, declared once: name, default, type, allowed values and help.

``trainer.fit`` validates its keyword arguments with :class:`FitOptions`; ``logreg train`` derives its flags from the
same fields (``logreg_onnx.cli.options.click_options``) and reports an :class:`OptionError` under the flag of its
``parameter``; the estimator's parameters and ``get_params`` are the same fields. File-reading options
(``logreg train`` and :func:`trainer.data.dataset.load_dataset`) are :class:`ReadOptions`. Nothing here imports click.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from .errors import OptionError, Setting

OPTIMIZERS = ("lbfgs", "sgd", "adam")
MISSING_POLICIES = ("impute", "drop", "error")
DEFAULT_NA_VALUES = ("NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
SE_KINDS = ("classical", "robust", "hc0", "hc1", "hc2", "hc3")  # and "cluster:COL": trainer/stats/sandwich.py
CLUSTER = "cluster:"
PENALTIES = ("l2", "firth")
L2_DEFAULT = 1e-3  # FitOptions.l2's default: an L1 or Firth fit leaves it unused, and refuses another value


def option(
    default: Any,
    *,
    help: str,
    kind: type = str,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    optional: bool = False,
    metavar: str | None = None,
    auto: bool = False,
    parse: Callable[[str, Any], Any] | None = None,
) -> Any:
    """A dataclass field that carries what the CLI, the validation and the docs need to know about it."""
    spec = {
        "help": help,
        "kind": kind,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "exclusive_maximum": exclusive_maximum,
        "optional": optional,
        "metavar": metavar,
        "auto": auto,  # the text "auto" is a value too (resolved by the trainer)
        "parse": parse,  # (name, value) -> the value as kept, raising OptionError: for values of several forms
    }
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=spec)
    return field(default=default, metadata=spec)


def _validate(instance: object) -> None:
    for f in fields(instance):
        spec = f.metadata
        value = getattr(instance, f.name)
        if value is None and spec["optional"]:
            continue
        if spec["parse"] is not None:
            object.__setattr__(instance, f.name, spec["parse"](f.name, value))
            continue
        kind = spec["kind"]
        if spec["auto"] and isinstance(value, str):
            if value == "auto":
                continue
            try:
                value = float(value)
            except ValueError:
                raise OptionError(f.name, f"must be a number or auto, got {value!r}") from None
            object.__setattr__(instance, f.name, value)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            object.__setattr__(instance, f.name, value)
        if kind is tuple:
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",")) if value else ()
                object.__setattr__(instance, f.name, value)
            if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
                raise OptionError(f.name, f"must be a list of strings, got {value!r}")
            object.__setattr__(instance, f.name, tuple(value))
            continue
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise OptionError(f.name, f"must be {_kind_name(kind)}, got {value!r}")
        if spec["choices"] is not None and value not in spec["choices"]:
            raise OptionError(f.name, f"must be one of {', '.join(spec['choices'])}; got {value!r}")
        if kind in (int, float):
            _check_range(f.name, value, spec)


def se_option(name: str, value: object) -> str:
    """``se`` as kept: one of :data:`SE_KINDS` (lower case) or ``cluster:COL``; OptionError naming the choices."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.lower() in SE_KINDS:
        return text.lower()
    if isinstance(text, str) and text.lower().startswith(CLUSTER) and text[len(CLUSTER) :].strip():
        return CLUSTER + text[len(CLUSTER) :].strip()
    raise OptionError(
        name, f"must be one of {', '.join(SE_KINDS)} or cluster:COL (COL: the column of cluster ids), got {value!r}"
    )


def class_weight_option(value: object) -> str | dict[object, float]:
    """The ``class_weight`` option as kept: ``"none"``, ``"balanced"``, or a dict {label: weight}, from a mapping or
    from the command line's text ``LABEL=W,LABEL=W``. Each weight a positive finite number; which labels are classes
    is known only with the data (:func:`trainer.engine.plan.class_weight_vector`)."""
    if isinstance(value, str) and value in ("none", "balanced"):
        return value
    if isinstance(value, str):
        pairs = [part.rpartition("=") for part in value.split(",")] if value.strip() else []
        if not pairs or any(not sep or not label.strip() for label, sep, _ in pairs):
            raise OptionError(
                "class_weight", f"must be balanced, none or LABEL=W,LABEL=W (a weight per class); got {value!r}"
            )
        weights = {}
        for label, _, weight in pairs:
            try:
                weights[label.strip()] = float(weight)
            except ValueError:
                weights[label.strip()] = weight.strip()
        value = weights
    if not isinstance(value, Mapping):
        raise OptionError(
            "class_weight", f"must be balanced, none or a dict {{label: weight}}; got {type(value).__name__} {value!r}"
        )
    out = {}
    for label, weight in value.items():
        number = float(weight) if isinstance(weight, numbers.Real) and not isinstance(weight, bool) else math.nan
        if not math.isfinite(number) or number <= 0:
            raise OptionError(
                "class_weight", f"gives class {label!r} the weight {weight!r}; weights must be positive numbers"
            )
        out[label] = float(number)
    return out


def _check_range(name: str, value: float, spec: dict) -> None:
    low, high = spec["minimum"], spec["maximum"]
    ok = math.isfinite(value)
    if low is not None:
        ok = ok and (value > low if spec["exclusive_minimum"] else value >= low)
    if high is not None:
        ok = ok and (value < high if spec["exclusive_maximum"] else value <= high)
    if not ok:
        raise OptionError(name, f"must be {_range_text(spec)}, got {value!r}")


def _range_text(spec: dict) -> str:
    low, high = spec["minimum"], spec["maximum"]
    if low is not None and high is not None:
        left = "(" if spec["exclusive_minimum"] else "["
        right = ")" if spec["exclusive_maximum"] else "]"
        return f"in {left}{low:g}, {high:g}{right}"
    if low is not None:
        if low == 0 and spec["exclusive_minimum"]:
            return "positive"
        return f"{'above' if spec['exclusive_minimum'] else 'at least'} {low:g}"
    return f"{'below' if spec['exclusive_maximum'] else 'at most'} {high:g}"


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, kind.__name__)


@dataclass(frozen=True)
class FitOptions:
    """Every option of :func:`trainer.fit` and the estimator, validated on construction (:class:`OptionError`)."""

    optimizer: str = option(
        "auto",
        choices=("auto", *OPTIMIZERS),
        help="lbfgs: full batch, to the exact optimum (Newton's method for up to 1024 parameters, else L-BFGS); "
        "sgd/adam: classic mini-batch descent with early stopping. auto: lbfgs when the data fit on the device.",
    )
    epochs: int | None = option(
        None,
        kind=int,
        minimum=1,
        optional=True,
        help="Epochs for sgd/adam [default: 100]; iteration cap for lbfgs [default: 1000].",
    )
    batch_size: int = option(256, kind=int, minimum=1, help="Mini-batch rows (sgd/adam).")
    lr: float | None = option(
        None,
        kind=float,
        minimum=0,
        exclusive_minimum=True,
        optional=True,
        help="Learning rate for sgd/adam [default: 0.1 for sgd, 0.01 for adam].",
    )
    l2: float | str = option(
        L2_DEFAULT,
        kind=float,
        minimum=0,
        auto=True,
        help="Penalty l2/2*||w||^2 on the weights of the standardized features (not the bias), added to the mean "
        "log-loss. 0 is plain maximum likelihood. auto: chosen by stratified k-fold cross-validated log-loss over "
        "a path of 13 values from 1 to 1e-6 (warm starts), then refitted on every training row.",
    )
    folds: int = option(5, kind=int, minimum=2, help="--l2 auto, --l1 auto: the number of cross-validation folds.")
    l1: float | str = option(
        0.0,
        kind=float,
        minimum=0,
        auto=True,
        help="L1 penalty l1*||w||_1 on the weights of the standardized features (not the bias), added to the mean "
        "log-loss: the lasso, whose optimum has coefficients exactly 0 (solved exactly by proximal Newton). With "
        "--elastic-net the penalty is l1*(a*||w||_1 + (1-a)/2*||w||^2), glum's alpha and l1_ratio; --l2 is then not "
        "used. auto: chosen by stratified k-fold cross-validated log-loss over a path of 20 values from the "
        "smallest that makes every weight 0 down to a thousandth of it (warm starts), then refitted on every "
        "training row.",
    )
    elastic_net: float | None = option(
        None,
        kind=float,
        minimum=0,
        maximum=1,
        optional=True,
        metavar="ALPHA",
        help="With --l1: the share a of the penalty that is L1 (glum's and scikit-learn's l1_ratio); the rest is "
        "ridge. [default: 1, the lasso]",
    )
    penalty: str = option(
        "l2",
        choices=PENALTIES,
        help="l2: the --l2 penalty (0: none). firth: Firth's penalized likelihood (Jeffreys prior, as R's logistf; "
        "binary models), finite estimates even when the classes are separated, the table's intervals from the "
        "profile penalized likelihood and its p-values from penalized likelihood ratio tests; --l2 is then not used.",
    )
    val_fraction: float = option(
        0.2,
        kind=float,
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
        help="Fraction of rows held out (stratified) for validation. 0: none.",
    )
    class_weight: str | Mapping[object, float] = option(
        "none",
        metavar="balanced|none|LABEL=W,...",
        parse=lambda name, value: class_weight_option(value),
        help="Weights of each class's rows in the log-loss. balanced: n_rows / (n_classes * class rows); a weight "
        "per label (LABEL=W,LABEL=W; in Python a dict {label: weight}), 1 for a class not named.",
    )
    threshold: str = option(
        "0.5",
        metavar="T|auto|f1|youden|cost:FP=a,FN=b",
        help="Binary models: the decision threshold on the second class's probability, baked into the exported "
        "graph's label output. A number in (0, 1), or picked on the validation rows: f1 (auto) the best F1, youden "
        "the best TPR - FPR, cost:FP=a,FN=b the lowest a*FP + b*FN.",
    )
    coefficients: str = option(
        "original",
        choices=("original", "standardized"),
        help="Units of the coefficient table: the features' own, or per standard deviation of each feature.",
    )
    weight: str | None = option(
        None,
        optional=True,
        metavar="COL",
        help="The data's column of frequency weights (finite, non-negative, not all zero): each row counts that many "
        "times in the log-likelihood, the coefficient table (as statsmodels' freq_weights) and every metric; the "
        "column is not a feature. In Python, fit(X, y, sample_weight=w) gives them as an array instead.",
    )
    offset: str | None = option(
        None,
        optional=True,
        metavar="COL",
        help="The data's column of a known term added to each row's logit (a log exposure, a prior model's score), "
        "with coefficient 1, not fitted; binary models. The column is not a feature: the exported model takes it "
        "as its input 'offset' (0 when a row does not give it). In Python, fit(X, y, offset=o) gives it as an array "
        "instead.",
    )
    se: str = option(
        "classical",
        metavar="classical|robust|hc0..hc3|cluster:COL",
        parse=se_option,
        help="Standard errors of the coefficient table, and so its p-values and intervals and the exported interval "
        "outputs: classical (the inverse observed information); hc0 (White's sandwich); hc1 (hc0 times n/(n-k), "
        "glum's robust; robust means hc1); hc2, hc3 (scores over 1-h or (1-h)^2, binary models); cluster:COL "
        "(clustered by the data's column COL, which is then not a feature).",
    )
    patience: int = option(
        10, kind=int, minimum=1, help="sgd/adam: stop after this many epochs without a lower validation loss."
    )
    missing: str = option(
        "impute",
        choices=MISSING_POLICIES,
        help="A missing feature value (an empty cell or one of the na_values). impute: a numeric column gets its "
        "training median plus a missing-indicator feature, a text column a level of its own; rows with a missing "
        "label are dropped and counted. drop: leave rows with any missing value out. error: stop at the first one.",
    )
    na_values: tuple[str, ...] = option(
        DEFAULT_NA_VALUES,
        kind=tuple,
        metavar="A,B,...",
        help="Cell texts that mean a missing value, besides an empty cell.",
    )
    categorical: tuple[str, ...] = option(
        (),
        kind=tuple,
        metavar="A,B,...",
        help="Columns to treat as categories even though their values look like numbers (a zip code, a class coded "
        "1/2/3). A column with any text that is not a number is categorical anyway.",
    )
    min_frequency: int = option(
        1,
        kind=int,
        minimum=1,
        help="Fold categorical levels seen in fewer training rows than this into one 'other' level (1: keep all).",
    )
    seed: int = option(
        0,
        kind=int,
        help="Seed for the split and shuffling; the same seed gives the same run, bit for bit, on the same machine.",
    )
    device: str = option("auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when a GPU is available.")

    def __post_init__(self) -> None:
        _validate(self)
        from .threshold import ThresholdRule

        ThresholdRule.parse(self.threshold)  # raises OptionError naming threshold
        if self.elastic_net is not None and self.l1 == 0:
            raise OptionError(
                "elastic_net", "mixes the L1 penalty with a ridge: give its strength with ", Setting("l1")
            )
        if self.l1 == "auto" and self.elastic_net == 0:
            raise OptionError(
                "elastic_net",
                "0 leaves no L1 part for auto to choose the strength of (its path starts where every weight is 0)",
            )
        if self.l1 == "auto" or self.l1 > 0:
            if self.l2 not in (0, L2_DEFAULT):
                raise OptionError(
                    "l2",
                    "is not used with an L1 penalty (its ridge part is l1*(1-a)/2*||w||^2, a from ",
                    Setting("elastic_net"),
                    f"), got {self.l2!r}: leave it out",
                )
            if self.penalty == "firth":
                raise OptionError("l1", "does not combine with penalty=firth (Jeffreys' prior is its penalty)")
        if self.penalty == "firth":
            self._check_firth()
        if self.offset is not None:
            self.check_offset()

    def check_offset(self) -> None:
        """What an offset (a column, or ``fit(offset=o)``'s values) does not combine with yet; the number of classes
        is checked with the data."""
        if self.optimizer in ("sgd", "adam"):
            raise OptionError(
                "optimizer", f"{self.optimizer} does not take an offset yet; leave it at auto (or lbfgs) with one"
            )
        if self.penalty == "firth":
            raise OptionError("penalty", "firth does not take an offset yet; leave it out, or the offset")

    def _check_firth(self) -> None:
        """What Firth's penalty does not combine with, said under the option to change (the number of classes is
        checked with the data: trainer/engine/firth.py)."""
        if self.l2 not in (0, L2_DEFAULT):
            raise OptionError(
                "l2", f"is not used with penalty=firth (Jeffreys' prior is the penalty), got {self.l2!r}: leave it out"
            )
        if self.optimizer in ("sgd", "adam"):
            raise OptionError(
                "optimizer",
                f"{self.optimizer} does not fit Firth's penalty; leave it at auto (or lbfgs): its solver is exact",
            )
        if self.class_weight != "none":
            raise OptionError("class_weight", "does not combine with penalty=firth; use frequency weights instead")
        if self.se != "classical":
            raise OptionError(
                "se",
                f"{self.se} does not combine with penalty=firth: its intervals come from the profile penalized "
                "likelihood",
            )

    def penalty_terms(self) -> tuple[float, float | str]:
        """``(l1, l2)``: the L1 strength and the ridge's (``l2 / 2 * ||w||^2``) that the fit minimizes with: the l2
        option itself without an L1 penalty; with one, its elastic-net split ``l1 * a`` and ``l1 * (1 - a)``."""
        if self.l1 == "auto":
            raise ValueError("l1='auto' is resolved by cross-validation before the fit (trainer/engine/l1_path.py)")
        if self.l1 == 0:
            return 0.0, self.l2
        share = 1.0 if self.elastic_net is None else self.elastic_net
        return self.l1 * share, self.l1 * (1.0 - share)


@dataclass(frozen=True)
class ReadOptions:
    """How ``logreg train`` reads a file (the Python API takes arrays and DataFrames instead)."""

    label: str | None = option(None, optional=True, metavar="COL", help="Label column of a CSV.")
    features: tuple[str, ...] | None = option(
        None,
        kind=tuple,
        optional=True,
        metavar="A,B,...",
        help="Feature columns, in this order. [default: every column but the label and --drop]",
    )
    drop: tuple[str, ...] = option((), kind=tuple, metavar="A,B,...", help="Columns to leave out (an ID, a leak).")
    delimiter: str = option(
        "auto",
        metavar="CHAR",
        help="CSV field separator; auto: ';' or tab when the header has that and no comma, else ','.",
    )
    encoding: str = option("utf-8", metavar="NAME", help="Text encoding of a CSV, e.g. latin-1 or cp1252.")
    decimal: str = option(
        "auto",
        choices=("auto", ".", ","),
        help="Decimal mark of a CSV's numbers. auto: ',' when the separator is not a comma and the first rows hold "
        "numbers with decimal commas (29,5, as Excel and pandas' to_csv(decimal=',') write them) and none with "
        "decimal points; else '.'.",
    )

    def __post_init__(self) -> None:
        _validate(self)
        if self.delimiter != "auto" and len(self.delimiter.replace("\\t", "\t")) != 1:
            raise OptionError("delimiter", f"must be one character or auto, got {self.delimiter!r}")
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise OptionError("encoding", f"must be a text encoding Python knows, got {self.encoding!r}") from None


@dataclass(frozen=True)
class StreamOptions:
    """How a streamed fit (data larger than memory, or several processes) reads and shuffles its rows."""

    chunk_rows: int = option(
        65536, kind=int, minimum=1, help="Streamed fits: rows read, encoded and computed on at a time."
    )
    shuffle_window: int = option(
        8,
        kind=int,
        minimum=1,
        help="Streamed sgd/adam: chunks pooled and shuffled together (chunk order is shuffled too); memory grows "
        "with chunk_rows * shuffle_window.",
    )
    sample_rows: int = option(
        100_000,
        kind=int,
        minimum=100,
        help="Streamed fits: rows of each split (a seeded sample) kept for ROC AUC, calibration, the threshold "
        "table and plots; log-loss, accuracy and the confusion matrix count every row.",
    )

    def __post_init__(self) -> None:
        _validate(self)


def defaults(cls) -> dict[str, Any]:
    """Each field's default value."""
    out = {}
    for f in fields(cls):
        out[f.name] = f.default_factory() if f.default is MISSING else f.default
    return out


def to_json(options: object) -> dict[str, Any]:
    """An options dataclass (:class:`FitOptions`, :class:`ReadOptions`, :class:`StreamOptions`) as a JSON object:
    every field by name, tuples as lists."""
    out = {}
    for f in fields(options):
        value = getattr(options, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def from_json(cls, document: dict[str, Any]):
    """``cls`` from its JSON object (:func:`to_json`), validated as on construction. A field the document lacks
    (written before the field existed) takes its declared default; keys that are not fields are not options."""
    names = {f.name for f in fields(cls)}
    return cls(**{name: value for name, value in document.items() if name in names})
