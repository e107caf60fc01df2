"""The layout as a test: what is installed, what imports what (import-linter's contracts), no private names crossing
modules. ``make lint`` runs the same contracts; these tests make ``make test`` fail on a broken layer too."""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGES = ("runtime", "exporter", "trainer")
SOURCES = [REPO / name for name in (*PACKAGES, "logreg_onnx")]


def _modules() -> list[Path]:
    """Our modules; protoc's output (runtime/grpc/*_pb2*.py, make proto) is generated, not written, so left out."""
    return sorted(
        path
        for folder in SOURCES
        for path in folder.rglob("*.py")
        if not path.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    )


def test_the_install_has_one_top_level_package():
    """Packages called ``trainer`` or ``runtime`` exist on PyPI: installing ours must not put modules of those names
    into site-packages, only ``logreg_onnx`` (with its dist-info, the console script and, for -e, the editable
    finder)."""
    site = sysconfig.get_paths()["purelib"]  # the install's own record, not an egg-info left in the repository
    (dist,) = [d for d in importlib.metadata.distributions(path=[site]) if d.metadata["Name"] == "logreg-onnx"]
    paths = [Path(str(f)) for f in dist.files if not str(f).startswith("..")]
    tops = {p.parts[0] for p in paths if not (p.parts[0] == "__pycache__" and p.name.startswith("__editable__"))}
    allowed = {"logreg_onnx"}
    odd = {t for t in tops if t not in allowed and not t.endswith(".dist-info") and not t.startswith("__editable__")}
    assert not odd, f"installed top-level names besides logreg_onnx: {sorted(odd)}"
    script = (
        "import importlib.util as u, sys\n"
        "names = ('runtime', 'trainer', 'exporter')\n"
        "found = {m: getattr(u.find_spec(m), 'origin', None) for m in names if u.find_spec(m)}\n"
        "import logreg_onnx.runtime, logreg_onnx.cli\n"
        "print(found)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{}", result.stdout


def test_every_subpackage_is_listed_for_installation():
    """pyproject.toml lists the packages (a package-dir mapping cannot use find): a new subpackage must be added there,
    or a wheel would ship without it."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"logreg_onnx"}
    for folder in SOURCES:
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(REPO).parts
            on_disk.add(".".join(parts) if parts[0] == "logreg_onnx" else "logreg_onnx." + ".".join(parts))
    assert on_disk == listed


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None, reason="dev extra")
def test_import_contracts_hold(tmp_path):
    """import-linter's contracts (pyproject.toml) over the package as pip installs it."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, REPO],
        check=True,
        capture_output=True,
    )
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [lint, "--config", REPO / "pyproject.toml", "--no-cache"],
        capture_output=True,
        text=True,
        cwd=site,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def _private_imports(path: Path) -> list[str]:
    offenders = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("logreg_onnx")):
            offenders += [f"{path.relative_to(REPO)}: {a.name}" for a in node.names if a.name.startswith("_")]
    return offenders


def test_no_module_imports_a_private_name_of_another():
    offenders = [o for path in _modules() for o in _private_imports(path)]
    assert not offenders, offenders


def test_no_module_reaches_into_private_attributes_of_another():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and not (isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr == "_exit")
            ):
                offenders.append(f"{path.relative_to(REPO)}: .{node.attr}")
    assert not offenders, offenders


def test_no_exception_is_recognised_by_its_class_name():
    for path in _modules():
        text = path.read_text()
        assert "__name__ not in (" not in text and "__name__ in (" not in text, path


def test_code_imports_only_the_installed_names():
    """``import runtime`` would work from the repository's root and nowhere else."""
    roots = [*SOURCES, REPO / "tests", REPO / "bench", REPO / "examples"]
    offenders = []
    for folder in roots:
        for path in folder.rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in PACKAGES]
    assert not offenders, offenders
