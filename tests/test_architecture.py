"""The dependency direction the design promises (DESIGN.md, "Dependency direction"): the Smile integration
announces and the lists domain listens, never the other way round; benchmarks stand on their own."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str):
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        yield info.name


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` / ``from ... import`` names in the file, at any depth (functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
    return names


@pytest.mark.parametrize("package", ["loyalty_lists", "integrations", "bench"])
def test_every_module_imports(package):
    for name in modules(package):
        importlib.import_module(name)


def test_the_smile_integration_never_imports_the_lists_domain():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / "integrations").rglob("*.py")
        for line, name in imported_names(path)
        if name == "loyalty_lists.lists"
        or name.startswith(("loyalty_lists.lists.", "loyalty_lists.web", "loyalty_lists.api"))
    ]
    assert offenders == [], "\n".join(offenders)


def test_benchmarks_import_nothing_from_the_tests():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / "bench").rglob("*.py")
        for line, name in imported_names(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert offenders == [], "\n".join(offenders)


def test_the_lists_domain_never_imports_the_outbound_side():
    """The outbound side listens to the lists domain (``lists/signals.py``); only the command that
    creates every schedule names the outbound side's."""
    wiring = ROOT / "loyalty_lists" / "lists" / "management" / "commands" / "ensure_schedules.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in (ROOT / "loyalty_lists" / "lists").rglob("*.py")
        if path != wiring
        for line, name in imported_names(path)
        if name.startswith("loyalty_lists.outbound")
    ]
    assert offenders == [], "\n".join(offenders)
