"""Rewrite the generated blocks of docs/*.md: benchmark tables from bench/results/*.json, option tables from the code.

A page marks a generated block with ``<!-- generated: NAME -->`` ... ``<!-- end generated -->``. NAME is a benchmark
record's name (bench/results/NAME.json: its tables, each headed by the record's date, commit and machine; a line
saying how to measure it when there is no record yet), ``options-read``, ``options-fit``, ``options-stream``,
``options-command`` (the flags of ``logreg train``, derived from trainer/options.py's declarations and the command
itself), or ``flags-COMMAND`` (every flag of ``logreg COMMAND``). Nothing between the markers is written by hand:
``tests/docs`` checks that every page equals this output.

    python bench/docs.py            # rewrite the pages (make bench-docs)
    python bench/docs.py --check    # exit 1, naming the stale pages, if a page differs from what would be written
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/train.py is no module to import
REPO = HERE.parent
DOCS = REPO / "docs"
RESULTS = HERE / "results"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
NOT_MEASURED = "*Not measured yet: run `make bench` then `make bench-docs`.*"
REQUIRED = ("name", "commit", "date", "machine", "tables")

_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)


class RecordError(ValueError):
    """A record in bench/results/ that the page cannot be generated from."""


def load_records(folder: Path = RESULTS) -> dict[str, dict]:
    """Every record in ``folder`` by name, each checked for the facts a reader needs to weigh it."""
    records = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}: not JSON ({exc}); rerun its benchmark") from None
        missing = [key for key in REQUIRED if not data.get(key)]
        if missing:
            raise RecordError(f"{path}: no {', '.join(missing)}; write records with bench/record.py's write_record")
        if data["name"] != path.stem:
            raise RecordError(f"{path}: its name is {data['name']!r}, expected {path.stem!r} (the file's name)")
        records[data["name"]] = data
    return records


def machine_text(facts: dict) -> str:
    """``AMD EPYC 7B13, 2 cores, 23.5 GiB; Python 3.11.7, torch 2.13.0, ...``."""
    hardware = [str(facts.get("processor", "unknown processor"))]
    if facts.get("cores"):
        hardware.append(f"{facts['cores']} cores")
    if facts.get("memory_gib"):
        hardware.append(f"{facts['memory_gib']} GiB")
    software = [
        f"{name} {version}" for name, version in facts.items() if name not in {"processor", "cores", "memory_gib"}
    ]
    software = [("Python " + s.split(" ", 1)[1]) if s.startswith("python ") else s for s in software]
    return ", ".join(hardware) + ("; " + ", ".join(software) if software else "")


def record_block(data: dict | None) -> str:
    """The markdown of one record: each table headed by its title, the date, the commit and the machine."""
    if data is None:
        return NOT_MEASURED + "\n"
    stamp = f"measured {data['date']}, commit `{data['commit']}`, {machine_text(data['machine'])}"
    parts = []
    for table in data["tables"]:
        part = f"**{table['title']}** ({stamp})\n\n{record.markdown(_escaped(table))}\n"
        if table.get("note"):
            part += f"\n{table['note']}\n"
        parts.append(part)
    return "\n".join(parts) + "\n"  # a blank line ends the last table before the closing marker


def _escaped(table: dict) -> dict:
    """A pipe inside a cell would end the cell in GitHub's tables."""
    return {
        **table,
        "columns": [c.replace("|", "\\|") for c in table["columns"]],
        "rows": [[c.replace("|", "\\|") for c in row] for row in table["rows"]],
    }


# The option tables: the flags of `logreg train`, grouped by the declaration each comes from.
OPTION_GROUPS = {
    "options-read": "ReadOptions",
    "options-fit": "FitOptions",
    "options-stream": "StreamOptions",
    "options-command": None,  # the command's own flags (--out, --nproc, --export, ...)
}


def command(name: str):
    """The click command ``logreg NAME`` (loaded as the CLI loads it; torch-free)."""
    import click

    from logreg_onnx.cli import main

    found = main.get_command(click.Context(main), name)
    if found is None:
        raise KeyError(f"no command 'logreg {name}': a block 'flags-{name}' names a command that does not exist")
    return found


