"""Feature examples of the embedded synthetic data for the alignment tests.

Each DII photo of a small `vistflow.synth` dataset becomes one Karpathy-style caption example
(task "caption": one photo, its descriptions), with features of the seeded `tiny` backbone run on
the decoded image, as the feature extractor would write them (its Beam job is too slow for a
unit test; tests/components cover it). The backbone is saved under `<root>/backbone/`.
"""

from __future__ import annotations

import io
import os

from vistflow.records import SPLITS


def write_synth_features(vist_root: str, root: str) -> dict[str, list[dict]]:
    """Write `<root>/Split-<split>/data_tfrecord-00000-of-00001.gz`; returns the photos per split."""
    import tensorflow as tf
    from PIL import Image

    from vistflow import backbones
    from vistflow import example_format as ef
    from vistflow.data.layout import dii_path, find_image
    from vistflow.data.readers import read_dii

    spec = backbones.get_spec("tiny")
    model = backbones.build_backbone("tiny", weights="random", seed=0)
    backbones.save_backbone(
        model, spec, backbones.describe_weights("random"), os.path.join(root, "backbone")
    )
    photos: dict[str, list[dict]] = {}
    for split in SPLITS:
        items = []
        for seq in read_dii(dii_path(vist_root, split)):
            for photo_id, texts in zip(seq.photo_ids, seq.descriptions, strict=True):
                path = find_image(vist_root, split, photo_id)
                with Image.open(path) as im:  # GIF/BMP/palette files: RGB via PIL, as ingest does
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, format="PNG")
                items.append(
                    {"photo_id": photo_id, "path": str(path), "png": buf.getvalue(), "texts": texts}
                )
        pixels = tf.stack([backbones.decode_image(it["png"], spec.input_size) for it in items])
        feats = model(pixels, training=False)
        glob, local = feats["global"].numpy(), feats["local"].numpy().reshape(len(items), -1)
        split_dir = os.path.join(root, ef.SPLIT_DIR.format(split=split))
        os.makedirs(split_dir, exist_ok=True)
        path = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for i, it in enumerate(items):
                ex = tf.train.SequenceExample()
                ctx = ex.context.feature
                ctx[ef.ID].bytes_list.value.append(it["photo_id"].encode())
                ctx[ef.SPLIT].bytes_list.value.append(split.encode())
                ctx[ef.TASK].bytes_list.value.append(b"caption")
                ctx[ef.BACKBONE].bytes_list.value.append(b"tiny")
                ctx[ef.GLOBAL_DIM].int64_list.value.append(spec.global_dim)
                ctx[ef.LOCAL_SHAPE].int64_list.value.extend(spec.local_shape)
                fl = ex.feature_lists.feature_list
                fl[ef.PHOTO_ID].feature.add().bytes_list.value.append(it["photo_id"].encode())
                fl[ef.IMAGE_URI].feature.add().bytes_list.value.append(it["path"].encode())
                fl[ef.TEXT].feature.add().bytes_list.value.extend(t.encode() for t in it["texts"])
                fl[ef.GLOBAL_FEATURES].feature.add().float_list.value.extend(glob[i])
                fl[ef.LOCAL_FEATURES].feature.add().float_list.value.extend(local[i])
                writer.write(ex.SerializeToString())
        photos[split] = [{k: v for k, v in it.items() if k != "png"} for it in items]
    return photos


def split_pattern(root: str, split: str) -> str:
    from vistflow import example_files

    return example_files.split_pattern(root, split)


TINY = dict(
    embed_dim=32,
    word_dim=16,
    hidden_dim=24,
    min_count=1,
    max_tokens=20,
    dropout=0.0,
    batch_size=32,
    learning_rate=0.0005,
    epochs=8,
    patience=8,
    weight_decay=0.0,
)
