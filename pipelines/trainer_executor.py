"""The stock Trainer executor, plus what a window of spans needs recorded.

Before `run_fn`: which spans the `examples` inputs are and how many train stories each holds,
and the base model of a warm start, handed to `run_fn` as `custom_config["training_data"]`
(trainer/run.py writes them to `<model_run>/training_data.json` and the results CSV). After:
the same on the output Model as custom properties (`train_spans`, `max_span`, `train_stories`,
`base_model_uri`), so ML Metadata answers "what was this model trained on" without reading files,
and the span-bounded resolvers (pipelines/span_resolvers.py) can pick models by span.
"""

from __future__ import annotations

import json
from typing import Any

from tfx.components.trainer import component as trainer_component
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from pipelines.span_resolvers import MAX_SPAN_PROPERTY, SPANS_PROPERTY, span_of
from trainer.run import TRAINING_DATA_KEY  # the custom_config key run_fn reads


def count_records(pattern: str) -> int:
    """Records (stories) in the gzipped TFRecord files matching `pattern`."""
    import tensorflow as tf

    files = tf.io.gfile.glob(pattern)
    if not files:
        return 0
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(dataset.reduce(0, lambda n, _: n + 1).numpy())


def training_data(input_dict: dict[str, list], exec_properties: dict[str, Any]) -> dict[str, Any]:
    """{"spans": [...], "stories_per_span": {span: n}, "train_stories": n, "base_model": uri}."""
    from tfx.proto import trainer_pb2
    from tfx.utils import proto_utils

    train_args = trainer_pb2.TrainArgs()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.TRAIN_ARGS_KEY], train_args)
    splits = list(train_args.splits) or ["train"]
    per_span: dict[int, int] = {}
    for examples in input_dict[standard_component_specs.EXAMPLES_KEY]:
        stories = sum(
            count_records(io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], s)))
            for s in splits
        )
        per_span[span_of(examples)] = per_span.get(span_of(examples), 0) + stories
    base = input_dict.get(standard_component_specs.BASE_MODEL_KEY) or []
    return {
        "spans": sorted(per_span),
        "stories_per_span": {str(s): n for s, n in sorted(per_span.items())},
        "train_stories": sum(per_span.values()),
        "base_model": base[0].uri if base else "",
        "base_model_id": base[0].id if base else 0,
        "base_model_path": path_utils.serving_model_path(base[0].uri) if base else "",
    }


class Executor(trainer_executor.GenericExecutor):
    """GenericExecutor that records the spans, story counts and base model of its run."""

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        data = training_data(input_dict, exec_properties)
        key = standard_component_specs.CUSTOM_CONFIG_KEY
        config = json.loads(exec_properties.get(key) or "null") or {}
        config[TRAINING_DATA_KEY] = data
        super().Do(input_dict, output_dict, {**exec_properties, key: json.dumps(config)})
        model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
        model.set_string_custom_property(SPANS_PROPERTY, json.dumps(data["spans"]))
        model.set_int_custom_property(MAX_SPAN_PROPERTY, max(data["spans"], default=0))
        model.set_int_custom_property("train_stories", data["train_stories"])
        model.set_string_custom_property("stories_per_span", json.dumps(data["stories_per_span"]))
        model.set_string_custom_property("base_model_uri", data["base_model"])


class Trainer(trainer_component.Trainer):
    """The stock Trainer component running `Executor` (node id "Trainer", as the stock one's)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.with_id("Trainer")
