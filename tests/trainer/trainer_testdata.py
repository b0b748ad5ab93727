"""Tiny feature artifacts for the trainer tests, laid out as the feature extractor writes them.

Photos are small solid-colour PNGs (one colour per concept, plus noise); their features come from
the contract's seeded `tiny` backbone run on the decoded pixels, exactly like the extractor, and
the backbone is saved under `<artifact>/backbone/`. Sentences name the concept, so the models
have something real to learn and the exported image signatures can be checked against the
stored features.
"""

from __future__ import annotations

import os

import numpy as np

CONCEPTS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
}
OBJECTS = {"red": "apple", "green": "tree", "blue": "sea", "yellow": "sun"}
TINY_HP = dict(
    embedding_dim=16,
    hidden_dim=32,
    attention_dim=16,
    dropout=0.0,
    max_tokens=8,
    min_count=1,
    batch_size=16,
    learning_rate=0.01,
    optimizer="adam",
    decoding={"method": "beam", "beam_size": 3, "max_length": 10},
)

# The run of the `trained_sat` fixture, which the resume test repeats with a kill in between.
SAT_RUN = dict(model="show_attend_tell", epochs=4, patience=4)


def sentence(concept: str, variant: int) -> str:
    if variant % 2 == 0:
        return f"A {concept} {OBJECTS[concept]} in the picture."
    return f"the {OBJECTS[concept]} is {concept}!"


def png(concept: str, rng: np.random.Generator, size: int = 24) -> bytes:
    import tensorflow as tf

    base = np.array(CONCEPTS[concept], np.int16)
    pixels = base + rng.integers(-20, 21, size=(size, size, 3))
    return tf.io.encode_png(np.clip(pixels, 0, 255).astype(np.uint8)).numpy()


def write_artifact(
    root: str,
    *,
    task: str,
    stories: dict[str, int],
    seed: int = 0,
    refs_per_photo: int = 1,
    photos: int = 5,
    extra_words: dict[str, list[str]] | None = None,
    with_image_bytes: bool = False,
    backbone: str = "tiny",
) -> dict:
    """Write `<root>/Split-<split>/data_tfrecord-00000-of-00001.gz` and `<root>/backbone/`.

    `backbone`: a seeded network (`tiny`, or `small`, which has batch norm).

    Returns {"backbone": model, "spec": spec, "examples": {split: [(images, global, local)]}}.
    """
    import tensorflow as tf

    from vistflow import backbones
    from vistflow import example_format as ef

    rng = np.random.default_rng(seed)
    model = backbones.build_backbone(backbone, weights="random", seed=0)
    spec = backbones.get_spec(backbone)
    backbones.save_backbone(
        model, spec, backbones.describe_weights("random"), os.path.join(root, "backbone")
    )
    names = list(CONCEPTS)
    out: dict = {"backbone": model, "spec": spec, "examples": {}}
    for split, count in stories.items():
        split_dir = os.path.join(root, ef.SPLIT_DIR.format(split=split))
        os.makedirs(split_dir, exist_ok=True)
        path = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
        kept = []
        story_concepts = [
            [names[i] for i in rng.integers(0, len(names), photos)] for _ in range(count)
        ]
        story_images = [[png(c, rng) for c in concepts] for concepts in story_concepts]
        # One backbone call for the whole split, on the pixels the extractor would decode.
        flat = [b for images in story_images for b in images]
        pixels = tf.stack([backbones.decode_image(b, spec.input_size) for b in flat])
        feats = model(pixels, training=False)
        all_global = feats["global"].numpy().reshape(count, photos, -1)
        all_local = feats["local"].numpy().reshape(count, photos, -1)
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for s in range(count):
                concepts, images = story_concepts[s], story_images[s]
                glob, local = all_global[s], all_local[s]
                ex = tf.train.SequenceExample()
                ctx = ex.context.feature
                ctx[ef.ID].bytes_list.value.append(f"{split}-{s}".encode())
                ctx[ef.TASK].bytes_list.value.append(task.encode())
                ctx[ef.SPLIT].bytes_list.value.append(split.encode())
                ctx[ef.BACKBONE].bytes_list.value.append(backbone.encode())
                ctx[ef.GLOBAL_DIM].int64_list.value.append(spec.global_dim)
                ctx[ef.LOCAL_SHAPE].int64_list.value.extend(spec.local_shape)
                fl = ex.feature_lists.feature_list
                for i, concept in enumerate(concepts):
                    texts = [sentence(concept, i + v + s) for v in range(refs_per_photo)]
                    texts += (extra_words or {}).get(split, [])
                    fl[ef.TEXT].feature.add().bytes_list.value.extend(t.encode() for t in texts)
                    fl[ef.PHOTO_ID].feature.add().bytes_list.value.append(f"p{s}-{i}".encode())
                    uri = f"/images/{split}/p{s}-{i}.png".encode()
                    fl[ef.IMAGE_URI].feature.add().bytes_list.value.append(uri)
                    fl[ef.GLOBAL_FEATURES].feature.add().float_list.value.extend(glob[i])
                    fl[ef.LOCAL_FEATURES].feature.add().float_list.value.extend(local[i])
                    if with_image_bytes:
                        fl[ef.IMAGE_BYTES].feature.add().bytes_list.value.append(images[i])
                writer.write(ex.SerializeToString())
                kept.append((images, glob, local, concepts))
        out["examples"][split] = kept
    return out


def split_pattern(root: str, split: str) -> str:
    from vistflow import example_files

    return example_files.split_pattern(root, split)
