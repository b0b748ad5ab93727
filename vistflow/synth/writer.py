"""Write a planned dataset in the official VIST layout: SIS/DII JSON per split, image files.

Key order, separators and image encoders are fixed so the bytes depend only on the plan: the
same arguments always give identical files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from vistflow.synth import render
from vistflow.synth.faults import FaultPlan, faulty_bytes, image_path, sis_path
from vistflow.synth.plan import Album, DatasetPlan, Photo
from vistflow.synth.world import EVENTS

SIS_TYPE = "story_in_sequence"
DII_TYPE = "description_in_isolation"
SIS_TIER = "story-in-sequence"  # the value in the real annotation files
DII_TIER = "descriptions-in-isolation"
DATE_CREATED = "2016-04-01"


def dii_path(split: str) -> str:
    return f"dii/{split}.description-in-isolation.json"


def encode(img: Image.Image, ext: str) -> bytes:
    """Deterministic encoding of a clean image (no timestamps or metadata)."""
    buf = io.BytesIO()
    if ext == "jpg":
        img.save(buf, "JPEG", quality=90)
    elif ext == "png":
        img.save(buf, "PNG")
    elif ext == "gif":
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(buf, "GIF")
    elif ext == "bmp":
        img.save(buf, "BMP")
    else:
        raise ValueError(f"unsupported image extension {ext!r}")
    return buf.getvalue()


def _photo_seed(seed: int, photo: Photo) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed % 2**32, int(photo.photo_id)])


def write_images(plan: DatasetPlan, faults: FaultPlan, root: Path) -> int:
    """Render and write every photo (faulty ones as their fault dictates); returns files written."""
    written = 0
    for album in plan.albums:
        (root / "images" / album.split).mkdir(parents=True, exist_ok=True)
        for photo in album.photos:
            img = render.render(
                photo.scene, photo.width, photo.height, _photo_seed(plan.seed, photo)
            )
            kind = faults.photos.get(photo.photo_id)
            data = encode(img, photo.ext) if kind is None else faulty_bytes(kind, img)
            if data is None:
                continue
            ext = faults.extension(photo.photo_id, photo.ext)
            (root / image_path(album.split, photo.photo_id, ext)).write_bytes(data)
            written += 1
    return written


def _info(plan: DatasetPlan, kind: str) -> dict:
    return {
        "version": "vistflow-synth-1",
        "description": (
            f"vistflow synthetic VIST {kind} (seed {plan.seed}, image size {plan.image_size})"
        ),
        "date_created": DATE_CREATED,
    }


def _album_json(album: Album) -> dict:
    return {
        "description": album.description,
        "title": album.title,
        "farm": album.farm,
        "date_update": album.date_update,
        "primary": album.photos[0].photo_id,
        "server": album.server,
        "date_create": album.date_create,
        "photos": str(len(album.photos)),
        "secret": album.secret,
        "owner": album.owner,
        "vist_label": EVENTS[album.event].keyword,
        "id": album.album_id,
    }


def _image_json(album: Album, photo: Photo, ext: str) -> dict:
    return {
        "datetaken": photo.datetaken,
        "license": photo.license,
        "title": photo.title,
        "text": "",
        "album_id": album.album_id,
        "longitude": photo.longitude,
        "url_o": f"https://farm{album.farm}.staticflickr.com/{album.server}/{photo.photo_id}_{photo.secret}_o.{ext}",
        "secret": photo.secret,
        "media": "photo",
        "latitude": photo.latitude,
        "id": photo.photo_id,
        "tags": photo.tags,
    }


def _albums_and_images(plan: DatasetPlan, faults: FaultPlan, split: str) -> tuple[list, list]:
    albums = [a for a in plan.albums if a.split == split]
    images = [
        _image_json(a, p, faults.extension(p.photo_id, p.ext)) for a in albums for p in a.photos
    ]
    return [_album_json(a) for a in albums], images


def sis_document(plan: DatasetPlan, faults: FaultPlan, split: str) -> dict:
    """The story-in-sequence JSON of one split, with the story faults applied."""
    albums, images = _albums_and_images(plan, faults, split)
    extra_storylet = 5 * max(int(s.story_id) for s in plan.stories) + 5
    annotations = []
    for i, story in enumerate(plan.stories):
        if story.split != split:
            continue
        fault = faults.stories.get(i)
        album = plan.album(story.album_id)
        rows = []
        for order, (index, sentence) in enumerate(
            zip(story.photo_indices, story.sentences, strict=True)
        ):
            rows.append(
                (
                    order,
                    index,
                    sentence.text,
                    sentence.original_text,
                    str(5 * int(story.story_id) + order),
                )
            )
        if fault is not None:
            if fault.kind == "story_4_photos":
                del rows[fault.sentence]
            elif fault.kind == "story_6_photos":
                # A sixth photo with a repeated sentence, like a double-submitted HIT.
                _, _, text, original, _ = rows[-1]
                rows.append((5, fault.extra_photo, text, original, str(extra_storylet + i)))
            elif fault.kind == "empty_text":
                order, index, _, _, storylet = rows[fault.sentence]
                rows[fault.sentence] = (order, index, "", "", storylet)
        story_id = fault.story_id if fault is not None and fault.story_id else story.story_id
        for order, index, text, original, storylet in rows:
            annotations.append(
                [
                    {
                        "original_text": original,
                        "album_id": story.album_id,
                        "photo_flickr_id": album.photos[index].photo_id,
                        "setting": story.setting,
                        "worker_id": story.worker_id,
                        "story_id": story_id,
                        "tier": SIS_TIER,
                        "worker_arranged_photo_order": order,
                        "text": text,
                        "storylet_id": storylet,
                    }
                ]
            )
    return {
        "info": _info(plan, "story-in-sequence"),
        "type": SIS_TYPE,
        "albums": albums,
        "images": images,
        "annotations": annotations,
    }


def dii_document(plan: DatasetPlan, faults: FaultPlan, split: str) -> dict:
    """The description-in-isolation JSON of one split.

    Annotations carry the fields real DII files have: no `setting`, `story_id` or `storylet_id`,
    tier `descriptions-in-isolation`.
    """
    albums, images = _albums_and_images(plan, faults, split)
    annotations = []
    for d in plan.descriptions:
        album = plan.album(d.album_id)
        if album.split != split:
            continue
        annotations.append(
            [
                {
                    "original_text": d.sentence.original_text,
                    "album_id": d.album_id,
                    "photo_flickr_id": album.photos[d.photo_index].photo_id,
                    "worker_id": d.worker_id,
                    "photo_order_in_story": d.order,
                    "tier": DII_TIER,
                    "text": d.sentence.text,
                }
            ]
        )
    return {
        "info": _info(plan, "description-in-isolation"),
        "type": DII_TYPE,
        "albums": albums,
        "images": images,
        "annotations": annotations,
    }


def write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=True) + "\n", encoding="utf-8")


def write_annotations(plan: DatasetPlan, faults: FaultPlan, root: Path, splits) -> None:
    for split in splits:
        write_json(root / sis_path(split), sis_document(plan, faults, split))
        write_json(root / dii_path(split), dii_document(plan, faults, split))
