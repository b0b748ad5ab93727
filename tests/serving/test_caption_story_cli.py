"""`vistflow caption` and `vistflow story`: in-process inference from the command line."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from cli_watchdog import run_cli
from PIL import Image
from toy_serving import solid_image

from commands.main import main as cli_main
from serving.publish import publish

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
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"vistflow caption: error: {bad}: not_an_image: ")


def truncated_jpeg(path: Path) -> Path:
    """A JPEG whose header is intact and whose pixels stop at 60% (decoders fail mid-scan)."""
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, "JPEG", quality=95)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 6 // 10])
    return path


def test_caption_reports_each_bad_file_and_captions_the_rest(album, model_base, tmp_path, capsys):
    """WebP/TIFF are captioned (shared decoder); each bad file is one line with its reason."""
    blue = Image.new("RGB", (32, 24), (30, 240, 250))
    blue.save(tmp_path / "blue.webp", lossless=True)
    blue.save(tmp_path / "blue.tiff")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "folder.jpg").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    files = [
        album / "a.png",
        truncated_jpeg(tmp_path / "truncated.jpg"),
        tmp_path / "blue.webp",
        album / "notes.txt",
        tmp_path / "gone.jpg",
        tmp_path / "blue.tiff",
        tmp_path / "folder.jpg",
        tmp_path / "pipe.jpg",
    ]
    argv = ["caption", "--model", str(model_base / "toy"), "--batch-size", "8"]
    assert run_cli([*argv, *map(str, files)], [tmp_path / "pipe.jpg"]) == 2
    out, err = capsys.readouterr()
    assert [line.split("\t")[::2] for line in out.splitlines()] == [
        [str(album / "a.png"), "v2 a dark red photo"],
        [str(tmp_path / "blue.webp"), "v2 a bright blue photo"],
        [str(tmp_path / "blue.tiff"), "v2 a bright blue photo"],
    ]
    lines = err.splitlines()
    assert [line.split(": ")[2:4] for line in lines] == [
        [str(tmp_path / "truncated.jpg"), "undecodable"],
        [str(album / "notes.txt"), "not_an_image"],
        [str(tmp_path / "gone.jpg"), "missing_image"],
        [str(tmp_path / "folder.jpg"), "not_a_file"],
        [str(tmp_path / "pipe.jpg"), "not_a_file"],
    ]
    assert all(line.startswith("vistflow caption: error: ") for line in lines)
    assert "truncated" in lines[0] and "dangling symbolic link" in lines[2]
    assert "Graph execution" not in err


@pytest.fixture(scope="module")
def narrow_model(tmp_path_factory) -> Path:
    """A captioner whose graph refuses images wider than 30 px (a model-side failure)."""
    import tensorflow as tf

    class Narrow(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def serve(self, images):
            def one(data):
                width = tf.shape(tf.io.decode_png(data, channels=3))[1]
                check = tf.debugging.assert_less(width, 30, message="wider than 30 px")
                with tf.control_dependencies([check]):
                    return tf.strings.format("{} px wide", width), tf.cast(width, tf.float32)

            captions, scores = tf.map_fn(one, images, fn_output_signature=(tf.string, tf.float32))
            return {"captions": captions, "scores": scores}

    path = tmp_path_factory.mktemp("narrow") / "1"
    module = Narrow()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_caption_names_the_models_cause_without_graph_noise(narrow_model, tmp_path, capsys):
    names = ("n1.png", "wide.png", "n2.png")
    for name, width in zip(names, (20, 40, 25), strict=True):
        Image.new("RGB", (width, 10), (9, 9, 9)).save(tmp_path / name)
    argv = ["caption", "--model", str(narrow_model), *(str(tmp_path / n) for n in names)]
    assert cli_main(argv) == 2
    out, err = capsys.readouterr()
    assert [line.split("\t")[2] for line in out.splitlines()] == ["20 px wide", "25 px wide"]
    assert err.startswith(
        f"vistflow caption: error: {tmp_path / 'wide.png'}: inference_failed: assertion failed: "
        "[wider than 30 px]"
    )
    assert len(err.splitlines()) == 1 and "Graph execution" not in err


def test_story_names_each_bad_file_and_tells_no_story(album, model_base, capsys):
    (album / "c.png").unlink()
    truncated_jpeg(album / "c.jpg")
    (album / "e.gif").unlink()
    (album / "e.gif").symlink_to(album / "nowhere.gif")
    assert cli_main(["story", "--model", str(model_base / "toy"), str(album)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split(": ")[2:4] for line in lines] == [
        [str(album / "c.jpg"), "undecodable"],
        [str(album / "e.gif"), "missing_image"],
    ]
    assert all(line.startswith("vistflow story: error: ") for line in lines)
    assert "Graph execution" not in err


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


def test_story_names_a_truncated_photo_not_a_graph_error(album, model_base, capsys):
    (album / "c.png").unlink()
    truncated_jpeg(album / "c.jpg")
    assert cli_main(["story", "--model", str(model_base / "toy"), str(album)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"vistflow story: error: {album / 'c.jpg'}: undecodable: ")
    assert len(err.splitlines()) == 1 and "Graph execution" not in err
