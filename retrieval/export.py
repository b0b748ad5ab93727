"""Export a trained alignment model for retrieval: what `vistflow retrieve --model DIR` loads.

    DIR/saved_model/           tf.saved_model with the encoders (vocabulary, tokenizer, region
                               pooling and, when the extractor's backbone is known, image decoding
                               and the CNN are all in the graph):
        embed_sentences  sentences string [N] -> words float [N, T, h], mask float [N, T],
                                                  tokens string [N, T]
        embed_features   global_features [N, D], local_features [N, h*w*c] -> regions [N, R, h]
        embed_images     images string [N] (encoded bytes) -> regions [N, R, h]
    DIR/alignment.json, DIR/alignment.weights.h5   the Keras model (train.load_trained)
    DIR/index/                 the embedded images and sentences to search (index.py)
    DIR/export.json            what was exported: splits, sizes, backbone, metrics

The directory appears complete or not at all (written next to it, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping

import numpy as np

from retrieval import regions as regions_lib
from retrieval.index import RetrievalIndex
from retrieval.train import TrainedAlignment, save_trained
from vistflow.errors import VistflowError
from vistflow.outputs import committed_output

logger = logging.getLogger(__name__)

SAVED_MODEL_DIR = "saved_model"
INDEX_DIR = "index"
EXPORT_FILE = "export.json"


def _module(trained: TrainedAlignment, backbone=None, image_size: int = 0):
    """A tf.Module whose tf.functions are the export's signatures."""
    import tensorflow as tf

    from vistflow.vocabulary import PAD_ID, UNK_ID, tokenize_tf

    model, cfg = trained.model, trained.config
    h, w, c = trained.local_shape
    pool = tf.constant(regions_lib.pooling_matrix(trained.boxes, h, w))
    max_tokens = cfg.max_tokens
    root = tf.Module()
    root.model_variables = list(model.variables)
    root.backbone_variables = list(backbone.variables) if backbone is not None else []
    root.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(trained.vocab.words, tf.string),
            tf.range(len(trained.vocab), dtype=tf.int64),
        ),
        default_value=UNK_ID,
    )

    def regions_from(global_features, local_features):
        local = tf.reshape(local_features, [-1, h * w, c])
        windows = tf.einsum("rp,npc->nrc", pool, local)
        return model.embed_regions(windows, global_features, training=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def embed_sentences(sentences):
        # The same tokenisation and cut as data.encode_sentences: an empty sentence keeps one UNK.
        tokens = tokenize_tf(sentences)[:, :max_tokens]
        ids = tf.cast(root.table.lookup(tokens), tf.int32)
        dense = ids.to_tensor(default_value=PAD_ID, shape=[None, max_tokens])
        empty = tf.reduce_all(tf.equal(dense, PAD_ID), axis=1)
        first = tf.where(empty, UNK_ID, dense[:, 0])
        dense = tf.concat([first[:, None], dense[:, 1:]], axis=1)
        words, mask = model.embed_words(dense, training=False)
        return {
            "words": words,
            "mask": mask,
            "tokens": tokens.to_tensor(default_value="", shape=[None, max_tokens]),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, trained.global_dim], tf.float32, name="global_features"),
            tf.TensorSpec([None, h * w * c], tf.float32, name="local_features"),
        ]
    )
    def embed_features(global_features, local_features):
        return {"regions": regions_from(global_features, local_features)}

    signatures = {"embed_sentences": embed_sentences, "embed_features": embed_features}
    if backbone is not None:
        from vistflow.images import decode_image

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def embed_images(images):
            pixels = tf.map_fn(
                lambda b: decode_image(b, image_size),
                images,
                fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
            )
            out = backbone(pixels, training=False)
            local = tf.reshape(out["local"], [-1, h * w * c])
            return {"regions": regions_from(out["global"], local)}

        signatures["embed_images"] = embed_images
    for name, fn in signatures.items():
        setattr(root, name, fn)
    return root, {name: fn.get_concrete_function() for name, fn in signatures.items()}


def export_model(
    trained: TrainedAlignment,
    model_dir: str,
    index_splits: Mapping[str, object],
    *,
    backbone_dir: str | None = None,
    training: dict | None = None,
) -> str:
    """Write the retrieval model directory (see the module docstring).

    Args:
      index_splits: split name -> AlignmentSplit to embed into the index (e.g. test, train).
      backbone_dir: the feature extractor's `backbone/` (for image queries); None = feature-only.
      training: the training summary to record (AlignmentResult fields).
    """
    import tensorflow as tf

    from retrieval.embed import Embedder

    if not index_splits:
        raise VistflowError("export needs at least one split to index")
    if os.path.exists(model_dir) and os.listdir(model_dir):
        raise VistflowError(f"{model_dir}: exists and is not empty")
    backbone, image_size, backbone_doc = None, 0, None
    if backbone_dir:
        from vistflow.backbones import load_backbone

        backbone, spec, bb_meta = load_backbone(backbone_dir)
        if tuple(spec.local_shape) != tuple(trained.local_shape):
            raise VistflowError(
                f"{backbone_dir}: backbone {spec.name} gives local {spec.local_shape}, the model "
                f"was trained on {trained.local_shape}"
            )
        image_size = spec.input_size
        backbone_doc = {"name": spec.name, "input_size": image_size, "dir": backbone_dir}
        backbone_doc["weights"] = bb_meta.get("weights")

    # Replaces only an empty model_dir (checked above).
    with committed_output(model_dir, replace=True, make_dir=True) as target:
        root, concrete = _module(trained, backbone, image_size)
        tf.saved_model.save(root, os.path.join(target, SAVED_MODEL_DIR), signatures=concrete)
        save_trained(trained, target)
        embedder = Embedder(trained.model, trained.vocab)
        parts = [(name, split, embedder.split(split)) for name, split in index_splits.items()]
        index = RetrievalIndex.build(
            parts,
            trained.region_boxes,
            trained.vocab.words,
            info={"backbone": trained.backbone, "splits": list(index_splits)},
        )
        index.save(os.path.join(target, INDEX_DIR))
        doc = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "signatures": sorted(concrete),
            "backbone": backbone_doc,
            "feature_backbone": trained.backbone,
            "index": {
                name: {"images": split.num_images, "sentences": split.num_sentences}
                for name, split in index_splits.items()
            },
            "region_boxes": np.asarray(trained.region_boxes).round(4).tolist(),
            "beta": trained.config.beta,
            "training": training or {},
        }
        with open(os.path.join(target, EXPORT_FILE), "w") as f:
            json.dump(doc, f, indent=1)
    logger.info(
        "exported alignment model to %s (signatures %s; index %s)",
        model_dir,
        ", ".join(sorted(concrete)),
        ", ".join(f"{n}={s.num_images} images" for n, s in index_splits.items()),
    )
    return model_dir


def read_export(model_dir: str) -> dict:
    path = os.path.join(model_dir, EXPORT_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise VistflowError(
            f"{path}: not an alignment model directory (written by retrieval.export): {e}"
        ) from e
