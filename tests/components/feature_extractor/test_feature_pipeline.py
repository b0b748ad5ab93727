"""The Beam job: each transform on small beam.Create inputs, then whole runs on the tiny dataset."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from fx_data import sequence_example

from components.feature_extractor import feature_examples as fe
from components.feature_extractor import pipeline as fp
from components.feature_extractor import transforms as fxt
from components.feature_extractor.inference import METRICS_NAMESPACE, DecodedImage, LoadedBackbone
from components.feature_extractor.options import ExtractionConfig
from vistflow import backbones as bb
from vistflow.errors import VistflowError
from vistflow.feature_parsing import parse_feature_example

TINY = bb.SPECS["tiny"]


def _read_records(pattern_dir: Path) -> list[bytes]:
    import tensorflow as tf

    files = sorted(str(p) for p in pattern_dir.glob("Split-*/*.gz"))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _parsed(out_dir: Path) -> dict[str, dict]:
    import tensorflow as tf

    parsed = {}
    for record in _read_records(out_dir):
        ex = parse_feature_example(tf.constant(record), TINY)
        parsed[ex["id"].numpy().decode()] = {
            k: v.numpy() for k, v in ex.items() if not isinstance(v, tf.RaggedTensor)
        }
    return parsed


def _counter(result, name: str) -> int:
    query = result.metrics().query(
        MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name)
    )
    return sum(c.committed for c in query["counters"])


# ---- transforms -----------------------------------------------------------------------------


def test_key_examples_splits_refs_and_invalid_records():
    good = sequence_example("train", "s1", ["/i/a.jpg", "/i/b.jpg", "/i/a.jpg"], ["a", "b", "a"])
    no_uris = sequence_example("val", "s2", [], [])
    with test_pipeline.TestPipeline() as p:
        keyed = (
            p
            | beam.Create([("train", good), ("train", b"\xff\x00 not a proto"), ("val", no_uris)])
            | fxt.KeyExamples()
        )
        assert_that(
            keyed.examples | "k" >> beam.MapTuple(lambda key, ser: (key[0], ser)),
            equal_to([("train", good)]),
            label="examples",
        )
        assert_that(
            keyed.refs | "r" >> beam.MapTuple(lambda uri, kp: (uri, kp[0][0], kp[1])),
            equal_to(
                [("/i/a.jpg", "train", 0), ("/i/b.jpg", "train", 1), ("/i/a.jpg", "train", 2)]
            ),
            label="refs",
        )
        assert_that(
            keyed.invalid
            | "i" >> beam.Map(lambda f: (f["split"], f["id"], f["reason"].split(":")[0])),
            equal_to(
                [
                    ("train", "", "not a tf.train.SequenceExample"),
                    ("val", "s2", "no 'image_uri' feature list"),
                ]
            ),
            label="invalid",
        )


def test_decode_images_converts_via_pil_and_reports_failures(fx_dataset):
    images = fx_dataset.parent / "images"
    (images.parent / "junk.jpg").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    uris = [str(images / "p0.jpg"), str(images / "p5.webp"), str(images / "p4.png")]
    bad = [str(images.parent / "junk.jpg"), str(images / "missing.jpg")]
    expected = {u: np.asarray(bb.decode_image(Path(u).read_bytes(), 64)) for u in uris[::2]}

    def check_images(items):
        assert sorted(u for u, _ in items) == sorted(uris)
        for uri, image in items:
            assert image.pixels.shape == (64, 64, 3) and image.pixels.dtype == np.float32
            if uri in expected:  # decoded by TF exactly as the exported model will
                assert np.array_equal(image.pixels, expected[uri])
            assert bb.decode_image(image.jpeg, 64).shape == (64, 64, 3)  # stored JPEG decodes

    def check_failed(items):
        reasons = dict(items)
        assert sorted(reasons) == sorted(bad)
        # The shared decoder's reason code, then PIL's own words (a PNG signature, then nothing).
        assert reasons[bad[0]] == "cannot decode: undecodable: header: OSError: Truncated File Read"
        assert reasons[bad[1]].startswith("cannot read: ")
        assert "0x" not in reasons[bad[0]]  # no object addresses: failures.jsonl is deterministic

    with test_pipeline.TestPipeline() as p:
        decoded = p | beam.Create(uris + bad) | fxt.DecodeImages(64, store_images=True)
        assert_that(decoded.images, check_images, label="images")
        assert_that(decoded.failed, check_failed, label="failed")
        assert_that(decoded.converted, equal_to([uris[1]]), label="converted")


def test_extract_features_runs_fixed_size_batches_once_per_image(fx_backbone_dir):
    rng = np.random.default_rng(0)
    inputs = [
        (f"u{i}", DecodedImage(rng.uniform(0, 255, (64, 64, 3)).astype(np.float32)))
        for i in range(5)
    ]
    model = LoadedBackbone(fx_backbone_dir, 4)
    batch = np.zeros((4, 64, 64, 3), np.float32)
    batch[0] = inputs[3][1].pixels
    want = model(batch)  # alone in a zero-padded batch: the same numbers as in any other batch

    def check(items):
        assert sorted(u for u, _ in items) == [f"u{i}" for i in range(5)]
        features = dict(items)["u3"]
        assert features.global_.dtype == np.float32 and features.local.shape == (8, 8, 64)
        assert np.array_equal(features.global_, want["global"][0])
        assert np.array_equal(features.local, want["local"][0])

    p = test_pipeline.TestPipeline()
    out = p | beam.Create(inputs) | fxt.ExtractFeatures(fx_backbone_dir, batch_size=4)
    assert_that(out, check)
    result = p.run()
    assert _counter(result, "images_extracted") == 5
    assert _counter(result, "model_calls") + 0 >= 2  # 5 images in batches of at most 4
    calls = _counter(result, "model_calls")
    assert _counter(result, "padding_images") == calls * 4 - 5


def _fake_features(seed: int) -> fe.ImageFeatures:
    rng = np.random.default_rng(seed)
    return fe.ImageFeatures(
        rng.random(TINY.global_dim, np.float32), rng.random(TINY.local_shape, np.float32)
    )


def _read_shards(split_dir):
    import tensorflow as tf

    names = sorted(p.name for p in split_dir.iterdir())
    return names, [
        [r.numpy() for r in tf.data.TFRecordDataset(str(split_dir / name), "GZIP")]
        for name in names
    ]


def test_assemble_shards_restores_photo_order_and_drops_examples_with_failed_images(tmp_path):
    e1 = sequence_example("train", "e1", ["a", "b", "a"], ["a", "b", "a"])
    e2 = sequence_example("val", "e2", ["c", "d"], ["c", "d"])
    k1, k2 = ("train", "a1" * 32), ("val", "b2" * 32)
    feats = {u: _fake_features(i) for i, u in enumerate("abc")}

    with test_pipeline.TestPipeline() as p:
        out = {
            "examples": p | "ex" >> beam.Create([(k1, e1), (k2, e2)]),
            "refs": p
            | "refs"
            >> beam.Create(
                [("a", (k1, 0)), ("b", (k1, 1)), ("a", (k1, 2)), ("c", (k2, 0)), ("d", (k2, 1))]
            ),
            # What decoding and inference hand on: each image with the stories that show it,
            # and its features or its failure.
            "photos": p
            | "photos"
            >> beam.Create(
                [
                    (("a", ((k1, 0), (k1, 2))), feats["a"]),
                    (("b", ((k1, 1),)), feats["b"]),
                    (("c", ((k2, 0),)), feats["c"]),
                    (("d", ((k2, 1),)), "cannot decode: bad"),
                ]
            )
            | "fan out" >> beam.FlatMap(fxt._fan_out),
        } | fxt.AssembleShards(
            TINY, "float32", str(tmp_path), num_shards=0, shard_mb=1, compression_level=1
        )
        assert_that(
            out["dropped"],
            equal_to(
                [
                    fxt._failure(
                        "example", "image d failed: cannot decode: bad", split="val", id="e2"
                    )
                ]
            ),
            label="dropped",
        )
        stats = out["stats"] | beam.CombinePerKey(sum)
        assert_that(
            stats | beam.Keys(),
            equal_to(["examples_written/train", "bytes/train", "shards/train", "shards/val"]),
            label="stats",
        )
    names, (records,) = _read_shards(tmp_path / "Split-train")
    assert names == ["data_tfrecord-00000-of-00001.gz"]
    assert not (tmp_path / "Split-val").exists()  # the launcher writes the empty shard
    got = fe.parse(records[0]).feature_lists.feature_list["global_features"].feature
    assert fe.context_str(fe.parse(records[0]), "id") == "e1"
    for feature, uri in zip(got, "aba", strict=True):
        assert np.array_equal(np.array(feature.float_list.value, np.float32), feats[uri].global_)


def test_assemble_shards_sorts_by_id_into_fixed_shards(tmp_path):
    import hashlib

    examples = [sequence_example("train", f"id{i:02d}", ["u"], ["u"]) for i in range(20)]
    keyed = [(("train", hashlib.sha256(e).hexdigest()), e) for e in examples]
    keyed += [
        (("val", hashlib.sha256(b"v1").hexdigest()), sequence_example("val", "v1", ["u"], ["u"]))
    ]
    refs = [("u", (key, 0)) for key, _ in keyed]
    with test_pipeline.TestPipeline() as p:
        out = {
            "examples": p | "ex" >> beam.Create(keyed[::-1]),
            "refs": p | "refs" >> beam.Create(refs),
            "photos": p
            | "photos" >> beam.Create([(("u", tuple(r for _, r in refs)), _fake_features(0))])
            | "fan out" >> beam.FlatMap(fxt._fan_out),
        } | fxt.AssembleShards(
            TINY, "float32", str(tmp_path), num_shards=3, shard_mb=1, compression_level=6
        )
        stats = out["stats"] | beam.CombinePerKey(sum)
        assert_that(
            stats | "written" >> beam.Filter(lambda kv: not kv[0].startswith("bytes/")),
            equal_to(
                [
                    ("examples_written/train", 20),
                    ("examples_written/val", 1),
                    ("shards/train", 3),
                    ("shards/val", 3),
                ]
            ),
        )
    names, shards = _read_shards(tmp_path / "Split-train")
    assert names == [f"data_tfrecord-0000{i}-of-00003.gz" for i in range(3)]
    seen = []
    for shard in shards:
        ids = [fe.context_str(fe.parse(r), "id") for r in shard]
        assert ids == sorted(ids)
        seen += ids
    assert sorted(seen) == [f"id{i:02d}" for i in range(20)]
    # Each example's shard follows from its key alone, whatever the runner batched it with.
    for (split, digest), e in keyed[:20]:
        shard = fxt._shard_of((split, digest), 3)
        assert fe.context_str(fe.parse(e), "id") in [
            fe.context_str(fe.parse(r), "id") for r in shards[shard]
        ]
    assert fxt._num_shards(0, 0, 256) == 1 and fxt._num_shards(3 * 2**20 + 1, 0, 1) == 4
    assert fxt._num_shards(10**12, 7, 1) == 7


# ---- whole runs -----------------------------------------------------------------------------


def test_reference_run_extracts_each_unique_image_once(fx_reference, fx_dataset):
    out, meta = fx_reference
    images = meta["images"]
    # 5 stories x 5 photos = 25 references to 9 unique photos; "shared" is in 3 stories.
    assert images["references"] == 25 and images["unique"] == 9
    assert images["extracted"] == 9 and images["model_executions"] == 9
    assert meta["unique_images_per_extraction"] == 1.0
    assert images["converted_via_pil"] == 1 and images["failed"] == 0  # the WebP photo
    assert {s: v["examples_written"] for s, v in meta["splits"].items()} == {
        "train": 3,
        "val": 1,
        "test": 1,
    }
    assert meta["weights"] == "random(seed=0)" and meta["weights_random"] is True
    assert "RANDOM WEIGHTS" in meta["weights_note"]
    assert json.loads((out / fp.METADATA_FILE).read_text()) == meta
    assert (out / fp.FAILURES_FILE).read_text() == ""
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (out / f"Split-{split}").iterdir()) == [
            "data_tfrecord-00000-of-00002.gz",
            "data_tfrecord-00001-of-00002.gz",
        ]
    assert not Path(str(out) + fp.INCOMPLETE_SUFFIX).exists()

    # Features of the shared photo: identical in its 3 stories and equal to running the saved
    # backbone on decode_image(file) directly.
    parsed = _parsed(out)
    assert sorted(parsed) == ["s1", "s2", "s3", "s4", "s5"]
    shared = [
        parsed[s]["global_features"][list(parsed[s]["photo_id"]).index(b"shared")]
        for s in ("s1", "s2", "s3")
    ]
    model = LoadedBackbone(str(out / fp.BACKBONE_DIR), meta["batch_size"])
    batch = np.zeros((meta["batch_size"], 64, 64, 3), np.float32)
    batch[0] = bb.decode_image((fx_dataset.parent / "images" / "shared.jpg").read_bytes(), 64)
    direct = model(batch)
    for vector in shared:
        assert np.array_equal(vector, direct["global"][0])
    local = parsed["s2"]["local_features"][0]
    assert np.array_equal(local, direct["local"][0])


def test_failed_images_are_reported_and_their_examples_left_out(fx_broken_dataset, tmp_path):
    meta = fp.extract_features(
        str(fx_broken_dataset), str(tmp_path / "f"), ExtractionConfig("tiny")
    )
    lines = [json.loads(x) for x in (tmp_path / "f" / fp.FAILURES_FILE).read_text().splitlines()]
    broken = str(fx_broken_dataset.parent / "images" / "broken.jpg")
    assert [(x["kind"], x["id"], x["uri"]) for x in lines] == [
        ("image", "", broken),
        ("example", "s6", ""),
    ]
    assert "cannot decode" in lines[0]["reason"] and broken in lines[1]["reason"]
    assert meta["images"]["failed"] == 1 and meta["splits"]["train"]["examples_dropped"] == 1
    assert meta["splits"]["train"]["examples_written"] == 3
    assert sorted(_parsed(tmp_path / "f")) == ["s1", "s2", "s3", "s4", "s5"]  # no zero-filled s6


def test_float16_storage_and_stored_images(fx_reference, fx_dataset, tmp_path):
    import tensorflow as tf

    ref_out, ref_meta = fx_reference
    cfg = ExtractionConfig("tiny", dtype="float16", store_images=True, num_shards=2)
    meta = fp.extract_features(str(fx_dataset), str(tmp_path / "h"), cfg)
    assert meta["dtype"] == "float16" and meta["store_images"] is True
    ref, half = _parsed(ref_out), _parsed(tmp_path / "h")
    for story in ref:
        for key in ("global_features", "local_features"):
            assert half[story][key].dtype == np.float32
            assert np.allclose(half[story][key], ref[story][key], rtol=2**-11, atol=1e-7)
        assert len(half[story]["image_bytes"]) == 5
        jpeg = tf.io.decode_jpeg(half[story]["image_bytes"][0])
        assert tuple(jpeg.shape) == (64, 64, 3)
    sizes = {
        name: sum(p.stat().st_size for p in d.glob("Split-*/*.gz"))
        for name, d in (("f32", ref_out), ("f16", tmp_path / "h"))
    }
    assert sizes["f16"] < sizes["f32"]
    assert ref_meta["splits"]["train"]["bytes"] > meta["splits"]["train"]["bytes"] * 1.2


def test_output_dir_rules(fx_reference, fx_dataset, tmp_path):
    ref_out, _ = fx_reference
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(VistflowError, match="already exists"):
        fp.extract_features(str(fx_dataset), str(busy), ExtractionConfig("tiny"))
    with pytest.raises(VistflowError, match="no Split-<split>/"):
        fp.extract_features(str(tmp_path), str(tmp_path / "o"), ExtractionConfig("tiny"))
    with pytest.raises(VistflowError, match="dtype must be"):
        fp.extract_features(
            str(fx_dataset), str(tmp_path / "o"), ExtractionConfig("tiny", dtype="int8")
        )
    assert (busy / "keep.txt").exists() and not (tmp_path / "o").exists()
