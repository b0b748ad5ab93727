"""The import graph follows the data flow: the floor imports no stage, stages import the floor
(not each other), pipelines wire stages, DAGs and commands sit on top and nothing imports them.

Every import counts, including the lazy ones inside functions (they run too).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "vistflow",
    "components",
    "trainer",
    "retrieval",
    "serving",
    "pipelines",
    "dags",
    "commands",
)
# Who may import whom (besides itself). The one exception among stages: the pusher publishes
# through serving's version layout (serving/publish.py), which the server reads.
ALLOWED = {
    "vistflow": set(),
    "components": {"vistflow", "serving"},
    "trainer": {"vistflow"},
    "retrieval": {"vistflow"},
    "serving": {"vistflow"},
    "pipelines": {"vistflow", "components", "trainer", "serving"},
    "dags": {"pipelines"},
    "commands": {"vistflow", "components", "trainer", "retrieval", "serving", "pipelines"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files importing it."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for target in _imports(path) - {package}:
                edges[package][target].append(str(path.relative_to(REPO)))
    return edges


def test_every_import_goes_in_an_allowed_direction():
    bad = [
        f"{src} -> {dst} ({', '.join(files[:3])})"
        for src, targets in _graph().items()
        for dst, files in targets.items()
        if dst not in ALLOWED[src]
    ]
    assert not bad, "imports against the data flow:\n" + "\n".join(bad)


def test_no_cycle_between_top_level_packages():
    graph = {src: set(targets) for src, targets in _graph().items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = [p for p in PACKAGES if reaches(p, p, {p})]
    assert not cycles, f"packages on an import cycle: {cycles}"


def test_the_allowed_directions_themselves_form_no_cycle():
    # A guard on this file: a future edit of ALLOWED must not legalise a cycle.
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in ALLOWED[start]
        )

    assert not [p for p in PACKAGES if reaches(p, p, {p})]


def test_no_source_module_over_500_lines():
    roots = [*PACKAGES, "benchmarks"]
    long = [
        f"{path.relative_to(REPO)}: {n} lines"
        for root in roots
        for path in (REPO / root).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 500
    ]
    assert not long, "split these along their seams:\n" + "\n".join(long)
