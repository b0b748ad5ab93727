"""Generated photos whose captions say what they show: coloured shapes on two backgrounds.

Each photo holds one shape of one colour on grass or sky; its caption names all three, in varied
words, plus story filler. A model that sees learns colour, shape and place; word frequencies
alone cannot tell them apart (each colour/shape/place is as frequent as its siblings).
"""

from __future__ import annotations

import io
import os

import numpy as np

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "yellow": (240, 220, 30)}
SHAPES = ("square", "ball", "stripe")
PLACES = {"grass": (40, 150, 60), "sky": (150, 200, 245)}


def _photo(rng, colour: str, shape: str, place: str, size: int = 48) -> bytes:
    from PIL import Image

    img = np.zeros((size, size, 3), np.uint8) + np.array(PLACES[place], np.uint8)
    img = np.clip(img + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)
    c = np.array(COLOURS[colour], np.uint8)
    x, y = rng.integers(4, size - 20, 2)
    if shape == "square":
        img[y : y + 14, x : x + 14] = c
    elif shape == "ball":
        yy, xx = np.mgrid[:size, :size]
        img[(yy - y - 7) ** 2 + (xx - x - 7) ** 2 < 49] = c
    else:
        img[y : y + 4, 2 : size - 2] = c
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def write_examples(root: str, *, stories: dict[str, int], seed: int = 0) -> str:
    """Writes `<root>/images/*.png` and `<root>/examples/Split-<split>/data_tfrecord-00000-of-00001.gz`
    (ingest's SequenceExample contract: image_uri, photo_id and text per photo)."""
    import tensorflow as tf

    from vistflow import example_format as ef

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    n = 0
    for split, count in stories.items():
        out = os.path.join(root, "examples", ef.SPLIT_DIR.format(split=split))
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for s in range(count):
                ex = tf.train.SequenceExample()
                ex.context.feature[ef.ID].bytes_list.value.append(f"{split}{s}".encode())
                ex.context.feature[ef.TASK].bytes_list.value.append(b"sis")
                for _ in range(5):
                    colour = str(rng.choice(list(COLOURS)))
                    shape = str(rng.choice(SHAPES))
                    place = str(rng.choice(list(PLACES)))
                    uri = os.path.join(root, "images", f"{n}.png")
                    with open(uri, "wb") as f:
                        f.write(_photo(rng, colour, shape, place))
                    verb = rng.choice(["we saw", "there was", "look at"])
                    text = f"{verb} a {colour} {shape} on the {place} !"
                    lists = ex.feature_lists.feature_list
                    lists[ef.PHOTO_ID].feature.add().bytes_list.value.append(str(n).encode())
                    lists[ef.IMAGE_URI].feature.add().bytes_list.value.append(uri.encode())
                    lists[ef.TEXT].feature.add().bytes_list.value.append(text.encode())
                    n += 1
                writer.write(ex.SerializeToString())
    return os.path.join(root, "examples")
