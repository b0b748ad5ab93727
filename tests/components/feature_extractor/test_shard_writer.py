"""The multi-member gzip shard writer: every reader sees one stream, and the bytes never depend
on the thread count."""

from __future__ import annotations

import gzip

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from components.feature_extractor import shard_writer


def _records(n=40, seed=0):
    rng = np.random.default_rng(seed)
    # ReLU-like floats of varying lengths, so chunk boundaries fall inside records.
    return [np.maximum(rng.normal(size=3000 + 17 * i), 0).astype("<f4").tobytes() for i in range(n)]


def test_members_read_back_as_one_stream_by_tensorflow_beam_and_gzip(tmp_path):
    records = _records()
    path = tmp_path / "shard.gz"
    data = shard_writer.gzip_tfrecords(records, 1, threads=2, chunk_bytes=50_000)
    path.write_bytes(data)
    assert data.count(b"\x1f\x8b\x08") >= len(b"".join(records)) // 50_000  # really many members
    got = [r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]
    assert got == records
    # Plain gzip sees the uncompressed TFRecord stream TensorFlow's writer frames.
    plain = tmp_path / "plain.tfrecord"
    with tf.io.TFRecordWriter(str(plain)) as writer:
        for r in records:
            writer.write(r)
    assert gzip.decompress(data) == plain.read_bytes()
    with test_pipeline.TestPipeline() as p:
        read = p | beam.io.ReadFromTFRecord(str(path))
        assert_that(read | beam.Map(len), equal_to([len(r) for r in records]))


def test_bytes_do_not_depend_on_threads_and_levels_trade_size():
    records = _records(20, seed=1)
    one = shard_writer.gzip_tfrecords(records, 1, threads=1, chunk_bytes=30_000)
    assert shard_writer.gzip_tfrecords(records, 1, threads=4, chunk_bytes=30_000) == one
    stored = shard_writer.gzip_tfrecords(records, 0, threads=2, chunk_bytes=30_000)
    assert len(stored) > len(b"".join(records)) > len(one)
    assert gzip.decompress(stored) == gzip.decompress(one)


def test_a_shard_committed_by_the_output_helper_reads_back(tmp_path):
    from vistflow import outputs

    records = _records(5)
    path = tmp_path / "sub" / "x.gz"
    outputs.write_file_atomic(
        str(path), shard_writer.gzip_tfrecords(records, 1), staging=str(tmp_path / "w" / "x")
    )
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(path), "GZIP")] == records
