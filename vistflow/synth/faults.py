"""Real-world faults injected into a synthetic dataset, and the `faults.json` manifest describing them.

Each kind is a defect seen in the real VIST download. The manifest states what the ingest stage
must do with it (`expected`: reject/accept) and, for rejects, the reason code it must report. An
image fault makes every story that uses the photo invalid, so photo entries list `story_ids`.
Faulted stories never overlap, so each rejected story has exactly one expected reason.

`faults.json` is a list, one entry per fault, keys in this order:
  kind, split, file (path relative to the dataset root; null for a missing image),
  photo_id + album_id + story_ids (photo faults) or story_id + album_id (story faults),
  photo_count (story_4/6_photos), original_album_id (duplicate_story_id), expected, reason.
A `duplicate_story_id` entry names the reused id: its first five annotations in the file belong
to the original story (`original_album_id`, accepted), the later five to the duplicate
(`album_id`, rejected with `duplicate_id`).
"""

from __future__ import annotations

import io
import logging
import random
import struct
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from vistflow.records import SPLITS
from vistflow.synth.plan import DatasetPlan, Story

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultKind:
    kind: str
    target: str  # "photo" or "story"
    expected: str  # "reject" or "accept"
    reason: str | None  # the ingest stage's reason code for rejects


FAULT_KINDS: tuple[FaultKind, ...] = (
    FaultKind("missing_image", "photo", "reject", "missing_image"),
    FaultKind("zero_byte", "photo", "reject", "empty_file"),
    FaultKind("truncated_jpeg", "photo", "reject", "undecodable"),
    FaultKind("not_an_image", "photo", "reject", "not_an_image"),
    FaultKind("png_as_jpg", "photo", "accept", None),
    FaultKind("grayscale", "photo", "accept", None),
    FaultKind("cmyk", "photo", "accept", None),
    FaultKind("rgba", "photo", "accept", None),
    FaultKind("palette", "photo", "accept", None),
    FaultKind("sixteen_bit", "photo", "accept", None),
    FaultKind("huge_dimensions", "photo", "reject", "too_large"),
    FaultKind("story_4_photos", "story", "reject", "incomplete_story"),
    FaultKind("story_6_photos", "story", "reject", "incomplete_story"),
    FaultKind("empty_text", "story", "reject", "empty_text"),
    FaultKind("duplicate_story_id", "story", "reject", "duplicate_id"),
)
KINDS = {k.kind: k for k in FAULT_KINDS}

# The file extension a faulty photo is saved under (None: keep the planned one).
FAULT_EXTENSIONS = {
    "truncated_jpeg": "jpg",
    "not_an_image": "jpg",
    "png_as_jpg": "jpg",
    "grayscale": "jpg",
    "cmyk": "jpg",
    "rgba": "png",
    "palette": "png",
    "sixteen_bit": "png",
    "huge_dimensions": "jpg",
}
HUGE_SIDE = 60_000  # 3.6 gigapixels: far past PIL's decompression-bomb limit
NOT_AN_IMAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    b"<title>Flickr: Page Not Found</title></head>\n<body><h1>This page is private.</h1>"
    b"<p>Oops! Looks like you followed a bad link.</p></body></html>\n"
)


@dataclass(frozen=True)
class StoryFault:
    kind: str
    sentence: int = -1  # story_4_photos: the dropped sentence; empty_text: the emptied one
    extra_photo: int = -1  # story_6_photos: album index of the sixth photo
    story_id: str = ""  # duplicate_story_id: the id it reuses


@dataclass
class FaultPlan:
    photos: dict[str, str] = field(default_factory=dict)  # photo_id -> kind
    stories: dict[int, StoryFault] = field(default_factory=dict)  # index in plan.stories -> fault
    entries: list[dict] = field(default_factory=list)  # faults.json, in injection order

    def extension(self, photo_id: str, planned: str) -> str:
        kind = self.photos.get(photo_id)
        return FAULT_EXTENSIONS.get(kind, planned) if kind else planned


