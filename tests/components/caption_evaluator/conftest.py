"""Fixtures for the CaptionEvaluator tests: feature Examples and fake exported models.

The fake models are real SavedModels (tf.Module + signatures, no vistflow code) whose output we
control: `global_features[:, 0]` holds an index into a caption table baked into the model, so a
"good" model can return the reference and a "bad" one garbage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

GLOBAL_DIM = 4
GRID = (2, 2, 3)  # H, W, C of the local features
STEPS = 3  # attention steps returned by the attention model


def write_image(path: Path, color: tuple[int, int, int]) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 48), color)
    ImageDraw.Draw(img).rectangle([8, 8, 30, 30], fill=(255 - color[0], 200, 40))
    img.save(path)
    return str(path)


def make_example(
    *,
    example_id: str,
    album_id: str,
    task: str,
    photos: Sequence[tuple[str, str, Sequence[str], int]],  # photo id, image uri, refs, index
) -> bytes:
    """A feature SequenceExample (the feature extractor's output format), serialized."""
    import tensorflow as tf

    from vistflow import example_format as ef

    def b(*values: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    def f(values) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    def i64(*values: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    h, w, c = GRID
    lists = {k: [] for k in (ef.PHOTO_ID, ef.IMAGE_URI, ef.TEXT, ef.GLOBAL_FEATURES)}
    lists[ef.LOCAL_FEATURES] = []
    for photo_id, uri, refs, index in photos:
        lists[ef.PHOTO_ID].append(b(photo_id))
        lists[ef.IMAGE_URI].append(b(uri))
        lists[ef.TEXT].append(b(*refs))
        lists[ef.GLOBAL_FEATURES].append(f([index, 0.5, 0.25, 0.125]))
        # Channel 0 peaks in a different cell per photo: the attention model attends there.
        grid = np.zeros((h, w, c), np.float32)
        grid[(index // w) % h, index % w, 0] = 5.0
        lists[ef.LOCAL_FEATURES].append(f(grid.reshape(-1)))
    se = tf.train.SequenceExample(
        context=tf.train.Features(
            feature={
                ef.ID: b(example_id),
                ef.ALBUM_ID: b(album_id),
                ef.SPLIT: b("val"),
                ef.TASK: b(task),
                ef.GLOBAL_DIM: i64(GLOBAL_DIM),
                ef.LOCAL_SHAPE: i64(*GRID),
                ef.BACKBONE: b("fake"),
            }
        ),
        feature_lists=tf.train.FeatureLists(
            feature_list={k: tf.train.FeatureList(feature=v) for k, v in lists.items()}
        ),
    )
    return se.SerializeToString()


def write_split(examples_uri: Path, split: str, records: Sequence[bytes]) -> None:
    import tensorflow as tf

    split_dir = examples_uri / f"Split-{split}"
    split_dir.mkdir(parents=True, exist_ok=True)
    path = str(split_dir / "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in records:
            writer.write(record)


def save_caption_model(model_uri: Path, table: Sequence[str], *, attention: bool = False) -> str:
    """A per-photo model: `from_features(global_features, local_features)` -> captions."""
    import tensorflow as tf

    h, w, c = GRID

    class FakeCaptioner(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(list(table), dtype=tf.string, trainable=False)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, GLOBAL_DIM], tf.float32, name="global_features"),
                tf.TensorSpec([None, h * w, c], tf.float32, name="local_features"),
            ]
        )
        def from_features(self, global_features, local_features):
            index = tf.cast(global_features[:, 0], tf.int32)
            out = {
                "captions": tf.gather(self.table, index),
                "scores": -tf.cast(index, tf.float32),
            }
            if attention:
                weights = tf.nn.softmax(local_features[:, :, 0], axis=-1)  # [N, h*w]
                out["attention"] = tf.tile(weights[:, None, :], [1, STEPS, 1])
            return out

    module = FakeCaptioner()
    export = model_uri / "Format-Serving"
    tf.saved_model.save(module, str(export), signatures={"from_features": module.from_features})
    return str(model_uri)


def save_story_model(model_uri: Path, table: Sequence[str], length: int = 5) -> str:
    """A storyteller: `from_features(global_features [N, L, D])` -> sentences [N, L]."""
    import tensorflow as tf

    class FakeStoryteller(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(list(table), dtype=tf.string, trainable=False)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, length, GLOBAL_DIM], tf.float32, name="story_global_features")
            ]
        )
        def from_features(self, story_global_features):
            index = tf.cast(story_global_features[:, :, 0], tf.int32)
            return {
                "sentences": tf.gather(self.table, index),
                "scores": -tf.cast(index, tf.float32),
            }

    module = FakeStoryteller()
    tf.saved_model.save(
        module,
        str(model_uri / "Format-Serving"),
        signatures={"from_features": module.from_features},
    )
    return str(model_uri)


