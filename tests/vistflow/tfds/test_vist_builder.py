"""Builds the `vist` TFDS dataset from a tiny official-layout directory, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vistflow.data import layout, writers

COLORS = {f"p{i}": (30 * i, 255 - 30 * i, (90 * i) % 256) for i in range(1, 8)}


def _write_image(directory: Path, photo_id: str, fmt: str, mode: str = "RGB") -> None:
    image = Image.new("RGB", (8, 6), COLORS.get(photo_id, (128, 128, 128)))
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(directory / f"{photo_id}.{fmt.lower()}", format=fmt)


def _story(story_id: str, album: str, photos: list[str]) -> list[dict]:
    return [
        writers.sis_annotation(
            story_id, album, p, i, f"{story_id} says {p} .", original_text=f"{story_id.upper()} {p}"
        )
        for i, p in enumerate(photos)
    ]


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vist_manual")
    train = (
        _story("s1", "a1", ["p1", "p2", "p3", "p4", "p5"])
        + _story("s2", "a1", ["p5", "p4", "p3", "p2", "p1"])
        + _story("gone", "a1", ["p1", "p2", "nofile", "p4", "p5"])  # missing image
        + _story("short", "a1", ["p1", "p2", "p3", "p4"])  # 4 photos
        + _story("broken", "a2", ["p1", "p2", "p3", "p4", "empty"])  # 0-byte image
        + _story("formats", "a2", ["p6", "p7", "gray", "cmyk", "deep"])  # GIF BMP L CMYK 16-bit
        + _story("s1", "a7", ["p2", "p2", "p2", "p2", "p2"])  # id reused under another album
    )
    train = train[1::2] + train[::2]  # annotations out of order in the file
    writers.write_vist_file(layout.sis_path(root, "train"), "sis", train)
    writers.write_vist_file(layout.sis_path(root, "val"), "sis", _story("v1", "a9", ["p1"] * 5))
    writers.write_vist_file(
        layout.dii_path(root, "train"),
        "dii",
        [
            writers.dii_annotation("a1", p, i, f"{w} sees {p}", worker_id=w)
            for w in ("w1", "w2")
            for i, p in enumerate(["p3", "p1", "p2"])
        ]
        + [writers.dii_annotation("a2", "nofile", 0, "lost")],
    )
    for split in ("train", "val"):
        images = layout.image_dir(root, split)
        images.mkdir(parents=True)
        for photo in ("p1", "p2", "p3", "p4", "p5"):
            _write_image(images, photo, "PNG")
    train_images = layout.image_dir(root, "train")
    _write_image(train_images, "p6", "GIF", "P")
    _write_image(train_images, "p7", "BMP")
    _write_image(train_images, "gray", "JPEG", "L")
    _write_image(train_images, "cmyk", "JPEG", "CMYK")
    deep = np.full((6, 8), 0x8080, dtype=np.uint16)
    Image.fromarray(deep).save(train_images / "deep.png")  # 16-bit grayscale PNG
    (train_images / "empty.jpg").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def tfds_mod():
    import tensorflow_datasets as tfds

    return tfds


def _build(tfds_mod, manual_dir: Path, data_dir: Path, config: str):
    from vistflow.tfds import Vist

    builder = Vist(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds_mod.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


@pytest.fixture(scope="module")
def sis_builder(tfds_mod, manual_dir: Path, tmp_path_factory):
    return _build(tfds_mod, manual_dir, tmp_path_factory.mktemp("tfds_sis"), "sis")


def _examples(tfds_mod, builder, split: str) -> dict[str, dict]:
    out = {}
    for ex in tfds_mod.as_numpy(builder.as_dataset(split=split)):
        key = (ex.get("story_id") if "story_id" in ex else ex["sequence_id"]).decode()
        out[key] = ex
    return out


def _decode(values) -> list[str]:
    return [v.decode() for v in values]


def test_sis_examples_ids_order_sentences_and_images(tfds_mod, sis_builder):
    examples = _examples(tfds_mod, sis_builder, "train")

    assert set(examples) == {"s1", "s2", "formats"}
    assert _decode(examples["s1"]["photo_ids"]) == [
        "p1",
        "p2",
        "p3",
        "p4",
        "p5",
    ]  # not the duplicate
    s2 = examples["s2"]
    assert s2["album_id"].decode() == "a1"
    assert _decode(s2["photo_ids"]) == ["p5", "p4", "p3", "p2", "p1"]
    assert _decode(s2["sentences"]) == [f"s2 says {p} ." for p in ["p5", "p4", "p3", "p2", "p1"]]
    assert _decode(s2["original_sentences"])[0] == "S2 p5"
    # Each image is the file of the photo at the same position (PNG: exact colours).
    assert s2["images"].shape == (5, 6, 8, 3)
    for image, photo in zip(s2["images"], ["p5", "p4", "p3", "p2", "p1"], strict=True):
        assert tuple(image[0, 0]) == COLORS[photo]


def test_sis_other_formats_are_converted_to_rgb(tfds_mod, sis_builder):
    formats = _examples(tfds_mod, sis_builder, "train")["formats"]
    assert formats["images"].shape == (5, 6, 8, 3)
    assert tuple(formats["images"][1][0, 0]) == COLORS["p7"]  # BMP, lossless
    assert tuple(formats["images"][0][0, 0]) == COLORS["p6"]  # GIF (palette), converted
    gray = formats["images"][2]
    assert (gray[..., 0] == gray[..., 1]).all()  # grayscale replicated into 3 channels
    cmyk = formats["images"][3][0, 0].astype(int)  # written as mid-grey, lossy JPEG
    assert np.abs(cmyk - 128).max() <= 12
    assert tuple(formats["images"][4][0, 0]) == (128, 128, 128)  # 16 bits scaled, not clipped


def test_sis_skips_are_counted_per_split(sis_builder):
    assert sis_builder.info.splits["train"].num_examples == 3
    assert sis_builder.info.splits["val"].num_examples == 1
    assert "test" not in sis_builder.info.splits  # no test file
    assert sis_builder.info.metadata["skipped"] == {
        "train": {"duplicate_id": 1, "missing_image": 1, "not_5_photos": 1, "unreadable_image": 1},
        "val": {},
    }


def test_sis_reload_from_disk_keeps_metadata(sis_builder):
    from vistflow.tfds import Vist

    reloaded = Vist(config="sis", data_dir=sis_builder.data_dir_root)
    assert reloaded.info.metadata["skipped"]["train"]["missing_image"] == 1
    assert reloaded.info.splits["train"].num_examples == 3


def test_dii_examples(tfds_mod, manual_dir: Path, tmp_path_factory):
    builder = _build(tfds_mod, manual_dir, tmp_path_factory.mktemp("tfds_dii"), "dii")
    examples = _examples(tfds_mod, builder, "train")

    assert set(examples) == {"a1"}
    a1 = examples["a1"]
    assert _decode(a1["photo_ids"]) == ["p3", "p1", "p2"]
    # A nested Sequence comes back as a ragged tensor.
    descriptions = a1["descriptions"]
    descriptions = descriptions.to_list() if hasattr(descriptions, "to_list") else descriptions
    assert [_decode(d) for d in descriptions] == [
        [f"w1 sees {p}", f"w2 sees {p}"] for p in ["p3", "p1", "p2"]
    ]
    assert [tuple(img[0, 0]) for img in a1["images"]] == [COLORS[p] for p in ["p3", "p1", "p2"]]
    assert builder.info.metadata["skipped"] == {"train": {"missing_image": 1}}


def test_missing_manual_files_explain_the_layout(tfds_mod, tmp_path: Path):
    with pytest.raises(AssertionError, match=r"<manual_dir>/sis/\{train,val,test\}"):
        _build(tfds_mod, tmp_path / "empty", tmp_path / "data", "sis")


def _rgb_halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue (upright)."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def test_images_come_out_as_the_shared_decoder_sees_them(tfds_mod, tmp_path: Path):
    """EXIF-rotated JPEG upright; 16-bit PNG and TIFF scaled by round(x / 257), not clipped or
    truncated: the pixels `vistflow.images.to_rgb8` gives, which every other stage uses."""
    from vistflow import images as shared

    root = tmp_path / "manual"
    photos = ["rot", "deep", "tiff16", "p1", "p2"]
    writers.write_vist_file(layout.sis_path(root, "train"), "sis", _story("e1", "a1", photos))
    directory = layout.image_dir(root, "train")
    directory.mkdir(parents=True)
    upright = _rgb_halves(16, 12)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed after a 90-degree clockwise turn
    upright.transpose(Image.Transpose.ROTATE_90).save(
        directory / "rot.jpg", "JPEG", quality=95, exif=exif.tobytes()
    )
    value = 257 * 200 + 128  # round(x / 257) = 200; truncating to the high byte gives 201
    Image.fromarray(np.full((12, 16), value, np.uint16)).save(directory / "deep.png")
    Image.fromarray(np.full((12, 16), 0x8080, np.uint16)).save(directory / "tiff16.tif")
    for photo in ("p1", "p2"):
        Image.new("RGB", (16, 12), COLORS[photo]).save(directory / f"{photo}.png")

    builder = _build(tfds_mod, root, tmp_path / "data", "sis")
    [example] = _examples(tfds_mod, builder, "train").values()
    rot, deep, tiff16, p1, _ = example["images"]
    assert rot.shape == (12, 16, 3)  # upright: 16 wide, as displayed
    assert np.abs(rot[:, :6].astype(int) - (255, 0, 0)).max() <= 40  # red on the left
    assert np.abs(rot[:, 10:].astype(int) - (0, 0, 255)).max() <= 40  # blue on the right
    assert (deep == 200).all()
    assert (tiff16 == 128).all()  # PIL's convert("RGB") clipped this to 255
    assert tuple(p1[0, 0]) == COLORS["p1"]
    # Exactly the shared decoder's pixels for the converted files.
    for photo, image in (("deep.png", deep), ("tiff16.tif", tiff16)):
        assert (shared.decode_pil((directory / photo).read_bytes()) == image).all()
