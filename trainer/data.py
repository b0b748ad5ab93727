"""Input pipeline: feature SequenceExamples (vistflow/example_format.py) -> batches of model inputs.

One SequenceExample holds a story (SIS), a photo sequence with every description of each photo
(DII) or one Karpathy image with its captions. Per-image models train on one row per
(photo, reference sentence) pair; sequence models train on one row per story with one sentence
per photo (DII sequences with k descriptions per photo give min(k) rows: the j-th description of
every photo). Stories shorter than `photos_per_story` are padded and masked; longer ones are cut.

Model inputs (dict keys below): `global` [.., D], `local` [.., h*w, c], or `image` [.., S, S, 3]
for joint CNN fine-tuning; `tokens_in` [.., T] (START + words); sequence models add `photo_mask`
[B, P] and seq2seq_story `prev_tokens` [B, P, T] (the previous sentence's words + END, START alone
for the first sentence). Targets are words + END, PAD-filled, [.., T] with T = max_tokens + 1.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from vistflow import example_format as ef
from vistflow import vocabulary as vocab_lib
from vistflow.errors import InputFormatError
from vistflow.example_files import resolve_files

logger = logging.getLogger(__name__)

GLOBAL, LOCAL, IMAGE = "global", "local", "image"
TOKENS_IN, PREV_TOKENS, PHOTO_MASK = "tokens_in", "prev_tokens", "photo_mask"


@dataclass(frozen=True)
class FeatureInfo:
    """What the feature examples hold, read from the first training record."""

    global_dim: int
    local_shape: tuple[int, int, int]
    backbone: str
    task: str
    has_image_bytes: bool
    source: str = ""  # the file it was read from

    @property
    def local_positions(self) -> int:
        return self.local_shape[0] * self.local_shape[1]

    @property
    def local_dim(self) -> int:
        return self.local_shape[0] * self.local_shape[1] * self.local_shape[2]

    def to_dict(self) -> dict:
        return {
            "global_dim": self.global_dim,
            "local_shape": list(self.local_shape),
            "backbone": self.backbone,
            "task": self.task,
            "has_image_bytes": self.has_image_bytes,
        }


@dataclass(frozen=True)
class TextScan:
    """One pass over the sentences of a split: token counts and rows per epoch."""

    counts: collections.Counter
    sentences: int
    stories: int
    image_rows: int  # (photo, sentence) pairs: rows for per-image models
    story_rows: int  # rows for sequence models


def _plain_tf(fn):
    """Skip AutoGraph for tf.data functions written in plain TF ops (halves pipeline build time)."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


def _tfrecords(files: list[str]):
    import tensorflow as tf

    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    return tf.data.TFRecordDataset(files, compression_type=compression)


def parse_example(serialized, info: FeatureInfo | None = None) -> dict:
    """Parse one feature SequenceExample with the extractor's parser (it owns the storage format:
    float32 or float16), flattened for the trainer: {id, task, backbone, text (ragged [P, None]),
    global_features [P, D], local_features [P, h*w*c], local_shape [3], image_bytes [P] or [0]}.
    """
    import tensorflow as tf

    from vistflow.feature_parsing import parse_feature_example

    p = parse_feature_example(serialized)
    local = p[ef.LOCAL_FEATURES]  # [P, h, w, c]
    out = {
        "id": p[ef.ID],
        "task": p[ef.TASK],
        "backbone": p[ef.BACKBONE],
        "text": p[ef.TEXT],
        "local_shape": tf.shape(local)[1:],
        ef.GLOBAL_FEATURES: p[ef.GLOBAL_FEATURES],
        ef.LOCAL_FEATURES: tf.reshape(local, [tf.shape(local)[0], -1]),
        ef.IMAGE_BYTES: p[ef.IMAGE_BYTES],
    }
    if info is not None:
        out[ef.GLOBAL_FEATURES] = tf.ensure_shape(out[ef.GLOBAL_FEATURES], [None, info.global_dim])
        out[ef.LOCAL_FEATURES] = tf.ensure_shape(out[ef.LOCAL_FEATURES], [None, info.local_dim])
    return out


