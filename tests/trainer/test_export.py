"""The exported SavedModel: signatures, equality with Python decoding, no vistflow code needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from trainer.export import ASSETS_EXTRA, METADATA_FILE, WARMUP_FILE


@pytest.fixture(scope="module")
def sat(trained_sat, sis_artifact):
    import tensorflow as tf

    result, _ = trained_sat
    loaded = tf.saved_model.load(result.export_dir)
    return result, loaded, sis_artifact[1]["examples"]["val"]


def _stack(examples, index):
    return np.stack([np.asarray(e[index]) for e in examples])


def test_feature_signatures_equal_python_decoding(sat):
    import tensorflow as tf

    from trainer.export import load_captioner

    result, loaded, val = sat
    local = _stack(val, 2)  # [stories, 5, h*w*c]
    photos = local.reshape(-1, local.shape[-1])
    exported = loaded.signatures["from_features"](local_features=tf.constant(photos))
    # Python decoding with the same weights, rebuilt from the export's metadata and variables.
    python = load_captioner(result.export_dir).caption_features(local_features=photos)
    assert exported["captions"].numpy().tolist() == python["captions"].numpy().tolist()
    np.testing.assert_allclose(exported["scores"], python["scores"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(exported["attention"], python["attention"], atol=1e-5)
    assert exported["attention"].shape == (len(photos), 10, 64)  # [N, max_length, h*w]
    # Trained 4 epochs on "<concept> <object>" sentences: captions are words of that language.
    words = {w for c in exported["captions"].numpy() for w in c.decode().split()}
    assert words and words <= set(load_captioner(result.export_dir).words)
    # Stories: sentence 1 is photo 1's caption; the later ones never repeat a trigram of the
    # story (the export's default story_block_ngram = 3).
    story = loaded.signatures["story_from_features"](local_features=tf.constant(local))
    sentences = story["sentences"].numpy()
    np.testing.assert_array_equal(sentences[:, 0], exported["captions"].numpy()[::5])
    for row in sentences:
        grams = _trigrams(row)
        assert len(set(grams)) == len(grams), row
    # And it is the Python reference's story, decoded one sentence after another.
    _assert_python_story(load_captioner(result.export_dir), local[:1], story)


def _trigrams(sentences) -> list[tuple[str, ...]]:
    grams = []
    for s in sentences:
        words = s.decode().split()
        grams += [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return grams


def _assert_python_story(captioner, local, story):
    """The story of the first row of `local` [1, 5, h*w*c] equals the Python reference's."""
    import tensorflow as tf

    from trainer.story_decoding import python_decode_story

    model = captioner.model
    feats = model.standardize(captioner._features(local_features=tf.constant(local)))
    tokens, scores = python_decode_story(
        model.step,
        model.story_sentences(feats),
        captioner.decoding,
        vocab_size=len(captioner.words),
        photos=5,
    )
    texts = captioner.tokens_to_text(tf.constant(tokens)).numpy().tolist()
    assert texts == story["sentences"][0].numpy().tolist()
    np.testing.assert_allclose(scores, story["scores"][0], atol=1e-4)


def test_image_signatures_decode_like_the_extractor(sat):
    """Bytes in: decode + backbone in the graph give the stored features' captions."""
    import tensorflow as tf

    _, loaded, val = sat
    images = [img for example in val for img in example[0]]
    local = _stack(val, 2).reshape(len(images), -1)
    from_images = loaded.signatures["serving_default"](images=tf.constant(images))
    from_features = loaded.signatures["from_features"](local_features=tf.constant(local))
    assert from_images["captions"].numpy().tolist() == from_features["captions"].numpy().tolist()
    np.testing.assert_allclose(from_images["scores"], from_features["scores"], atol=1e-4)
    story = loaded.signatures["story"](images=tf.constant(np.array(images).reshape(-1, 5)))
    assert story["sentences"].shape == (len(val), 5)
    # The served story signature decodes with the same story-level control as the features one.
    stored = loaded.signatures["story_from_features"](local_features=tf.constant(_stack(val, 2)))
    assert story["sentences"].numpy().tolist() == stored["sentences"].numpy().tolist()
    assert story["attention"].shape == (len(val), 5, 10, 64)


def test_sequence_model_signatures(trained_gc, sis_artifact):
    import tensorflow as tf

    fn_args, _ = trained_gc
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    val = sis_artifact[1]["examples"]["val"]
    glob, local = _stack(val, 1), _stack(val, 2)
    stories = loaded.signatures["from_features"](
        global_features=tf.constant(glob), local_features=tf.constant(local)
    )
    assert stories["sentences"].shape == (len(val), 5)
    assert stories["scores"].shape == (len(val), 5)
    images = np.array([ex[0] for ex in val])
    from_images = loaded.signatures["story"](images=tf.constant(images))
    assert from_images["sentences"].numpy().tolist() == stories["sentences"].numpy().tolist()
    # serving_default rule: one image = the first sentence of that image repeated 5 times.
    single = loaded.signatures["serving_default"](images=tf.constant(images[:, 0]))
    repeated = loaded.signatures["story_from_features"](
        global_features=tf.constant(np.repeat(glob[:, :1], 5, axis=1)),
        local_features=tf.constant(np.repeat(local[:, :1], 5, axis=1)),
    )
    assert single["captions"].numpy().tolist() == repeated["sentences"][:, 0].numpy().tolist()
    np.testing.assert_allclose(single["scores"], repeated["scores"][:, 0], atol=1e-4)


