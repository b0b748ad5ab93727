"""What the pipeline's Trainer executor records: spans, train stories per span, base model."""

from __future__ import annotations

import json


def _examples(tmp_path, artifact_id: int, span: int, stories: dict[str, int]):
    import tensorflow as tf
    from tfx.types import artifact_utils, standard_artifacts

    a = standard_artifacts.Examples()
    a.id, a.span, a.uri = artifact_id, span, str(tmp_path / f"examples{artifact_id}")
    a.split_names = artifact_utils.encode_split_names(sorted(stories))
    for split, n in stories.items():
        path = tmp_path / f"examples{artifact_id}" / f"Split-{split}"
        path.mkdir(parents=True)
        # Two shards, as the extractor writes them.
        for shard in range(2):
            options = tf.io.TFRecordOptions(compression_type="GZIP")
            name = str(path / f"data_tfrecord-0000{shard}-of-00002.gz")
            with tf.io.TFRecordWriter(name, options) as w:
                for i in range(shard, n, 2):
                    w.write(f"story {i}".encode())
    return a


def test_training_data_counts_train_stories_per_span(tmp_path):
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from pipelines.trainer_executor import training_data

    base = standard_artifacts.Model()
    base.id, base.uri = 42, str(tmp_path / "model42")
    inputs = {
        "examples": [
            _examples(tmp_path, 1, 20261005, {"train": 7, "val": 3}),
            _examples(tmp_path, 2, 20261012, {"train": 5, "val": 2}),
        ],
        "base_model": [base],
    }
    props = {"train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"]))}
    data = training_data(inputs, props)
    assert data["spans"] == [20261005, 20261012]
    assert data["stories_per_span"] == {"20261005": 7, "20261012": 5}
    assert data["train_stories"] == 12
    assert data["base_model"] == base.uri and data["base_model_id"] == 42
    assert data["base_model_path"] == f"{base.uri}/Format-Serving"
    json.dumps(data)  # travels in custom_config
    # Without a base model (a first week, or warm_start off).
    data = training_data({"examples": inputs["examples"][:1]}, props)
    assert data["base_model"] == "" and data["train_stories"] == 7
