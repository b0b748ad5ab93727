"""The TF Serving model layout: `<base>/<model>/<int version>/saved_model.pb + variables/`.

Only directories whose whole name is a non-negative integer are versions (as in TF Serving's
file-system source), so `.tmp-*` staging directories written by `serving.publish` are never seen.
The base may be a URI (gs://, s3://): local paths stay Path, URIs strings (`vistflow.uri`), and a
version on an object store counts only once committed (its `_COMMITTED` marker, written last).
"""

from __future__ import annotations

from pathlib import Path

from vistflow import uri
from vistflow.errors import VistflowError
from vistflow.outputs import is_committed

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model_dir(path: Path | str) -> bool:
    """True if `path` holds a SavedModel (a `saved_model.pb` or `.pbtxt`)."""
    return any(uri.isfile(uri.join(path, name)) for name in SAVED_MODEL_FILES)


def list_versions(model_dir: Path | str) -> list[int]:
    """Committed integer version directories of `model_dir` with a SavedModel, ascending."""
    model_dir = uri.as_path(model_dir)
    if not isinstance(model_dir, Path):
        return _list_versions_uri(model_dir)
    if not model_dir.is_dir():
        return []
    versions = []
    for child in model_dir.iterdir():
        if _is_version_name(child.name) and child.is_dir() and is_saved_model_dir(child):
            versions.append(int(child.name))
    return sorted(versions)


def _list_versions_uri(model_dir: str) -> list[int]:
    try:
        names = uri.listdir(model_dir)
    except FileNotFoundError:
        return []
    versions = []
    for name in names:
        child = uri.join(model_dir, name)
        if _is_version_name(name) and is_committed(child) and is_saved_model_dir(child):
            versions.append(int(name))
    return sorted(versions)


def _is_version_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def version_dir(model_dir: Path | str, version: int) -> Path | str:
    """The directory of one version (it may not exist); a string for a URI."""
    return uri.join(model_dir, str(int(version)))


def resolve_saved_model(path: Path | str) -> Path | str:
    """A SavedModel directory from either a SavedModel dir or a `<base>/<model>` dir (latest).

    Raises VistflowError naming the path when neither applies.
    """
    path = uri.as_path(path)
    if not uri.exists(path):
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
