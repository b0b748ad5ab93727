"""No production module commits an output by hand: `vistflow.outputs` is the one commit helper.

A raw `os.rename`/`os.replace`/`shutil.move` is local-disk only (object stores have no atomic
rename) and skips the commit marker readers trust, so every such call outside the helper fails.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {Path("vistflow/outputs.py")}
FORBIDDEN = {("os", "rename"), ("os", "replace"), ("shutil", "move")}
SKIP_DIRS = {"tests", "node_modules", "build", "dist", "__pycache__"}


def _production_modules() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        here = Path(dirpath)
        # Hidden dirs (.venv, .git) and any other virtual environment are not ours.
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
        ]
        found += [here / f for f in filenames if f.endswith(".py")]
    return sorted(found)


def _raw_renames(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, 'os.rename') of each forbidden call, following `import os as x` / `from os import`."""
    modules: dict[str, str] = {}  # local name -> module (os, shutil)
    functions: dict[str, tuple[str, str]] = {}  # local name -> (module, function)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in {"os", "shutil"}:
                    modules[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "shutil"}:
            for a in node.names:
                if (node.module, a.name) in FORBIDDEN:
                    functions[a.asname or a.name] = (node.module, a.name)
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            target = (modules.get(f.value.id, ""), f.attr)
        elif isinstance(f, ast.Name):
            target = functions.get(f.id, ("", ""))
        else:
            continue
        if target in FORBIDDEN:
            hits.append((node.lineno, ".".join(target)))
    return hits


def test_the_scanner_sees_aliases():
    code = "import os as o\nfrom shutil import move as mv\no.replace(a, b)\nmv(a, b)\nx.rename(a)\n"
    assert _raw_renames(ast.parse(code)) == [(3, "os.replace"), (4, "shutil.move")]


def test_no_production_module_renames_outputs_by_hand():
    modules = _production_modules()
    assert ROOT / "vistflow" / "outputs.py" in modules  # the walk reaches the floor
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {call}"
        for path in modules
        if path.relative_to(ROOT) not in ALLOWED
        for line, call in _raw_renames(ast.parse(path.read_bytes(), filename=str(path)))
    ]
    assert not offenders, (
        "commit outputs with vistflow.outputs (committed_output / commit / write_file_atomic), "
        "not by hand:\n" + "\n".join(offenders)
    )
