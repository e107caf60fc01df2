"""``logreg export --code``: the verified graph as one dependency-free source file per language (JavaScript,
Java, Go, Rust, C#), each compiled and run against the test vectors with the language's own toolchain."""

from __future__ import annotations

from .languages import LANGUAGES, Language, parse_languages
from .proof import CodeProof, prove
from .scorer import Scorer, scorer_of

__all__ = ["LANGUAGES", "CodeProof", "Language", "Scorer", "parse_languages", "prove", "scorer_of"]
