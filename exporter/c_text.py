"""C99 literals and comments from Python values, for the generated header (exporter/c_code.py).

The header is generated with the default names (``LOGREG_*`` macros, ``logreg_*`` functions and tables) and renamed
for ``--c-prefix`` by :func:`renamed`, a plain replace: so no text of the user's (a level, a column's name) may hold
``LOGREG_`` or ``logreg_`` as it is. A string literal writes that underscore as an octal escape (the same bytes), a
comment as a space."""

from __future__ import annotations

import math
import re

import numpy as np

DEFAULT_PREFIX = "logreg"
_DEFAULT_NAMES = re.compile(r"(LOGREG|logreg)_")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can begin C identifiers, else ValueError saying what is expected."""
    if not _IDENTIFIER.match(prefix or "") or len(prefix) > 40 or prefix.startswith("_"):
        raise ValueError(
            f"expected a C identifier (letters, digits and _, starting with a letter: C reserves a leading _), "
            f"got {prefix!r}"
        )
    if prefix != DEFAULT_PREFIX and prefix.upper() == DEFAULT_PREFIX.upper():
        raise ValueError(
            f"{prefix!r} gives the default header's macros and include guard ({DEFAULT_PREFIX.upper()}_*), so the "
            f"two cannot share a program; choose another name, or leave it out for {DEFAULT_PREFIX!r}"
        )
    return prefix


def renamed(text: str, prefix: str) -> str:
    """Generated C with the default names given ``prefix``: ``PREFIX_`` macros (upper case), ``prefix_`` functions
    and tables, as written."""
    if prefix == DEFAULT_PREFIX:
        return text
    return text.replace("LOGREG_", f"{prefix.upper()}_").replace("logreg_", f"{prefix}_")


def float_literal(value: float) -> str:
    return floats_literal([value])[1:-1]


def comment_text(text: str) -> str:
    """``text`` safe inside a C comment: printable ASCII, no comment end."""
    return _DEFAULT_NAMES.sub(r"\1 ", re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "* /"))


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
    data = text.encode("utf-8")
    protected = {m.end() - 1 for m in re.finditer(rb"(LOGREG|logreg)_", data)}
    for i, byte in enumerate(data):
        char = chr(byte)
        if i in protected:
            out.append("\\137")  # "_", so that renaming cannot reach it
        elif char in '"\\?':  # ? too: "??" starts a trigraph
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def comment(text: str) -> str:
    return _DEFAULT_NAMES.sub(r"\1 ", re.sub(r"[^A-Za-z0-9_ .()-]", "?", text))[:60]
