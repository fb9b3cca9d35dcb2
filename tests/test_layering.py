"""The packages' layering rules, read from the source (every import statement, including those inside
functions): ``v2vcore`` is the op and knows nothing of the framework; ``v2v.data`` prepares videos and
knows nothing of the networks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (package whose modules are checked, prefix they must never import, why)
RULES = [
    ("v2vcore", "v2v", "v2vcore is the compiled op's package and must stand alone"),
    ("v2v.data", "v2v.models", "data loading must not depend on the networks"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            # `from pkg import name` may import the submodule pkg.name.
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(package: str, forbidden: str) -> list[str]:
    files = sorted((ROOT / Path(*package.split("."))).rglob("*.py"))
    assert files, f"no modules found for {package}"
    bad = []
    for path in files:
        for line, module in imported_modules(path):
            if module == forbidden or module.startswith(forbidden + "."):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize(("package", "forbidden", "why"), RULES)
def test_layering(package, forbidden, why):
    assert violations(package, forbidden) == [], why


def test_the_checker_sees_relative_and_nested_imports(tmp_path, monkeypatch):
    # A throwaway tree with one violation of each form the checker must catch.
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    data = tmp_path / "v2v" / "data"
    data.mkdir(parents=True)
    (tmp_path / "v2v" / "__init__.py").write_text("")
    (data / "__init__.py").write_text("from ..models import generator\n")
    (data / "loader.py").write_text("def load():\n    import v2v.models.factory\n")
    (data / "clean.py").write_text("from . import loader\nfrom v2v.metrics import psnr\n")
    assert violations("v2v.data", "v2v.models") == [
        "v2v/data/__init__.py:1 imports v2v.models",
        "v2v/data/__init__.py:1 imports v2v.models.generator",
        "v2v/data/loader.py:2 imports v2v.models.factory",
    ]