def image_path(split: str, photo_id: str, ext: str) -> str:
    return f"images/{split}/{photo_id}.{ext}"


def sis_path(split: str) -> str:
    return f"sis/{split}.story-in-sequence.json"


def plan_faults(plan: DatasetPlan, fault_rate: float, seed: int) -> FaultPlan:
    """Choose what to break. At least one fault of every kind when the dataset is large enough."""
    faults = FaultPlan()
    if fault_rate <= 0:
        return faults
    rng = random.Random(f"vistflow-synth-faults:{seed}")
    stories = plan.stories
    n_faults = max(round(fault_rate * len(stories)), len(FAULT_KINDS))
    photo_stories: dict[str, list[int]] = defaultdict(list)
    photo_split: dict[str, tuple[str, str]] = {}
    for album in plan.albums:
        for p in album.photos:
            photo_split[p.photo_id] = (album.split, album.album_id)
    for i, story in enumerate(stories):
        for p in plan.story_photos(story):
            photo_stories[p.photo_id].append(i)
    per_split = {s: sum(1 for st in stories if st.split == s) for s in SPLITS}
    rejected: set[int] = set()
    touched: set[int] = (
        set()
    )  # stories carrying any fault (or kept clean as a duplicate's original)

    def can_reject(idx: list[int]) -> bool:
        new = rejected | set(idx)
        if len(new) > len(stories) // 2:
            return False
        return all(per_split[s] > sum(1 for i in new if stories[i].split == s) for s in SPLITS)

    skipped: list[str] = []
    for n in range(n_faults):
        fk = FAULT_KINDS[n % len(FAULT_KINDS)]
        if fk.target == "photo":
            entry = _photo_fault(
                fk, rng, faults, photo_stories, photo_split, rejected, touched, can_reject, plan
            )
        else:
            entry = _story_fault(fk, rng, faults, stories, rejected, touched, can_reject, plan)
        if entry is None:
            skipped.append(fk.kind)
            continue
        faults.entries.append(entry)
    if skipped:
        # Rejects may take at most half the stories and never a split's last clean story.
        log.warning(
            "%d stories leave room for %d of %d faults; skipped: %s",
            len(stories),
            len(faults.entries),
            n_faults,
            ", ".join(skipped),
        )
    return faults


def _photo_fault(fk, rng, faults, photo_stories, photo_split, rejected, touched, can_reject, plan):
    free = [pid for pid in photo_split if pid not in faults.photos]
    if fk.expected == "reject":
        candidates = [
            pid
            for pid in free
            if photo_stories.get(pid)
            and not touched & set(photo_stories[pid])
            and can_reject(photo_stories[pid])
        ]
    else:
        candidates = [
            pid for pid in free if photo_stories.get(pid) and not rejected & set(photo_stories[pid])
        ]
        candidates = candidates or [pid for pid in free if not photo_stories.get(pid)]
    if not candidates:
        return None
    pid = rng.choice(candidates)
    faults.photos[pid] = fk.kind
    idx = photo_stories.get(pid, [])
    touched.update(idx)
    if fk.expected == "reject":
        rejected.update(idx)
    split, album_id = photo_split[pid]
    planned = next(p.ext for p in plan.album(album_id).photos if p.photo_id == pid)
    return {
        "kind": fk.kind,
        "split": split,
        "file": None
        if fk.kind == "missing_image"
        else image_path(split, pid, faults.extension(pid, planned)),
        "photo_id": pid,
        "album_id": album_id,
        "story_ids": [plan.stories[i].story_id for i in idx],
        "expected": fk.expected,
        "reason": fk.reason,
    }


