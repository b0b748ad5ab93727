"""`score` (captions) and `score_stories` (VIST stories): every result carries its signature."""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from components.caption_evaluator.scoring import bleu as bleu_mod
from components.caption_evaluator.scoring import cider as cider_mod
from components.caption_evaluator.scoring import ngrams
from components.caption_evaluator.scoring import rouge as rouge_mod
from components.caption_evaluator.scoring.meteor import MeteorJava, meteor_nltk
from components.caption_evaluator.scoring.profiles import (
    METEOR_BACKENDS,
    METRIC_KEYS,
    Profile,
    get_profile,
)
from components.caption_evaluator.scoring.tokenizer import PTBTokenizer, WhitespaceTokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    """Corpus metrics (coco-caption's key names), per-item scores and how they were computed."""

    metrics: dict[str, float]
    per_item: dict[Hashable, dict[str, float]]
    signature: str
    profile: str
    n_items: int
    # Seconds per stage; "meteor" is what remains once the JVM's start-up has overlapped the rest.
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        """The corpus metrics plus `signature` (the CLI's output)."""
        return {**self.metrics, "signature": self.signature}


def score(
    predictions: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    *,
    profile: str = "coco",
    meteor: str = "java",
    meteor_scorer: MeteorJava | None = None,
) -> ScoreResult:
    """Score one prediction per id against that id's references.

    Args:
      predictions: id -> predicted caption (or story text). Items are these ids, in this order.
      references: id -> reference captions; ids without a prediction are ignored.
      profile: "coco", "vist-challenge" or "vist-album" (see `profiles`).
      meteor: "java" (METEOR 1.5 jar), "nltk" (nltk + offline WordNet 3.0) or "none".
      meteor_scorer: a running `MeteorJava` with the profile's options, to reuse one JVM across calls.

    Raises ValueError for ids without references or items without any reference caption.
    """
    prof = get_profile(profile)
    ids = list(predictions)
    refs: list[Sequence[str]] = []
    for item_id in ids:
        item_refs = references.get(item_id)
        if item_refs is None:
            raise ValueError(f"prediction {item_id!r} has no references")
        if isinstance(item_refs, str) or len(item_refs) == 0:
            raise ValueError(f"references of {item_id!r} must be a non-empty list of captions")
        refs.append(item_refs)
    return _score_items(ids, [predictions[i] for i in ids], refs, prof, meteor, meteor_scorer)


def score_stories(
    predictions: Mapping[str, str | Sequence[str]],
    references: Mapping[str, Mapping[str, Sequence[str]]] | Iterable,
    *,
    profile: str = "vist-album",
    meteor: str = "java",
    photo_sequences: Mapping[str, Sequence[str]] | None = None,
    meteor_scorer: MeteorJava | None = None,
) -> ScoreResult:
    """Score predicted VIST stories under "vist-album" or "vist-challenge".

    Args:
      predictions: story id -> the predicted story (its sentences, or one string).
      references: album id -> story id -> the five reference sentences; or `vistflow.records.SisStory`
        records (which also carry each story's photo sequence).
      photo_sequences: story id -> photo ids, for "vist-challenge" with the mapping form of references.

    "vist-album": each predicted story is scored against every story of its album. "vist-challenge":
    references are the stories with the same photo sequence; predictions are deduplicated per photo
    sequence (the challenge takes exactly one story per sequence; the first one is kept).
    """
    prof = get_profile(profile)
    if prof.references == "item":
        raise ValueError(f"profile {profile!r} scores captions: use score()")
    albums, seqs = _story_index(references, photo_sequences)
    story_album = {sid: aid for aid, stories in albums.items() for sid in stories}
    texts = {
        sid: _story_text(sents) for stories in albums.values() for sid, sents in stories.items()
    }

    ids: list[str] = []
    hyps: list[str] = []
    refs: list[list[str]] = []
    if prof.references == "album":
        for sid, pred in predictions.items():
            if sid not in story_album:
                raise ValueError(f"predicted story {sid!r} is in none of the reference albums")
            ids.append(sid)
            hyps.append(_story_text(pred))
            refs.append([texts[s] for s in albums[story_album[sid]]])
    else:  # photo-sequence
        if seqs is None:
            raise ValueError(
                "vist-challenge groups references by photo sequence: pass SisStory records or photo_sequences"
            )
        by_seq: dict[tuple[str, ...], list[str]] = {}
        for sid, photos in seqs.items():
            by_seq.setdefault(tuple(photos), []).append(sid)
        seen: dict[tuple[str, ...], str] = {}
        dropped = 0
        for sid, pred in predictions.items():
            if sid not in seqs:
                raise ValueError(f"predicted story {sid!r} has no known photo sequence")
            key = tuple(seqs[sid])
            if key in seen:
                dropped += 1
                continue
            seen[key] = sid
            ids.append(sid)
            hyps.append(_story_text(pred))
            refs.append([texts[s] for s in by_seq[key] if s in texts])
        if dropped:
            log.warning(
                "vist-challenge: %d predictions repeat a photo sequence; kept the first of each",
                dropped,
            )
    return _score_items(ids, hyps, refs, prof, meteor, meteor_scorer)


