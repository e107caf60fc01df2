"""Number and string literals of each generated language, from Python values."""

from __future__ import annotations

import json
import math

NAN = {"js": "NaN", "java": "Double.NaN", "go": "math.NaN()", "rust": "f64::NAN", "csharp": "double.NaN"}


def number(value: float, language: str) -> str:
    """``value`` as a float64 literal that reads back to the same double (Python's repr is the shortest one)."""
    if math.isnan(value):
        return NAN[language]
    if math.isinf(value):
        raise ValueError(f"a generated scorer holds finite numbers only, got {value}")
    return repr(float(value))  # always has a "." or an exponent: a float literal in every language here


def numbers(values, language: str) -> str:
    return ", ".join(number(v, language) for v in values)


def string(text: str, language: str) -> str:
    """``text`` as a string literal. JSON's escapes (with \\uXXXX for all but printable ASCII) are valid JavaScript,
    Java and C#; Go takes \\U00XXXXXX and Rust \\u{X} for a code point."""
    if language in ("js", "java", "csharp"):
        return json.dumps(text, ensure_ascii=True)
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        elif language == "go":
            out.append(f"\\U{ord(char):08X}")
        else:
            out.append(f"\\u{{{ord(char):X}}}")
    return '"' + "".join(out) + '"'


def strings(texts, language: str) -> str:
    return ", ".join(string(t, language) for t in texts)