def inspect_features(patterns: str | Sequence[str]) -> FeatureInfo:
    """Read the first record of `patterns` to learn feature sizes, backbone and task."""
    import tensorflow as tf

    files = resolve_files(patterns)
    for record in _tfrecords(files).take(1):
        try:
            p = parse_example(record)
        except tf.errors.InvalidArgumentError as e:
            raise InputFormatError(
                files[0], "record 0", f"not a feature SequenceExample: {e}"
            ) from e
        global_dim = int(p[ef.GLOBAL_FEATURES].shape[1])
        local_shape = tuple(int(v) for v in p["local_shape"].numpy())
        has_images = int(tf.size(p[ef.IMAGE_BYTES])) > 0
        if p["text"].nrows() == 0 or not global_dim:
            raise InputFormatError(
                files[0],
                f"record 0 ({p['id'].numpy().decode()})",
                f"no photos with {ef.GLOBAL_FEATURES}: were these examples run through "
                "the feature extractor?",
            )
        return FeatureInfo(
            global_dim=global_dim,
            local_shape=local_shape if len(local_shape) == 3 else (0, 0, 0),
            backbone=p["backbone"].numpy().decode(),
            task=p["task"].numpy().decode(),
            has_image_bytes=has_images,
            source=files[0],
        )
    raise InputFormatError(files[0], "", "no records")


def scan_text(patterns: str | Sequence[str], *, photos_per_story: int) -> TextScan:
    """Count tokens (for the vocabulary) and rows per epoch with the same tokenizer as training."""
    import tensorflow as tf

    files = resolve_files(patterns)

    @_plain_tf
    def texts(serialized):
        _, seq = tf.io.parse_single_sequence_example(
            serialized, sequence_features={ef.TEXT: tf.io.RaggedFeature(tf.string)}
        )
        text = seq[ef.TEXT]
        lengths = text.row_lengths()
        samples = tf.cond(
            tf.size(lengths) > 0,
            lambda: tf.cast(tf.reduce_min(lengths), tf.int64),
            lambda: tf.constant(0, tf.int64),
        )
        tokens = vocab_lib.tokenize_tf(text.flat_values).flat_values
        return tokens, tf.size(text.flat_values), samples

    counts: collections.Counter = collections.Counter()
    sentences = stories = story_rows = 0
    ds = _tfrecords(files).map(texts, num_parallel_calls=tf.data.AUTOTUNE)
    for tokens, n_sentences, samples in ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
        counts.update(t.decode("ascii") for t in tokens)
        sentences += int(n_sentences)
        story_rows += int(samples)
        stories += 1
    return TextScan(
        counts=counts,
        sentences=sentences,
        stories=stories,
        image_rows=sentences,
        story_rows=story_rows,
    )


def _encode_sentences(sentences, table, max_tokens: int):
    """[n] or scalar strings -> (tokens_in, targets) [(n,) max_tokens + 1] int32, PAD-filled."""
    import tensorflow as tf

    scalar = sentences.shape.rank == 0
    batch = sentences[None] if scalar else sentences
    words = tf.cast(table.lookup(vocab_lib.tokenize_tf(batch)), tf.int32)[:, :max_tokens]
    n = tf.shape(batch)[0]
    tokens_in = tf.concat([tf.fill([n, 1], vocab_lib.START_ID), words], axis=1)
    targets = tf.concat([words, tf.fill([n, 1], vocab_lib.END_ID)], axis=1)
    shape = [None, max_tokens + 1]
    tokens_in = tokens_in.to_tensor(vocab_lib.PAD_ID, shape=shape)
    targets = targets.to_tensor(vocab_lib.PAD_ID, shape=shape)
    if scalar:
        return tokens_in[0], targets[0]
    return tokens_in, targets