def flag_row(param, spec: dict) -> list[str]:
    """One flag: the flag with its value's form, its default, its help."""
    flags = " / ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if not param.is_flag:
        flags = f"`{' / '.join(param.opts)} {_metavar(param, spec)}`"
    default = param.default
    shown = "" if isinstance(default, bool) or not isinstance(default, (str, int, float)) else str(default)
    return [flags, f"`{shown}`" if shown else "", (param.help or "").replace("\b", "").strip()]


def option_rows(group: str) -> list[list[str]]:
    """One row per flag of ``logreg train`` in ``group``: flag, Python name (fit options), default, meaning."""
    from dataclasses import fields

    import click
    from logreg_onnx.trainer import options

    specs = {f.name: f.metadata for name in OPTION_GROUPS.values() if name for f in fields(getattr(options, name))}
    declared = {name: {f.name for f in fields(getattr(options, name))} for name in OPTION_GROUPS.values() if name}
    everywhere = set().union(*declared.values())
    wanted = OPTION_GROUPS[group]
    rows = []
    for param in command("train").params:
        if not isinstance(param, click.Option):
            continue
        if (param.name in declared[wanted]) if wanted else (param.name not in everywhere):
            row = flag_row(param, specs.get(param.name, {}))
            if wanted == "FitOptions":
                row.insert(1, f"`{param.name}`")
            rows.append([cell.replace("|", "\\|") for cell in row])
    return rows


def command_block(name: str) -> str:
    """Every flag of ``logreg NAME``, from the command itself."""
    import click

    params = [p for p in command(name).params if isinstance(p, click.Option)]
    rows = [[cell.replace("|", "\\|") for cell in flag_row(p, {})] for p in params]
    table = {"columns": ["option", "default", "meaning"], "rows": rows}
    return f"{record.markdown(table)}\n\n*Generated by `make bench-docs` from the options of `logreg {name}`.*\n"


def _metavar(param, spec) -> str:
    import click

    if spec.get("auto") and not param.metavar:  # a number or the text auto
        return "F|auto" if spec["kind"] is float else "N|auto"
    if param.metavar:
        return param.metavar
    if isinstance(param.type, click.Choice):
        return "{" + "|".join(param.type.choices) + "}"
    if isinstance(param.type, click.Path):
        return "PATH"
    name = param.type.name.upper()
    return {"INTEGER": "N", "INTEGER RANGE": "N", "FLOAT": "F", "FLOAT RANGE": "F", "TEXT": "TEXT"}.get(name, name)


def options_block(group: str) -> str:
    columns = ["option", "default", "meaning"]
    if OPTION_GROUPS[group] == "FitOptions":
        columns.insert(1, "`fit()` / estimator")
    table = {"columns": columns, "rows": option_rows(group)}
    source = OPTION_GROUPS[group]
    origin = f"`trainer/options.py`, `{source}`" if source else "`logreg_onnx/cli/train.py`, the command's own flags"
    return f"{record.markdown(table)}\n\n*Generated by `make bench-docs` from {origin}.*\n"


def render(text: str, records: dict[str, dict]) -> str:
    """``text`` with every generated block rewritten."""

    def block(match: re.Match) -> str:
        name = match.group("name")
        if name in OPTION_GROUPS:
            body = options_block(name)
        elif name.startswith("flags-"):
            body = command_block(name.removeprefix("flags-"))
        else:
            body = record_block(records.get(name))
        return f"{match.group(1)}{body}{match.group(4)}"

    return BLOCK.sub(block, text)


def pages(folder: Path = DOCS) -> list[Path]:
    return sorted(folder.glob("*.md"))


def placed(folder: Path = DOCS) -> set[str]:
    """The names of every generated block of every page."""
    return {m.group("name") for page in pages(folder) for m in BLOCK.finditer(page.read_text())}


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    try:
        records = load_records()
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unplaced = sorted(set(records) - placed())
    if unplaced:
        print(
            f"error: no page has a block for the record(s) {', '.join(unplaced)}; add "
            f"'<!-- generated: {unplaced[0]} -->' ... '<!-- end generated -->' to docs/benchmarks.md",
            file=sys.stderr,
        )
        return 2
    stale = []
    for page in pages():
        text = page.read_text()
        new = render(text, records)
        if new != text:
            stale.append(page)
            if not args.check:
                write_atomically(page, new)
    for page in stale:
        print(f"{'stale' if args.check else 'rewrote'} {page.relative_to(REPO)}")
    if args.check and stale:
        print("run `make bench-docs` to regenerate them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
