"""The shape of the source tree: the longest functions and the package import graph.

Usage: ``python benchmarks/code_shape.py [--most 15]`` from the repository root. Prints the
``--most`` longest functions of ``src/textrec`` (lines from ``def`` to the last line of the body,
docstring included) and, per top-level package, the packages it imports (every ``import``, also
those inside functions), with any package cycle. The layer order itself is tested by
``tests/test_layers.py``.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "textrec"


def longest_functions(most: int) -> list[tuple[int, str]]:
    """``(lines, "path:line name")`` of the ``most`` longest functions, longest first."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name}"
                found.append((node.end_lineno - node.lineno + 1, where))
    return sorted(found, reverse=True)[:most]


def package_imports() -> dict[str, set[str]]:
    """Top-level package (or module) of ``textrec`` → the other ones it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        here = path.relative_to(SRC).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "textrec" and len(parts) > 1 and parts[1] != here:
                    graph[here].add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The package cycles: groups of two or more packages that all reach each other."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {p: reach(p) for p in graph}
    groups = {
        tuple(sorted({p} | {q for q in reached[p] if p in reached.get(q, ())})) for p in graph
    }
    return sorted(list(g) for g in groups if len(g) > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--most", type=int, default=15, help="How many functions to list.")
    args = parser.parse_args()
    print(f"The {args.most} longest functions (lines):")
    for lines, where in longest_functions(args.most):
        print(f"  {lines:4d}  {where}")
    graph = package_imports()
    print("Package imports:")
    for name in sorted(graph):
        print(f"  {name} -> {', '.join(sorted(graph[name]))}")
    found = cycles(graph)
    print(f"Package cycles ({len(found)}): " + "; ".join(" <-> ".join(g) for g in found))


if __name__ == "__main__":
    main()
