"""Tiny hand-written VIST inputs for the data-layer tests (independent of vistflow.synth)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vistflow.data import layout, writers


def story_annotations(
    story_id: str, album_id: str, photo_ids: list[str], texts: list[str] | None = None
) -> list[dict]:
    """Annotations of one story, in worker order; text i is `f"{story_id} sentence {i} ."`."""
    texts = texts or [f"{story_id} sentence {i} ." for i in range(len(photo_ids))]
    return [
        writers.sis_annotation(story_id, album_id, photo, order, text)
        for order, (photo, text) in enumerate(zip(photo_ids, texts, strict=True))
    ]


def write_sis(path: Path, annotations: list[dict], *, shuffle_seed: int | None = None) -> Path:
    """Writes a valid SIS file (albums/images derived from the annotations)."""
    annotations = list(annotations)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(annotations)
    albums = sorted({a["album_id"] for a in annotations})
    photos = sorted({(a["photo_flickr_id"], a["album_id"]) for a in annotations})
    writers.write_vist_file(
        path,
        "sis",
        annotations,
        albums=[writers.album_entry(a, sum(1 for p in photos if p[1] == a)) for a in albums],
        images=[writers.image_entry(p, a) for p, a in photos],
    )
    return path


def write_dii(path: Path, annotations: list[dict]) -> Path:
    albums = sorted({a["album_id"] for a in annotations})
    photos = sorted({(a["photo_flickr_id"], a["album_id"]) for a in annotations})
    writers.write_vist_file(
        path,
        "dii",
        annotations,
        albums=[writers.album_entry(a, 5) for a in albums],
        images=[writers.image_entry(p, a) for p, a in photos],
    )
    return path


@pytest.fixture
def sis_file(tmp_path: Path) -> Path:
    """train SIS file: 3 five-photo stories in 2 albums, annotations shuffled in the file."""
    annotations = (
        story_annotations("s1", "a1", ["p1", "p2", "p3", "p4", "p5"])
        + story_annotations("s2", "a1", ["p5", "p4", "p3", "p2", "p1"])
        + story_annotations("s3", "a2", ["q1", "q2", "q3", "q4", "q5"])
    )
    return write_sis(tmp_path / "sis" / "train.story-in-sequence.json", annotations, shuffle_seed=7)


class VistFiles:
    """The helpers above, handed to tests as a fixture (conftest modules are not importable)."""

    story_annotations = staticmethod(story_annotations)
    write_sis = staticmethod(write_sis)
    write_dii = staticmethod(write_dii)


@pytest.fixture
def vist_files() -> type[VistFiles]:
    return VistFiles


@pytest.fixture
def data_root(tmp_path: Path, vist_files) -> Path:
    """train: SIS + DII, photos p8, p9 (SIS) and p10 (DII) lack image files; val: SIS only."""
    root = tmp_path / "vist"
    train = vist_files.story_annotations(
        "s1", "a1", ["p1", "p2", "p3", "p4", "p5"], texts=["The cat .", "a dog", "", "x y z", "w"]
    ) + vist_files.story_annotations(
        "s2", "a2", ["p5", "p6", "p7", "p8", "p9"], texts=["a b", "c", "d", "e", "f"]
    )
    vist_files.write_sis(layout.sis_path(root, "train"), train)
    vist_files.write_dii(
        layout.dii_path(root, "train"),
        [writers.dii_annotation("a1", f"p{i}", i, f"d{i}") for i in range(1, 6)]
        + [
            writers.dii_annotation("a1", "p1", 0, "again"),
            writers.dii_annotation("a3", "p10", 0, "x"),
        ],
    )
    vist_files.write_sis(
        layout.sis_path(root, "val"), vist_files.story_annotations("v", "a", ["v1"])
    )
    images = layout.image_dir(root, "train")
    images.mkdir(parents=True)
    for photo in ("p1", "p2", "p3", "p4", "p5", "p6", "p7"):  # p8, p9 (SIS) and p10 (DII) missing
        (images / f"{photo}.jpg").write_bytes(b"x")
    return root


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Runs `vistflow ARGV...` through the real CLI entry point: (exit code, stdout, stderr)."""
    from commands import main as cli

    def run(argv: list[str]) -> tuple[int, str, str]:
        # Only this package's subcommands: the CLI imports every registered module for --help.
        monkeypatch.setattr(
            cli,
            "SUBCOMMANDS",
            {"validate": "vistflow.data.validate_cli", "summarize": "vistflow.data.summarize"},
        )
        code = cli.main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run
