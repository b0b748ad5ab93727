"""`vistflow caption` and `vistflow story`: in-process inference from the command line."""

from __future__ import annotations

import json

import pytest

from serving.publish import publish
from serving.testing import solid_image
from vistflow.cli import main as cli_main

COLOURS = {  # file name -> (rgb, expected description)
    "a.png": ((220, 40, 30), "a dark red photo"),
    "b.jpg": ((30, 240, 250), "a bright blue photo"),
    "c.png": ((20, 200, 40), "a dark green photo"),
    "d.bmp": ((250, 250, 40), "a bright red photo"),
    "e.gif": ((10, 10, 90), "a dark blue photo"),
}
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".gif": "GIF"}


@pytest.fixture
def album(tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    # Written in reverse so name order, not creation order, must decide the story order.
    for name in sorted(COLOURS, reverse=True):
        rgb, _ = COLOURS[name]
        fmt = FORMATS["." + name.rsplit(".", 1)[1]]
        (folder / name).write_bytes(solid_image(rgb, fmt=fmt))
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


@pytest.fixture
def model_base(toy_models, tmp_path):
    base = tmp_path / "models"
    publish(toy_models["v1"], base, "toy")
    publish(toy_models["v2"], base, "toy")
    return base


def test_caption_prints_one_line_per_image(album, model_base, capsys):
    images = [str(album / "b.jpg"), str(album / "a.png")]
    assert cli_main(["caption", "--model", str(model_base / "toy"), *images]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    # The latest version (v2) answers; the score is the dominant channel's mean (JPEG is lossy).
    assert [(r[0], r[2]) for r in rows] == [
        (images[0], "v2 a bright blue photo"),
        (images[1], "v2 a dark red photo"),
    ]
    assert float(rows[0][1]) == pytest.approx(250 / 255, abs=0.01)
    assert rows[1][1] == "0.8627"  # 220/255, lossless PNG


def test_caption_json_from_a_saved_model_dir(album, toy_models, capsys):
    image = str(album / "c.png")
    assert cli_main(["caption", "--model", str(toy_models["v1"]), image, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "image": image,
            "text": "v1 a dark green photo",
            "score": pytest.approx(200 / 255, abs=1e-5),
        }
    ]


def test_caption_names_a_bad_image(album, model_base, capsys):
    bad = album / "notes.txt"
    assert cli_main(["caption", "--model", str(model_base / "toy"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "format the server recognises" in err


def test_story_tells_five_sentences_in_name_order(album, model_base, capsys):
    assert cli_main(["story", "--model", str(model_base / "toy"), str(album)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    names = sorted(COLOURS)
    assert [row[0] for row in lines] == [str(album / n) for n in names]
    assert [row[2] for row in lines] == [
        f"v2 sentence {i}: {COLOURS[n][1]}" for i, n in enumerate(names, start=1)
    ]


def test_story_needs_exactly_five_images(album, model_base, capsys):
    (album / "e.gif").unlink()
    assert cli_main(["story", "--model", str(model_base / "toy"), str(album)]) == 2
    err = capsys.readouterr().err
    assert str(album) in err and "exactly 5 images, found 4" in err


def test_model_dir_without_versions_is_a_clear_error(tmp_path, album, capsys):
    (tmp_path / "nothing").mkdir()
    assert cli_main(["caption", "--model", str(tmp_path / "nothing"), str(album / "a.png")]) == 2
    assert "not a SavedModel directory" in capsys.readouterr().err
