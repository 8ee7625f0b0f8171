"""The package's layers only point down: a static walk of every import in ``src/textrec``.

The order, bottom to top: the shared modules (errors, io, checkpoint, metrics, columnar, machine,
processes, backends and the package root) < catalog < language < simulator < agent < logs <
learners < evaluation/ope < reproduce/report < serve < cli. A module may import its own layer and
the layers below it; every ``import`` counts, also one inside a function or under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "textrec"

LAYERS = (
    (
        "textrec",
        "errors",
        "io",
        "checkpoint",
        "metrics",
        "columnar",
        "processes",
        "machine",
        "backends",
        "data",
    ),  # fmt: skip
    ("catalog",),
    ("language",),
    ("simulator",),
    ("agent",),
    ("logs",),
    ("learners",),
    ("evaluation", "ope"),
    ("reproduce", "reproduce_ope", "report"),
    ("serve",),
    ("cli", "__main__"),
)
"""Each top-level module or package of textrec, by layer (index 0 at the bottom)."""
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _part(dotted: str) -> str:
    """The top-level module or package of ``textrec.a.b`` (``textrec`` for the root itself)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "textrec"


def imports_of(path: Path, src: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every textrec module imported by ``path``, a file in ``src``."""
    package = ".".join(("textrec", *path.relative_to(src).parent.parts))
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            )
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [f"{module}.{a.name}" for a in node.names] if module == "textrec" else [module]
            found += [(node.lineno, name) for name in names]
    return [(line, name) for line, name in found if name.split(".")[0] == "textrec"]


def upward_arrows(src: Path = SRC) -> list[str]:
    """``"file:line imports name (a is above b)"`` for every import against the order."""
    wrong = []
    for path in sorted(src.rglob("*.py")):
        where = path.relative_to(src)
        here = _part(".".join(("textrec", *where.with_suffix("").parts)))
        for line, name in imports_of(path, src):
            there = _part(name) if _part(name) in RANK else "textrec"
            if RANK[there] > RANK[here]:
                wrong.append(f"{where}:{line} imports {name} ({there} is above {here})")
    return wrong


def test_every_part_of_textrec_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    parts -= {"__init__", "__pycache__"}
    assert parts <= set(RANK), f"give these a layer in LAYERS: {sorted(parts - set(RANK))}"


def test_no_import_points_up():
    assert upward_arrows() == []


def test_the_walk_sees_an_upward_arrow(tmp_path):
    """The check can fail: a language module importing the learners and the agent is reported."""
    (tmp_path / "language").mkdir()
    (tmp_path / "language" / "bad.py").write_text(
        "def f():\n    from textrec.learners.loop import fit\n    from ..agent import policy\n"
    )
    (tmp_path / "language" / "fine.py").write_text("from textrec.catalog import Catalog\n")
    assert upward_arrows(tmp_path) == [
        "language/bad.py:2 imports textrec.learners.loop (learners is above language)",
        "language/bad.py:3 imports textrec.agent (agent is above language)",
    ]


if __name__ == "__main__":
    print("\n".join(upward_arrows()) or "no upward arrows")
