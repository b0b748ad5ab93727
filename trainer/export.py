"""SavedModel export: images or features in, captions out, decoding inside the graph.

The export is a `tf.Module` saved with `tf.saved_model.save` (Keras 3's `model.save(dir)` is gone;
STYLE.md). It needs no vistflow code to run: image decoding and resizing (the extractor's
`decode_image`), the backbone, the vocabulary and the beam/greedy/sampling decoder are all in the
graph. Signatures (P = photos_per_story, T = decoding.max_length, L = h*w of the local grid):

  serving_default  images string [N]                 -> captions string [N], scores float [N]
                                                         (+ attention float [N, T, L])
  story            images string [N, P]              -> sentences string [N, P], scores [N, P]
                                                         (+ attention [N, P, T, L])
  from_features    per-image models: global_features [N, D] and/or local_features [N, h*w*c]
                   -> as serving_default; sequence models: [N, P, D] / [N, P, h*w*c] -> as story
  story_from_features  [N, P, D] / [N, P, h*w*c] -> as story (all models; what evaluation uses)

Only the features a model reads are inputs (mrnn/show_tell/seq2seq_story: global;
show_attend_tell: local; global_context: both); features are the stored ones, row-major h, w, c.
Rules: stories are decoded with the export's story-level repetition control
(`decoding.story_block_ngram`, `story_repetition_penalty`; trainer/story_decoding.py): the P
sentences one after another, each blocked from the n-grams of the earlier ones, for every model.
With the control off, per-image models caption each photo of a story independently. Sequence
models caption a single image (serving_default) as the first sentence of the story of that image
repeated P times. Jointly fine-tuned models (fine_tune_cnn) export only the image signatures: their backbone
no longer matches the stored features. An export without a backbone (backbone=None) has only the
feature signatures, and `serving_default` is then `from_features`.

`assets.extra/` holds `vistflow_model.json` (hyperparameters, vocabulary, decoding, feature
shapes, signature docs, variable paths) and `tf_serving_warmup_requests` (one valid
PredictionLog for image exports); TF Serving reads the latter and ignores the former.

Decoding settings are fixed at export; `reexport(saved_model_dir, out_dir, decoding)` (CLI:
`vistflow export-model`) writes the same weights with other settings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import tensorflow as tf

from trainer.data import FeatureInfo
from trainer.hparams import DecodingConfig, HParams
from trainer.inference import Captioner
from vistflow.errors import VistflowError
from vistflow.outputs import committed_output

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "vistflow_model.json"
WARMUP_FILE = "tf_serving_warmup_requests"
ASSETS_EXTRA = "assets.extra"
_VAR_KEY = "{collection}/{index}/.ATTRIBUTES/VARIABLE_VALUE"


def scoring_signature(*, stories: bool, joint: bool) -> str:
    """The signature that scores an export on stored examples the way it is served.

    Stories go through the story decoder (`story_from_features`: one decode per story, the
    story-level repetition control across its sentences); photos alone through `from_features`.
    A model that fine-tunes its CNN has image signatures only (`_specs`): `story` or
    `serving_default`, scored from the photos themselves.
    """
    if joint:
        return "story" if stories else "serving_default"
    return "story_from_features" if stories else "from_features"


def _specs(captioner: Captioner) -> dict[str, dict[str, tf.TensorSpec]]:
    """Input specs of every signature this captioner can serve."""
    model = captioner.model
    info = model.info
    p = model.hp.photos_per_story
    per_image = {}
    if model.uses_global:
        per_image["global_features"] = [info.global_dim]
    if model.uses_local:
        per_image["local_features"] = [info.local_dim]

    def features(lead):
        return {
            k: tf.TensorSpec([*lead, *shape], tf.float32, name=k) for k, shape in per_image.items()
        }

    specs: dict[str, dict[str, tf.TensorSpec]] = {}
    if captioner.backbone is not None:
        specs["serving_default"] = {"images": tf.TensorSpec([None], tf.string, name="images")}
        specs["story"] = {"images": tf.TensorSpec([None, p], tf.string, name="images")}
    if not model.joint:
        specs["from_features"] = features([None, p] if model.sequence_model else [None])
        specs["story_from_features"] = features([None, p])
    return specs


def _functions(captioner: Captioner) -> dict[str, tf.types.experimental.ConcreteFunction]:
    specs = _specs(captioner)
    impl = {
        "serving_default": captioner.caption_images,
        "story": captioner.story_images,
        "from_features": (
            captioner.story_features
            if captioner.model.sequence_model
            else captioner.caption_features
        ),
        "story_from_features": captioner.story_features,
    }
    concrete = {}
    for name, spec in specs.items():
        make = _images_function if name in ("serving_default", "story") else _features_function
        concrete[name] = tf.function(make(impl[name])).get_concrete_function(**spec)
    if "serving_default" not in concrete:
        concrete["serving_default"] = concrete["from_features"]
    return concrete


def _images_function(fn):
    # Argument names become the signature's input names.
    def images_fn(images):
        return fn(images)

    return images_fn


def _features_function(fn):
    def features_fn(global_features=None, local_features=None):
        return fn(global_features=global_features, local_features=local_features)

    return features_fn


def signature_docs(concrete: dict) -> dict:
    """{signature: {"inputs": {name: [dtype, shape]}, "outputs": {...}}} for the metadata."""
    docs = {}
    for name, fn in concrete.items():
        args, kwargs = fn.structured_input_signature
        named = [(s.name, s) for s in args if isinstance(s, tf.TensorSpec)]
        named += [(k, s) for k, s in kwargs.items() if isinstance(s, tf.TensorSpec)]
        inputs = {key: [spec.dtype.name, spec.shape.as_list()] for key, spec in named}
        outputs = {k: [v.dtype.name, v.shape.as_list()] for k, v in fn.structured_outputs.items()}
        docs[name] = {"inputs": inputs, "outputs": outputs}
    return docs


def export_saved_model(
    captioner: Captioner,
    export_dir: str,
    *,
    backbone_meta: dict | None = None,
    training_summary: dict | None = None,
) -> str:
    """Write the SavedModel of `captioner` to `export_dir` (must not exist or be empty).

    The directory appears complete or not at all (`vistflow.outputs`: staged next to it, then
    committed), the property TF Serving and our Pusher rely on.
    """
    model = captioner.model
    if tf.io.gfile.exists(export_dir) and tf.io.gfile.listdir(export_dir):
        raise VistflowError(f"{export_dir}: export directory exists and is not empty")
    root = tf.Module()
    root.model_variables = list(model.variables)
    separate_backbone = captioner.backbone is not None and not model.joint
    root.backbone_variables = list(captioner.backbone.variables) if separate_backbone else []
    concrete = _functions(captioner)
    for name, fn in concrete.items():
        setattr(root, f"signature_{name}", fn)

    # Replaces only an empty export_dir (checked above), e.g. the artifact dir TFX created.
    with committed_output(export_dir, replace=True) as target:
        tf.saved_model.save(root, target, signatures=concrete)
        metadata = {
            "format_version": FORMAT_VERSION,
            "model": model.hp.model,
            "task": model.hp.task,
            "sequence_model": model.sequence_model,
            "photos_per_story": model.hp.photos_per_story,
            "spatial_attention": model.spatial_attention,
            "joint_cnn": model.joint,
            "hparams": model.hp.to_dict(),
            "decoding": dataclasses.asdict(captioner.decoding),
            "features": model.info.to_dict(),
            "backbone": _backbone_doc(captioner, backbone_meta),
            "vocabulary": list(captioner.words),
            "signatures": signature_docs(concrete),
            "model_variables": [v.path for v in model.variables],
            "backbone_variables": [v.path for v in root.backbone_variables],
            "training": training_summary or {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tensorflow": tf.__version__,
        }
        extra = os.path.join(target, ASSETS_EXTRA)
        tf.io.gfile.makedirs(extra)
        with tf.io.gfile.GFile(os.path.join(extra, METADATA_FILE), "w") as f:
            f.write(json.dumps(metadata, indent=1, sort_keys=True))
        if "images" in metadata["signatures"]["serving_default"]["inputs"]:
            _write_warmup(os.path.join(extra, WARMUP_FILE))
    logger.info("exported %s to %s (signatures: %s)", model.hp.model, export_dir, sorted(concrete))
    return export_dir


def _backbone_doc(captioner: Captioner, meta: dict | None) -> dict | None:
    if captioner.backbone is None:
        return None
    return {
        "name": captioner.backbone.name,
        "input_size": captioner.image_size,
        "fine_tuned": captioner.model.joint,
        "extractor_metadata": meta or {},
    }


def _write_warmup(path: str) -> None:
    """One serving_default request (a grey PNG) so TF Serving warms the graph up at load."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    png = tf.io.encode_png(tf.fill([32, 32, 3], tf.constant(128, tf.uint8))).numpy()
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(signature_name="serving_default")
    )
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([png], dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(log.SerializeToString())


# ---- reading an export back ------------------------------------------------------------------


def read_metadata(saved_model_dir: str) -> dict:
    path = os.path.join(saved_model_dir, ASSETS_EXTRA, METADATA_FILE)
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except (tf.errors.NotFoundError, ValueError) as e:
        raise VistflowError(f"{path}: not a vistflow model export: {e}") from e


def restore_variables(saved_model_dir: str, collection: str, variables, paths: list[str]) -> int:
    """Copy the values of `collection` in a vistflow export into `variables`, matched by path.

    Variables whose path is missing from the export or whose shape differs keep their values
    (logged); returns how many were restored.
    """
    meta = read_metadata(saved_model_dir)
    saved_paths = meta.get(collection, [])
    reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
    index = {p: i for i, p in enumerate(saved_paths)}
    restored, skipped = 0, []
    for var, path in zip(variables, paths, strict=True):
        i = index.get(path)
        if i is None:
            skipped.append(f"{path} (absent)")
            continue
        value = reader.get_tensor(_VAR_KEY.format(collection=collection, index=i))
        if tuple(value.shape) != tuple(var.shape):
            skipped.append(f"{path} (shape {tuple(value.shape)} != {tuple(var.shape)})")
            continue
        var.assign(value)
        restored += 1
    if skipped:
        logger.warning(
            "%s: %d variable(s) not restored: %s", saved_model_dir, len(skipped), ", ".join(skipped)
        )
    return restored


def load_captioner(saved_model_dir: str, decoding: DecodingConfig | None = None) -> Captioner:
    """Rebuild the Python Captioner of an export (same weights), e.g. to re-export or benchmark."""
    from trainer import backbone as backbone_lib
    from trainer.models.registry import build_model

    meta = read_metadata(saved_model_dir)
    hp = HParams.from_config(meta["hparams"])
    f = meta["features"]
    info = FeatureInfo(
        global_dim=int(f["global_dim"]),
        local_shape=tuple(f["local_shape"]),
        backbone=f["backbone"],
        task=f["task"],
        has_image_bytes=bool(f["has_image_bytes"]),
    )
    bb_doc = meta.get("backbone")
    backbone = None
    if bb_doc:
        backbone, _ = backbone_lib.build(bb_doc["name"], weights="random")
    words = meta["vocabulary"]
    model = build_model(hp, len(words), info, backbone if meta["joint_cnn"] else None)
    restore_variables(
        saved_model_dir, "model_variables", model.variables, [v.path for v in model.variables]
    )
    if backbone is not None and not meta["joint_cnn"]:
        restore_variables(
            saved_model_dir,
            "backbone_variables",
            backbone.variables,
            [v.path for v in backbone.variables],
        )
    if decoding is None:
        decoding = DecodingConfig(**meta["decoding"])
    image_size = int(bb_doc["input_size"]) if bb_doc else 0
    return Captioner(model, words, decoding, backbone=backbone, image_size=image_size)


def reexport(saved_model_dir: str, out_dir: str, decoding: DecodingConfig) -> str:
    """Export the model of `saved_model_dir` again with other decoding settings."""
    meta = read_metadata(saved_model_dir)
    captioner = load_captioner(saved_model_dir, decoding)
    bb = meta.get("backbone") or {}
    return export_saved_model(
        captioner,
        out_dir,
        backbone_meta=bb.get("extractor_metadata"),
        training_summary={**meta.get("training", {}), "reexported_from": saved_model_dir},
    )
