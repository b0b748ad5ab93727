"""Fixes to TFX 1.16 that the pipeline needs, applied by `create_pipeline` (idempotent).

Cached outputs on a server database: TFX's `cache_utils._get_outputs_of_execution` zips an
execution's OUTPUT events with `get_artifacts_by_id(...)` and with `get_artifact_types_by_id(...)`,
assuming both come back in the events' order, one per event. SQLite happens to return rows in
id order; PostgreSQL returns them in heap order (an artifact updated after the other comes
last), and the types call returns each type once. On PostgreSQL a cache hit of a node with two
outputs (FeatureExtractor: examples + schema) then publishes its artifacts under each other's
keys, and the next node's input resolution fails (seen under the real scheduler: the
data-quality DAG reusing the retraining run's features). The replacement joins by artifact id
and type id.
"""

from __future__ import annotations

import collections

_APPLIED = False


def _get_outputs_of_execution(metadata_handle, execution_id: int):
    """Output key -> artifacts of a past execution; None if any of them is not LIVE."""
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.types import artifact_utils

    store = metadata_handle.store
    events = [
        e for e in store.get_events_by_execution_ids([execution_id]) if e.type == pb.Event.OUTPUT
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    if any(a.state != pb.Artifact.LIVE for a in artifacts.values()):
        return None  # a partial result is not reused
    type_ids = sorted({a.type_id for a in artifacts.values()})
    types = {t.id: t for t in store.get_artifact_types_by_id(type_ids)}
    result = collections.defaultdict(list)
    for event in events:
        artifact = artifacts[event.artifact_id]
        result[event.path.steps[0].key].append(
            artifact_utils.deserialize_artifact(types[artifact.type_id], artifact)
        )
    return result


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from tfx.orchestration.portable import cache_utils

    cache_utils._get_outputs_of_execution = _get_outputs_of_execution
    _APPLIED = True