class FakeScore:
    """What the scoring library's `score` returns: metrics, per_item, signature."""

    def __init__(self, metrics, per_item, signature):
        self.metrics, self.per_item, self.signature = metrics, per_item, signature


def fake_score(predictions, references, *, profile="coco", meteor="java"):
    """A transparent stand-in scorer: CIDEr = exact-match rate, Bleu_1 = unigram precision.

    Exact arithmetic, so tests can assert the blessing decision from known model outputs.
    """
    per_item = {}
    for key, pred in predictions.items():
        refs = list(references[key])
        tokens = pred.split()
        ref_tokens = {t for r in refs for t in r.split()}
        bleu1 = sum(t in ref_tokens for t in tokens) / len(tokens) if tokens else 0.0
        per_item[key] = {"CIDEr": float(pred in refs), "Bleu_1": bleu1}
    n = max(len(per_item), 1)
    metrics = {
        "Bleu_1": sum(v["Bleu_1"] for v in per_item.values()) / n,
        "CIDEr": sum(v["CIDEr"] for v in per_item.values()) / n,
    }
    if meteor != "none":
        metrics["METEOR"] = metrics["Bleu_1"] / 2
    return FakeScore(metrics, per_item, f"fake|profile:{profile}|meteor:{meteor}")


@pytest.fixture
def scored_with_fake(monkeypatch):
    """Score with `fake_score` so assertions follow from the fake models' outputs exactly."""
    from components.caption_evaluator import executor

    calls = []

    def score(predictions, references, config, *, stories=None, meteor_scorer=None):
        calls.append((dict(predictions), dict(references), config.profile))
        return fake_score(predictions, references, profile=config.profile, meteor=config.meteor)

    monkeypatch.setattr(executor, "_score", score)
    return calls


@pytest.fixture(scope="session")
def eval_world(tmp_path_factory):
    """Images, an Examples artifact dir (caption `val`, SIS `test`) and fake models.

    val: 6 single-image examples, 2 references each. test: 3 SIS stories of 5 photos; stories
    s0 and s1 are written for the same photo sequence of album a0 (2 references for one item).
    """
    root = tmp_path_factory.mktemp("eval_world")
    images = root / "images"
    images.mkdir()
    uris = [write_image(images / f"p{i}.png", (40 * i % 256, 90, 160 - 20 * i)) for i in range(10)]
    refs = [(f"a photo of thing {i}", f"thing number {i} in view") for i in range(10)]
    val = [
        make_example(
            example_id=f"img{i}",
            album_id="",
            task="caption",
            photos=[(f"p{i}", uris[i], refs[i], i)],
        )
        for i in range(6)
    ]
    sentences = [f"sentence for photo {i} ." for i in range(10)]

    def story(example_id, album, photo_indices, words):
        return make_example(
            example_id=example_id,
            album_id=album,
            task="sis",
            photos=[(f"p{i}", uris[i], (f"{words} {i} .",), i) for i in photo_indices],
        )

    test = [
        story("s0", "a0", range(5), "sentence for photo"),
        story("s1", "a0", range(5), "another line for"),
        story("s2", "a1", range(5, 10), "sentence for photo"),
    ]
    examples = root / "examples"
    write_split(examples, "val", val)
    write_split(examples, "test", test)

    models = root / "models"
    good = [r[0] for r in refs]
    half = [r[0] if i % 2 == 0 else "zzz qqq" for i, r in enumerate(refs)]
    return {
        "root": root,
        "examples": str(examples),
        "refs": refs,
        "uris": uris,
        "good": save_caption_model(models / "good", good, attention=True),
        "half": save_caption_model(models / "half", half),
        "bad": save_caption_model(models / "bad", ["zzz qqq"] * 10),
        "story": save_story_model(models / "story", sentences),
        "sentences": sentences,
    }


def model_artifact(uri: str, artifact_id: int = 0):
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.uri = uri
    if artifact_id:
        model.id = artifact_id
    return model


def examples_artifact(uri: str):
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = artifact_utils.encode_split_names(["val", "test"])
    return examples


def blessing_artifact(uri: Path):
    from tfx.types import standard_artifacts

    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(uri)
    os.makedirs(uri, exist_ok=True)
    return blessing


@pytest.fixture(scope="session")
def fakes():
    """The helpers above, for tests that build their own examples, models or artifacts."""
    import types

    return types.SimpleNamespace(
        write_image=write_image,
        make_example=make_example,
        write_split=write_split,
        save_caption_model=save_caption_model,
        save_story_model=save_story_model,
        fake_score=fake_score,
        model_artifact=model_artifact,
        examples_artifact=examples_artifact,
        blessing_artifact=blessing_artifact,
        GRID=GRID,
        STEPS=STEPS,
    )
