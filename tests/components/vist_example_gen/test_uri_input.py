"""Ingest reads a data root given as a URI: through Beam's FileSystems, never `open()` or Path.

`vfs://<local path>` is a Beam file system registered here (a LocalFileSystem under another
scheme), so the URI code paths run without a server.
"""

from __future__ import annotations

import pytest
from apache_beam.io.localfilesystem import LocalFileSystem

from components.vist_example_gen.options import IngestConfig
from components.vist_example_gen.pipeline import ingest
from vistflow.data import jsonstream
from vistflow.errors import InputFormatError

from .conftest import five, image_bytes, texts, write_vist_root

PREFIX = "vfs://"


def _local(path):
    return path[len(PREFIX) :] if isinstance(path, str) and path.startswith(PREFIX) else path


class _VfsFileSystem(LocalFileSystem):
    """Beam finds file systems by subclass and scheme: defining it registers `vfs://`."""

    @classmethod
    def scheme(cls):
        return "vfs"

    def match(self, patterns, limits=None):
        return super().match([_local(p) for p in patterns], limits)

    def open(self, path, *args, **kwargs):
        return super().open(_local(path), *args, **kwargs)

    def exists(self, path):
        return super().exists(_local(path))

    def metadata(self, path):
        return super().metadata(_local(path))

    def size(self, path):
        return super().size(_local(path))

    def checksum(self, path):
        return super().checksum(_local(path))

    def last_updated(self, path):
        return super().last_updated(_local(path))


@pytest.fixture()
def root(tmp_path):
    stories = {
        "train": [("t1", "A", five("a"), texts("t1"))],
        "val": [("v1", "B", five("b"), texts("v1"))],
    }
    images = {(s, p): image_bytes() for s, pre in (("train", "a"), ("val", "b")) for p in five(pre)}
    return write_vist_root(tmp_path / "root", stories, images)


def test_streaming_reader_opens_a_uri(root):
    path = f"{PREFIX}{root}/sis/train.story-in-sequence.json"
    items = [item for _, item in jsonstream.iter_array_items(path, "annotations")]
    assert len(items) == 5 and items[0][0]["story_id"] == "t1"


def test_syntax_error_in_a_uri_file_is_located(root):
    local = root / "sis" / "val.story-in-sequence.json"
    local.write_text(local.read_text()[:-10])
    with pytest.raises(InputFormatError, match="truncated JSON") as e:
        list(jsonstream.iter_array_items(f"{PREFIX}{local}", "annotations"))
    assert str(e.value).startswith(f"{PREFIX}{local}")


def test_ingest_finds_and_reads_the_annotations_of_a_uri_root(root, tmp_path):
    # Only the annotation side: images under a URI root are looked up by
    # vistflow.data.layout.find_image, which is local-only so far (issue 14).
    local = ingest(IngestConfig(data_root=str(root)), str(tmp_path / "local"))
    remote = ingest(IngestConfig(data_root=f"{PREFIX}{root}"), str(tmp_path / "remote"))
    assert remote["totals"]["input"] == local["totals"]["input"] == 2
    assert remote["splits_present"] == local["splits_present"]
