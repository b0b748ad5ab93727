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

logger = logging.getLogger(__name__)

BACKBONES = ("vgg16", "resnet50", "inception_v3", "mobilenet_v2", "tiny")

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
    # A small seeded CNN for tests and the demo: real shapes, no download, fast on CPU.
    "tiny": BackboneSpec("tiny", 64, 128, (8, 8, 64)),
}

# Keras-applications preprocessing modes ("caffe": RGB->BGR minus ImageNet mean; "tf": [-1, 1]).
_PREPROCESSING = {
    "vgg16": "caffe",
    "resnet50": "caffe",
    "inception_v3": "tf",
    "mobilenet_v2": "tf",
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


def _build_tiny(spec: BackboneSpec, seed: int):
    import keras

    def init(i: int):
        return keras.initializers.GlorotUniform(seed=seed * 1000 + i)

    inputs = keras.Input((spec.input_size, spec.input_size, 3), name="image")
    x = _preprocess_layer_class()("unit", name="preprocess")(inputs)
    for i, filters in enumerate((16, 32, spec.local_shape[2])):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer=init(i),
            name=f"conv{i + 1}",
        )(x)
    local = x
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(local)
    glob = keras.layers.Dense(
        spec.global_dim, activation="relu", kernel_initializer=init(9), name="fc"
    )(pooled)
    return keras.Model(inputs, {"global": glob, "local": local}, name="tiny")


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


