"""The VIST layout helpers on a URI root (`ram://` stands in for a bucket): no `gs:/` folding,
one listing per image directory, the same preferences as on disk."""

from __future__ import annotations

import uuid

import tensorflow as tf

from vistflow.data import layout


def test_paths_of_a_uri_root_keep_the_scheme():
    assert layout.sis_path("gs://b/vist/", "val") == "gs://b/vist/sis/val.story-in-sequence.json"
    assert layout.dii_path("s3://b", "test") == "s3://b/dii/test.description-in-isolation.json"
    assert layout.image_dir("gs://b/vist", "train") == "gs://b/vist/images/train"


def test_find_image_on_a_uri_root():
    root = f"ram://vist-{uuid.uuid4().hex[:8]}"
    images = f"{root}/images/val"
    tf.io.gfile.makedirs(images)
    for name in ("1.png", "1.jpg", "2.webp", ".3.jpg", "4"):
        with tf.io.gfile.GFile(f"{images}/{name}", "wb") as f:
            f.write(b"x")
    assert layout.find_image(root, "val", "1") == f"{images}/1.jpg"
    assert layout.find_image(root, "val", "2") == f"{images}/2.webp"
    assert layout.find_image(root, "val", "4") == f"{images}/4"
    assert layout.find_image(root, "val", "3") is None
    assert layout.find_image(root, "test", "1") is None  # no such directory
