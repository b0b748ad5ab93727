"""Lineage of pushed models from ML Metadata: which spans and which base model each came from.

    pushed_model_lineage("<home>/pipeline/metadata.sqlite")
    -> [{"version": "3", "model_uri": ..., "spans": [20261005, 20261012, 20261019],
         "base_model_uri": <week 2's model>, ...}, ...]

Walks the events, not the custom properties the Trainer sets: PushedModel <- Pusher execution
<- Model <- Trainer execution <- its `examples` (with their spans) and `base_model` inputs.
"""

from __future__ import annotations

from typing import Any


def _store(metadata: str):
    """A read-only store: `metadata` is a SQLite path or a postgresql:// URL."""
    from ml_metadata import metadata_store

    from pipelines.metadata_config import connection_config

    return metadata_store.MetadataStore(connection_config(metadata, read_only=True))


def _value(artifact, name: str) -> Any:
    for props in (artifact.properties, artifact.custom_properties):
        if name in props:
            v = props[name]
            kind = v.WhichOneof("value")
            return getattr(v, kind) if kind else None
    return None


def _events(store, *, execution_ids=(), artifact_ids=()):
    if execution_ids:
        return store.get_events_by_execution_ids(list(execution_ids))
    return store.get_events_by_artifact_ids(list(artifact_ids))


def _key(event) -> str:
    return event.path.steps[0].key if event.path.steps else ""


def _inputs(store, execution_id: int) -> dict[str, list]:
    """Input key -> artifacts of one execution."""
    events = [e for e in _events(store, execution_ids=[execution_id]) if e.type == e.INPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    out: dict[str, list] = {}
    for e in events:
        out.setdefault(_key(e), []).append(artifacts[e.artifact_id])
    return out


def _producer(store, artifact_id: int) -> int | None:
    outputs = [
        e
        for e in _events(store, artifact_ids=[artifact_id])
        if e.type in (e.OUTPUT, e.DECLARED_OUTPUT)
    ]
    return min((e.execution_id for e in outputs), default=None)


def model_lineage(store, model) -> dict[str, Any]:
    """The spans (examples) and base model of the Trainer execution that produced `model`."""
    trainer = _producer(store, model.id)
    inputs = _inputs(store, trainer) if trainer is not None else {}
    examples = sorted(inputs.get("examples", []), key=lambda a: (_value(a, "span") or 0, a.id))
    base = (inputs.get("base_model") or [None])[0]
    return {
        "model_id": model.id,
        "model_uri": model.uri,
        "trainer_execution_id": trainer,
        "spans": [int(_value(a, "span") or 0) for a in examples],
        "examples_uris": [a.uri for a in examples],
        "base_model_id": base.id if base is not None else None,
        "base_model_uri": base.uri if base is not None else None,
    }


def pushed_model_lineage(metadata: str) -> list[dict[str, Any]]:
    """Every model the Pusher pushed, oldest first: version, destination, spans, base model.

    `metadata`: the SQLite path or postgresql:// URL of the ML Metadata store.
    """
    store = _store(metadata)
    found = []
    for pushed in sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id):
        if int(_value(pushed, "pushed") or 0) != 1:
            continue
        pusher = _producer(store, pushed.id)
        models = _inputs(store, pusher).get("model", []) if pusher is not None else []
        if not models:
            continue
        found.append(
            {
                "version": str(_value(pushed, "pushed_version") or ""),
                "destination": str(_value(pushed, "pushed_destination") or ""),
                **model_lineage(store, models[0]),
            }
        )
    return found
