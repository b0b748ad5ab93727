"""TFDS builder `vist`: the Visual Storytelling dataset from a manual download, offline.

Configs:
  * `sis` (story-in-sequence): one example per story; `photo_ids`, `images`, `sentences` and
    `original_sentences` hold exactly 5 entries in `worker_arranged_photo_order`.
  * `dii` (description-in-isolation): one example per album photo sequence; `photo_ids`,
    `images` and `descriptions` (every worker's description of each photo) have one entry per
    photo, in `photo_order_in_story`. DII sequence lengths vary, so they are not fixed to 5.

Splits train/val/test, for each split whose annotation file is present.

Skipped, counted and logged, never silently (the counts per split are also stored in
`builder.info.metadata["skipped"]`):
  * `missing_image`: a photo has no file under images/<split>/;
  * `unreadable_image`: an image file is empty, truncated or not an image;
  * `not_5_photos` (sis only): the story does not have exactly 5 photos;
  * `duplicate_id`: a story id already generated in this split (reused under another album);
  * `malformed_record`: an annotation the reader cannot represent.
Images TensorFlow can decode (RGB/grayscale JPEG, PNG) are stored as they are; other formats
and modes (GIF, BMP, CMYK, ...) are converted to RGB and stored as PNG.

Usage:
    builder = Vist(config="sis", data_dir=...)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/path/to/vist"))
    ds = builder.as_dataset(split="train")
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from PIL import Image, UnidentifiedImageError
from tensorflow_datasets.core.utils import gcs_utils

from vistflow.data import layout, readers
from vistflow.records import SPLITS

log = logging.getLogger(__name__)

_PHOTOS_PER_STORY = 5

_CITATION = """\
@inproceedings{huang2016visual,
  title     = {Visual Storytelling},
  author    = {Huang, Ting-Hao (Kenneth) and Ferraro, Francis and Mostafazadeh, Nasrin and
               Misra, Ishan and Agrawal, Aishwarya and Devlin, Jacob and Girshick, Ross and
               He, Xiaodong and Kohli, Pushmeet and Batra, Dhruv and Zitnick, C. Lawrence and
               Parikh, Devi and Vanderwende, Lucy and Galley, Michel and Mitchell, Margaret},
  booktitle = {Proceedings of NAACL-HLT},
  year      = {2016}
}
"""

_DESCRIPTION = """\
Visual Storytelling (VIST): Flickr photo albums with stories written for five-photo sequences
(story-in-sequence, SIS) and per-photo descriptions written in isolation (DII).
"""

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download the VIST annotations and images from https://visionandlanguage.net/VIST/dataset.html
and arrange them in the official layout inside `manual_dir`:

    <manual_dir>/sis/{train,val,test}.story-in-sequence.json
    <manual_dir>/dii/{train,val,test}.description-in-isolation.json
    <manual_dir>/images/{train,val,test}/<photo_flickr_id>.<jpg|png|gif|bmp|...>

(the image archives unpack to images/train, images/val, images/test). Only the splits whose
annotation file is present are generated. Stories whose images are missing or unreadable are
skipped and counted in `info.metadata["skipped"]`.
"""

# PIL formats/modes that tf.image.decode_image turns into 3-channel uint8 correctly; anything
# else is converted to RGB with PIL first.
# else is converted to RGB with PIL first. 16-bit PNGs stay as they are: TF rescales them to
# 8 bits, PIL's conversion would clip them.
_PASSTHROUGH = {
    "JPEG": {"RGB", "L"},
    "PNG": {"RGB", "RGBA", "L", "LA", "P", "I", "I;16", "I;16B"},
}


@contextlib.contextmanager
def _no_gcs() -> Iterator[None]:
    """`vist` is never hosted on GCS; without this TFDS probes gs://tfds-data (~20 s offline)."""
    # gcs_utils._is_gcs_disabled is the switch TFDS's own tests flip; there is no public one.
    previous = getattr(gcs_utils, "_is_gcs_disabled", False)
    gcs_utils._is_gcs_disabled = True
    try:
        yield
    finally:
        gcs_utils._is_gcs_disabled = previous


class _ImageLoader:
    """Checks each image once per split and returns what tfds.features.Image should encode."""

    def __init__(self) -> None:
        # path -> True: store the file as is; False: convert to RGB; None: unreadable.
        self._verdicts: dict[Path, bool | None] = {}

    def load(self, path: Path) -> bytes | None:
        """Encoded image TF can decode (the file itself, or an RGB PNG), or None if unreadable."""
        if path not in self._verdicts:
            self._verdicts[path] = self._check(path)
        verdict = self._verdicts[path]
        if verdict is None:
            return None
        data = path.read_bytes()
        if verdict:
            return data
        # Convert with PIL and encode PNG here: cheaper than tfds's TF-graph PNG encoder.
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.convert("RGB").save(out, format="PNG")
            return out.getvalue()

    @staticmethod
    def _check(path: Path) -> bool | None:
        try:
            with Image.open(path) as image:
                passthrough = image.mode in _PASSTHROUGH.get(image.format or "", set())
                if image.format == "JPEG":
                    # Decode at 1/8 scale: still reads every byte, so truncation is caught.
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
        except (
            OSError,
            SyntaxError,
            ValueError,
            UnidentifiedImageError,
            Image.DecompressionBombError,
        ) as e:
            log.debug("unreadable image %s: %s", path, e)
            return None
        return passthrough