def _story_text(story: str | Sequence[str]) -> str:
    # The challenge's submission format: the sentences joined by single spaces.
    return story if isinstance(story, str) else " ".join(story)


def _story_index(references, photo_sequences):
    if isinstance(references, Mapping):
        albums = {aid: dict(stories) for aid, stories in references.items()}
        seqs = dict(photo_sequences) if photo_sequences is not None else None
        return albums, seqs
    albums: dict[str, dict[str, Sequence[str]]] = {}
    seqs = {}
    for story in references:  # vistflow.records.SisStory
        albums.setdefault(story.album_id, {})[story.story_id] = story.sentences
        seqs[story.story_id] = story.photo_ids
    return albums, seqs


def _tokenizer(prof: Profile):
    return PTBTokenizer() if prof.tokenization == "ptb" else WhitespaceTokenizer()


def _score_items(
    ids: list,
    hyps: list[str],
    refs: list[Sequence[str]],
    prof: Profile,
    meteor: str,
    meteor_scorer: MeteorJava | None,
) -> ScoreResult:
    if meteor not in METEOR_BACKENDS:
        raise ValueError(f"unknown METEOR backend {meteor!r} (known: {', '.join(METEOR_BACKENDS)})")
    if (
        meteor == "java"
        and meteor_scorer is not None
        and meteor_scorer.options != prof.meteor_options
    ):
        raise ValueError(
            f"meteor_scorer runs {' '.join(meteor_scorer.options)}; profile {prof.name} needs "
            f"{' '.join(prof.meteor_options)}"
        )
    # Start the JVM first: it loads its paraphrase table while we tokenise and compute the rest.
    own_jvm = None
    if meteor == "java" and meteor_scorer is None and ids:
        own_jvm = MeteorJava(prof.meteor_options)
    try:
        return _score_started(ids, hyps, refs, prof, meteor, meteor_scorer or own_jvm)
    finally:
        if own_jvm is not None:
            own_jvm.close()


def _score_started(ids, hyps, refs, prof, meteor, meteor_scorer) -> ScoreResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tok = _tokenizer(prof)
    hyp_tok = [tok(h) for h in hyps]
    ref_tok = [[tok(r) for r in rs] for rs in refs]
    timings["tokenize"] = time.perf_counter() - t0

    metrics: dict[str, float] = {}
    per_item_cols: dict[str, np.ndarray | list[float]] = {}
    if ids:
        t0 = time.perf_counter()
        # coco-caption splits on any whitespace for BLEU/CIDEr and on " " for ROUGE-L/METEOR.
        table = ngrams.build(
            [h.split() for h in hyp_tok], [[r.split() for r in rs] for rs in ref_tok]
        )
        timings["ngrams"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        bleu, bleu_items = bleu_mod.bleu(table)
        timings["bleu"] = time.perf_counter() - t0
        for k in range(4):
            metrics[f"Bleu_{k + 1}"] = bleu[k]
            per_item_cols[f"Bleu_{k + 1}"] = bleu_items[:, k]
        t0 = time.perf_counter()
        metrics["ROUGE_L"], per_item_cols["ROUGE_L"] = rouge_mod.rouge_l(hyp_tok, ref_tok)
        timings["rouge"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics["CIDEr"], per_item_cols["CIDEr"] = cider_mod.cider_d(table)
        timings["cider"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    meteor_tag = _meteor(meteor, prof, hyp_tok, ref_tok, metrics, per_item_cols, meteor_scorer)
    timings["meteor"] = time.perf_counter() - t0

    metrics = {k: float(metrics[k]) for k in METRIC_KEYS if k in metrics}
    per_item = {
        item_id: {k: float(per_item_cols[k][i]) for k in METRIC_KEYS if k in per_item_cols}
        for i, item_id in enumerate(ids)
    }
    signature = prof.signature(n_refs=[len(r) for r in refs], meteor=meteor_tag)
    log.info("scored %d items: %s", len(ids), signature)
    return ScoreResult(metrics, per_item, signature, prof.name, len(ids), timings)


def _meteor(meteor, prof, hyp_tok, ref_tok, metrics, per_item_cols, meteor_scorer) -> str:
    if meteor == "none":
        return "none"
    if meteor == "nltk":
        import nltk

        from vistflow.wordnet import load_wordnet, wordnet_signature

        wordnet = load_wordnet()
        if hyp_tok:
            metrics["METEOR"], per_item_cols["METEOR"] = meteor_nltk(
                [h.split() for h in hyp_tok], [[r.split() for r in rs] for rs in ref_tok], wordnet
            )
        return f"nltk-{nltk.__version__}-{wordnet_signature(wordnet)}"
    if hyp_tok:
        if prof.meteor_best_single_reference:
            value, items = meteor_scorer.best_single_reference(hyp_tok, ref_tok)
        else:
            value, items = meteor_scorer.score(hyp_tok, ref_tok)
        metrics["METEOR"], per_item_cols["METEOR"] = value, items
    return prof.meteor_tag
