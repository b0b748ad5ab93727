"""keras.applications ImageNet weight files: their names, where Keras caches them, and a checked load.

Real users bring the `.h5` files keras.applications downloads (`~/.keras/models/`); they cannot be
downloaded here, so a file is matched to the backbone layer by layer and anything that does not
fit is a VistflowError naming the file, what it holds and what was expected.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from vistflow.errors import VistflowError

if TYPE_CHECKING:
    from vistflow.backbones import BackboneSpec

logger = logging.getLogger(__name__)

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
    with _local_copy(path) as local:
        _load_local_keras_weights_file(base, spec, path, local)


def _load_local_keras_weights_file(base, spec: BackboneSpec, path: str, local: str) -> None:
    import h5py

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


@contextlib.contextmanager
def _local_copy(path: str) -> Iterator[str]:
    """h5py needs a local file: remote (gs://, s3://, hdfs://) weights are copied to a temp dir,
    removed on exit (a vgg16 file is 0.5 GB)."""
    import tensorflow as tf

    if "://" not in path:
        yield path
        return
    tmp = tempfile.mkdtemp(prefix="vistflow-weights-")
    try:
        local = os.path.join(tmp, os.path.basename(path))
        tf.io.gfile.copy(path, local, overwrite=True)
        yield local
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
