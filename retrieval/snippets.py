"""Region <-> text-snippet pairs from the MRF alignment (002, 3.1.4), as training data for m-RNN.

`align_split` runs the chain MRF (mrf.py) of every sentence against its own image's regions and
cuts the sentence into snippets, one per run of words on one region. `region_examples` turns the
snippets into feature SequenceExamples (vistflow/example_format.py, task "caption", one photo per
region), so the trainer's ordinary `train()` learns the region-level m-RNN of 002 section 4.3.

A region's CNN feature for the generator is its pooled window of the local grid (`c`-d); the
whole-image region uses the grid pooled over the whole image, so every region, whole image
included, lives in one feature space, as the paper's R-CNN fc7 does (the alignment model's own
whole-image region is the global vector; see model.py). Examples carry the vector both as
`global_features` [c] and as a 1x1 `local_features` grid [1, 1, c].
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval import mrf
from retrieval.data import AlignmentSplit
from vistflow import example_format as ef
from vistflow.vocabulary import tokenize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snippet:
    """Words [start, end) of sentence `sentence` aligned to region `region` of image `image`."""

    image: int
    sentence: int
    region: int
    start: int
    end: int
    words: tuple[str, ...]
    score: float  # sum of v_region . s_t over the snippet's words

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def mean_score(self) -> float:
        return self.score / max(1, self.end - self.start)


def align_split(
    split: AlignmentSplit,
    embedded,
    beta: float,
    *,
    max_tokens: int,
) -> list[Snippet]:
    """MRF snippets of every sentence of `split` on its own image (embedded: EmbeddedSplit)."""
    out: list[Snippet] = []
    for m, sentence in enumerate(split.sentences):
        words = tokenize(sentence)[:max_tokens]
        n = len(words)
        if n == 0:
            continue
        k = int(split.sentence_image[m])
        unary = embedded.words[m, :n] @ embedded.regions[k].T  # [n, R]
        assignment, _ = mrf.viterbi(unary, beta)
        for seg in mrf.segments(assignment):
            out.append(
                Snippet(
                    image=k,
                    sentence=m,
                    region=seg.region,
                    start=seg.start,
                    end=seg.end,
                    words=tuple(words[seg.start : seg.end]),
                    score=float(unary[np.arange(seg.start, seg.end), seg.region].sum()),
                )
            )
    return out


BETA_CANDIDATES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def calibrate_beta(
    split: AlignmentSplit,
    embedded,
    *,
    target_words: float,
    max_tokens: int,
    candidates: Sequence[float] = BETA_CANDIDATES,
) -> tuple[float, dict[float, float]]:
    """The beta whose snippets average closest to `target_words` words on `split`.

    The paper leaves beta a free hyperparameter; its useful range depends on the scale of the
    learned v . s, which differs between models. Matching a snippet length (002's region
    annotations average 2.3 words) is a label-free way to set it. Returns (beta, {beta: mean
    snippet length}).
    """
    lengths = {}
    for beta in candidates:
        found = align_split(split, embedded, beta, max_tokens=max_tokens)
        lengths[float(beta)] = float(np.mean([s.end - s.start for s in found])) if found else 0.0
    best = min(lengths, key=lambda b: (abs(lengths[b] - target_words), b))
    return best, lengths


def keep_snippets(
    snippets: Iterable[Snippet],
    *,
    min_words: int = 1,
    max_words: int = 0,
    min_mean_score: float = 0.0,
) -> list[Snippet]:
    """Snippets worth learning from: long enough, not too long, with a positive alignment.

    Words with near-zero embeddings ("on the", 002 observes stop words land near the origin)
    make low-scoring runs; `min_mean_score` drops them.
    """
    kept = []
    for s in snippets:
        length = s.end - s.start
        if length < min_words or (max_words and length > max_words):
            continue
        if s.mean_score <= min_mean_score:
            continue
        kept.append(s)
    return kept


def region_features(split: AlignmentSplit, image: int, region: int, use_global: bool) -> np.ndarray:
    """The generator's `c`-d feature of model region `region` (global first when use_global)."""
    if use_global:
        if region == 0:
            return split.whole[image]
        region -= 1
    return split.windows[image, region]


def region_examples(
    split: AlignmentSplit,
    snippets: Sequence[Snippet],
    *,
    split_name: str,
    use_global: bool,
    region_boxes: np.ndarray,
) -> list[bytes]:
    """One serialized caption SequenceExample per (image, region) with all its snippets."""
    import tensorflow as tf

    grouped: dict[tuple[int, int], list[str]] = defaultdict(list)
    for s in snippets:
        texts = grouped[(s.image, s.region)]
        if s.text not in texts:
            texts.append(s.text)
    out = []
    for (image, region), texts in sorted(grouped.items()):
        feature = region_features(split, image, region, use_global)
        box = ",".join(f"{v:.4f}" for v in region_boxes[region])
        out.append(
            caption_example(
                example_id=f"{split.photo_ids[image]}#r{region}",
                photo_id=f"{split.photo_ids[image]}#r{region}",
                image_uri=f"{split.image_uris[image]}#box={box}",
                texts=texts,
                feature=feature,
                split_name=split_name,
                backbone=split.backbone,
                tf=tf,
            )
        )
    return out


def caption_example(
    *,
    example_id: str,
    photo_id: str,
    image_uri: str,
    texts: Sequence[str],
    feature: np.ndarray,
    split_name: str,
    backbone: str,
    tf=None,
) -> bytes:
    """A one-photo caption SequenceExample whose features are one region's `c`-d vector."""
    if tf is None:
        import tensorflow as tf
    feature = np.asarray(feature, np.float32).reshape(-1)
    ex = tf.train.SequenceExample()
    ctx = ex.context.feature
    ctx[ef.ID].bytes_list.value.append(example_id.encode())
    ctx[ef.ALBUM_ID].bytes_list.value.append(b"")
    ctx[ef.SPLIT].bytes_list.value.append(split_name.encode())
    ctx[ef.TASK].bytes_list.value.append(b"caption")
    ctx[ef.BACKBONE].bytes_list.value.append(f"{backbone}-regions".encode())
    ctx[ef.GLOBAL_DIM].int64_list.value.append(len(feature))
    ctx[ef.LOCAL_SHAPE].int64_list.value.extend([1, 1, len(feature)])
    fl = ex.feature_lists.feature_list
    fl[ef.PHOTO_ID].feature.add().bytes_list.value.append(photo_id.encode())
    fl[ef.IMAGE_URI].feature.add().bytes_list.value.append(image_uri.encode())
    fl[ef.TEXT].feature.add().bytes_list.value.extend(t.encode() for t in texts)
    fl[ef.GLOBAL_FEATURES].feature.add().float_list.value.extend(feature.tolist())
    fl[ef.LOCAL_FEATURES].feature.add().float_list.value.extend(feature.tolist())
    return ex.SerializeToString()


def write_examples(path: str, examples: Iterable[bytes]) -> int:
    """Write serialized examples to one gzipped TFRecord file; returns how many."""
    import tensorflow as tf

    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    n = 0
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for example in examples:
            writer.write(example)
            n += 1
    return n
