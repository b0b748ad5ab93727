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
Images come out as the shared decoder (`vistflow.images`) sees them: 8-bit grey/RGB JPEG and PNG
without an EXIF orientation are stored as they are; everything else (EXIF-rotated photos, 16-bit,
CMYK, GIF, BMP, WebP, TIFF, ...) is stored as a PNG of `vistflow.images.to_rgb8`'s pixels.

Usage:
    builder = Vist(config="sis", data_dir=...)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/path/to/vist"))
    ds = builder.as_dataset(split="train")
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.core.utils import gcs_utils

from vistflow import image_limits, images
from vistflow.data import layout, readers
from vistflow.records import SPLITS

log = logging.getLogger(__name__)

# PIL modes of 16-bit images (PNG grey, TIFF...): TF's 8-bit decode truncates them.
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")

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
        # path -> True: store the file as is; False: store a PNG of it; None: unreadable.
        self._verdicts: dict[Path, bool | None] = {}

    def load(self, path: Path) -> bytes | None:
        """Encoded image TFDS decodes to the shared decoder's pixels, or None if unreadable."""
        if self._verdicts.get(path, True) is None:
            return None
        try:
            limits = images.ImageLimits()
            with open(path, "rb") as f:  # at most max_bytes + 1 bytes, whatever the file holds
                data = image_limits.read_bounded(f, limits.max_bytes)
            im = images.open_image(data, limits)
            if path not in self._verdicts:
                self._verdicts[path] = _stored_as_is(im, data)
            if self._verdicts[path]:
                return data
            # Encoded here: cheaper than tfds's TF-graph PNG encoder.
            return images.encode_png(images.to_rgb8(im))
        except Exception as e:  # noqa: BLE001 - ImageError, FileTooLarge, PIL's many types
            log.debug("unreadable image %s: %s", path, e)
            self._verdicts[path] = None
            return None


def _stored_as_is(im: Image.Image, data: bytes) -> bool:
    """True when tfds.features.Image's decoder (tf.image.decode_image, no EXIF) gives the
    pixels of the shared decoder `vistflow.images.to_rgb8`; checks that the pixels decode.

    That is 8-bit grey/RGB JPEG and 8-bit PNG without an EXIF orientation. Everything else is
    stored as a PNG of `to_rgb8`'s pixels: rotated per EXIF (TF would ignore it), 16 bits
    scaled by round(x / 257) (PIL's convert("RGB") clips them, TF truncates), CMYK, GIF, BMP,
    WebP, TIFF converted the one shared way.
    """
    as_is = images.pil_orientation(im) == 1 and (
        (
            im.format == "JPEG"
            and im.mode in ("L", "RGB")
            and images.jpeg_exif_orientation(data) == 1
        )
        or (im.format == "PNG" and im.mode not in _SIXTEEN_BIT and getattr(im, "n_frames", 1) == 1)
    )
    if as_is and im.format == "JPEG":
        # Decode at 1/8 scale: still reads every byte, so truncation is caught.
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()
    return as_is


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
