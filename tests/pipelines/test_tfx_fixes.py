"""pipelines/tfx_fixes.py: TFX's cache lookup keys each cached output by its own event on
PostgreSQL ML Metadata, where rows come back in heap order (an updated artifact moves last)."""

from __future__ import annotations

import postgres_server
from ml_metadata.proto import metadata_store_pb2 as pb

from pipelines import tfx_fixes
from pipelines.metadata_config import connection_config

postgres = postgres_server.postgres  # the module-scoped server fixture


def test_cached_outputs_keep_their_keys_on_postgresql(postgres, tmp_path):
    from tfx.orchestration import metadata
    from tfx.orchestration.portable import cache_utils

    tfx_fixes.apply()
    uris = {key: tmp_path / key for key in ("examples", "schema", "other")}
    for uri in uris.values():
        uri.mkdir()  # the cache checks that cached outputs still exist
    with metadata.Metadata(connection_config(postgres.url("mlmd_cache"))) as m:
        store = m.store
        examples_t = store.put_artifact_type(pb.ArtifactType(name="Examples"))
        schema_t = store.put_artifact_type(pb.ArtifactType(name="Schema"))
        exec_t = store.put_execution_type(pb.ExecutionType(name="FeatureExtractor"))
        ctx_t = store.put_context_type(pb.ContextType(name="cache"))
        pending = pb.Artifact.PENDING
        ids = store.put_artifacts(
            [
                pb.Artifact(type_id=examples_t, uri=str(uris["examples"]), state=pending),
                pb.Artifact(type_id=schema_t, uri=str(uris["schema"]), state=pending),
                pb.Artifact(type_id=examples_t, uri=str(uris["other"]), state=pending),
            ]
        )
        # Published in another order than created: PostgreSQL then returns them reordered.
        for i in reversed(ids):
            [a] = store.get_artifacts_by_id([i])
            a.state = pb.Artifact.LIVE
            store.put_artifacts([a])
        execution = pb.Execution(type_id=exec_t, last_known_state=pb.Execution.COMPLETE)
        events = [
            pb.Event(
                artifact_id=i,
                type=pb.Event.OUTPUT,
                path=pb.Event.Path(steps=[pb.Event.Path.Step(key=key)]),
            )
            for i, key in zip(ids, ("examples", "schema", "other"), strict=True)
        ]
        [ctx_id] = store.put_contexts([pb.Context(type_id=ctx_t, name="key")])
        [ctx] = store.get_contexts_by_id([ctx_id])
        [exec_id] = store.put_executions([execution])
        store.put_events([pb.Event(execution_id=exec_id, **_fields(e)) for e in events])
        association = pb.Association(context_id=ctx_id, execution_id=exec_id)
        store.put_attributions_and_associations([], [association])
        outputs = cache_utils.get_cached_outputs(m, ctx)
    assert {k: [a.uri for a in v] for k, v in outputs.items()} == {
        "examples": [str(uris["examples"])],
        "schema": [str(uris["schema"])],
        "other": [str(uris["other"])],
    }
    assert [a.type_name for a in outputs["schema"]] == ["Schema"]


def _fields(event: pb.Event) -> dict:
    return {"artifact_id": event.artifact_id, "type": event.type, "path": event.path}