# The ImageNet weight files keras.applications downloads into ~/.keras/models/, per backbone:
# (with the classifier "top", without it). Legacy Keras h5 layout: attribute `layer_names` at the
# root (or under `model_weights/`), one group per layer whose `weight_names` list its arrays.
KERAS_WEIGHT_FILES: dict[str, tuple[str, str]] = {
    "vgg16": (
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "resnet50": (
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "inception_v3": (
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "mobilenet_v2": (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    ),
}
# Layers holding weights in those files: (with top, without top). The top is fc1, fc2 and
# predictions for VGG16, the predictions layer for the others.
KERAS_FILE_LAYERS: dict[str, tuple[int, int]] = {
    "vgg16": (16, 13),
    "resnet50": (107, 106),
    "inception_v3": (189, 188),
    "mobilenet_v2": (105, 104),
}


def _keras_weights_kind(n_layers: int) -> str | None:
    """'<backbone> <full|notop> weights (<file>)' with `n_layers` weighted layers, if known."""
    for arch, counts in KERAS_FILE_LAYERS.items():
        for count, kind, fname in zip(
            counts, ("full", "notop"), KERAS_WEIGHT_FILES[arch], strict=True
        ):
            if count == n_layers:
                return f"{arch} {kind} weights ({fname})"
    return None


def _expected_keras_files(name: str) -> str:
    full, notop = KERAS_WEIGHT_FILES[name]
    if name == "vgg16":  # fc2 is our global feature: only the full file has it
        return f"{full} (the full file: backbone vgg16 takes fc7 = fc2, which {notop} lacks)"
    return f"{notop} or {full}"


def _load_keras_weights_file(base, spec: BackboneSpec, path: str) -> None:
    """Load a keras.applications `.h5` weights file into `base`, checking it fits first.

    Layers are matched in order, like Keras itself (the names of auto-named layers change between
    Keras versions and sessions); the file's top is dropped when the backbone has none. Anything
    else is a VistflowError naming the file, what it holds and what the backbone expected.
    """
    import h5py

    local = _local_copy(path)
    expected = _expected_keras_files(spec.name)
    if not h5py.is_hdf5(local):
        raise VistflowError(
            f"--weights {path}: not an HDF5 (.h5) file; backbone {spec.name} expects the "
            f"keras.applications ImageNet weights file {expected}"
        )
    # Keras' legacy h5 order: per layer, trainable then non-trainable weights.
    layers = [x for x in base.layers if x.trainable_weights + x.non_trainable_weights]
    full_count, notop_count = KERAS_FILE_LAYERS[spec.name]
    try:
        with h5py.File(local, "r") as f:
            group = f
            if not _h5_names(f.attrs, "layer_names") and "model_weights" in f:
                group = f["model_weights"]  # a whole model saved by Keras 2 `model.save(.h5)`
            names = _h5_names(group.attrs, "layer_names")
            if not names:
                raise VistflowError(
                    f"--weights {path}: an HDF5 file but not Keras weights in the "
                    f"keras.applications layout (no 'layer_names' attribute); backbone "
                    f"{spec.name} expects {expected}"
                )
            file_layers = [(n, _h5_names(group[n].attrs, "weight_names")) for n in names]
            file_layers = [(n, w) for n, w in file_layers if w]
            found = len(file_layers)
            kind = _keras_weights_kind(found)
            holds = f"it holds {found} layers with weights" + (
                f" ({'looks like ' + kind})" if kind else ""
            )
            if found == len(layers):
                pass  # same architecture, same top
            elif found == full_count and len(layers) == notop_count:
                file_layers = file_layers[:notop_count]  # the classifier is not used
            else:
                what = (
                    "the notop file, without fc1/fc2"
                    if spec.name == "vgg16" and found == notop_count
                    else "not that architecture"
                )
                raise VistflowError(
                    f"--weights {path}: {holds}, {what}; backbone {spec.name} expects "
                    f"{expected} ({len(layers)} layers with weights)"
                )
            for k, ((fname, wnames), layer) in enumerate(zip(file_layers, layers, strict=True)):
                variables = layer.trainable_weights + layer.non_trainable_weights
                values = [group[fname][w] for w in wnames]
                shapes = [tuple(v.shape) for v in values]
                wanted = [tuple(v.shape) for v in variables]
                if shapes != wanted:
                    raise VistflowError(
                        f"--weights {path}: layer #{k} {fname!r} of the file has weights of "
                        f"shapes {shapes}, layer {layer.name!r} of {spec.name} needs {wanted}: "
                        f"{holds}, not {spec.name} weights; expected {expected}"
                    )
                for variable, value in zip(variables, values, strict=True):
                    variable.assign(np.asarray(value))
    except OSError as e:
        raise VistflowError(f"--weights {path}: cannot read the HDF5 file: {e}") from e
    logger.info("loaded %s weights from %s (%d layers)", spec.name, path, len(layers))


def _h5_names(attrs, key: str) -> list[str]:
    """A list-of-names attribute; Keras splits long ones into `key0`, `key1`, ... parts."""
    if key in attrs:
        raw = list(attrs[key])
    else:
        raw, i = [], 0
        while f"{key}{i}" in attrs:
            raw.extend(attrs[f"{key}{i}"])
            i += 1
    return [n.decode() if isinstance(n, bytes) else str(n) for n in raw]


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
    if spec.name == "tiny" and weights == "imagenet":
        raise VistflowError("backbone 'tiny' has no imagenet weights: use 'random' or a file")
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
    whole_model_file = from_file and (spec.name == "tiny" or weights.endswith(".weights.h5"))
    with _seeded(seed):
        if spec.name == "tiny":
            model = _build_tiny(spec, seed)
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


def keras_cache_dirs() -> list[str]:
    """Where keras.applications keeps downloaded weights: $KERAS_HOME/models, else
    ~/.keras/models, and /tmp/.keras/models (Keras' fallback when the home is not writable)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    dirs = [os.path.join(home, "models"), os.path.join("/tmp", ".keras", "models")]
    return list(dict.fromkeys(dirs))


def cached_imagenet_file(name: str) -> str | None:
    """The ImageNet weights file of backbone `name` already in the Keras cache, if any.

    The notop file first (smaller, and all the backbone needs) except for vgg16, which needs fc2.
    """
    if name not in KERAS_WEIGHT_FILES:
        return None
    full, notop = KERAS_WEIGHT_FILES[name]
    for directory in keras_cache_dirs():
        for fname in (full,) if name == "vgg16" else (notop, full):
            path = os.path.join(directory, fname)
            if os.path.isfile(path):
                return path
    return None


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


def _local_copy(path: str) -> str:
    """h5py needs a local file: copy remote (gs://, s3://, hdfs://) weights to a temp dir."""
    import tensorflow as tf

    if "://" not in path:
        return path
    local = os.path.join(tempfile.mkdtemp(prefix="vistflow-weights-"), os.path.basename(path))
    tf.io.gfile.copy(path, local, overwrite=True)
    return local


def _load_weights(model, path: str) -> None:
    try:
        model.load_weights(_local_copy(path))
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
        model = _build_tiny(spec, 0) if name == "tiny" else _build_application(spec, None)
    _load_weights(model, os.path.join(out_dir, BACKBONE_WEIGHTS))
    return model, spec, meta
