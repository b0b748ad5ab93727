"""tf.train.SequenceExample protos and TFRecord framing without importing TensorFlow.

Ingest only needs to *write* SequenceExamples, and `import tensorflow` costs ~10 s per process
(every CLI run, every Beam worker). The messages below are built from the same field numbers as
`tensorflow/core/example/{feature,example}.proto`, in a private descriptor pool so they never
clash with TensorFlow's own classes when both are loaded. The wire format is therefore identical:
tests parse our output with `tf.io.parse_sequence_example` and `tf.data.TFRecordDataset`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import crcmod.predefined
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="vistflow/tf_example_wire.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str]], oneof: str = ""):
        m = fdp.message_type.add(name=name)
        if oneof:
            m.oneof_decl.add(name=oneof)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
            if oneof:
                f.oneof_index = 0
        return m

    rep, opt = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, _F.TYPE_BYTES, rep, "")])
    message("FloatList", [("value", 1, _F.TYPE_FLOAT, rep, "")])  # proto3: packed by default
    message("Int64List", [("value", 1, _F.TYPE_INT64, rep, "")])
    message(
        "Feature",
        [
            ("bytes_list", 1, _F.TYPE_MESSAGE, opt, ".tensorflow.BytesList"),
            ("float_list", 2, _F.TYPE_MESSAGE, opt, ".tensorflow.FloatList"),
            ("int64_list", 3, _F.TYPE_MESSAGE, opt, ".tensorflow.Int64List"),
        ],
        oneof="kind",
    )

    def map_message(name: str, field: str, value_type: str):
        # protoc's naming rule for map entries: CamelCase(field) + "Entry".
        entry_name = "".join(part.title() for part in field.split("_")) + "Entry"
        m = message(name, [(field, 1, _F.TYPE_MESSAGE, rep, f".tensorflow.{name}.{entry_name}")])
        entry = m.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=opt)
        entry.field.add(
            name="value", number=2, type=_F.TYPE_MESSAGE, label=opt, type_name=value_type
        )

    map_message("Features", "feature", ".tensorflow.Feature")
    message("FeatureList", [("feature", 1, _F.TYPE_MESSAGE, rep, ".tensorflow.Feature")])
    map_message("FeatureLists", "feature_list", ".tensorflow.FeatureList")
    message("Example", [("features", 1, _F.TYPE_MESSAGE, opt, ".tensorflow.Features")])
    message(
        "SequenceExample",
        [
            ("context", 1, _F.TYPE_MESSAGE, opt, ".tensorflow.Features"),
            ("feature_lists", 2, _F.TYPE_MESSAGE, opt, ".tensorflow.FeatureLists"),
        ],
    )
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())
_FACTORY = message_factory.MessageFactory(_POOL)
SequenceExample = _FACTORY.GetPrototype(_POOL.FindMessageTypeByName("tensorflow.SequenceExample"))


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def build_sequence_example(
    context: Mapping[str, str | bytes],
    feature_lists: Mapping[str, Sequence[Sequence[str | bytes]]],
) -> bytes:
    """Serializes a SequenceExample of bytes features, deterministically (map keys sorted).

    Args:
      context: context feature name -> one bytes value.
      feature_lists: feature list name -> one list of bytes values per step.
    """
    msg = SequenceExample()
    for key, value in context.items():
        msg.context.feature[key].bytes_list.value.append(_bytes(value))
    for key, steps in feature_lists.items():
        flist = msg.feature_lists.feature_list[key]
        for values in steps:
            flist.feature.add().bytes_list.value.extend(_bytes(v) for v in values)
    return msg.SerializeToString(deterministic=True)


def parse_sequence_example(data: bytes):
    """Parses bytes written by `build_sequence_example` (for tests and the quality report)."""
    msg = SequenceExample()
    msg.ParseFromString(data)
    return msg


_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def _masked_crc32c(data: bytes) -> int:
    # TFRecord's masking (tensorflow/core/lib/hash/crc32c.h: Mask).
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, masked crc of the length, data, masked crc of the data."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc32c(length))
        + data
        + struct.pack("<I", _masked_crc32c(data))
    )


def read_records(raw: bytes) -> list[bytes]:
    """Splits uncompressed TFRecord bytes into records, verifying both checksums."""
    out, pos = [], 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        (len_crc,) = struct.unpack_from("<I", raw, pos + 8)
        if len_crc != _masked_crc32c(raw[pos : pos + 8]):
            raise ValueError(f"corrupt TFRecord length at byte {pos}")
        data = raw[pos + 12 : pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", raw, pos + 12 + length)
        if data_crc != _masked_crc32c(data):
            raise ValueError(f"corrupt TFRecord data at byte {pos}")
        out.append(data)
        pos += 16 + length
    return out