def make_dataset(
    patterns: str | Sequence[str],
    *,
    info: FeatureInfo,
    vocab: vocab_lib.Vocabulary,
    hparams,
    sequence_model: bool,
    needs: frozenset[str],
    training: bool,
    repeat: bool = False,
    image_size: int = 0,
):
    """A tf.data.Dataset of (inputs, targets) batches (see the module docstring for keys).

    Args:
      needs: the feature inputs the model reads: a subset of {GLOBAL, LOCAL, IMAGE, PREV_TOKENS}.
      training: shuffle (seeded) and drop nothing; evaluation keeps file order.
      repeat: repeat forever (the caller sets steps_per_epoch).
      image_size: decode `image_bytes` to this size when IMAGE is needed (joint fine-tuning).
    """
    import tensorflow as tf

    files = resolve_files(patterns)
    table = vocab.lookup_table()
    max_tokens = hparams.max_tokens
    photos = hparams.photos_per_story
    if IMAGE in needs:
        from trainer.backbone import decode_image

    @_plain_tf
    def parse(serialized):
        return parse_example(serialized, info)

    def photo_inputs(p, index):
        """The per-photo model inputs of photos `index` (a [n] int tensor)."""
        out = {}
        if GLOBAL in needs:
            out[GLOBAL] = tf.gather(p[ef.GLOBAL_FEATURES], index)
        if LOCAL in needs:
            h, w, c = info.local_shape
            out[LOCAL] = tf.reshape(tf.gather(p[ef.LOCAL_FEATURES], index), [-1, h * w, c])
        if IMAGE in needs:
            out[IMAGE] = tf.gather(p[ef.IMAGE_BYTES], index)  # decoded after flattening
        return out

    @_plain_tf
    def image_rows(p):
        text = p["text"]
        inputs = photo_inputs(p, text.value_rowids())
        return tf.data.Dataset.from_tensor_slices((inputs, text.flat_values))

    @_plain_tf
    def story_rows(p):
        text = p["text"]
        n_photos = tf.cast(text.nrows(), tf.int32)
        lengths = text.row_lengths()
        samples = tf.cond(
            n_photos > 0,
            lambda: tf.cast(tf.reduce_min(lengths), tf.int64),
            lambda: tf.constant(0, tf.int64),
        )
        # Pad/cut to `photos` photos; padded photos repeat photo 0 and are masked out.
        kept = tf.minimum(n_photos, photos)
        index = tf.range(photos)
        mask = index < kept
        inputs = photo_inputs(p, tf.where(mask, index, 0))
        inputs[PHOTO_MASK] = mask
        dense = text.to_tensor(default_value="")[:photos, :samples]  # [kept, samples]
        dense = tf.pad(dense, [[0, photos - kept], [0, 0]], constant_values="")
        sentences = tf.transpose(dense)  # [samples, photos]: sample j = j-th text of each photo
        return tf.data.Dataset.zip(
            (
                tf.data.Dataset.from_tensors(inputs).repeat(samples),
                tf.data.Dataset.from_tensor_slices(sentences),
            )
        )

    @_plain_tf
    def encode(inputs, sentences):
        tokens_in, targets = _encode_sentences(sentences, table, max_tokens)
        inputs = dict(inputs)
        if sequence_model:
            mask = inputs[PHOTO_MASK][:, None]
            tokens_in = tf.where(mask, tokens_in, vocab_lib.PAD_ID)
            targets = tf.where(mask, targets, vocab_lib.PAD_ID)
            if PREV_TOKENS in needs:
                first = tf.one_hot(0, max_tokens + 1, dtype=tf.int32) * vocab_lib.START_ID
                inputs[PREV_TOKENS] = tf.concat([first[None], targets[:-1]], axis=0)
            inputs[PHOTO_MASK] = tf.cast(inputs[PHOTO_MASK], tf.float32)
        if IMAGE in needs:
            flat = tf.reshape(inputs[IMAGE], [-1])
            decoded = tf.map_fn(
                lambda b: decode_image(b, image_size),
                flat,
                fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
            )
            inputs[IMAGE] = tf.reshape(
                decoded, tf.concat([tf.shape(inputs[IMAGE]), [image_size, image_size, 3]], 0)
            )
        inputs[TOKENS_IN] = tokens_in
        return inputs, targets

    options = tf.data.Options()
    options.deterministic = True
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=hparams.seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        lambda f: _tfrecords_one(f),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda p: p["text"].nrows() > 0)  # no photos: nothing to learn from
    ds = ds.flat_map(story_rows if sequence_model else image_rows)
    if training:
        buffer = hparams.shuffle_buffer or shuffle_buffer_rows(info, needs, sequence_model, photos)
        ds = ds.shuffle(buffer, seed=hparams.seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(hparams.batch_size).prefetch(tf.data.AUTOTUNE)
    return ds.with_options(options)


# Default memory for the row shuffle buffer: VGG16 conv5 grids are 400 KB per photo, so a fixed
# row count would need gigabytes for stories.
SHUFFLE_BUFFER_BYTES = 512 << 20


def shuffle_buffer_rows(info: FeatureInfo, needs, sequence_model: bool, photos: int) -> int:
    """How many rows fit SHUFFLE_BUFFER_BYTES (at least 64, at most 4096)."""
    floats = (info.global_dim if GLOBAL in needs else 0) + (info.local_dim if LOCAL in needs else 0)
    if IMAGE in needs:
        floats += 64 * 1024  # encoded image bytes, roughly
    if sequence_model:
        floats *= photos
    return int(max(64, min(4096, SHUFFLE_BUFFER_BYTES // max(1, 4 * floats))))


def _tfrecords_one(filename):
    import tensorflow as tf

    compression = tf.where(tf.strings.regex_full_match(filename, r".*\.gz"), "GZIP", "")
    return tf.data.TFRecordDataset(filename, compression_type=compression)
