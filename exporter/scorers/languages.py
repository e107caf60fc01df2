"""The languages ``logreg export --code`` writes: for each, its files, the toolchain that proves them, and how."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from . import lang_csharp, lang_go, lang_java, lang_js, lang_rust
from .scorer import Scorer, class_name, identifier


@dataclass(frozen=True)
class Language:
    key: str  # what --code takes
    title: str
    tools: tuple[str, ...]  # the executables its proof runs
    install: str  # how to get them (Debian)
    name_of: Callable[[str], str]  # the module, package or class name for a file stem
    file_of: Callable[[str], str]  # the source file's name for that name
    generate: Callable[[Scorer, str], str]
    harness: Callable[[Scorer, str, list, bool], str]
    harness_file: str
    types: Callable[[Scorer, str], str] | None = None  # a declarations file beside the source (TypeScript's)

    def missing_tools(self) -> list[str]:
        return [tool for tool in self.tools if shutil.which(tool) is None]

    def files(self, s: Scorer, stem: str) -> dict[str, str]:
        """File name -> text of what an export writes beside the model for a file stem."""
        name = self.name_of(stem)
        files = {self.file_of(name): self.generate(s, name)}
        if self.types is not None:
            files[f"{name}.d.mts"] = self.types(s, name)
        return files

    def commands(self, name: str) -> list[list[str]]:
        """The build steps and, last, the run whose output the proof reads (in the proof's folder)."""
        source = self.file_of(name)
        if self.key == "js":
            return [["node", self.harness_file]]
        if self.key == "java":
            return [
                ["javac", "-Xlint:all", "-Werror", "-d", ".", source, self.harness_file],
                ["java", "-cp", ".", "Harness"],
            ]
        if self.key == "go":
            return [["go", "vet", "./..."], ["go", "build", "-o", "harness", "."], ["./harness"]]
        if self.key == "rust":
            return [["rustc", "--edition", "2021", "-D", "warnings", "-o", "harness", self.harness_file], ["./harness"]]
        return [["mcs", "-warnaserror", "-out:harness.exe", source, self.harness_file], ["mono", "harness.exe"]]

    def layout(self, name: str) -> str:
        """Where the source goes in the proof's folder (Go's package in a folder of its own)."""
        return f"{name}/{self.file_of(name)}" if self.key == "go" else self.file_of(name)


# Names a scorer cannot take (it gets a suffix, see scorer.identifier and scorer.class_name): each language's
# keywords, the standard names its code or harness uses unqualified, and the harness's own file
# fmt: off
GO_RESERVED = frozenset({
    "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go",
    "goto", "if", "import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type",
    "var", "main", "harness",
})
RUST_RESERVED = frozenset({
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super",
    "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "union", "std",
    "core", "alloc", "harness", "main",
})
JAVA_RESERVED = frozenset({
    "Harness", "Math", "String", "Double", "Integer", "Long", "Float", "Boolean", "Character", "Number", "Object",
    "System", "Arrays", "StrictMath", "Override", "Exception", "RuntimeException", "IllegalArgumentException",
    "StringBuilder", "Record",
})
CSHARP_RESERVED = frozenset({
    "Harness", "Math", "String", "Double", "Single", "Int32", "Int64", "Boolean", "Char", "Object", "System", "Array",
    "Console", "Exception", "ArgumentException", "StringBuilder", "Globalization",
})
# fmt: on


def _js_name(stem: str) -> str:
    """The module keeps the stem (it names only the file), unless the stem is the proof's harness."""
    return f"{stem}_model" if stem.lower() == "harness" else stem


LANGUAGES: dict[str, Language] = {
    language.key: language
    for language in (
        Language(
            "js",
            "JavaScript",
            ("node",),
            "nodejs",
            _js_name,
            lambda n: f"{n}.mjs",
            lang_js.source,
            lang_js.harness,
            "harness.mjs",
            lang_js.types,
        ),
        Language(
            "java",
            "Java",
            ("javac", "java"),
            "openjdk-17-jdk-headless",
            lambda stem: class_name(stem, JAVA_RESERVED),
            lambda n: f"{n}.java",
            lang_java.source,
            lang_java.harness,
            "Harness.java",
        ),
        Language(
            "go",
            "Go",
            ("go",),
            "golang-go",
            lambda stem: identifier(stem, GO_RESERVED),
            lambda n: f"{n}.go",
            lang_go.source,
            lang_go.harness,
            "main.go",
        ),
        Language(
            "rust",
            "Rust",
            ("rustc",),
            "rustc",
            lambda stem: identifier(stem, RUST_RESERVED),
            lambda n: f"{n}.rs",
            lang_rust.source,
            lang_rust.harness,
            "harness.rs",
        ),
        Language(
            "csharp",
            "C#",
            ("mcs", "mono"),
            "mono-mcs",
            lambda stem: class_name(stem, CSHARP_RESERVED),
            lambda n: f"{n}.cs",
            lang_csharp.source,
            lang_csharp.harness,
            "Harness.cs",
        ),
    )
}


def parse_languages(text: str) -> list[str]:
    """``--code``'s value: a comma-separated subset of :data:`LANGUAGES` (or ``all``), in the order given.
    ValueError naming the choices for anything else."""
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    if keys == ["all"]:
        return list(LANGUAGES)
    unknown = [key for key in keys if key not in LANGUAGES]
    if unknown or not keys:
        raise ValueError(f"expected a comma-separated list of {', '.join(LANGUAGES)} (or all), got {text!r}")
    return list(dict.fromkeys(keys))
