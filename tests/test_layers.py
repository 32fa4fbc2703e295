"""The layering of DESIGN.md ("Layout"), read from the source: imports point down only (config ->
casework -> exporters -> dsar), with no ring inside casework, function-level imports included,
and selectors that import no services."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

LAYERS = ["config", "casework", "exporters", "dsar"]  # each may import only those after it


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    root = Path(settings.BASE_DIR)
    found = {}
    for layer in LAYERS:
        for path in (root / layer).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path, root)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its source (module or function level)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from casework import services` imports the module casework.services.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def _is_parent(package: str, module: str) -> bool:
    # Importing a module runs its packages' __init__ first: not an import of one's own.
    return module.startswith(package + ".")


def test_no_module_imports_from_a_layer_above_it():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) < _layer(module)
    )
    assert upward == []


def _rings(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    rings: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                rings.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return rings


def test_casework_has_no_import_ring():
    graph = {
        module: {t for t in targets if t.startswith("casework") and not _is_parent(t, module)}
        for module, targets in _graph().items()
        if module.startswith("casework")
    }
    assert _rings(graph) == []


def test_the_ring_finder_finds_a_ring():
    assert _rings({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_selectors_import_no_services():
    offending = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if module.startswith("casework.selectors")
        for target in targets
        if target.startswith("casework.services")
    )
    assert offending == []


def test_casework_health_takes_the_celery_app_from_celery():
    assert "config.celery" not in _graph()["casework.health"]
