"""Ingest reads only what it may: bounded file sizes, nothing outside the data root, no bytes echoed.

Through the real ingest (Beam DirectRunner): `vistflow ingest` in a subprocess for the peak-memory
check, `ingest()` / `build_pipeline` in process for the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from components.vist_example_gen import image_check, options, reasons
from components.vist_example_gen.image_check import ImageLimits
from components.vist_example_gen.options import IngestConfig
from components.vist_example_gen.pipeline import build_pipeline, ingest
from vistflow import image_limits
from vistflow.image_limits import DEFAULT_MAX_BYTES

from .conftest import five, image_bytes, read_examples, read_rejects, steps, texts, write_vist_root

# What a user's private file holds; it must never appear in any output.
SECRET = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n"


def _outputs_text(out: Path) -> str:
    return "".join(
        (out / name).read_text() for name in ("rejects.jsonl", "report.json", "report.html")
    )


def _by_id(rejects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["kind"], r["id"]): r for r in rejects}


# ---- item 7: file size --------------------------------------------------------------------------

# The CLI in a child of a small wrapper, so RUSAGE_CHILDREN is the ingest run's alone.
_MEASURE = """
import json, resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"rc": rc.returncode, "peak_kib": peak_kib, "err": rc.stderr.decode()[-2000:]}))
"""


def test_a_2gb_file_named_jpg_is_too_large_and_never_read(tmp_path):
    """A 2 GB sparse file as a photo: rejected too_large from its size; ingest's peak memory
    stays far below the file (reading it took the peak from 0.27 GB to 2.33 GB)."""
    photos = five("p")
    root = write_vist_root(
        tmp_path / "root",
        {"train": [("s1", "A", photos, texts("s1")), ("s2", "A", five("q"), texts("s2"))]},
        {("train", p): image_bytes() for p in photos[1:] + five("q")},
    )
    huge = root / "images" / "train" / "p0.jpg"
    with open(huge, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: no disk used
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "commands", "ingest", "--data-root", str(root), "--out", str(out)]
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True
    )
    result = json.loads(run.stdout)
    assert result["rc"] == 0, result["err"]
    assert result["peak_kib"] < 1024**2, f"peak RSS {result['peak_kib']} KiB: the file was read"

    rejects = _by_id(read_rejects(out / "rejects.jsonl"))
    image = rejects[("image", "p0")]
    assert image["reason"] == reasons.TOO_LARGE
    assert image["detail"] == f"{2 * 1024**3} bytes > max_bytes {DEFAULT_MAX_BYTES} (not read)"
    assert rejects[("story", "s1")]["reason"] == reasons.TOO_LARGE
    report = json.loads((out / "report.json").read_text())
    train = report["train"]
    assert (train["input"], train["accepted"], train["rejected"]) == (2, 1, 1)
    assert report["images"]["by_reason"] == {reasons.TOO_LARGE: 1}
    assert report["config"]["limits"]["max_bytes"] == DEFAULT_MAX_BYTES


def _run_counting(config: IngestConfig, staging: Path) -> dict[str, int]:
    """build_pipeline on a DirectRunner pipeline; returns the ingest counters by name."""
    staging.mkdir()
    p = beam.Pipeline(runner="DirectRunner")
    build_pipeline(p, config.resolved(), str(staging))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("vist_example_gen"))
    return {c.key.metric.name: c.committed for c in counters["counters"]}


def test_reads_stop_at_max_bytes_plus_one_whatever_size_is_reported(tmp_path, monkeypatch):
    """A file that grows after its size check (here: every size reads as 0) is read only up to
    max_bytes + 1 bytes and rejected too_large; the bytes-read counter proves it."""
    photos = five("p")
    good = image_bytes()
    root = write_vist_root(
        tmp_path / "root",
        {"train": [("s1", "A", photos, texts("s1"))]},
        {("train", p): good for p in photos[1:]},
    )
    with open(root / "images" / "train" / "p0.jpg", "wb") as f:
        f.truncate(10 * 2**20)  # 10 MiB
    monkeypatch.setattr(image_limits, "reported_size", lambda path: 0)  # a size that lies
    limit = 64 * 1024
    config = IngestConfig(data_root=str(root), limits=ImageLimits(max_bytes=limit))
    counters = _run_counting(config, tmp_path / "staging")

    assert counters["image_bytes_read"] == 4 * len(good) + limit + 1
    assert counters["images_too_large"] == 1 and counters["stories_too_large"] == 1
    [_story, image] = read_rejects(tmp_path / "staging" / "rejects.jsonl")
    assert (image["id"], image["reason"]) == ("p0", reasons.TOO_LARGE)
    assert image["detail"] == (
        f"more than max_bytes {limit} bytes (read stopped there; size reported: 0 bytes)"
    )


def test_max_image_bytes_flag_sets_the_limit(tmp_path):
    parser = argparse.ArgumentParser()
    options.add_arguments(parser)
    args = parser.parse_args(["--data-root", str(tmp_path), "--max-image-bytes", "1234"])
    assert options.config_from_args(args).limits.max_bytes == 1234
    default = options.config_from_args(parser.parse_args(["--data-root", str(tmp_path)]))
    assert default.limits.max_bytes == DEFAULT_MAX_BYTES == 50 * 2**20
    from components.vist_example_gen import executor  # the TFX component's parameter

    props = {executor.DATA_ROOT_KEY: str(tmp_path), executor.MAX_IMAGE_BYTES_KEY: 99}
    assert executor.config_from_exec_properties(props).limits.max_bytes == 99
    assert executor.config_from_exec_properties(props | {"max_image_bytes": None}).limits == (
        ImageLimits()
    )


# ---- item 8: symlinks out of the data root, no bytes in reports ---------------------------------


def test_links_out_of_the_root_are_not_followed_and_no_file_content_is_reported(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "passwd").write_bytes(SECRET)
    (outside / "photo.jpg").write_bytes(image_bytes())  # a real image, but not in the root
    photos = {"s1": five("a"), "s2": five("b"), "s3": five("c")}
    root = write_vist_root(
        tmp_path / "root",
        {"train": [(s, "A", p, texts(s)) for s, p in photos.items()]},
        {("train", p): image_bytes() for p in photos["s1"][2:] + photos["s3"][1:]},
    )
    train = root / "images" / "train"
    (train / "a0.jpg").symlink_to(outside / "passwd")  # absolute link out of the root
    (train / "a1.jpg").symlink_to(Path("..", "..", "..", "elsewhere", "photo.jpg"))  # relative
    # s2: links that stay inside the root keep working.
    pool = root / "pool"
    pool.mkdir()
    for name in photos["s2"][:3]:
        (pool / f"{name}.jpg").write_bytes(image_bytes())
    (train / "b0.jpg").symlink_to(Path("..", "..", "pool", "b0.jpg"))  # relative, inside
    (train / "b1.jpg").symlink_to(pool / "b1.jpg")  # absolute, inside
    (train / "b2.jpg").symlink_to(pool / "b2.jpg")
    (train / "b3.jpg").write_bytes(image_bytes())
    (train / "b4.jpg").symlink_to("b3.jpg")  # to a sibling
    # s3: a text file inside the root named .jpg: not an image, and its content stays private.
    (train / "c0.jpg").write_bytes(SECRET)

    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(root)), str(out))

    rejects = _by_id(read_rejects(out / "rejects.jsonl"))
    assert set(rejects) == {("story", "s1"), ("story", "s3"), ("image", "a0"), ("image", "a1")} | {
        ("image", "c0")
    }
    assert rejects[("story", "s1")]["reasons"] == [reasons.OUTSIDE_DATA_ROOT]
    for photo, target in (("a0", outside / "passwd"), ("a1", outside / "photo.jpg")):
        line = rejects[("image", photo)]
        assert line["reason"] == reasons.OUTSIDE_DATA_ROOT
        assert line["detail"] == (f"resolves to {target}, outside the data root {root} (not read)")
    not_image = rejects[("image", "c0")]
    assert not_image["reason"] == reasons.NOT_AN_IMAGE
    assert not_image["detail"] == f"not a recognised image format: text ({len(SECRET)} bytes)"
    text = _outputs_text(out)
    for fragment in ("root:x:0:0", "daemon:x", "/bin/bash", "file starts with"):
        assert fragment not in text

    [accepted] = read_examples(out / "examples")["train"]
    from vistflow import example_format as ef

    assert steps(accepted, ef.IMAGE_URI) == [[str(train / f"{p}.jpg")] for p in photos["s2"]]
    section = report["train"]
    assert (section["input"], section["accepted"], section["rejected"]) == (3, 1, 2)
    assert section["by_reason"] == {reasons.OUTSIDE_DATA_ROOT: 1, reasons.NOT_AN_IMAGE: 1}
    assert report["images"]["by_reason"] == {
        reasons.OUTSIDE_DATA_ROOT: 2,
        reasons.NOT_AN_IMAGE: 1,
    }
    assert (
        report["reason_codes"][reasons.OUTSIDE_DATA_ROOT]
        == (reasons.DESCRIPTIONS[reasons.OUTSIDE_DATA_ROOT])
    )
    assert list(report["reason_codes"]) == list(reasons.ALL_REASONS)
    html = (out / "report.html").read_text()
    legend = html[html.index('id="reason-legend"') :]
    assert "outside_data_root</span></td><td" in legend.split("</table>")[0]


def test_karpathy_paths_that_climb_out_of_the_image_root_are_not_read(tmp_path):
    from vistflow.data import writers

    images = tmp_path / "imgs"
    (images / "val2014").mkdir(parents=True)
    (images / "val2014" / "a.jpg").write_bytes(image_bytes())
    (tmp_path / "secret.jpg").write_bytes(SECRET)

    def entry(filepath, name, cocoid):
        return {
            "filepath": filepath, "filename": name, "split": "val", "cocoid": cocoid,
            "sentences": [{"raw": "A cat.", "tokens": ["a", "cat"]}],
        }  # fmt: skip

    data = tmp_path / "dataset_coco.json"
    writers.write_karpathy_file(
        data, [entry("val2014", "a.jpg", 1), entry("val2014", "../../secret.jpg", 2)]
    )
    out = tmp_path / "out"
    report = ingest(
        IngestConfig(format="karpathy", karpathy_json=str(data), image_root=str(images)), str(out)
    )
    rejects = _by_id(read_rejects(out / "rejects.jsonl"))
    assert set(rejects) == {("story", "2"), ("image", "2")}
    assert rejects[("image", "2")]["reason"] == reasons.OUTSIDE_DATA_ROOT
    assert (report["val"]["input"], report["val"]["accepted"]) == (2, 1)
    assert "root:x" not in _outputs_text(out)


def test_check_image_file_contains_reads(tmp_path):
    """The checks under the transform: order (root before size before read) and bounded reads."""
    root = tmp_path / "root"
    root.mkdir()
    inside = root / "p.jpg"
    inside.write_bytes(image_bytes())
    opened: list[str] = []

    def open_fn(path):
        opened.append(path)
        return open(path, "rb")

    def check(uri, **kw):
        kw.setdefault("limits", ImageLimits())
        return image_check.check_image_file(
            uri, split="train", photo_id="p", root=str(root), open_fn=open_fn, **kw
        )

    (root / "link.jpg").symlink_to(tmp_path / "nowhere.jpg")  # dangling, pointing outside
    assert check(str(root / "link.jpg")).reason == reasons.OUTSIDE_DATA_ROOT
    assert check(str(root / ".." / "x.jpg")).reason == reasons.OUTSIDE_DATA_ROOT
    assert opened == []
    big = check(str(inside), size_fn=lambda path: 2**40)
    assert (big.reason, big.n_bytes, big.bytes_read) == (reasons.TOO_LARGE, 2**40, 0)
    assert opened == []  # never opened
    ok = check(str(inside))
    assert ok.ok and ok.bytes_read == inside.stat().st_size and opened == [str(inside)]
    size = inside.stat().st_size
    exact = check(str(inside), limits=ImageLimits(max_bytes=size))
    assert exact.ok  # max_bytes is inclusive
    over = check(str(inside), limits=ImageLimits(max_bytes=size - 1), size_fn=lambda path: 1)
    assert (over.reason, over.bytes_read) == (reasons.TOO_LARGE, size)


def test_resolve_within_uris():
    resolve = image_check.resolve_within
    assert resolve("gs://b/vist/images/train/1.jpg", "gs://b/vist") == (
        "gs://b/vist/images/train/1.jpg",
        True,
    )
    assert not resolve("gs://b/vist/images/../../secret.jpg", "gs://b/vist")[1]
    assert not resolve("gs://b/vista/1.jpg", "gs://b/vist")[1]  # a prefix is not a parent
    assert not resolve("s3://b/vist/1.jpg", "gs://b/vist")[1]
    assert resolve("/etc/passwd", "/") == (os.path.realpath("/etc/passwd"), True)
