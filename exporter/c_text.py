"""C99 literals and comments from Python values, for the generated header (exporter/c_code.py)."""

from __future__ import annotations

import math
import re

import numpy as np


def float_literal(value: float) -> str:
    return floats_literal([value])[1:-1]


def comment_text(text: str) -> str:
    """``text`` safe inside a C comment: printable ASCII, no comment end."""
    return re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "* /")


def floats_literal(values) -> str:
    """A C initializer of float32 values, each written with 9 significant digits (enough to round-trip float32)."""
    cells = []
    for value in np.asarray(values, dtype=np.float32).tolist():
        if math.isnan(value):
            cells.append("NAN")  # a median of a column without one: never read (such a column has no NaN imputed)
        else:
            cells.append(f"{value:.9g}f" if "." in f"{value:.9g}" or "e" in f"{value:.9g}" else f"{value:.9g}.0f")
    return "{" + ", ".join(cells) + "}" if cells else "{0}"


def strings_literal(texts: list[str]) -> str:
    return "{" + ", ".join(c_string(t) for t in texts) + "}" if texts else "{0}"


def c_string(text: str) -> str:
    """A C string literal of ``text``'s UTF-8 bytes: printable ASCII as is, every other byte as an octal escape
    (three digits, so a following digit is never read as part of it)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':  # ? too: "??" starts a trigraph
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_ .()-]", "?", text)[:60]
