"""Atomic publishing of SavedModels into the TF Serving layout, and rollback.

A version directory is never visible half-written (on an object store: `_publish_into_store`): the SavedModel is copied into a hidden
staging directory `<base>/<model>/.tmp-<version>-<random>/` on the same file system, fsynced,
then renamed to `<base>/<model>/<version>/` (`vistflow.outputs.committed_output`). Servers (ours and `tensorflow_model_server`)
only consider directories named by an integer, so they never see the staging directory.

Rollback re-publishes an older version's content as a NEW, higher version number rather than
deleting the bad version: every server that follows the "latest version" policy picks it up
with its normal hot swap, nothing needs a restart, and the full history stays on disk for
audit. Each published version records its provenance in `assets.extra/vistflow_publish.json`
(`assets.extra/` is where TF Serving expects side files; SavedModel loaders ignore it).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from serving.layout import is_saved_model_dir, list_versions, version_dir
from vistflow import uri
from vistflow.errors import VistflowError
from vistflow.outputs import OutputExistsError, committed_output

logger = logging.getLogger(__name__)

PROVENANCE_PATH = Path("assets.extra") / "vistflow_publish.json"
STAGING_PREFIX = ".tmp-"


def _copy_and_fsync(src: str, dst: str) -> str:
    shutil.copy2(src, dst)
    # The rename is only atomic for readers if the bytes are on disk before the name is.
    with open(dst, "rb") as f:
        os.fsync(f.fileno())
    return dst


def _next_version(model_dir: Path) -> int:
    # Every integer-named entry counts (even an incomplete one), so a new version is always
    # strictly above anything a server may have seen.
    taken = [int(p.name) for p in model_dir.iterdir() if p.name.isascii() and p.name.isdigit()]
    return max(taken, default=0) + 1


def read_provenance(version_path: Path | str) -> dict:
    """The provenance record of a published version ({} if it was not published by vistflow)."""
    try:
        return json.loads(uri.read_bytes(uri.join(version_path, *PROVENANCE_PATH.parts)))
    except Exception:  # noqa: BLE001 - OSError, bad JSON, or tf.errors.NotFoundError on a store
        return {}


def _origin_version(model_dir: Path, version: int) -> int:
    """The version whose content `version` carries (itself unless it is a rollback copy)."""
    origin = read_provenance(version_dir(model_dir, version)).get("origin_version")
    return int(origin) if isinstance(origin, int) else version


def _publish_into(
    src: Path | str, model_dir: Path | str, version: int | None, provenance: dict
) -> tuple[int, Path | str]:
    if uri.is_uri(src) or uri.is_uri(model_dir):
        return _publish_into_store(str(src), str(model_dir), version, provenance)
    model_dir.mkdir(parents=True, exist_ok=True)
    while True:
        v = _next_version(model_dir) if version is None else int(version)
        final = version_dir(model_dir, v)
        if final.exists():
            if version is not None:
                raise VistflowError(f"{final}: version {v} already exists; versions are immutable")
            continue
        staging = model_dir / f"{STAGING_PREFIX}{v}-{secrets.token_hex(4)}"
        try:
            # Durable: the files, the tree and the model dir are fsynced around the rename.
            with committed_output(final, staging=staging, durable=True) as out:
                shutil.copytree(src, out, copy_function=_copy_and_fsync)
                record = {**provenance, "version": v}
                record.setdefault("origin_version", v)
                (out / PROVENANCE_PATH).parent.mkdir(exist_ok=True)
                (out / PROVENANCE_PATH).write_text(json.dumps(record, indent=2) + "\n")
        except OutputExistsError as e:
            # Another publisher took this number between our check and our rename.
            if version is not None:
                raise VistflowError(f"{final}: version {v} was published concurrently") from e
            continue
        return v, final


def _copy_tree(src: str, dst: str) -> None:
    g = uri.gfile(src)
    uri.gfile(dst)  # the destination's scheme may need its plugin too
    for root, _dirs, files in g.walk(src):
        rel = root[len(src.rstrip("/")) :].strip("/")
        target = f"{dst}/{rel}" if rel else dst
        g.makedirs(target)
        for name in files:
            g.copy(f"{root.rstrip('/')}/{name}", f"{target}/{name}", overwrite=True)


def _publish_into_store(
    src: str, model_dir: str, version: int | None, provenance: dict
) -> tuple[int, str]:
    """Publish onto an object store: staged copy, then the `_COMMITTED` marker last
    (`vistflow.outputs`); servers list only committed versions. A killed publish leaves an
    uncommitted number that no server loads; the next publish takes a higher one. Two
    concurrent publishers can pick the same number there (no atomic create): one per model."""
    try:
        taken = [int(n) for n in uri.listdir(model_dir) if n.isascii() and n.isdigit()]
    except FileNotFoundError:
        taken = []
    v = max(taken, default=0) + 1 if version is None else int(version)
    final = version_dir(model_dir, v)
    if uri.exists(final):
        raise VistflowError(f"{final}: version {v} already exists; versions are immutable")
    with committed_output(final) as out:
        _copy_tree(src, out)
        record = {**provenance, "version": v}
        record.setdefault("origin_version", v)
        g, record_path = uri.gfile(out), uri.join(out, *PROVENANCE_PATH.parts)
        g.makedirs(uri.join(out, PROVENANCE_PATH.parent.name))
        if g.exists(record_path):  # the copied record of a rolled-back version (ram:// appends)
            g.remove(record_path)
        with g.GFile(record_path, "w") as f:
            f.write(json.dumps(record, indent=2) + "\n")
    return v, final


def publish(
    saved_model_dir: str | os.PathLike,
    base: str | os.PathLike,
    model_name: str,
    version: int | None = None,
) -> Path:
    """Copy a SavedModel to `<base>/<model_name>/<version>/` atomically; returns that path.

    Args:
      saved_model_dir: a directory holding `saved_model.pb` (+ `variables/`, `assets/`).
      base: the model base path shared with the servers.
      model_name: the served model's name.
      version: the version number; default one above every existing version.
    """
    src = uri.as_path(saved_model_dir)
    if not is_saved_model_dir(src):
        raise VistflowError(f"{src}: not a SavedModel directory (no saved_model.pb)")
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise VistflowError(f"{model_name!r}: not a valid model name")
    if version is not None and int(version) < 0:
        raise VistflowError(f"version {version}: versions are non-negative integers")
    provenance = {
        "source": src if isinstance(src, str) else str(src.resolve()),
        "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    v, final = _publish_into(src, uri.join(base, model_name), version, provenance)
    logger.info("published %s as %s version %d (%s)", src, model_name, v, final)
    return final


SERVING_SIGNATURE = "serving_default"


def _check_links(path: Path) -> None:
    # copytree follows links and would fail at the end with a raw shutil.Error listing them.
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            entry = Path(dirpath) / name
            if entry.is_symlink() and not entry.exists():
                raise VistflowError(
                    f"{entry}: dangling symbolic link to {os.readlink(entry)}; the version "
                    "cannot be copied"
                )


def check_servable(path: Path | str) -> None:
    """Raise VistflowError naming `path` unless it loads as a SavedModel with a serving signature.

    The same load the server does (`tf.saved_model.load(..., tags=["serve"])`), so a version
    that passes here is one the server will swap to rather than refuse.
    """
    path = uri.as_path(path)
    if isinstance(path, Path):
        _check_links(path)
    if not is_saved_model_dir(path):
        raise VistflowError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    if not uri.isfile(uri.join(path, "variables", "variables.index")):
        raise VistflowError(f"{path}: the SavedModel has no variables/variables.index")
    import tensorflow as tf

    try:
        model = tf.saved_model.load(str(path), tags=["serve"])
    except Exception as e:  # noqa: BLE001 - a corrupt model raises parse, IO and TF errors alike
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VistflowError(f"{path}: the SavedModel does not load: {reason[:300]}") from None
    if SERVING_SIGNATURE not in model.signatures:
        found = ", ".join(sorted(model.signatures)) or "none"
        raise VistflowError(
            f"{path}: no {SERVING_SIGNATURE!r} signature (signatures: {found}); servers would "
            "have nothing to answer :predict with"
        )


def rollback(
    base: str | os.PathLike,
    model_name: str,
    verify: Callable[[Path], None] = check_servable,
) -> int:
    """Re-publish the content served before the latest one as a new version; returns it.

    The target is the newest version older than the version that first introduced the
    latest version's content, so repeated rollbacks walk back through history
    (v1, v2, v3 -> v4=v2 -> v5=v1) instead of toggling between two versions. `verify` checks
    the target before anything is published (a corrupt target raises VistflowError and leaves
    the served version as it is).
    """
    model_dir = uri.join(base, model_name)
    versions = list_versions(model_dir)
    if not versions:
        raise VistflowError(f"{model_dir}: no published versions to roll back")
    latest = versions[-1]
    current_origin = _origin_version(model_dir, latest)
    earlier = [v for v in versions if v < current_origin]
    if not earlier:
        raise VistflowError(
            f"{model_dir}: version {latest} (content of version {current_origin}) has no "
            "earlier version to roll back to"
        )
    target = earlier[-1]
    verify(version_dir(model_dir, target))
    provenance = {
        "source": str(version_dir(model_dir, target)),
        "origin_version": _origin_version(model_dir, target),
        "rollback_of": latest,
        "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    v, _ = _publish_into(version_dir(model_dir, target), model_dir, None, provenance)
    logger.info(
        "rolled back %s: version %d (was %d) now serves the content of version %d",
        model_name,
        v,
        latest,
        provenance["origin_version"],
    )
    return v
