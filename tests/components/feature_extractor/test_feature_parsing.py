"""Feature Examples: writing them (feature_examples) and reading them back (parsing), both dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from fx_data import sequence_example

from components.feature_extractor import feature_examples as fe
from vistflow.backbones import BackboneSpec
from vistflow.feature_parsing import parse_feature_example

SPEC = BackboneSpec("tiny", 64, 6, (2, 3, 4))


def _photos(n: int, seed: int = 0, jpeg: bool = False) -> list[fe.ImageFeatures]:
    rng = np.random.default_rng(seed)
    return [
        fe.ImageFeatures(
            rng.normal(0, 3, SPEC.global_dim).astype(np.float32),
            rng.normal(0, 3, SPEC.local_shape).astype(np.float32),
            f"jpeg{i}".encode() if jpeg else None,
        )
        for i in range(n)
    ]


def _parse(serialized: bytes, spec=SPEC) -> dict:
    import tensorflow as tf

    out = parse_feature_example(tf.constant(serialized), spec)
    return {
        k: (v.to_list() if isinstance(v, tf.RaggedTensor) else v.numpy()) for k, v in out.items()
    }


def _input(n: int = 3) -> bytes:
    return sequence_example("train", "s9", [f"/img/{i}.jpg" for i in range(n)], ["a", "b", "c"][:n])


def test_float32_round_trip_is_exact_and_keeps_the_input():
    photos = _photos(3, jpeg=True)
    parsed = _parse(fe.add_features(_input(), photos, SPEC, "float32"))
    assert parsed["id"] == b"s9" and parsed["split"] == b"train" and parsed["task"] == b"sis"
    assert parsed["backbone"] == b"tiny" and parsed["feature_dtype"] == b"float32"
    assert list(parsed["image_uri"]) == [b"/img/0.jpg", b"/img/1.jpg", b"/img/2.jpg"]
    assert parsed["text"] == [[b"sentence 0 of s9"], [b"sentence 1 of s9"], [b"sentence 2 of s9"]]
    assert list(parsed["image_bytes"]) == [b"jpeg0", b"jpeg1", b"jpeg2"]
    assert parsed["global_features"].dtype == np.float32
    assert np.array_equal(parsed["global_features"], np.stack([p.global_ for p in photos]))
    # Row-major (h, w, c) per photo.
    assert np.array_equal(parsed["local_features"], np.stack([p.local for p in photos]))


def test_float16_round_trip_within_tolerance():
    photos = _photos(3)
    f16 = fe.add_features(
        _input(),
        [
            fe.ImageFeatures(p.global_.astype(np.float16), p.local.astype(np.float16))
            for p in photos
        ],
        SPEC,
        "float16",
    )
    parsed = _parse(f16)
    assert parsed["feature_dtype"] == b"float16"
    for key, attr in (("global_features", "global_"), ("local_features", "local")):
        expected = np.stack([getattr(p, attr) for p in photos])
        assert parsed[key].dtype == np.float32 and parsed[key].shape == expected.shape
        # float16 keeps ~3 significant digits: relative error <= 2**-11.
        assert np.allclose(parsed[key], expected, rtol=2**-11, atol=1e-6)
        assert not np.array_equal(parsed[key], expected)  # it really went through float16
    assert list(parsed["image_bytes"]) == []


def test_parse_works_inside_tf_data_without_a_spec():
    import tensorflow as tf

    records = [
        fe.add_features(_input(3), _photos(3, seed=1), SPEC, "float32"),
        fe.add_features(
            sequence_example("val", "s8", ["/img/x.jpg"], ["x"]),
            _photos(1, seed=2),
            SPEC,
            "float32",
        ),
    ]
    ds = tf.data.Dataset.from_tensor_slices(records).map(parse_feature_example)
    shapes = [
        (tuple(e["global_features"].shape), tuple(e["local_features"].shape), e["id"].numpy())
        for e in ds
    ]
    assert shapes == [((3, 6), (3, 2, 3, 4), b"s9"), ((1, 6), (1, 2, 3, 4), b"s8")]


def test_add_features_replaces_earlier_features_and_is_deterministic():
    once = fe.add_features(_input(), _photos(3, seed=1), SPEC, "float32")
    again = fe.add_features(once, _photos(3, seed=2), SPEC, "float16")
    parsed = _parse(again)
    assert parsed["feature_dtype"] == b"float16"
    example = fe.parse(again)
    assert "global_features" not in example.feature_lists.feature_list
    assert fe.add_features(_input(), _photos(3, seed=1), SPEC, "float32") == once


def test_add_features_rejects_mismatches():
    with pytest.raises(fe.ExampleFormatError, match="2 feature sets for 3 photos"):
        fe.add_features(_input(), _photos(2), SPEC)
    wrong = BackboneSpec("tiny", 64, 7, (2, 3, 4))
    with pytest.raises(fe.ExampleFormatError, match="do not match"):
        fe.add_features(_input(), _photos(3), wrong)
    with pytest.raises(fe.ExampleFormatError, match="not a tf.train.SequenceExample"):
        fe.image_uris(fe.parse(b"\xff\xff garbage"))
