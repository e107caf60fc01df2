"""The README and docs/ hold together: links and anchors resolve, the README stays a door, generated tables equal their
sources (the option declarations, the benchmark records), and no page outside the dated benchmark page speaks of one
machine."""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner
from logreg_onnx.trainer.options import FitOptions, ReadOptions, StreamOptions

from logreg_onnx.cli import main

from ..conftest import REPO

DOCS = REPO / "docs"
SKIPPED = {"node_modules", "build", ".git", ".pytest_cache", ".ruff_cache"}
# every markdown file of the repository: the pages, and the notes beside the data sets and the committed models
MARKDOWN = sorted(
    path
    for path in REPO.rglob("*.md")
    if not (set(path.relative_to(REPO).parts) & SKIPPED or path.relative_to(REPO).parts[0].startswith(".venv"))
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(\n])*?\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def flag(name: str) -> str:
    """The flag an option's field gets: ``val_fraction`` -> ``--val-fraction``."""
    return "--" + name.replace("_", "-")


def _generator():
    spec = importlib.util.spec_from_file_location("bench_docs", REPO / "bench" / "docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where a bracket is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lowercased, punctuation but '-' and '_' dropped, each space a
    '-' (code spans keep their text, links their label)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page, numbered as GitHub numbers repeated ones (``name``, ``name-1``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", page.read_text()), re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def test_slug_follows_githubs_rules():
    assert slug("Choosing the penalty: `--l2 auto`") == "choosing-the-penalty---l2-auto"
    assert slug("Plain C for microcontrollers: `logreg export RUN_DIR --c`") == (
        "plain-c-for-microcontrollers-logreg-export-run_dir---c"
    )
    assert slug("Session options, and the graph kept exact") == "session-options-and-the-graph-kept-exact"


def _links(page: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(page.read_text()))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ... are not checked here
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(
                f"{target}: {resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else resolved} does not exist"
            )
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {resolved.name}")
    assert not broken, f"{page.name}: broken links:\n" + "\n".join(broken)


def test_the_link_checker_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[a](other.md#x) `[b](not-a-link.md)`\n\n```\n[c](nor-this.md)\n```\n![d](img.png)\n")
    assert _links(page) == ["other.md#x", "img.png"]
    assert anchors(page) == {"top"}


def test_the_readme_is_a_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move the detail to a page of docs/"
    text = "\n".join(lines)
    for page in sorted(DOCS.glob("*.md")):  # every page is reachable from the door
        assert f"docs/{page.name}" in text, f"README.md does not link docs/{page.name}"
    assert "pip install logreg-onnx" not in text  # it is not on PyPI


def _cells(row: str) -> list[str]:
    """A markdown table row's cells (a pipe escaped as \\| stays inside its cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def _flags_in_tables(text: str) -> set[str]:
    rows = [line for line in text.splitlines() if line.startswith("| `-")]
    return {f for row in rows for f in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", _cells(row)[0])}


def test_the_options_tables_list_every_flag_of_logreg_train():
    """Against click's own help for the command, and against the declarations."""
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    in_help = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)(?: / (--[a-z][a-z0-9-]*))?", help_text, re.M))
    in_help = {f for pair in in_help for f in pair if f and f != "--help"}
    declared = {flag(f.name) for cls in (FitOptions, ReadOptions, StreamOptions) for f in fields(cls)}
    documented = _flags_in_tables((DOCS / "training.md").read_text())
    assert {"--threshold", "--folds", "--coefficients"} <= declared
    assert declared <= in_help
    assert documented == in_help, f"missing: {sorted(in_help - documented)}, extra: {sorted(documented - in_help)}"


def test_fit_options_table_gives_each_default_of_the_declaration():
    from logreg_onnx.trainer.options import defaults

    text = (DOCS / "training.md").read_text()
    for name, default in defaults(FitOptions).items():
        row = next(
            line
            for line in text.splitlines()
            if line.startswith(f"| `{flag(name)} ") or line.startswith(f"| `{flag(name)}`")
        )
        cells = _cells(row)
        assert cells[1] == f"`{name}`", row
        expected = "" if default is None else f"`{','.join(default) if isinstance(default, tuple) else default}`"
        assert cells[2] == (expected if expected != "``" else ""), row


def test_every_command_has_its_flags_in_the_docs():
    import click

    docs = _generator()
    placed = docs.placed()
    commands = main.list_commands(click.Context(main))
    assert {"train", "export", "predict", "serve"} <= set(commands)
    for name in commands:
        wanted = set(docs.OPTION_GROUPS) if name == "train" else {f"flags-{name}"}
        assert wanted <= placed, f"no page of docs/ has the flags of logreg {name}: add {sorted(wanted - placed)}"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_generated_blocks_equal_their_sources(page):
    """Option tables from the code, benchmark tables from bench/results/: never edited by hand."""
    docs = _generator()
    text = page.read_text()
    assert docs.render(text, docs.load_records()) == text, f"{page.name} is stale: run `make bench-docs`"


def test_every_record_has_a_place_and_its_facts():
    docs = _generator()
    records = docs.load_records()  # raises for a record without commit, date or machine
    for name, record in records.items():
        assert record["commit"] and record["date"] and record["machine"].get("processor"), name
    placed = docs.placed()
    assert set(records) <= placed, f"records with no block in docs/: {sorted(set(records) - placed)}"
    benchmarks = {m.group("name") for m in docs.BLOCK.finditer((DOCS / "benchmarks.md").read_text())}
    for script in ("train", "runtime", "verify_strength", "categorical", "penalty", "stream", "distributed", "serve"):
        assert script in benchmarks, f"docs/benchmarks.md has no block for bench/{script}.py's record"


def _record(folder: Path, name: str, **overrides) -> None:
    data = {
        "name": name,
        "title": name,
        "commit": "abc1234",
        "date": "2026-12-01",
        "machine": {"processor": "Test CPU", "cores": 2, "memory_gib": 4.0, "python": "3.11.7", "numpy": "2.4.6"},
        "tables": [{"title": "Speed", "columns": ["case", "s"], "rows": [["a|b", "1.5"]], "note": "A note."}],
        "figures": {"a": 1.5},
    }
    data.update(overrides)
    (folder / f"{name}.json").write_text(json.dumps(data))


def test_generator_heads_each_table_with_date_commit_machine(tmp_path):
    docs = _generator()
    _record(tmp_path, "demo")
    page = (
        "# B\n\n<!-- generated: demo -->\nold text\n<!-- end generated -->\n\n"
        "<!-- generated: absent -->\n<!-- end generated -->\n"
    )
    out = docs.render(page, docs.load_records(tmp_path))
    assert "old text" not in out
    assert (
        "**Speed** (measured 2026-12-01, commit `abc1234`, Test CPU, 2 cores, 4.0 GiB; Python 3.11.7, numpy 2.4.6)"
        in out
    )
    assert "| a\\|b | 1.5 |" in out  # a pipe in a cell is escaped, the table stays two columns
    assert "A note." in out
    absent = out.split("<!-- generated: absent -->\n", 1)[1]
    assert absent.startswith("*Not measured yet: run `make bench` then `make bench-docs`.*\n<!-- end generated -->")
    assert docs.render(out, docs.load_records(tmp_path)) == out  # a second run changes nothing


def test_generator_refuses_a_record_without_its_facts(tmp_path):
    docs = _generator()
    _record(tmp_path, "demo", commit="")
    with pytest.raises(docs.RecordError, match=r"demo.json: no commit; write records with bench/record.py"):
        docs.load_records(tmp_path)


def test_record_writer_writes_what_the_generator_reads(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_record", REPO / "bench" / "record.py")
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    table = record.table("T", ["x", "y"], [[1, 2.5]])
    record.write_record("demo", tables=[table], figures={"y": 2.5})
    data = _generator().load_records(tmp_path)["demo"]
    assert data["tables"] == [{"title": "T", "columns": ["x", "y"], "rows": [["1", "2.5"]]}]
    assert data["commit"] and data["date"] and data["machine"]["cores"]
    with pytest.raises(ValueError, match="rows of 1 cells, expected 2"):
        record.write_record("bad", tables=[record.table("T", ["x", "y"], [[1]])])


MACHINE_PHRASES = re.compile(
    r"this project's machines?|a blocked host|this machine|this \d+-core machine|the project machine|"
    r"measured here|\d[\d.,]* ?(?:s|ms|us|MB|MiB|GB) here\b",
    re.I,
)


@pytest.mark.parametrize("page", [p for p in MARKDOWN if p != DOCS / "benchmarks.md"], ids=lambda p: p.name)
def test_only_the_dated_benchmark_page_speaks_of_one_machine(page):
    """The page's own prose; generated blocks are the code's help texts ("processes on this machine" is the user's)."""
    prose = _generator().BLOCK.sub("", page.read_text())
    found = [m.group(0) for m in MACHINE_PHRASES.finditer(prose)]
    assert not found, f"{page.name}: {found}; figures of one machine belong in docs/benchmarks.md, with their date"


def test_machine_phrases_are_caught():
    assert MACHINE_PHRASES.search("whose first use imports torch._dynamo (1.7 s here)")
    assert MACHINE_PHRASES.search("on this project's machines the CPU build")
    assert not MACHINE_PHRASES.search("the same seed gives the same run, bit for bit, on the same machine")


def test_architecture_gives_every_module_a_line():
    text = (DOCS / "architecture.md").read_text()
    sections = dict(re.findall(r"^## `([\w/]+)/`[^\n]*\n(.*?)(?=^## |\Z)", text, re.S | re.M))
    missing = []
    for package in ("logreg_onnx", "trainer", "exporter", "runtime"):
        section = sections.get(package, "")
        for module in sorted((REPO / package).rglob("*.py")):
            relative = module.relative_to(REPO / package)
            if module.name == "__init__.py" and package != "logreg_onnx":
                continue  # a package is introduced by its folder's heading or line
            if package == "logreg_onnx":
                ok = f"`{relative.as_posix()}`" in section
            else:
                ok = f"`{module.name}`" in section and all(f"`{part}/`" in section for part in relative.parts[:-1])
            if not ok:
                missing.append(f"{package}/{relative.as_posix()}")
    assert not missing, f"docs/architecture.md has no line for {missing}"