def _story_fault(fk, rng, faults, stories: tuple[Story, ...], rejected, touched, can_reject, plan):
    free = [i for i in range(len(stories)) if i not in touched and can_reject([i])]
    if fk.kind == "duplicate_story_id":
        # The duplicate comes later in the same file than the story whose id it reuses; prefer an
        # original from another album so the two stay distinguishable by album_id.
        options = []
        for i in free:
            earlier = [
                j for j in range(i) if stories[j].split == stories[i].split and j not in touched
            ]
            if earlier:
                other = [j for j in earlier if stories[j].album_id != stories[i].album_id]
                options.append((i, other or earlier))
        if not options:
            return None
        i, originals = rng.choice(options)
        j = rng.choice(originals)
        fault = StoryFault(fk.kind, story_id=stories[j].story_id)
        original_album = stories[j].album_id
        touched.add(j)
    else:
        if not free:
            return None
        i = rng.choice(free)
        story = stories[i]
        if fk.kind == "story_6_photos":
            spare = [
                k
                for k in range(len(plan.album(story.album_id).photos))
                if k not in story.photo_indices
            ]
            fault = StoryFault(fk.kind, extra_photo=rng.choice(spare))
        else:
            fault = StoryFault(fk.kind, sentence=rng.randrange(len(story.sentences)))
    faults.stories[i] = fault
    touched.add(i)
    rejected.add(i)
    story = stories[i]
    entry = {
        "kind": fk.kind,
        "split": story.split,
        "file": sis_path(story.split),
        "story_id": fault.story_id or story.story_id,
        "album_id": story.album_id,
    }
    if fk.kind == "duplicate_story_id":
        entry["original_album_id"] = original_album
    if fk.kind in ("story_4_photos", "story_6_photos"):
        entry["photo_count"] = 4 if fk.kind == "story_4_photos" else 6
    entry["expected"] = fk.expected
    entry["reason"] = fk.reason
    return entry


# --- faulty file contents ----------------------------------------------------------------------


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _truncate_jpeg(data: bytes) -> bytes:
    # Keep the headers so the file still identifies as JPEG, cut the entropy-coded scan in half.
    sos = data.index(b"\xff\xda")
    return data[: sos + (len(data) - sos) // 2]


def _claim_huge(data: bytes) -> bytes:
    # Rewrite the frame header (SOF0/SOF2) to claim HUGE_SIDE x HUGE_SIDE pixels.
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            return data[: at + 5] + struct.pack(">HH", HUGE_SIDE, HUGE_SIDE) + data[at + 9 :]
    raise ValueError("no JPEG frame header found")


def faulty_bytes(kind: str, img: Image.Image) -> bytes | None:
    """The file content for a photo with fault `kind` (None: no file at all)."""
    if kind == "missing_image":
        return None
    if kind == "zero_byte":
        return b""
    if kind == "truncated_jpeg":
        return _truncate_jpeg(_jpeg(img))
    if kind == "not_an_image":
        return NOT_AN_IMAGE
    if kind == "png_as_jpg":
        return _png(img)
    if kind == "grayscale":
        return _jpeg(img.convert("L"))
    if kind == "cmyk":
        return _jpeg(img.convert("CMYK"))
    if kind == "rgba":
        # A soft transparent border, as in cut-out PNGs.
        w, h = img.size
        yy, xx = np.mgrid[0:h, 0:w]
        edge = np.minimum(np.minimum(xx, w - 1 - xx), np.minimum(yy, h - 1 - yy))
        alpha = np.clip(edge * 255 / max(1, min(w, h) // 6), 0, 255).astype(np.uint8)
        rgba = img.convert("RGBA")
        rgba.putalpha(Image.fromarray(alpha, "L"))
        return _png(rgba)
    if kind == "palette":
        return _png(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16))
    if kind == "sixteen_bit":
        grey = np.asarray(img.convert("L"), np.uint16) * 257
        return _png(Image.fromarray(grey.astype("<u2"), "I;16"))
    if kind == "huge_dimensions":
        return _claim_huge(_jpeg(img))
    raise KeyError(kind)
