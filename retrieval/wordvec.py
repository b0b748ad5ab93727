"""Initial word vectors from a local word2vec text file (002 initialises W_w with word2vec).

Format: an optional header line `<count> <dim>`, then one `<word> <v_1> ... <v_dim>` per line
(what `gensim`'s `save_word2vec_format(binary=False)` and GloVe's .txt files hold). Nothing is
downloaded: the file must already be on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vistflow.errors import InputFormatError, VistflowError

logger = logging.getLogger(__name__)


def load_word_vectors(
    path: str, words: Sequence[str], dim: int, *, seed: int = 0, stddev: float = 0.1
) -> tuple[np.ndarray, int]:
    """`[len(words), dim]` float32 initial vectors and how many came from the file.

    Words missing from the file (and the special tokens) get N(0, stddev^2) vectors. A file word
    matches a vocabulary word exactly or, failing that, lowercased (the vocabulary is lowercase).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, stddev, size=(len(words), dim)).astype(np.float32)
    index = {w: i for i, w in enumerate(words)}
    found: set[int] = set()
    try:
        f = tf.io.gfile.GFile(path, "r")
    except tf.errors.NotFoundError:
        raise VistflowError(f"{path}: word vector file not found") from None
    with f:
        for line_no, line in enumerate(f, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                if int(parts[1]) != dim:
                    raise InputFormatError(
                        path, "line 1", f"vectors are {parts[1]}-d, expected {dim}"
                    )
                continue
            if len(parts) < 2:
                continue
            word, values = parts[0], parts[1:]
            i = index.get(word)
            if i is None:
                i = index.get(word.lower())
                if i is None or i in found:  # an exact-case entry wins over a case-folded one
                    continue
            if len(values) != dim:
                raise InputFormatError(
                    path, f"line {line_no}", f"{word!r} has {len(values)} values, expected {dim}"
                )
            try:
                matrix[i] = np.asarray(values, np.float32)
            except ValueError as e:
                raise InputFormatError(path, f"line {line_no}", f"{word!r}: {e}") from None
            found.add(i)
    logger.info("word vectors: %d of %d vocabulary words from %s", len(found), len(words), path)
    return matrix, len(found)
