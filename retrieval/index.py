"""The retrieval index `vistflow retrieve` searches: embedded images and sentences of some splits.

Stored as `index.npz` (arrays) + `index.json` (strings and provenance) in one directory. Region
and word embeddings are kept in float16: half the bytes, for scores that move by ~1e-3 relative
(enough to swap near-ties, nothing else). Words are stored flat (only real words; `word_offsets`
delimit sentences), so an image query is one `[R, h] x [h, words]` product and a segment sum.

NumPy only: loading and searching an index needs no TensorFlow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval import mrf
from vistflow.errors import VistflowError

ARRAYS_FILE = "index.npz"
META_FILE = "index.json"
FORMAT_VERSION = 1


@dataclass
class Hit:
    """One search result: an image (text queries) or a sentence (image queries)."""

    rank: int
    score: float
    image: int  # index into RetrievalIndex.photo_ids
    sentence: int = -1  # index into RetrievalIndex.sentences (image queries)
    alignment: list[dict] = field(default_factory=list)  # MRF snippets -> regions (explain)


@dataclass
class RetrievalIndex:
    photo_ids: list[str]
    image_uris: list[str]
    image_splits: list[str]
    regions: np.ndarray  # [N, R, h]
    sentences: list[str]
    sentence_image: np.ndarray  # [M] int64 into the images
    sentence_tokens: list[list[str]]  # the words each embedding row stands for
    words: np.ndarray  # [W, h]: the words of every sentence, concatenated
    word_offsets: np.ndarray  # [M + 1] int64
    region_boxes: np.ndarray  # [R, 4] (y0, x0, y1, x1) in [0, 1]
    info: dict = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        parts: Sequence[tuple[str, object, object]],
        region_boxes: np.ndarray,
        vocab_words: Sequence[str],
        info: dict | None = None,
    ) -> RetrievalIndex:
        """From (split name, AlignmentSplit, EmbeddedSplit) triples."""
        photo_ids, uris, splits, regions = [], [], [], []
        sentences, sentence_image, tokens, words, lengths = [], [], [], [], []
        for name, split, emb in parts:
            base = len(photo_ids)
            photo_ids += split.photo_ids
            uris += split.image_uris
            splits += [name] * split.num_images
            regions.append(emb.regions.astype(np.float16))
            for m, sentence in enumerate(split.sentences):
                n = int(emb.mask[m].sum())
                sentences.append(sentence)
                sentence_image.append(base + int(split.sentence_image[m]))
                tokens.append([vocab_words[t] for t in emb.tokens[m, :n]])
                words.append(emb.words[m, :n].astype(np.float16))
                lengths.append(n)
        return cls(
            photo_ids=photo_ids,
            image_uris=uris,
            image_splits=splits,
            regions=np.concatenate(regions),
            sentences=sentences,
            sentence_image=np.asarray(sentence_image, np.int64),
            sentence_tokens=tokens,
            words=np.concatenate(words),
            word_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            region_boxes=np.asarray(region_boxes, np.float32),
            info=dict(info or {}),
        )

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        np.savez(
            os.path.join(directory, ARRAYS_FILE),
            regions=self.regions,
            words=self.words,
            word_offsets=self.word_offsets,
            sentence_image=self.sentence_image,
            region_boxes=self.region_boxes,
        )
        meta = {
            "format_version": FORMAT_VERSION,
            "photo_ids": self.photo_ids,
            "image_uris": self.image_uris,
            "image_splits": self.image_splits,
            "sentences": self.sentences,
            "sentence_tokens": self.sentence_tokens,
            "info": self.info,
        }
        with open(os.path.join(directory, META_FILE), "w") as f:
            json.dump(meta, f)

    @classmethod
    def load(cls, directory: str) -> RetrievalIndex:
        try:
            with open(os.path.join(directory, META_FILE)) as f:
                meta = json.load(f)
            arrays = np.load(os.path.join(directory, ARRAYS_FILE))
            return cls(
                photo_ids=meta["photo_ids"],
                image_uris=meta["image_uris"],
                image_splits=meta["image_splits"],
                regions=arrays["regions"],
                sentences=meta["sentences"],
                sentence_image=arrays["sentence_image"],
                sentence_tokens=meta["sentence_tokens"],
                words=arrays["words"],
                word_offsets=arrays["word_offsets"],
                region_boxes=arrays["region_boxes"],
                info=meta.get("info", {}),
            )
        except (OSError, ValueError, KeyError) as e:
            raise VistflowError(f"{directory}: not a retrieval index: {e}") from e

    # ---- search --------------------------------------------------------------------------------
    @property
    def num_images(self) -> int:
        return len(self.photo_ids)

    def sentence_words(self, m: int) -> np.ndarray:
        return self.words[self.word_offsets[m] : self.word_offsets[m + 1]].astype(np.float32)

    def _mask(self, splits: Sequence[str] | None, items: Sequence[str]) -> np.ndarray:
        if not splits:
            return np.ones(len(items), bool)
        unknown = set(splits) - set(self.image_splits)
        if unknown:
            raise VistflowError(
                f"the index holds splits {sorted(set(self.image_splits))}, not {sorted(unknown)}"
            )
        return np.isin(np.asarray(items), list(splits))

    def text_scores(self, words: np.ndarray) -> np.ndarray:
        """S `[N]` of one sentence (its real words `[T, h]`) with every indexed image."""
        w = np.asarray(words, np.float32)
        regions = self.regions.astype(np.float32)
        return (regions @ w.T).max(axis=1).sum(axis=1)  # [N, R, T] -> [N]

    def image_scores(self, regions: np.ndarray) -> np.ndarray:
        """S `[M]` of one image (its regions `[R, h]`) with every indexed sentence."""
        best = (np.asarray(regions, np.float32) @ self.words.astype(np.float32).T).max(axis=0)
        sums = np.add.reduceat(best, self.word_offsets[:-1]) if len(best) else best
        # reduceat gives a sentence with no words the next value: there are none (>= 1 UNK).
        return sums.astype(np.float32)

    def search_text(
        self,
        words: np.ndarray,
        k: int = 5,
        *,
        splits: Sequence[str] | None = None,
        beta: float | None = None,
        tokens: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Top-k images for one embedded sentence; with `beta`, each hit's MRF alignment."""
        scores = self.text_scores(words)
        scores = np.where(self._mask(splits, self.image_splits), scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[: min(k, int(np.isfinite(scores).sum()))]
        hits = []
        for rank, i in enumerate(order, start=1):
            hit = Hit(rank, float(scores[i]), int(i))
            if beta is not None:
                hit.alignment = self.explain(self.regions[i], words, tokens, beta)
            hits.append(hit)
        return hits

    def search_image(
        self,
        regions: np.ndarray,
        k: int = 5,
        *,
        splits: Sequence[str] | None = None,
        beta: float | None = None,
    ) -> list[Hit]:
        """Top-k sentences for one embedded image; with `beta`, each hit's MRF alignment."""
        scores = self.image_scores(regions)
        sentence_splits = [self.image_splits[i] for i in self.sentence_image]
        scores = np.where(self._mask(splits, sentence_splits), scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[: min(k, int(np.isfinite(scores).sum()))]
        hits = []
        for rank, m in enumerate(order, start=1):
            hit = Hit(rank, float(scores[m]), int(self.sentence_image[m]), int(m))
            if beta is not None:
                hit.alignment = self.explain(
                    regions, self.sentence_words(m), self.sentence_tokens[m], beta
                )
            hits.append(hit)
        return hits

    def explain(
        self,
        regions: np.ndarray,
        words: np.ndarray,
        tokens: Sequence[str] | None,
        beta: float,
    ) -> list[dict]:
        """MRF snippets of a sentence on an image's regions: [{text, region, box, score}]."""
        unary = np.asarray(words, np.float32) @ np.asarray(regions, np.float32).T
        assignment, _ = mrf.viterbi(unary, beta)
        out = []
        for seg in mrf.segments(assignment):
            out.append(
                {
                    "words": list(tokens[seg.start : seg.end]) if tokens is not None else [],
                    "start": seg.start,
                    "end": seg.end,
                    "region": seg.region,
                    "box": [round(float(v), 3) for v in self.region_boxes[seg.region]],
                    "score": float(unary[np.arange(seg.start, seg.end), seg.region].sum()),
                }
            )
        return out
