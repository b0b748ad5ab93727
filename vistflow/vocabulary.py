"""Word vocabulary: 002's preprocessing (lowercase, alphanumeric tokens, min count 5), built from
the train split only, capped at 000's sizes, with PAD/START/END/UNK. Shared by trainer/ and
retrieval/: retrieval's snippets are sentences the trainer's m-RNN learns, in the same tokens.

The tokenizer exists twice, as TF ops (`tokenize_tf`, used by the input pipeline, when counting
the training split and inside exported graphs) and in Python (`tokenize`, for tests and tools);
both split on every run of non-[a-z0-9] characters after ASCII lowercasing, so they agree on
every input. One exception: VIST's bracketed placeholders for anonymised names (`[female]`,
`[male]`) stay single tokens with their brackets, so "[female]" never merges with the word
"female". (VIST writes locations and organisations as bare `location` / `organization`, which
are ordinary words.) Evaluation does not use this tokenizer: its PTB rules are the metrics'
protocol (components/caption_evaluator/scoring).
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3

# A placeholder is a bracketed lower-case word; while splitting it is spelled \x01word\x02 (two
# control characters no tokenizer keeps), so the one split rule below leaves it whole. The same
# patterns run in Python `re` and TensorFlow's RE2.
_PLACEHOLDER = r"\[([a-z]+)\]"
_MARKED = " \x01\\1\x02 "  # the rewrite (group 1 = the word), spaced off its neighbours
_MARKERS = "[\x01\x02]"
_NON_ALNUM = "[^a-z0-9\x01\x02]+"
_PLACEHOLDER_RE = re.compile(_PLACEHOLDER)
_MARKERS_RE = re.compile(_MARKERS)
_NON_ALNUM_RE = re.compile(_NON_ALNUM)


def tokenize(sentence: str | bytes) -> list[str]:
    """Python twin of `tokenize_tf` (ASCII lowercase, placeholders whole, split on the rest)."""
    if isinstance(sentence, bytes):
        sentence = sentence.decode("utf-8", errors="replace")
    # str.lower() would also fold non-ASCII letters; tf.strings.lower only folds ASCII. The
    # non-ASCII characters are dropped by the regex either way, so lower only ASCII to match.
    lowered = _MARKERS_RE.sub(" ", sentence.translate(_ASCII_LOWER))
    marked = _PLACEHOLDER_RE.sub(_MARKED, lowered)
    return [_unmark(t) for t in _NON_ALNUM_RE.split(marked) if t]


def _unmark(token: str) -> str:
    return token.replace("\x01", "[").replace("\x02", "]")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def tokenize_tf(sentences):
    """Tokenize a string tensor of any rank: returns a RaggedTensor with one more ragged dim."""
    import tensorflow as tf

    lowered = tf.strings.regex_replace(tf.strings.lower(sentences), _MARKERS, " ")
    marked = tf.strings.regex_replace(lowered, _PLACEHOLDER, _MARKED)
    spaced = tf.strings.regex_replace(marked, _NON_ALNUM, " ")
    tokens = tf.strings.split(tf.strings.strip(spaced))
    return tf.ragged.map_flat_values(
        lambda t: tf.strings.regex_replace(tf.strings.regex_replace(t, "\x01", "["), "\x02", "]"),
        tokens,
    )


@dataclass(frozen=True)
class Vocabulary:
    """Words by id: ids 0..3 are PAD, START, END, UNK; then words by falling count, ties A-Z."""

    words: tuple[str, ...]
    min_count: int = 5
    counted_sentences: int = 0
    counted_tokens: int = 0

    def __post_init__(self) -> None:
        if tuple(self.words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}")

    @classmethod
    def from_counts(
        cls,
        counts: collections.Counter,
        *,
        min_count: int,
        max_size: int,
        sentences: int = 0,
    ) -> Vocabulary:
        """Keep words seen at least `min_count` times, most frequent first, `max_size` ids in all."""
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(
            words=SPECIALS + tuple(kept),
            min_count=min_count,
            counted_sentences=sentences,
            counted_tokens=sum(counts.values()),
        )

    @classmethod
    def from_sentences(
        cls, sentences: Iterable[str | bytes], *, min_count: int, max_size: int
    ) -> Vocabulary:
        counts: collections.Counter = collections.Counter()
        n = 0
        for sentence in sentences:
            counts.update(tokenize(sentence))
            n += 1
        return cls.from_counts(counts, min_count=min_count, max_size=max_size, sentences=n)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, sentence: str | bytes) -> list[int]:
        """Word ids of a sentence (no START/END); unknown words become UNK."""
        index = self.index
        return [index.get(t, UNK_ID) for t in tokenize(sentence)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids up to the first END; PAD/START are skipped."""
        out = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (PAD_ID, START_ID):
                continue
            out.append(self.words[i])
        return " ".join(out)

    def lookup_table(self):
        """A tf.lookup.StaticHashTable word -> id (UNK for anything else), for tf.data."""
        import tensorflow as tf

        init = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.words, tf.string),
            tf.range(len(self.words), dtype=tf.int64),
        )
        return tf.lookup.StaticHashTable(init, default_value=UNK_ID)

    def to_json(self) -> str:
        return json.dumps(
            {
                "words": list(self.words),
                "min_count": self.min_count,
                "counted_sentences": self.counted_sentences,
                "counted_tokens": self.counted_tokens,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        d = json.loads(text)
        return cls(
            words=tuple(d["words"]),
            min_count=int(d.get("min_count", 5)),
            counted_sentences=int(d.get("counted_sentences", 0)),
            counted_tokens=int(d.get("counted_tokens", 0)),
        )
