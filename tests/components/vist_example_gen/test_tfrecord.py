"""tfrecord: SequenceExample bytes and TFRecord framing without TensorFlow.

test_executor.py parses the same bytes with TensorFlow itself.
"""

from __future__ import annotations

import struct

import pytest

from components.vist_example_gen.tfrecord import (
    build_sequence_example,
    frame_record,
    parse_sequence_example,
    read_records,
)


def test_sequence_example_round_trip():
    data = build_sequence_example(
        {"id": "s1", "split": "train"},
        {"photo_id": [["p1"], ["p2"]], "text": [["a b", "c"], [b"\xc3\xa9t\xc3\xa9"]]},
    )
    msg = parse_sequence_example(data)
    assert msg.context.feature["id"].bytes_list.value == [b"s1"]
    texts = [list(f.bytes_list.value) for f in msg.feature_lists.feature_list["text"].feature]
    assert texts == [[b"a b", b"c"], ["été".encode()]]


def test_serialization_is_deterministic_whatever_the_insertion_order():
    a = build_sequence_example({"id": "x", "task": "sis"}, {"text": [["t"]], "photo_id": [["p"]]})
    b = build_sequence_example({"task": "sis", "id": "x"}, {"photo_id": [["p"]], "text": [["t"]]})
    assert a == b


def test_tfrecord_framing_known_answer():
    # Masked CRC-32C (tensorflow/core/lib/hash/crc32c.h) of the length and of b"hello",
    # computed with a bitwise CRC-32C (check value crc32c(b"123456789") = 0xE3069283).
    record = frame_record(b"hello")
    assert record == (
        struct.pack("<Q", 5)
        + struct.pack("<I", 0x3E04B2EA)
        + b"hello"
        + struct.pack("<I", 0x191C1FBB)
    )
    assert read_records(record + frame_record(b"")) == [b"hello", b""]


def test_corrupt_record_is_detected():
    record = bytearray(frame_record(b"hello"))
    record[13] ^= 1
    with pytest.raises(ValueError, match="corrupt"):
        read_records(bytes(record))
