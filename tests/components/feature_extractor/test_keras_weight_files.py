"""keras.applications ImageNet weight files, by their usual names and layouts, as `--weights`.

The files are written offline the way Keras writes them (the legacy h5 layout of
`save_weights('....h5')`: `layer_names` at the root, one group per layer) from the same
keras.applications architectures built with `weights=None`, so no download is needed. Their
kernels come from another seed than the backbone's own initialisation and their BatchNorm
statistics are randomised, so "loaded" cannot pass by coincidence. Only the MobileNetV2 case runs
a forward pass; the big networks are compared weight by weight.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from keras_files import legacy_arrays, weighted_layers, write_keras_file

from vistflow import backbones as bb
from vistflow.errors import VistflowError


def _assert_same_weights(backbone, source, name: str) -> None:
    ours, theirs = weighted_layers(backbone), weighted_layers(source)
    # The backbone keeps VGG16 up to fc2 (not `predictions`), the others without their top.
    assert len(ours) == (15 if name == "vgg16" else bb.KERAS_FILE_LAYERS[name][1])
    for a, b in zip(ours, theirs, strict=False):
        for x, y in zip(legacy_arrays(a), legacy_arrays(b), strict=True):
            assert x.shape == y.shape, (a.name, b.name)
            assert np.array_equal(x, y), (a.name, b.name)


def test_the_file_names_are_the_ones_keras_downloads():
    """KERAS_WEIGHT_FILES are the names keras.applications caches in ~/.keras/models.

    (KERAS_FILE_LAYERS, the layer counts, is proven by the loads below: a full file loads into a
    notop backbone only when its count is the table's full count.)
    """
    import inspect

    import keras

    # The names are the ones keras.applications downloads to ~/.keras/models.
    sources = {
        "vgg16": inspect.getsource(keras.src.applications.vgg16),
        "resnet50": inspect.getsource(keras.src.applications.resnet),
        "inception_v3": inspect.getsource(keras.src.applications.inception_v3),
        "mobilenet_v2": inspect.getsource(keras.src.applications.mobilenet_v2),
    }
    for name, (full, notop) in bb.KERAS_WEIGHT_FILES.items():
        if name in ("vgg16", "inception_v3"):
            assert f'"{full}"' in sources[name] and f'"{notop}"' in sources[name]
        elif name == "resnet50":
            assert '"_weights_tf_dim_ordering_tf_kernels_notop.h5"' in sources[name]
            assert full == "resnet50" + "_weights_tf_dim_ordering_tf_kernels.h5"
        else:
            assert '"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"' in sources[name]
            assert '"_no_top"' in sources[name]
            assert notop == full.replace(".h5", "_no_top.h5")


@pytest.mark.parametrize(
    "name,top",
    [
        ("vgg16", True),
        ("resnet50", False),
        ("resnet50", True),
        ("inception_v3", False),
        ("inception_v3", True),
        ("mobilenet_v2", True),
    ],
)
def test_keras_weight_file_loads_by_its_usual_name(name, top, tmp_path):
    fname = bb.KERAS_WEIGHT_FILES[name][0 if top else 1]
    path = tmp_path / fname
    source = write_keras_file(path, name, top=top)
    model = bb.build_backbone(name, weights=str(path), seed=0)
    _assert_same_weights(model, source, name)
    assert tuple(model.output["global"].shape) == (None, bb.SPECS[name].global_dim)
    desc = bb.describe_weights(str(path))
    assert desc["weights"] == str(path) and len(desc["sha256"]) == 64
    del model, source
    gc.collect()


def test_mobilenet_v2_notop_file_gives_the_same_features(tmp_path):
    """The one forward pass: backbone features == the Keras model's output on the same pixels."""
    import keras

    path = tmp_path / bb.KERAS_WEIGHT_FILES["mobilenet_v2"][1]
    source = write_keras_file(path, "mobilenet_v2", top=False, size=224)
    model = bb.build_backbone("mobilenet_v2", weights=str(path))
    _assert_same_weights(model, source, "mobilenet_v2")
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    ours = model(pixels, training=False)
    theirs = np.asarray(source(keras.applications.mobilenet_v2.preprocess_input(pixels.copy())))
    assert ours["local"].shape == (2, 7, 7, 1280)
    np.testing.assert_allclose(np.asarray(ours["local"]), theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        np.asarray(ours["global"]), theirs.mean(axis=(1, 2)), rtol=1e-4, atol=1e-4
    )
    assert np.abs(theirs).max() > 0  # a real signal, not two all-zero outputs


def test_keras_cache_serves_imagenet_without_a_download(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: no network in tests")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    full, notop = bb.KERAS_WEIGHT_FILES["mobilenet_v2"]
    # Empty cache: the offline error names the files to fetch and where to put them.
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("mobilenet_v2", weights="imagenet")
    message = str(err.value)
    assert notop in message and full in message
    assert str(tmp_path / "keras" / "models") in message and "URL fetch failure" in message

    (tmp_path / "keras" / "models").mkdir(parents=True)
    path = tmp_path / "keras" / "models" / notop
    source = write_keras_file(path, "mobilenet_v2", top=False)
    assert bb.cached_imagenet_file("mobilenet_v2") == str(path)
    model = bb.build_backbone("mobilenet_v2", weights="imagenet")
    _assert_same_weights(model, source, "mobilenet_v2")
    desc = bb.describe_weights("imagenet", name="mobilenet_v2")
    assert desc["weights"] == "imagenet" and desc["file"] == str(path)
    assert len(desc["sha256"]) == 64 and desc["random"] is False
    # vgg16 needs fc2: its notop file in the cache is not used.
    (tmp_path / "keras" / "models" / bb.KERAS_WEIGHT_FILES["vgg16"][1]).write_bytes(b"")
    assert bb.cached_imagenet_file("vgg16") is None


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """Small real-named files for the mismatch cases (written once)."""
    root = tmp_path_factory.mktemp("keras_files")
    out = {}
    for name in ("vgg16", "resnet50"):
        path = root / bb.KERAS_WEIGHT_FILES[name][1]
        write_keras_file(path, name, top=False)
        out[name] = str(path)
    # Same architecture and layer count, other widths: only the shapes tell them apart.
    path = root / "narrow" / bb.KERAS_WEIGHT_FILES["mobilenet_v2"][1]
    path.parent.mkdir()
    write_keras_file(path, "mobilenet_v2", top=False, alpha=0.5)
    out["mobilenet_v2_alpha0.5"] = str(path)
    return out


def test_weights_of_another_architecture_are_a_clear_error(small_files):
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("vgg16", weights=small_files["resnet50"])
    message = str(err.value)
    assert small_files["resnet50"] in message
    assert "looks like resnet50 notop weights" in message and "not that architecture" in message
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in message  # what vgg16 wants

    with pytest.raises(VistflowError) as err:
        bb.build_backbone("inception_v3", weights=small_files["vgg16"])
    message = str(err.value)
    assert "looks like vgg16 notop weights" in message
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message


def test_vgg16_notop_file_is_a_top_mismatch(small_files):
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("vgg16", weights=small_files["vgg16"])
    message = str(err.value)
    assert small_files["vgg16"] in message and "the notop file, without fc1/fc2" in message
    assert "takes fc7 = fc2" in message


def test_same_layer_count_other_shapes_is_a_clear_error(small_files):
    path = small_files["mobilenet_v2_alpha0.5"]
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("mobilenet_v2", weights=path)
    message = str(err.value)
    assert path in message and "layer #0 'Conv1'" in message
    assert "(3, 3, 3, 16)" in message and "(3, 3, 3, 32)" in message  # file vs backbone kernel
    assert "not mobilenet_v2 weights" in message


def test_files_that_are_not_keras_weights(tmp_path):
    import h5py

    not_h5 = tmp_path / bb.KERAS_WEIGHT_FILES["resnet50"][1]
    not_h5.write_bytes(b"<html>404 Not Found</html>")  # what a failed download leaves behind
    with pytest.raises(VistflowError) as err:
        bb.build_backbone("resnet50", weights=str(not_h5))
    assert str(not_h5) in str(err.value) and "not an HDF5 (.h5) file" in str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(err.value)

    other_h5 = tmp_path / "data.h5"
    with h5py.File(other_h5, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(VistflowError, match="no 'layer_names' attribute"):
        bb.build_backbone("resnet50", weights=str(other_h5))