class Vist(tfds.core.GeneratorBasedBuilder):
    """Visual Storytelling (VIST), built offline from the official manual-download layout."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "SIS and DII from the official layout."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name="sis", description="Story-in-sequence: 5 photos, 5 sentences."
        ),
        tfds.core.BuilderConfig(name="dii", description="Descriptions-in-isolation per photo."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def __init__(self, **kwargs: Any):
        with _no_gcs():
            super().__init__(**kwargs)

    def download_and_prepare(self, *args: Any, **kwargs: Any) -> None:
        with _no_gcs():
            super().download_and_prepare(*args, **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        text = tfds.features.Text()
        image = tfds.features.Image(shape=(None, None, 3))
        if self.builder_config.name == "sis":
            n = _PHOTOS_PER_STORY
            features = {
                "story_id": text,
                "album_id": text,
                "photo_ids": tfds.features.Sequence(text, length=n),
                "images": tfds.features.Sequence(image, length=n),
                "sentences": tfds.features.Sequence(text, length=n),
                "original_sentences": tfds.features.Sequence(text, length=n),
            }
        else:
            features = {
                "sequence_id": text,
                "album_id": text,
                "photo_ids": tfds.features.Sequence(text),
                "images": tfds.features.Sequence(image),
                "descriptions": tfds.features.Sequence(tfds.features.Sequence(text)),
            }
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(features),
            homepage="https://visionandlanguage.net/VIST/",
            citation=_CITATION,
            metadata=tfds.core.MetadataDict(),
        )

    def _annotation_path(self, root: Path, split: str) -> Path:
        if self.builder_config.name == "sis":
            return layout.sis_path(root, split)
        return layout.dii_path(root, split)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        root = Path(os.fspath(dl_manager.manual_dir))
        present = [s for s in SPLITS if self._annotation_path(root, s).is_file()]
        if not present:
            raise AssertionError(
                f"No VIST {self.builder_config.name} annotation files in {root}.\n"
                + MANUAL_DOWNLOAD_INSTRUCTIONS
            )
        for split in SPLITS:
            if split not in present:
                log.warning(
                    "vist/%s: no %s file, split %s not generated",
                    self.builder_config.name,
                    self._annotation_path(root, split),
                    split,
                )
        return {split: self._generate_examples(root, split) for split in present}

    def _generate_examples(self, root: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
        skipped: collections.Counter[str] = collections.Counter()
        index = layout.image_index(root, split)
        loader = _ImageLoader()
        seen: set[str] = set()
        generated = 0

        def on_malformed(file: str, path: str, reason: str, record: Any) -> None:
            skipped["malformed_record"] += 1
            log.warning("vist: skipping %s: %s: %s", file, path, reason)

        path = self._annotation_path(root, split)
        if self.builder_config.name == "sis":
            items = readers.read_sis(path, split=split, on_malformed=on_malformed)
        else:
            items = readers.read_dii(path, split=split, on_malformed=on_malformed)
        for item in items:
            key = item.story_id if self.builder_config.name == "sis" else item.sequence_id
            if self.builder_config.name == "sis" and len(item.photo_ids) != _PHOTOS_PER_STORY:
                skipped["not_5_photos"] += 1
                continue
            if key in seen:  # TFDS keys must be unique; the first story keeps the id
                skipped["duplicate_id"] += 1
                continue
            images, problem = self._images(index, loader, item.photo_ids)
            if problem:
                skipped[problem] += 1
                log.info("vist/%s: skipping %s (%s)", split, key, problem)
                continue
            seen.add(key)
            generated += 1
            if self.builder_config.name == "sis":
                yield (
                    key,
                    {
                        "story_id": key,
                        "album_id": item.album_id,
                        "photo_ids": list(item.photo_ids),
                        "images": images,
                        "sentences": list(item.sentences),
                        "original_sentences": list(item.original_sentences),
                    },
                )
            else:
                yield (
                    key,
                    {
                        "sequence_id": key,
                        "album_id": item.album_id,
                        "photo_ids": list(item.photo_ids),
                        "images": images,
                        "descriptions": [list(d) for d in item.descriptions],
                    },
                )
        total = sum(skipped.values())
        log.log(
            logging.WARNING if total else logging.INFO,
            "vist/%s %s: %d examples generated, %d skipped %s",
            self.builder_config.name,
            split,
            generated,
            total,
            dict(sorted(skipped.items())),
        )
        self.info.metadata.setdefault("skipped", {})[split] = dict(sorted(skipped.items()))

    @staticmethod
    def _images(
        index: layout.ImageIndex, loader: _ImageLoader, photo_ids: tuple[str, ...]
    ) -> tuple[list[Any], str | None]:
        images = []
        for photo_id in photo_ids:
            path = index.find(photo_id)
            if path is None:
                return [], "missing_image"
            encoded = loader.load(path)
            if encoded is None:
                return [], "unreadable_image"
            images.append(encoded)
        return images, None
