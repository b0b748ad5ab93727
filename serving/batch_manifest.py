"""Which model wrote a batch-caption output: `OUT/model.json`, checked before a run resumes.

A rerun into an existing output only resumes when the outputs were written by the same model
(same content fingerprint); otherwise it refuses, naming both models, unless `--restart` asks
to discard the earlier outputs. The fingerprint is computed once, on the driver, over the
SavedModel's graph (`saved_model.pb`), variables and assets, so a copy of the same model in
another directory is the same model and a retrained one in the same directory is not.
"""

from __future__ import annotations

import hashlib
import json
import logging

from apache_beam.io.filesystems import FileSystems

from serving.batch_parts import (
    CAPTION_PARTS,
    CAPTIONS_FILE,
    MANIFEST_FILE,
    PARTS_DIR,
    REJECT_PARTS,
    REJECTS_FILE,
    SUMMARY_FILE,
    part_files,
    read_json,
    write_atomically,
)
from vistflow.errors import VistflowError

logger = logging.getLogger(__name__)

# What a SavedModel's behaviour depends on (not READMEs or logs that share its directory).
MODEL_CONTENT = ("saved_model.pb", "saved_model.pbtxt", "variables/**", "assets/**")
_CHUNK = 1 << 20


def _model_files(model_dir: str) -> list[tuple[str, str]]:
    """(path relative to the model dir, full path) of the files in MODEL_CONTENT, sorted."""
    root = model_dir.rstrip("/")
    patterns = [FileSystems.join(root, p) for p in MODEL_CONTENT]
    found = {m.path for result in FileSystems.match(patterns) for m in result.metadata_list}
    return sorted((path[len(root) :].lstrip("/"), path) for path in found)


def fingerprint(model_dir: str) -> str:
    """sha256 over the model's content files (relative names, sizes and bytes), hex."""
    files = _model_files(model_dir)
    if not files:
        raise VistflowError(f"{model_dir}: no saved_model.pb to fingerprint")
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(f"{rel}\0".encode())
        with FileSystems.open(path, compression_type="uncompressed") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def model_record(model_dir: str) -> dict:
    """What identifies the model: path, serving name/version (`<base>/<name>/<version>`), sha256."""
    path = model_dir.rstrip("/")
    parts = path.rsplit("/", 2)
    record: dict = {"path": path, "name": None, "version": None}
    if len(parts) == 3 and parts[2].isascii() and parts[2].isdigit():
        record["name"], record["version"] = parts[1], int(parts[2])
    record["sha256"] = fingerprint(path)
    return record


def describe(record: dict) -> str:
    """One-phrase description of a model record, for messages."""
    version = f"version {record['version']}, " if record.get("version") is not None else ""
    return f"{record.get('path')} ({version}sha256 {str(record.get('sha256'))[:12]})"


def _has_outputs(output_dir: str) -> bool:
    parts = FileSystems.join(output_dir, PARTS_DIR)
    if part_files(FileSystems.join(parts, CAPTION_PARTS)):
        return True
    if part_files(FileSystems.join(parts, REJECT_PARTS)):
        return True
    return any(
        FileSystems.exists(FileSystems.join(output_dir, name))
        for name in (CAPTIONS_FILE, REJECTS_FILE)
    )


def discard_outputs(output_dir: str) -> None:
    """Delete what earlier runs wrote to `output_dir` (only our files; the dir itself stays)."""
    parts = FileSystems.join(output_dir, PARTS_DIR)
    found = [m.path for m in FileSystems.match([FileSystems.join(parts, "**")])[0].metadata_list]
    if found:
        FileSystems.delete(found)
    if "://" not in output_dir and FileSystems.exists(parts):
        FileSystems.delete([parts])  # the now empty local folders
    names = (CAPTIONS_FILE, REJECTS_FILE, SUMMARY_FILE, MANIFEST_FILE)
    old = [FileSystems.join(output_dir, n) for n in names]
    old = [p for p in old if FileSystems.exists(p)]
    if old:
        FileSystems.delete(old)


def claim_output(
    output_dir: str, model: dict, restart: bool = False, restart_if_model_changed: bool = False
) -> str:
    """Record `model` as the writer of `output_dir`, or refuse to mix two models' captions.

    Returns "new", "resume" or "restart". Raises VistflowError (one line naming both models
    and the way out) when the outputs were written by another model or by a run that did not
    record its model, unless `restart_if_model_changed` (then they are discarded).
    """
    manifest = FileSystems.join(output_dir, MANIFEST_FILE)
    previous = read_json(manifest)
    way_out = "rerun with --restart to discard them, or choose another --output"
    if restart_if_model_changed and previous is not None:
        restart = restart or previous.get("sha256") != model["sha256"]
    if restart:
        discard_outputs(output_dir)
        state = "restart"
    elif previous is not None:
        if previous.get("sha256") != model["sha256"]:
            raise VistflowError(
                f"{output_dir} holds captions by model {describe(previous)}, not by --model "
                f"{describe(model)}; {way_out} and caption with the new model"
            )
        if previous.get("path") != model["path"]:
            logger.info(
                "%s: --model %s has the same content as %s, which wrote it: resuming",
                output_dir,
                model["path"],
                previous.get("path"),
            )
        return "resume"
    elif _has_outputs(output_dir):
        raise VistflowError(
            f"{output_dir} holds captions from an earlier run that did not record its model, "
            f"so they cannot be resumed with --model {describe(model)}; {way_out}"
        )
    else:
        state = "new"
    write_atomically(manifest, json.dumps(model, indent=2) + "\n")
    return state
