"""Parse feature SequenceExamples into float32 tensors, whatever their storage dtype (tf.data-ready)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vistflow import example_format as ef

if TYPE_CHECKING:
    import tensorflow as tf

    from vistflow.backbones import BackboneSpec


def _specs():
    import tensorflow as tf

    string = tf.io.FixedLenFeature([], tf.string, default_value="")
    context = {
        ef.ID: string,
        ef.ALBUM_ID: string,
        ef.SPLIT: string,
        ef.TASK: string,
        ef.BACKBONE: string,
        ef.FEATURE_DTYPE: tf.io.FixedLenFeature([], tf.string, default_value="float32"),
        ef.GLOBAL_DIM: tf.io.FixedLenFeature([1], tf.int64),
        ef.LOCAL_SHAPE: tf.io.FixedLenFeature([3], tf.int64),
    }
    ragged_bytes = tf.io.RaggedFeature(tf.string)
    sequence = {
        ef.PHOTO_ID: tf.io.FixedLenSequenceFeature([], tf.string),
        ef.IMAGE_URI: tf.io.FixedLenSequenceFeature([], tf.string),
        ef.TEXT: ragged_bytes,
        ef.IMAGE_BYTES: ragged_bytes,
        # Only one of each pair is present (see example_format); missing ones parse as empty.
        ef.GLOBAL_FEATURES: tf.io.RaggedFeature(tf.float32),
        ef.LOCAL_FEATURES: tf.io.RaggedFeature(tf.float32),
        ef.GLOBAL_FEATURES_F16: ragged_bytes,
        ef.LOCAL_FEATURES_F16: ragged_bytes,
    }
    return context, sequence


def _features(f32, f16, dim):
    """[T, dim] float32 from whichever of the float32 / raw-float16 encodings is present."""
    import tensorflow as tf

    from_f32 = tf.reshape(f32.flat_values, [-1, dim])
    from_f16 = tf.reshape(
        tf.cast(tf.io.decode_raw(f16.flat_values, tf.float16), tf.float32), [-1, dim]
    )
    # Exactly one of the two has rows, so concatenation selects it without a data-dependent branch.
    return tf.concat([from_f32, from_f16], axis=0)


def parse_feature_example(serialized: tf.Tensor, spec: BackboneSpec | None = None) -> dict:
    """Parse one serialized feature SequenceExample (a scalar string tensor) for tf.data.

    Returns a dict of tensors, T = photos in the example: the context strings (`id`, `album_id`,
    `split`, `task`, `backbone`, `feature_dtype`), `photo_id` / `image_uri` [T] string, `text`
    ragged [T, None] string, `image_bytes` [T] string ([0] if images were not stored),
    `global_features` [T, D] float32 and `local_features` [T, H, W, C] float32. With `spec` the
    feature dims are static (and checked against it at run time).
    """
    import tensorflow as tf

    context_spec, sequence_spec = _specs()
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=context_spec, sequence_features=sequence_spec
    )
    global_dim = tf.cast(context[ef.GLOBAL_DIM][0], tf.int32)
    local_shape = tf.cast(context[ef.LOCAL_SHAPE], tf.int32)
    glob = _features(sequence[ef.GLOBAL_FEATURES], sequence[ef.GLOBAL_FEATURES_F16], global_dim)
    local = _features(
        sequence[ef.LOCAL_FEATURES], sequence[ef.LOCAL_FEATURES_F16], tf.reduce_prod(local_shape)
    )
    local = tf.reshape(local, tf.concat([[-1], local_shape], axis=0))
    if spec is not None:
        glob = tf.ensure_shape(glob, [None, spec.global_dim])
        local = tf.ensure_shape(local, [None, *spec.local_shape])
    out = {key: context[key] for key in (ef.ID, ef.ALBUM_ID, ef.SPLIT, ef.TASK, ef.BACKBONE)}
    out[ef.FEATURE_DTYPE] = context[ef.FEATURE_DTYPE]
    out.update(
        {
            ef.PHOTO_ID: sequence[ef.PHOTO_ID],
            ef.IMAGE_URI: sequence[ef.IMAGE_URI],
            ef.TEXT: sequence[ef.TEXT],
            ef.IMAGE_BYTES: sequence[ef.IMAGE_BYTES].flat_values,
            ef.GLOBAL_FEATURES: glob,
            ef.LOCAL_FEATURES: local,
        }
    )
    return out
