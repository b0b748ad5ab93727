"""Pusher executor that makes a model version visible only once it is complete.

The stock Pusher copies the SavedModel straight into `<base_directory>/<version>/` (saved_model.pb
last), so a server polling the directory can load a version whose `variables/` are half
written. This executor keeps the stock Pusher's contract - it reads `blessed` from the
ModelBlessing, skips unblessed models, archives the model in the PushedModel artifact and sets
`pushed`, `pushed_destination` and `pushed_version` - but publishes through
`serving.publish.publish`: copy into a hidden staging directory, fsync, rename to the integer
version; on an object store (gs://, s3://) a staged copy committed by its `_COMMITTED` marker,
which servers require there. `base_directory` is `<serving_root>/<model_name>`.
"""

from __future__ import annotations

import posixpath
import time
from pathlib import Path
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from vistflow import uri

_Versioning = pusher_pb2.Versioning


def split_base_directory(base_directory: str) -> tuple[str, str]:
    """(serving_root, model_name) of a push destination `<serving_root>/<model_name>`."""
    base = base_directory.rstrip("/")
    # posixpath: an object-store URI keeps its "//" (published with a commit marker there).
    root, name = posixpath.split(base)
    if root.rstrip("/").endswith(":"):  # `gs://name` alone: no serving root + model name
        root = ""
    if not root or not name:
        raise ValueError(f"{base_directory}: expected <serving_root>/<model_name>")
    return root, name


def find_published(model_dir: Path | str, source: str) -> Path | str | None:
    """The version of `model_dir` already published from `source`, if any.

    Makes re-executing a push (e.g. after a crash between the rename and the MLMD update)
    reuse the version instead of publishing the same model again under a new number.
    """
    from serving.layout import list_versions, version_dir
    from serving.publish import read_provenance

    wanted = source.rstrip("/") if uri.is_uri(source) else str(Path(source).resolve())
    for version in reversed(list_versions(model_dir)):
        path = version_dir(model_dir, version)
        record = read_provenance(path)
        if record.get("source") == wanted and "rollback_of" not in record:
            return path
    return None


class Executor(pusher_executor.Executor):
    """The stock Pusher executor with an atomic, versioned filesystem publish."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from serving.publish import publish

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)

        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        kind = destination.WhichOneof("destination")
        if kind != "filesystem":
            raise NotImplementedError(f"push destination {kind!r}: only filesystem is supported")
        fs = destination.filesystem
        serving_root, model_name = split_base_directory(fs.base_directory)
        if fs.versioning == _Versioning.UNIX_TIMESTAMP:
            version = int(time.time())
        elif fs.versioning == _Versioning.AUTO:
            version = None  # one above every existing version (serving.publish)
        else:
            raise NotImplementedError(f"versioning {fs.versioning}")

        serving_path = find_published(uri.join(serving_root, model_name), model_path)
        if serving_path is not None:
            logging.info(
                "%s is already published as %s; not pushing again", model_path, serving_path
            )
        else:
            serving_path = publish(model_path, serving_root, model_name, version)
        # Archive the pushed model in the PushedModel artifact, like the stock executor.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(
            model_push,
            pushed_destination=str(serving_path),
            pushed_version=uri.name(serving_path),
        )
        logging.info("Model %s pushed to %s.", model_path, serving_path)
