"""CNN backbones shared by the feature extractor and the trainer's exported image signatures.

Every backbone is a Keras model taking float32 RGB `[N, S, S, 3]` in 0..255 (what `decode_image`
returns) with its own preprocessing inside, and returning `{"global": [N, D], "local": [N, h, w, c]}`.
The extractor saves the exact network it used under `<features artifact>/backbone/` so the trainer
can rebuild it bit for bit (`load_backbone`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vistflow.errors import VistflowError
from vistflow.keras_weights import (  # noqa: F401 - KERAS_* are part of this module's API
    KERAS_FILE_LAYERS,
    KERAS_WEIGHT_FILES,
    _expected_keras_files,
    _load_keras_weights_file,
    _local_copy,
    cached_imagenet_file,
    keras_cache_dirs,
)

logger = logging.getLogger(__name__)

BACKBONES = ("vgg16", "resnet50", "inception_v3", "mobilenet_v2", "small", "tiny")

BACKBONE_JSON = "backbone.json"
BACKBONE_WEIGHTS = "backbone.weights.h5"
_FORMAT_VERSION = 1

RANDOM_WEIGHTS_NOTE = (
    "RANDOM WEIGHTS: this backbone was never trained; its features carry no visual meaning. "
    "Use them only for tests, demos and benchmarks."
)


@dataclass(frozen=True)
class BackboneSpec:
    """Input size and output shapes of one backbone."""

    name: str
    input_size: int
    global_dim: int
    local_shape: tuple[int, int, int]

    @property
    def local_dim(self) -> int:
        h, w, c = self.local_shape
        return h * w * c


SPECS: dict[str, BackboneSpec] = {
    # fc7 (the 4096-d `fc2` layer) and the last conv block before pooling (block5_conv3).
    "vgg16": BackboneSpec("vgg16", 224, 4096, (14, 14, 512)),
    # Pooled vector = global average of the last conv grid (conv5_block3_out / mixed10 / out_relu).
    "resnet50": BackboneSpec("resnet50", 224, 2048, (7, 7, 2048)),
    "inception_v3": BackboneSpec("inception_v3", 299, 2048, (8, 8, 2048)),
    "mobilenet_v2": BackboneSpec("mobilenet_v2", 224, 1280, (7, 7, 1280)),
    # Seeded CNNs of our own with tiny's shapes, no download. `tiny` (3 convs) for tests: fast,
    # but even from clean labels it does not learn the synthetic photos' objects; `small`
    # (5 convs with batch norm) does, at ~20x the FLOPs, so the demo pretrains it (issue 13).
    "small": BackboneSpec("small", 64, 128, (8, 8, 64)),
    "tiny": BackboneSpec("tiny", 64, 128, (8, 8, 64)),
}

# Keras-applications preprocessing modes ("caffe": RGB->BGR minus ImageNet mean; "tf": [-1, 1]).
_PREPROCESSING = {
    "vgg16": "caffe",
    "resnet50": "caffe",
    "inception_v3": "tf",
    "mobilenet_v2": "tf",
    "small": "unit",
    "tiny": "unit",
}
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def get_spec(name: str) -> BackboneSpec:
    """The spec of backbone `name`; a VistflowError naming the choices if it is unknown."""
    try:
        return SPECS[name]
    except KeyError:
        raise VistflowError(
            f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}"
        ) from None


def decode_image(image_bytes, size: int):
    """Decode image bytes to float32 RGB `[size, size, 3]` in 0..255, in pure TF ops.

    The shared in-graph decoder (`vistflow.images.decode_image`: EXIF orientation, 16-bit
    scaling, JPEG pixels identical to PIL's). The exported SavedModel calls this same function,
    so serving decodes exactly as extraction did.
    """
    from vistflow import images

    return images.decode_image(image_bytes, size)


def _preprocess_layer_class():
    import keras

    @keras.saving.register_keras_serializable(package="vistflow")
    class ImagePreprocess(keras.layers.Layer):
        """Maps 0..255 RGB to what the backbone was trained on (keras.applications semantics)."""

        def __init__(self, mode: str, **kwargs):
            super().__init__(**kwargs)
            self.mode = mode

        def call(self, x):
            ops = keras.ops
            if self.mode == "caffe":
                return ops.flip(x, axis=-1) - ops.convert_to_tensor(_IMAGENET_BGR_MEAN, x.dtype)
            if self.mode == "tf":
                return x / 127.5 - 1.0
            return x / 255.0

        def get_config(self):
            return {**super().get_config(), "mode": self.mode}

    return ImagePreprocess


def _seeded(seed: int):
    """Context that seeds every RNG Keras initialisers draw from, then restores Python/NumPy state."""

    class _Ctx:
        def __enter__(self):
            import keras

            self._py, self._np = random.getstate(), np.random.get_state()
            keras.utils.set_random_seed(seed)

        def __exit__(self, *exc):
            random.setstate(self._py)
            np.random.set_state(self._np)

    return _Ctx()


def _seeded_cnn(spec: BackboneSpec, seed: int, name: str, blocks, batch_norm: bool):
    """Our own CNN: 3x3 convolutions `blocks` ((filters, stride), ...) → local grid; global
    average pool → fc → global vector. Layer i is seeded from `seed`, so a seed is a network."""
    import keras

    def init(i: int):
        return keras.initializers.GlorotUniform(seed=seed * 1000 + i)

    inputs = keras.Input((spec.input_size, spec.input_size, 3), name="image")
    x = _preprocess_layer_class()("unit", name="preprocess")(inputs)
    for i, (filters, stride) in enumerate(blocks):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=stride,
            padding="same",
            use_bias=not batch_norm,
            activation=None if batch_norm else "relu",
            kernel_initializer=init(i),
            name=f"conv{i + 1}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
            x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
    local = x
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(local)
    glob = keras.layers.Dense(
        spec.global_dim, activation="relu", kernel_initializer=init(9), name="fc"
    )(pooled)
    return keras.Model(inputs, {"global": glob, "local": local}, name=name)


def _build_tiny(spec: BackboneSpec, seed: int):
    blocks = ((16, 2), (32, 2), (spec.local_shape[2], 2))
    return _seeded_cnn(spec, seed, "tiny", blocks, batch_norm=False)


def _build_small(spec: BackboneSpec, seed: int):
    # 64 -> 8 in three stride-2 steps, with a stride-1 conv before the first two so objects a
    # few pixels wide are seen at full resolution; batch norm lets it train from scratch.
    blocks = ((24, 1), (32, 2), (48, 1), (64, 2), (spec.local_shape[2], 2))
    return _seeded_cnn(spec, seed, "small", blocks, batch_norm=True)


# Our own networks: built from a seed, their weights saved and loaded whole.
_SEEDED_BUILDERS = {"tiny": _build_tiny, "small": _build_small}
SEEDED_BACKBONES = tuple(_SEEDED_BUILDERS)  # buildable without any download


def _build_application(spec: BackboneSpec, app_weights: str | None):
    """A keras.applications network with our heads.

    `app_weights`: None (initialisers only), "imagenet" (Keras downloads the file) or the path of
    a keras.applications `.h5` weights file, loaded and checked by `_load_keras_weights_file`.
    """
    import keras

    apps = keras.applications
    inputs = keras.Input((spec.input_size, spec.input_size, 3), name="image")
    x = _preprocess_layer_class()(_PREPROCESSING[spec.name], name="preprocess")(inputs)
    shape = (spec.input_size, spec.input_size, 3)
    ctor_weights = app_weights if app_weights in (None, "imagenet") else None
    if spec.name == "vgg16":
        base = apps.VGG16(include_top=True, weights=ctor_weights, input_tensor=x, input_shape=shape)
        local_layer, global_layer = "block5_conv3", "fc2"
    else:
        ctor, local_layer = {
            "resnet50": (apps.ResNet50, "conv5_block3_out"),
            "inception_v3": (apps.InceptionV3, "mixed10"),
            "mobilenet_v2": (apps.MobileNetV2, "out_relu"),
        }[spec.name]
        base = ctor(include_top=False, weights=ctor_weights, input_tensor=x, input_shape=shape)
        global_layer = None
    if app_weights not in (None, "imagenet"):
        _load_keras_weights_file(base, spec, app_weights)
    local = base.get_layer(local_layer).output
    if global_layer:
        glob = base.get_layer(global_layer).output
    else:
        glob = keras.layers.GlobalAveragePooling2D(name="global_pool")(local)
    return keras.Model(inputs, {"global": glob, "local": local}, name=spec.name)


def _sha256(path: str) -> str:
    import tensorflow as tf

    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_weights(weights: str, seed: int = 0, name: str | None = None) -> dict[str, Any]:
    """How `weights` will be recorded in metadata: imagenet / file path + sha256 / random(seed).

    With the backbone `name`, "imagenet" also records the Keras-cache file it will load, if any.
    """
    if weights == "random":
        return {"weights": f"random(seed={seed})", "random": True, "note": RANDOM_WEIGHTS_NOTE}
    if weights == "imagenet":
        cached = cached_imagenet_file(name) if name else None
        if cached:
            return {
                "weights": "imagenet",
                "file": cached,
                "sha256": _sha256(cached),
                "random": False,
            }
        return {"weights": "imagenet", "random": False}
    if _is_backbone_dir(weights):
        # A saved backbone (e.g. concept-pretrained): keep how its weights came to be.
        path = os.path.join(weights, BACKBONE_WEIGHTS)
        import tensorflow as tf

        with tf.io.gfile.GFile(os.path.join(weights, BACKBONE_JSON)) as f:
            origin = json.load(f).get("weights", {})
        return {"weights": path, "sha256": _sha256(path), "random": False, "origin": origin}
    return {"weights": weights, "sha256": _sha256(weights), "random": False}


def _is_backbone_dir(path: str) -> bool:
    import tensorflow as tf

    return tf.io.gfile.isdir(path) and tf.io.gfile.exists(os.path.join(path, BACKBONE_JSON))


def build_backbone(name: str, *, weights: str = "random", seed: int = 0):
    """Build backbone `name` as a keras.Model: float32 RGB 0..255 in, {"global","local"} out.

    Args:
      name: one of BACKBONES.
      weights: "random" (seeded initialisation, recorded loudly in metadata), "imagenet"
        (downloads through Keras; fails fast offline), a `.weights.h5` file or `backbone/` dir
        written by `save_backbone`, or a keras.applications `.h5` weights file.
      seed: initialisation seed for "random" (and for layers a weights file does not cover).
    """
    import tensorflow as tf

    spec = get_spec(name)
    if weights not in ("random", "imagenet") and not tf.io.gfile.exists(weights):
        raise VistflowError(
            f"--weights {weights}: no such file or directory "
            "(expected 'random', 'imagenet', a weights file or a backbone/ directory)"
        )
    if spec.name in _SEEDED_BUILDERS and weights == "imagenet":
        raise VistflowError(
            f"backbone {spec.name!r} has no imagenet weights: use 'random' or a file"
        )
    from_file = weights not in ("random", "imagenet")
    if from_file and _is_backbone_dir(weights):
        model, saved_spec, _ = load_backbone(weights)
        if saved_spec != spec:
            raise VistflowError(
                f"{weights}: holds backbone {saved_spec.name!r}, not {name!r} as requested"
            )
        return model

    # Our own `.weights.h5` files cover the whole model (preprocessing + heads); keras.applications
    # `.h5` files cover the base network and are loaded by the application constructor itself.
    seeded = _SEEDED_BUILDERS.get(spec.name)
    whole_model_file = from_file and (seeded is not None or weights.endswith(".weights.h5"))
    with _seeded(seed):
        if seeded is not None:
            model = seeded(spec, seed)
        elif weights == "imagenet":
            model = _build_imagenet(spec)
        elif from_file and not whole_model_file:
            model = _build_application(spec, weights)  # checked: VistflowError if it does not fit
        else:
            model = _build_application(spec, None)
    if whole_model_file:
        _load_weights(model, weights)
    logger.info(
        "built backbone %s (%d parameters, weights=%s)", name, model.count_params(), weights
    )
    return model


def _build_imagenet(spec: BackboneSpec):
    cached = cached_imagenet_file(spec.name)
    if cached:
        logger.info("ImageNet weights of %s from the Keras cache: %s", spec.name, cached)
        return _build_application(spec, cached)
    try:
        return _build_application(spec, "imagenet")
    except Exception as e:  # urllib, SSL, socket, Keras' own "URL fetch failure" wrapper
        raise VistflowError(
            f"cannot fetch the ImageNet weights of {spec.name} (no network?): {e}. Download "
            f"the keras.applications weights file {_expected_keras_files(spec.name)} elsewhere "
            f"and put it in {keras_cache_dirs()[0]}/ or pass its local path with --weights"
        ) from e


def _load_weights(model, path: str) -> None:
    try:
        with _local_copy(path) as local:
            model.load_weights(local)
    except (ValueError, OSError) as e:
        raise VistflowError(f"{path}: cannot load weights into backbone {model.name}: {e}") from e


def save_backbone(model, spec: BackboneSpec, weights_desc: str | dict[str, Any], out_dir: str):
    """Write `out_dir/{backbone.json, backbone.weights.h5}` so `load_backbone` rebuilds `model`."""
    import tensorflow as tf

    desc = {"weights": weights_desc} if isinstance(weights_desc, str) else dict(weights_desc)
    tf.io.gfile.makedirs(out_dir)
    local_dir = out_dir if "://" not in out_dir else tempfile.mkdtemp(prefix="vistflow-bb-")
    model.save_weights(os.path.join(local_dir, BACKBONE_WEIGHTS), overwrite=True)
    meta = {
        "format_version": _FORMAT_VERSION,
        **{k: v for k, v in asdict(spec).items()},
        "local_shape": list(spec.local_shape),
        "preprocessing": _PREPROCESSING[spec.name],
        "input": "float32 RGB [N, input_size, input_size, 3] in 0..255 (decode_image output)",
        "outputs": {"global": [spec.global_dim], "local": list(spec.local_shape)},
        "weights": desc,
    }
    with open(os.path.join(local_dir, BACKBONE_JSON), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    if local_dir != out_dir:
        for fname in (BACKBONE_WEIGHTS, BACKBONE_JSON):
            tf.io.gfile.copy(os.path.join(local_dir, fname), os.path.join(out_dir, fname), True)
        shutil.rmtree(local_dir, ignore_errors=True)


def load_backbone(out_dir: str):
    """Rebuild the network saved by `save_backbone`: returns (keras.Model, BackboneSpec, metadata)."""
    import tensorflow as tf

    json_path = os.path.join(out_dir, BACKBONE_JSON)
    try:
        with tf.io.gfile.GFile(json_path) as f:
            meta = json.load(f)
        name = meta["name"]
        spec = get_spec(name)
    except (OSError, ValueError, KeyError, tf.errors.NotFoundError) as e:
        raise VistflowError(f"{json_path}: not a saved backbone: {e}") from e
    saved = (meta.get("input_size"), meta.get("global_dim"), tuple(meta.get("local_shape", ())))
    if saved != (spec.input_size, spec.global_dim, spec.local_shape):
        raise VistflowError(f"{json_path}: shapes {saved} do not match backbone {name} {spec}")
    with _seeded(0):
        seeded = _SEEDED_BUILDERS.get(name)
        model = seeded(spec, 0) if seeded else _build_application(spec, None)
    _load_weights(model, os.path.join(out_dir, BACKBONE_WEIGHTS))
    return model, spec, meta
