"""The TF Serving model layout: `<base>/<model>/<int version>/saved_model.pb + variables/`.

Only directories whose whole name is a non-negative integer are versions (as in TF Serving's
file-system source), so `.tmp-*` staging directories written by `serving.publish` are never seen.
"""

from __future__ import annotations

from pathlib import Path

from vistflow.errors import VistflowError

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model_dir(path: Path) -> bool:
    """True if `path` holds a SavedModel (a `saved_model.pb` or `.pbtxt`)."""
    return any((path / name).is_file() for name in SAVED_MODEL_FILES)


def list_versions(model_dir: Path) -> list[int]:
    """Integer version directories of `model_dir` that hold a SavedModel, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    versions = []
    for child in model_dir.iterdir():
        if _is_version_name(child.name) and child.is_dir() and is_saved_model_dir(child):
            versions.append(int(child.name))
    return sorted(versions)


def _is_version_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def version_dir(model_dir: Path, version: int) -> Path:
    """The directory of one version (it may not exist)."""
    return Path(model_dir) / str(int(version))


def resolve_saved_model(path: Path) -> Path:
    """A SavedModel directory from either a SavedModel dir or a `<base>/<model>` dir (latest).

    Raises VistflowError naming the path when neither applies.
    """
    path = Path(path)
    if not path.exists():
        raise VistflowError(f"{path}: no such directory")
    if is_saved_model_dir(path):
        return path
    versions = list_versions(path)
    if not versions:
        raise VistflowError(
            f"{path}: not a SavedModel directory (no saved_model.pb) and holds no integer "
            "version directories with one"
        )
    return version_dir(path, versions[-1])
