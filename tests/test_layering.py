"""The packages' import contracts, read from the source (every import statement, including those inside
functions): a module imports only from its own layer or the layers below (:data:`LAYERS`, the layout
docs/conventions.md draws), no modules import each other in a circle, and no first-party import hides
inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, ...]] = [
    ("v2vcore",),  # the compiled op; knows nothing of the framework
    ("v2v.fileio", "v2v.frames", "v2v.config_engine", "v2v.tables", "v2v.provenance", "v2v.scene_cuts"),  # plain utilities
    ("v2v.flow", "v2v.runtime", "v2v.losses", "v2v.plotting", "v2v.processors"),  # flows, devices, the objective, pictures, flickering processors
    ("v2v.metrics",),  # measures of videos
    ("v2v.tasks",),  # every task-specific choice
    ("v2v.data", "v2v.inference", "v2v.stabilization"),  # clips for a task; running a generator; running a stabiliser
    ("v2v.config", "v2v.scoring"),  # the run's schema; scoring a video
    ("v2v.models", "v2v.grid"),  # the networks; the Table 1 grid as data
    ("v2v.train", "v2v.evaluate", "v2v.translate", "v2v.score", "v2v.precompute_flows", "v2v.flow_cache", "v2v.figures", "v2v.stabilize"),  # commands
    ("v2v.reproduce",),  # the command that runs the others
]
"""Each module belongs to the first layer whose prefix it has (a package's prefix covers its modules)."""

LAZY_FIRST_PARTY_IMPORTS: dict[str, str] = {}
"""``module:function`` -> why a first-party import there must wait for the call (an optional heavy
dependency). None is needed today."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, absolute module name, enclosing function or None) of every first-party import in the
    file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module
                # `from pkg import name` imports the module pkg.name when there is one.
                submodules = [f"{module}.{alias.name}" for alias in child.names if _is_module(f"{module}.{alias.name}")]
                found.extend((child.lineno, name, function) for name in submodules or [module])
            visit(child, inner)

    visit(tree, None)
    return [(line, module, function) for line, module, function in found if module.split(".")[0] in ("v2v", "v2vcore")]


def _is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def sources() -> list[Path]:
    """Every module of the two packages (``v2v/__init__.py`` only names the package)."""
    return sorted(path for package in ("v2v", "v2vcore") for path in (ROOT / package).rglob("*.py")
                  if path.relative_to(ROOT) != Path("v2v", "__init__.py"))


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def owner(module: str) -> str:
    """The layer entry a module falls under (``v2v.data.video_io`` -> ``v2v.data``)."""
    return next(prefix for prefix in LAYERS[layer_of(module)] if module == prefix or module.startswith(prefix + "."))


def upward_imports() -> list[str]:
    bad = []
    for path in sources():
        here = module_name(path)
        for line, module, _ in imported_modules(path):
            if module in ("v2v",):
                continue  # the namespace package itself holds nothing
            if layer_of(module) > layer_of(here):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (layer {layer_of(module)} above {layer_of(here)})")
    return bad


def circles() -> list[list[str]]:
    """Import cycles between the layer entries (packages count as one node, as a reader sees them)."""
    edges: dict[str, set[str]] = {}
    for path in sources():
        here = owner(module_name(path))
        for _, module, _ in imported_modules(path):
            if module != "v2v" and owner(module) != here:
                edges.setdefault(here, set()).add(owner(module))
    found, state = [], {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for following in sorted(edges.get(node, ())):
            if state.get(following) == "open":
                found.append(trail[trail.index(following):] + [following])
            elif following not in state:
                walk(following, [*trail, following])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node, [node])
    return found


def hidden_imports() -> list[str]:
    bad = []
    for path in sources():
        for line, module, function in imported_modules(path):
            if function is not None and f"{module_name(path)}:{function}" not in LAZY_FIRST_PARTY_IMPORTS:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} inside {function}()")
    return bad


def test_every_module_imports_only_its_layer_and_below():
    assert upward_imports() == []


def test_no_modules_import_each_other_in_a_circle():
    assert circles() == []


def test_no_first_party_import_hides_inside_a_function():
    assert hidden_imports() == []


def test_v2vcore_stands_alone():
    assert all(not module.startswith("v2v.") and module != "v2v" for path in (ROOT / "v2vcore").rglob("*.py")
               for _, module, _ in imported_modules(path))


@pytest.mark.parametrize("case", ["upward", "circle", "hidden"])
def test_the_checker_sees_each_kind_of_violation(case, tmp_path, monkeypatch):
    """A throwaway tree with one violation of the kind: the checker reports it (so it cannot pass vacuously)."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    for package in ("v2v", "v2vcore"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "v2v" / "tasks.py").write_text("from v2v import frames\n")
    (tmp_path / "v2v" / "frames.py").write_text("")
    if case == "upward":
        (tmp_path / "v2v" / "frames.py").write_text("from .tasks import Task\n")
        assert upward_imports() == ["v2v/frames.py:1 imports v2v.tasks (layer 4 above 1)"]
    elif case == "circle":
        (tmp_path / "v2v" / "fileio.py").write_text("import v2v.frames\n")
        (tmp_path / "v2v" / "frames.py").write_text("from v2v.fileio import atomic_path\n")
        assert circles() == [["v2v.fileio", "v2v.frames", "v2v.fileio"]]
    else:
        (tmp_path / "v2v" / "frames.py").write_text("def load():\n    from v2v import fileio\n")
        assert hidden_imports() == ["v2v/frames.py:2 imports v2v inside load()"]
