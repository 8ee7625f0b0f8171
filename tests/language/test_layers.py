"""One import direction inside textrec.language: data -> models -> readers -> sentence sources."""

from __future__ import annotations

import ast
from pathlib import Path

LANGUAGE = Path(__file__).resolve().parents[2] / "src" / "textrec" / "language"

LAYERS = [
    {"tokenizer", "bank", "templates", "lexicon", "trainset", "heldout", "reading"},  # data
    {"corpus", "encoder", "utterance", "interpret"},  # models
    {"reader", "multilabel", "rewrite", "front", "acts"},  # readers
    {"speech"},  # sentence sources
]


def _imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports, at the top or inside functions (lazy imports count)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["textrec", "language"] and len(parts) == 3:
                out.add(parts[2])
    return out


def test_every_module_has_a_layer():
    modules = {p.stem for p in LANGUAGE.glob("*.py")} - {"__init__"}
    assert modules == set().union(*LAYERS)


def test_imports_only_go_down_or_sideways_without_cycles():
    layer = {m: i for i, group in enumerate(LAYERS) for m in group}
    graph = {m: _imports(LANGUAGE / f"{m}.py") for m in layer}
    for module, deps in graph.items():
        for dep in deps:
            assert layer[dep] <= layer[module], f"{module} (layer {layer[module]}) imports {dep}"

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        for dep in graph[node]:
            visit(dep, (*path, node))

    for module in graph:
        visit(module, ())
