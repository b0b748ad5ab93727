"""Backbones: contract shapes, seeded init, save/load, decode_image, and offline failure modes."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from vistflow import backbones as bb
from vistflow.errors import VistflowError


# Our seeded networks (tests' `tiny`, the demo's `small`) share these contracts.
@pytest.fixture(scope="module", params=["tiny", "small"])
def seeded(request):
    return request.param, bb.build_backbone(request.param, seed=0)


def _predict(model, images):
    out = model(np.asarray(images, np.float32), training=False)
    return {k: np.asarray(v) for k, v in out.items()}


def test_seeded_outputs_follow_the_contract(seeded):
    name, net = seeded
    spec = bb.SPECS[name]
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3))
    out = _predict(net, images)
    assert set(out) == {"global", "local"}
    assert out["global"].shape == (3, spec.global_dim) == (3, 128)
    assert out["local"].shape == (3, *spec.local_shape) == (3, 8, 8, 64)
    assert out["global"].dtype == np.float32 and out["local"].dtype == np.float32
    # Different images give different features (a constant or broken network would not).
    assert not np.allclose(out["global"][0], out["global"][1])
    assert np.abs(out["local"]).sum() > 0


def test_random_init_is_seeded_and_does_not_leak_rng_state(seeded):
    import random

    name, net = seeded
    state = random.getstate(), np.random.get_state()[1].copy()
    same = bb.build_backbone(name, seed=0)
    other = bb.build_backbone(name, seed=1)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    for a, b in zip(net.get_weights(), same.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(net.get_weights(), other.get_weights(), strict=True)
    )


def test_vgg16_random_build_has_fc7_and_last_conv_grid():
    # Build only: 138M parameters, never run on a batch here.
    model = bb.build_backbone("vgg16", weights="random", seed=0)
    assert model.input_shape == (None, 224, 224, 3)
    assert tuple(model.output["global"].shape) == (None, 4096)  # fc7
    assert tuple(model.output["local"].shape) == (None, 14, 14, 512)  # block5_conv3
    assert model.get_layer("fc2").output is model.output["global"]
    spec = bb.SPECS["vgg16"]
    assert (spec.input_size, spec.global_dim, spec.local_shape) == (224, 4096, (14, 14, 512))


def test_imagenet_weights_offline_fail_fast_with_a_clear_message(monkeypatch, tmp_path):
    from keras.src.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache: nothing to reuse

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -3]")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("mobilenet_v2", weights="imagenet")
    message = str(err.value)
    assert "ImageNet weights of mobilenet_v2" in message and "--weights" in message
    assert "URL fetch failure" in message


def test_bad_names_and_paths_are_user_errors(tmp_path):
    with pytest.raises(VistflowError, match="unknown backbone 'alexnet'"):
        bb.build_backbone("alexnet")
    with pytest.raises(VistflowError, match="no such file"):
        bb.build_backbone("tiny", weights=str(tmp_path / "missing.weights.h5"))
    for name in ("tiny", "small"):
        with pytest.raises(VistflowError, match=f"{name}' has no imagenet"):
            bb.build_backbone(name, weights="imagenet")
    with pytest.raises(VistflowError, match="not a saved backbone"):
        bb.load_backbone(str(tmp_path))


def test_save_and_load_rebuild_the_identical_network(seeded, tmp_path):
    name, net = seeded
    spec = bb.SPECS[name]
    bb.save_backbone(net, spec, bb.describe_weights("random", 0), str(tmp_path / "bb"))
    meta = json.loads((tmp_path / "bb" / bb.BACKBONE_JSON).read_text())
    assert meta["weights"]["weights"] == "random(seed=0)" and meta["weights"]["random"] is True
    assert meta["local_shape"] == [8, 8, 64] and meta["preprocessing"] == "unit"

    model, loaded_spec, loaded_meta = bb.load_backbone(str(tmp_path / "bb"))
    assert loaded_spec == spec and loaded_meta == meta
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3))
    for key, value in _predict(net, images).items():
        assert np.array_equal(value, _predict(model, images)[key])

    # The weights file and the backbone/ dir are both accepted as --weights, with a sha256.
    weights_file = str(tmp_path / "bb" / bb.BACKBONE_WEIGHTS)
    from_file = bb.build_backbone(name, weights=weights_file, seed=5)
    from_dir = bb.build_backbone(name, weights=str(tmp_path / "bb"))
    for a, b, c in zip(
        net.get_weights(), from_file.get_weights(), from_dir.get_weights(), strict=True
    ):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    desc = bb.describe_weights(weights_file)
    data = (tmp_path / "bb" / bb.BACKBONE_WEIGHTS).read_bytes()
    assert desc == {
        "weights": weights_file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "random": False,
    }
    with pytest.raises(VistflowError, match=f"holds backbone '{name}'"):
        bb.build_backbone("mobilenet_v2", weights=str(tmp_path / "bb"))


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_decode_image_converts_every_mode_to_rgb_and_resizes():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    gray3 = np.repeat(gray[..., None], 3, -1)
    cases = {
        "rgb": (_encode(Image.fromarray(rgb), "PNG"), rgb),
        "gray": (_encode(Image.fromarray(gray, "L"), "PNG"), gray3),
        "rgba": (_encode(Image.fromarray(rgb).convert("RGBA"), "PNG"), rgb),
        "png16": (_encode(Image.fromarray(gray.astype(np.uint16) * 257, "I;16"), "PNG"), gray3),
        "bmp": (_encode(Image.fromarray(rgb), "BMP"), rgb),
        "gif": (_encode(Image.fromarray(gray, "L"), "GIF"), gray3),
    }
    for name, (data, expected) in cases.items():
        # At the native size the resize is the identity: the pixels must come through exactly.
        same = np.asarray(bb.decode_image(data, 32))
        assert same.dtype == np.float32, name
        assert np.array_equal(same, expected.astype(np.float32)), name
        small = np.asarray(bb.decode_image(data, 12))
        assert small.shape == (12, 12, 3) and 0 <= small.min() and small.max() <= 255, name
    # Non-square input is squashed to the square input size; palette PNG gives the palette RGB.
    pal = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).convert("P")
    decoded = np.asarray(bb.decode_image(_encode(pal, "PNG"), 8))
    ref = np.asarray(pal.convert("RGB").resize((8, 8), Image.BILINEAR), np.float32)
    assert decoded.shape == (8, 8, 3)
    assert np.abs(decoded - ref).mean() < 12  # same picture; the two resamplers differ slightly


def test_weights_on_a_bucket_load_without_leaving_a_local_copy(seeded, tmp_path, monkeypatch):
    """h5py reads local files only: a bucket's weights file is copied to a temp dir, which goes
    when the load is done (`ram://` stands in for gs:// or s3://)."""
    import tempfile
    import uuid

    import tensorflow as tf

    name, net = seeded
    bb.save_backbone(net, bb.SPECS[name], bb.describe_weights("random", 0), str(tmp_path / "bb"))
    remote = f"ram://weights-{uuid.uuid4().hex[:8]}/{bb.BACKBONE_WEIGHTS}"
    tf.io.gfile.copy(str(tmp_path / "bb" / bb.BACKBONE_WEIGHTS), remote)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = bb.build_backbone(name, weights=remote, seed=5)
    for a, b in zip(net.get_weights(), model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert list(scratch.iterdir()) == []
