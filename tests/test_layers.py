"""Layers only point down: a module of ferlite imports only from its own package or from the packages below it.

The order is written here, once. Packages on one line of ``LAYERS`` are peers, in the order listed: a later one may
import an earlier one (``data`` reads images with the runtime's decoder; ``export`` checks models with the
evaluators), never the other way. Imports inside functions count too: hiding an upward import in a function is
still an upward import.
"""

import ast
from pathlib import Path

import ferlite

LAYERS = (
    ("core",),
    ("runtime", "models", "data"),
    ("evaluation", "export"),
    ("training",),
    ("apps",),
    ("commands", "cli", "__main__"),
)
RANK = {name: rank for rank, name in enumerate(name for layer in LAYERS for name in layer)}
PACKAGE = Path(ferlite.__file__).parent


def _imported_packages(source: str, package: tuple[str, ...]) -> set[str]:
    """The top-level ferlite packages that a module in ``package`` (its folder's parts under ferlite/) imports,
    relative and absolute, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: max(0, len(package) - (node.level - 1))])
                target = base + (node.module.split(".") if node.module else [alias.name for alias in node.names][:1])
            elif node.module and node.module.split(".")[0] == "ferlite":
                target = node.module.split(".")[1:] or [alias.name for alias in node.names][:1]
            else:
                continue
            if target:
                found.add(target[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ferlite" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _imports_of(path: Path) -> set[str]:
    return _imported_packages(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).parts[:-1])


def test_every_package_is_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {"assets"}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert packages | modules <= set(RANK), sorted((packages | modules) - set(RANK))


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        own = parts[0] if len(parts) > 1 else Path(parts[0]).stem
        if own == "__init__":  # the package root: imports nothing but lazily the runtime (ferlite.Recognizer)
            assert _imports_of(path) <= {"runtime"}, _imports_of(path)
            continue
        for target in _imports_of(path):
            if target in RANK and target != own and RANK[target] > RANK[own]:
                upward.append(f"{path.relative_to(PACKAGE)} ({own}) imports {target}")
    assert not upward, "\n".join(upward)


def test_the_checker_sees_upward_imports_however_they_are_written():
    hidden = "def _later():\n    from ..training import fit\n"
    assert _imported_packages(hidden, ("data",)) == {"training"}
    assert _imported_packages("from ...runtime.faces import Faces", ("apps", "web")) == {"runtime"}
    assert _imported_packages("from . import readers\nimport ferlite.apps.analyze", ("data",)) == {"data", "apps"}
    assert _imported_packages("from ferlite import training\nimport numpy", ("core",)) == {"training"}