# One subprocess (TF import ~10 s) serves two checks: `saved_model_cli show --all` (the TF tool's
# own entry point) and running the model with every vistflow package unimportable.
_STANDALONE = r"""
import contextlib, importlib.abc, io, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("trainer", "vistflow", "components"):
            raise ImportError(f"{name} must not be needed to serve the model")
        return None

sys.meta_path.insert(0, Block())
from tensorflow.python.tools import saved_model_cli
import tensorflow as tf

export_dir, images = sys.argv[1], sys.argv[2:]
sys.argv = ["saved_model_cli", "show", "--all", "--dir", export_dir]
cli = io.StringIO()
with contextlib.redirect_stdout(cli):
    try:
        saved_model_cli.main()
    except SystemExit as e:
        assert not e.code, f"saved_model_cli exited with {e.code}"
loaded = tf.saved_model.load(export_dir)
out = loaded.signatures["serving_default"](images=tf.constant([open(p, "rb").read() for p in images]))
print(json.dumps({"cli": cli.getvalue(),
                  "captions": [c.decode() for c in out["captions"].numpy()],
                  "scores": out["scores"].numpy().tolist()}))
"""


@pytest.fixture(scope="module")
def standalone(sat, tmp_path_factory):
    result, _, val = sat
    tmp = tmp_path_factory.mktemp("standalone")
    paths = []
    for i, image in enumerate(val[0][0][:3]):
        paths.append(str(tmp / f"{i}.png"))
        with open(paths[-1], "wb") as f:
            f.write(image)
    out = subprocess.run(
        [sys.executable, "-c", _STANDALONE, result.export_dir, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp),  # not the repo root, so nothing of ours is on sys.path by accident
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_saved_model_cli_lists_the_signatures(standalone):
    cli = standalone["cli"]
    for name in ("serving_default", "story", "from_features", "story_from_features"):
        assert f"signature_def['{name}']" in cli
    assert "inputs['images'] tensor_info:" in cli
    assert "inputs['local_features'] tensor_info:" in cli
    assert "outputs['captions'] tensor_info:" in cli
    assert "outputs['attention'] tensor_info:" in cli


def test_export_runs_without_any_vistflow_code(standalone, sat):
    import tensorflow as tf

    _, loaded, val = sat
    here = loaded.signatures["serving_default"](images=tf.constant(val[0][0][:3]))
    assert standalone["captions"] == [c.decode() for c in here["captions"].numpy()]
    np.testing.assert_allclose(standalone["scores"], here["scores"].numpy(), atol=1e-5)


def test_assets_extra_hold_metadata_and_a_valid_warmup_request(sat):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    result, loaded, _ = sat
    extra = os.path.join(result.export_dir, ASSETS_EXTRA)
    assert sorted(os.listdir(extra)) == sorted([METADATA_FILE, WARMUP_FILE])
    with open(os.path.join(extra, METADATA_FILE)) as f:
        meta = json.load(f)
    assert meta["model"] == "show_attend_tell" and meta["task"] == "sis"
    assert meta["vocabulary"][:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert meta["signatures"]["from_features"]["inputs"] == {
        "local_features": ["float32", [None, 8 * 8 * 64]]
    }
    assert meta["decoding"]["method"] == "beam" and meta["decoding"]["beam_size"] == 3
    assert meta["decoding"]["story_block_ngram"] == 3  # the story signatures' control
    assert meta["decoding"]["story_repetition_penalty"] == 0.0
    assert meta["decoding"]["length_normalization"] == 0.0
    assert meta["backbone"]["name"] == "tiny"
    records = list(tf.data.TFRecordDataset(os.path.join(extra, WARMUP_FILE)))
    assert len(records) == 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    images = tf.make_ndarray(request.inputs["images"])
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    assert out["captions"].shape == (1,)


def test_export_model_cli_changes_only_the_decoding(sat, tmp_path, capsys):
    import tensorflow as tf

    from commands.main import main
    from trainer.export import load_captioner, read_metadata
    from trainer.hparams import DecodingConfig

    result, _, val = sat
    out_dir = str(tmp_path / "greedy")
    argv = ["export-model", "--from", result.export_dir, "--out", out_dir]
    assert main([*argv, "--method", "greedy", "--max-length", "6"]) == 0
    assert json.loads(capsys.readouterr().out)["export_dir"] == out_dir
    meta = read_metadata(out_dir)
    assert (meta["decoding"]["method"], meta["decoding"]["max_length"]) == ("greedy", 6)
    assert meta["decoding"]["beam_size"] == 3  # untouched settings keep their values
    assert meta["vocabulary"] == read_metadata(result.export_dir)["vocabulary"]
    again = tf.saved_model.load(out_dir)
    local = tf.constant(_stack(val, 2).reshape(-1, 8 * 8 * 64))
    exported = again.signatures["from_features"](local_features=local)
    greedy = DecodingConfig(method="greedy", max_length=6)
    python = load_captioner(result.export_dir, greedy).caption_features(local_features=local)
    assert exported["captions"].numpy().tolist() == python["captions"].numpy().tolist()
    assert exported["attention"].shape[1] == 6
    # The output directory exists now: a second export into it is a user error, not a crash.
    assert main([*argv, "--method", "greedy"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_export_model_cli_sets_the_story_controls(sat, tmp_path, capsys):
    import tensorflow as tf

    from commands.main import main
    from trainer.export import load_captioner, read_metadata

    result, loaded, val = sat
    local = _stack(val, 2)
    argv = ["export-model", "--from", result.export_dir]
    off = str(tmp_path / "off")
    assert main([*argv, "--out", off, "--story-block-ngram", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["decoding"]["story_block_ngram"] == 0
    assert read_metadata(off)["decoding"]["story_block_ngram"] == 0
    # Off: the photos of a story are captioned independently (the captions of from_features),
    # which for this 4-epoch model repeats trigrams across the story.
    plain = tf.saved_model.load(off)
    story = plain.signatures["story_from_features"](local_features=tf.constant(local))
    captions = plain.signatures["from_features"](
        local_features=tf.constant(local.reshape(-1, local.shape[-1]))
    )
    np.testing.assert_array_equal(
        story["sentences"].numpy().reshape(-1), captions["captions"].numpy()
    )
    repeating = [len(set(g)) < len(g) for g in map(_trigrams, story["sentences"].numpy())]
    assert any(repeating)
    blocked = loaded.signatures["story_from_features"](local_features=tf.constant(local))
    assert not any(len(set(g)) < len(g) for g in map(_trigrams, blocked["sentences"].numpy()))
    # Bigram blocking, a count penalty and length normalisation, through the CLI into the graph.
    other = str(tmp_path / "other")
    flags = ["--story-block-ngram", "2", "--story-repetition-penalty", "0.5"]
    assert main([*argv, "--out", other, *flags, "--length-normalization", "0.7"]) == 0
    capsys.readouterr()
    decoding = read_metadata(other)["decoding"]
    assert decoding["story_block_ngram"] == 2 and decoding["story_repetition_penalty"] == 0.5
    assert decoding["length_normalization"] == 0.7
    story = tf.saved_model.load(other).signatures["story_from_features"](
        local_features=tf.constant(local)
    )
    for row in story["sentences"].numpy():
        bigrams = []
        for s in row:
            words = s.decode().split()
            bigrams += list(zip(words, words[1:], strict=False))
        assert bigrams and len(set(bigrams)) == len(bigrams), row
    _assert_python_story(load_captioner(other), local[:1], story)


def test_train_cli_config_parsing(tmp_path):
    from commands.train import parse_config
    from vistflow.errors import VistflowError

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model": "mrnn", "epochs": 3}))
    config = parse_config(str(path), ["epochs=5", "decoding.beam_size=4"])
    assert config == {"model": "mrnn", "epochs": "5", "decoding.beam_size": "4"}
    with pytest.raises(VistflowError, match="KEY=VALUE"):
        parse_config(None, ["epochs"])


def test_the_evaluator_decodes_a_per_image_export_story_by_story_without_repeats(sat, sis_artifact):
    """What the pipeline's evaluator does on SIS (`story_from_features`): one decode per story
    and no trigram twice in a story (the default story_block_ngram); `from_features` captions
    the photos one by one."""
    import tensorflow as tf
    from trainer_testdata import split_pattern

    from components.caption_evaluator import decoding

    result, _, _ = sat
    files = tf.io.gfile.glob(split_pattern(sis_artifact[0], "val"))
    apart = decoding.FeatureModel(result.export_dir, "from_features")
    assert not apart.per_story
    story = decoding.FeatureModel(result.export_dir, "story_from_features")
    assert story.per_story and story.story_length == 5
    metas, predictions = story.decode(decoding.iter_examples(files), batch_size=3)
    assert len(metas) == 4
    for meta in metas:
        sentences = [
            predictions[decoding.photo_key(meta, i, per_story=True)].text.split()
            for i in range(len(meta.photos))
        ]
        trigrams = [tuple(s[k : k + 3]) for s in sentences for k in range(len(s) - 2)]
        assert len(trigrams) == len(set(trigrams)), sentences
