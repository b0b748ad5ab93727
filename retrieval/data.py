"""Feature examples -> the images and sentences of one split, in memory, for alignment.

Reads the feature extractor's SequenceExamples (vistflow/example_format.py) of any task: a
Karpathy caption image (1 photo, ~5 captions), a DII sequence (several photos, each with its
descriptions) or a SIS story (one sentence per photo). Photos are the retrieval unit: a photo seen
in several examples (the same photo in several SIS stories) is one image carrying all of its
sentences, in first-seen order, without duplicates.

Held in memory per image: the global vector, the pooled region windows (`regions.py`) and, when
asked, the whole local grid (for pooling other boxes later). A split of N images costs
N * (D + R*c [+ h*w*c]) floats: fine for Flickr30k-size test splits and for the synthetic data;
a full COCO training split with VGG grids (~12 GB of grids) should be read with keep_local=False.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval import regions as regions_lib
from vistflow import example_format as ef
from vistflow.errors import InputFormatError, VistflowError
from vistflow.vocabulary import PAD_ID, UNK_ID, Vocabulary, tokenize

logger = logging.getLogger(__name__)


@dataclass
class AlignmentSplit:
    """The images and sentences of one split; sentence l describes image `sentence_image[l]`."""

    photo_ids: list[str]  # [N]
    image_uris: list[str]  # [N]
    global_features: np.ndarray  # [N, D] float32
    windows: np.ndarray  # [N, R_w, c] float32: pooled region windows (regions.window_boxes)
    whole: np.ndarray  # [N, c] float32: the local grid pooled over the whole image
    sentences: list[str]  # [M]
    sentence_image: np.ndarray  # [M] int64
    local_shape: tuple[int, int, int]
    backbone: str
    source: str = ""
    local: np.ndarray | None = None  # [N, h, w, c] float32 when read with keep_local
    window_spec: tuple[tuple[float, float], ...] = regions_lib.DEFAULT_WINDOWS  # of `windows`

    @property
    def num_images(self) -> int:
        return len(self.photo_ids)

    @property
    def num_sentences(self) -> int:
        return len(self.sentences)

    def sentences_of(self, image: int) -> list[str]:
        return [self.sentences[i] for i in np.flatnonzero(self.sentence_image == image)]


def read_split(
    patterns: str | Sequence[str],
    windows: Sequence[tuple[float, float]] = regions_lib.DEFAULT_WINDOWS,
    *,
    keep_local: bool = False,
    max_images: int = 0,
) -> AlignmentSplit:
    """Read every feature example matching `patterns` into an AlignmentSplit.

    Args:
      patterns: gzipped feature TFRecord file patterns (Split-<split>/data_tfrecord-*.gz).
      windows: region windows to pool (see regions.window_boxes).
      keep_local: also keep each image's whole local grid (`local`).
      max_images: keep only the first this many unique images (0 = all).
    """
    import tensorflow as tf

    from vistflow.example_files import resolve_files

    files = resolve_files(patterns)
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    ds = tf.data.TFRecordDataset(files, compression_type=compression)
    # Parse in the tf.data graph (an eager parse per record is ~30x slower).
    parsed = ds.map(_parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    index: dict[str, int] = {}
    photo_ids: list[str] = []
    uris: list[str] = []
    glob: list[np.ndarray] = []
    pooled: list[np.ndarray] = []
    whole: list[np.ndarray] = []
    grids: list[np.ndarray] = []
    texts: list[list[str]] = []
    shape: tuple[int, int, int] | None = None
    backbone = ""
    matrix = None
    records = parsed.as_numpy_iterator()
    n = -1
    while True:
        n += 1
        where = f"record {n}"
        try:
            p = next(records)
        except StopIteration:
            break
        except tf.errors.InvalidArgumentError as e:
            raise InputFormatError(
                ", ".join(files), where, f"not a feature SequenceExample: {e.message}"
            ) from e
        example_id = p[ef.ID].decode()
        local = p[ef.LOCAL_FEATURES]
        g = p[ef.GLOBAL_FEATURES]
        if len(g) == 0 or local.ndim != 4 or local.shape[0] != len(g):
            raise InputFormatError(
                ", ".join(files),
                f"{where} ({example_id})",
                "no global and local features per photo: run the feature extractor first",
            )
        if shape is None:
            shape = tuple(int(v) for v in local.shape[1:])
            backbone = p[ef.BACKBONE].decode()
            boxes = regions_lib.window_boxes(shape[0], shape[1], windows)
            matrix = regions_lib.pooling_matrix(boxes, shape[0], shape[1])
            global_dim = g.shape[1]
        elif tuple(local.shape[1:]) != shape or g.shape[1] != global_dim:
            raise InputFormatError(
                ", ".join(files),
                f"{where} ({example_id})",
                f"features {g.shape[1]} / {local.shape[1:]} differ from the first record's "
                f"{global_dim} / {shape}",
            )
        text = p[ef.TEXT]  # ragged values arrive as an object array of per-photo arrays
        for i, photo in enumerate(p[ef.PHOTO_ID]):
            photo = photo.decode()
            sentences = [t.decode("utf-8", errors="replace") for t in text[i]]
            k = index.get(photo)
            if k is None:
                if max_images and len(photo_ids) >= max_images:
                    continue
                k = index[photo] = len(photo_ids)
                photo_ids.append(photo)
                uris.append(p[ef.IMAGE_URI][i].decode())
                glob.append(g[i])
                pooled.append(regions_lib.pool(local[i : i + 1], matrix)[0])
                whole.append(local[i].mean(axis=(0, 1)))
                if keep_local:
                    grids.append(local[i])
                texts.append([])
            for s in sentences:
                if s.strip() and s not in texts[k]:
                    texts[k].append(s)
    if shape is None:
        raise VistflowError(f"no records in {', '.join(files)}")
    keep = [k for k in range(len(photo_ids)) if texts[k]]
    if len(keep) < len(photo_ids):
        logger.warning(
            "%s: %d of %d photos have no sentence and are left out",
            patterns,
            len(photo_ids) - len(keep),
            len(photo_ids),
        )
    sentences = [s for k in keep for s in texts[k]]
    sentence_image = np.asarray([j for j, k in enumerate(keep) for _ in texts[k]], np.int64)
    return AlignmentSplit(
        photo_ids=[photo_ids[k] for k in keep],
        image_uris=[uris[k] for k in keep],
        global_features=np.stack([glob[k] for k in keep]).astype(np.float32),
        windows=np.stack([pooled[k] for k in keep]).astype(np.float32),
        whole=np.stack([whole[k] for k in keep]).astype(np.float32),
        sentences=sentences,
        sentence_image=sentence_image,
        local_shape=shape,
        backbone=backbone,
        source=", ".join(files),
        local=np.stack([grids[k] for k in keep]).astype(np.float32) if keep_local else None,
        window_spec=tuple(tuple(float(v) for v in w) for w in windows),
    )


def _parse(serialized):
    from vistflow.feature_parsing import parse_feature_example

    keys = (ef.ID, ef.BACKBONE, ef.PHOTO_ID, ef.IMAGE_URI, ef.TEXT, ef.GLOBAL_FEATURES)
    p = parse_feature_example(serialized)
    return {**{k: p[k] for k in keys}, ef.LOCAL_FEATURES: p[ef.LOCAL_FEATURES]}


def encode_sentences(sentences: Sequence[str], vocab: Vocabulary, max_tokens: int) -> np.ndarray:
    """`[M, max_tokens]` int32 word ids (002 tokenisation, UNK for rare words), PAD-filled.

    A sentence with no token at all keeps one UNK so it still has a word to score.
    """
    index = vocab.index  # built once: Vocabulary.encode rebuilds it per call
    out = np.full((len(sentences), max_tokens), PAD_ID, np.int32)
    for i, s in enumerate(sentences):
        ids = [index.get(t, UNK_ID) for t in tokenize(s)][:max_tokens] or [UNK_ID]
        out[i, : len(ids)] = ids
    return out
