"""The TFMD schema of feature Examples for any backbone / storage dtype, from schemas/features_schema.pbtxt.

The FeatureExtractor writes `features_schema(spec, dtype)` as its `schema` output, so the
pipeline validates features against the schema of the backbone that made them.
"""

from __future__ import annotations

import os
from importlib import resources

from vistflow import example_format as ef
from vistflow.backbones import BackboneSpec

# Resolved through the `schemas` package, so it works from a wheel as well as a checkout.
SCHEMA_PATH = str(resources.files("schemas").joinpath("features_schema.pbtxt"))
SEQUENCE_STRUCT = "##SEQUENCE##"  # how TFDV/TFXIO name the struct of SequenceExample feature lists


def load_checked_in_schema():
    """schemas/features_schema.pbtxt as a tensorflow_metadata Schema (tiny backbone, float32)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with open(SCHEMA_PATH) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def _find(features, name: str):
    for feature in features:
        if feature.name == name:
            return feature
    raise KeyError(f"{SCHEMA_PATH}: no feature {name!r}")


def features_schema(spec: BackboneSpec, dtype: str = "float32"):
    """The checked-in schema with its backbone-dependent parts set for `spec` and `dtype`.

    Changes only the feature dims (or their float16 byte encodings), the `global_dim` /
    `local_shape` ranges and the `backbone` / `feature_dtype` domains.
    """
    schema = load_checked_in_schema()
    context = {f.name: f for f in schema.feature}
    context[ef.GLOBAL_DIM].int_domain.min = context[ef.GLOBAL_DIM].int_domain.max = spec.global_dim
    context[ef.LOCAL_SHAPE].int_domain.min = min(spec.local_shape)
    context[ef.LOCAL_SHAPE].int_domain.max = max(spec.local_shape)
    domains = {d.name: d for d in schema.string_domain}
    domains[ef.BACKBONE].value[:] = [spec.name]
    domains[ef.FEATURE_DTYPE].value[:] = [dtype]

    sequence = _find(schema.feature, SEQUENCE_STRUCT).struct_domain.feature
    for key, f16_key, dim in (
        (ef.GLOBAL_FEATURES, ef.GLOBAL_FEATURES_F16, spec.global_dim),
        (ef.LOCAL_FEATURES, ef.LOCAL_FEATURES_F16, spec.local_dim),
    ):
        feature = _find(sequence, key)
        inner = feature.value_counts.value_count[1]
        if dtype == "float16":  # one raw <f2 bytes value per photo instead of `dim` floats
            from tensorflow_metadata.proto.v0 import schema_pb2

            feature.name, feature.type = f16_key, schema_pb2.BYTES
            inner.min = inner.max = 1
        else:
            inner.min = inner.max = dim
    return schema


def write_features_schema(spec: BackboneSpec, path: str, dtype: str = "float32") -> str:
    """Write `features_schema(spec, dtype)` as pbtxt (for ImportSchemaGen); returns `path`."""
    from google.protobuf import text_format

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text_format.MessageToString(features_schema(spec, dtype)))
    return path
