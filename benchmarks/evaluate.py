"""Caption metrics: ours vs pycocoevalcap on the same 25k reference sentences (5k items x 5 refs).

Both run side by side in one process on the same raw captions: PTB tokenisation (ours in Python,
theirs the Stanford jar), BLEU-1..4, METEOR 1.5 (both drive the same jar; JVM start-up included),
ROUGE-L and CIDEr-D. Reports the maximum absolute difference of every corpus and per-item score,
captions tokenised differently, seconds per stage and the time ratio ours/theirs (goal <= 1.0).
Our n-gram counting is shared by BLEU and CIDEr: it is charged to both per-metric times and once
to the total. Also times one end-to-end `score()` call, whose METEOR JVM loads while the Python
metrics run. The machine's 1-minute load average is printed: on a shared 2-core machine the JVM
start-up (~10 CPU-seconds each) dominates and its wall time varies with load. Prints one JSON line. `python -m benchmarks.evaluate [--items N] [--no-meteor]`
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import random
import resource
import sys
import time

import numpy as np

SUBJECTS = (
    "man woman boy girl child person dog cat horse cow sheep bird elephant giraffe zebra bear player "
    "skier surfer skateboarder chef couple family group crowd train bus truck car motorcycle bicycle plane "
    "boat kite pizza sandwich cake plate bowl table bench clock sign"
).split()
ADJECTIVES = (
    "red blue green yellow white black brown large small young old tall little wooden metal empty busy "
    "snowy sunny grassy dirty clean open crowded colorful"
).split()
VERBS = (
    "riding|holding|sitting on|standing next to|walking down|eating|looking at|flying|playing with|"
    "laying on|parked on|driving down|carrying|wearing|jumping over|standing in|covered in|"
    "hanging from|cutting|throwing"
).split("|")
PLACES = (
    "street|field|beach|kitchen|table|road|park|snow|water|grass|sidewalk|room|building|city|"
    "counter|tree|fence|track|ocean|wave|hill|court|station|plate|desk"
).split("|")
PREPOSITIONS = ["on", "in", "near", "next to", "in front of", "on top of", "at", "under", "by"]
NUMBERS = ["two", "three", "a couple of", "several", "many", "2", "3", "four"]
EXTRAS = [
    ", while another watches",
    " with a frisbee",
    " in the middle of the day",
    " that is very tall",
    " and smiling",
    " for the camera",
    ", with trees behind it",
    " near a t-shirt stand",
    " at 5:30 p.m.",
    " (in the rain)",
    " on a man's shoulder",
    " that isn't moving",
    " -- or so it seems",
]


def _noun_phrase(rng: random.Random) -> str:
    noun = rng.choice(SUBJECTS)
    if rng.random() < 0.15:
        return f"{rng.choice(NUMBERS)} {noun}s"
    adj = f"{rng.choice(ADJECTIVES)} " if rng.random() < 0.5 else ""
    art = "an" if (adj or noun)[0] in "aeiou" else "a"
    return f"{art} {adj}{noun}"


def caption(rng: random.Random) -> str:
    """A raw, COCO-style caption (capitalised, often with a period, sometimes with punctuation)."""
    parts = [_noun_phrase(rng), rng.choice(VERBS), _noun_phrase(rng)]
    if rng.random() < 0.6:
        parts += [rng.choice(PREPOSITIONS), "the", rng.choice(PLACES)]
    text = " ".join(parts)
    if rng.random() < 0.25:
        text += rng.choice(EXTRAS)
    text = text[0].upper() + text[1:]
    return text + rng.choice([".", ".", ".", "", " .", "!"])


def model_caption(rng: random.Random, refs: list[str]) -> str:
    """A candidate like a decent captioner's: a reference with a few words changed or dropped."""
    words = rng.choice(refs).rstrip(".! ").lower().split()
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            words[i] = rng.choice(ADJECTIVES + SUBJECTS)
        elif len(words) > 3:
            del words[i]
    return " ".join(words)


def build_corpus(
    items: int, refs_per_item: int, seed: int
) -> tuple[dict[int, str], dict[int, list[str]]]:
    rng = random.Random(seed)
    refs = {i: [caption(rng) for _ in range(refs_per_item)] for i in range(items)}
    preds = {i: model_caption(rng, refs[i]) for i in refs}
    return preds, refs


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _timed_jvm(fn):
    """(result, wall seconds, CPU seconds of the child processes it started and reaped)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, wall = _timed(fn)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu


def run(items: int = 5000, refs_per_item: int = 5, seed: int = 0, meteor: bool = True) -> dict:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer as JavaPTB

    from components.caption_evaluator.scoring import bleu as bleu_mod
    from components.caption_evaluator.scoring import cider as cider_mod
    from components.caption_evaluator.scoring import ngrams
    from components.caption_evaluator.scoring import rouge as rouge_mod
    from components.caption_evaluator.scoring.meteor import COCO_OPTIONS, MeteorJava
    from components.caption_evaluator.scoring.tokenizer import PTBTokenizer

    preds, refs = build_corpus(items, refs_per_item, seed)
    ids = list(preds)
    theirs: dict[str, float] = {}
    ours: dict[str, float] = {}

    # --- tokenisation: theirs runs Java twice (references, candidates), as COCOEvalCap does.
    def java_tok():
        tok = JavaPTB()
        gts = tok.tokenize({i: [{"caption": c} for c in refs[i]] for i in ids})
        res = tok.tokenize({i: [{"caption": preds[i]}] for i in ids})
        return gts, res

    (gts, res), theirs["tokenize"] = _timed(java_tok)

    def py_tok():
        tok = PTBTokenizer()  # includes compiling the lexer rules
        return [tok(preds[i]) for i in ids], [[tok(r) for r in refs[i]] for i in ids]

    (hyp_tok, ref_tok), ours["tokenize"] = _timed(py_tok)
    tok_diff = sum(hyp_tok[k] != res[i][0] for k, i in enumerate(ids)) + sum(
        a != b for k, i in enumerate(ids) for a, b in zip(ref_tok[k], gts[i], strict=True)
    )

    # --- metrics on each side's own tokens (equal tokens -> equal inputs).
    with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap's Bleu prints its counts
        (t_bleu, t_bleu_items), theirs["bleu"] = _timed(lambda: Bleu(4).compute_score(gts, res))
    (t_rouge, t_rouge_items), theirs["rouge"] = _timed(lambda: Rouge().compute_score(gts, res))
    (t_cider, t_cider_items), theirs["cider"] = _timed(lambda: Cider().compute_score(gts, res))

    table, t_ngrams = _timed(
        lambda: ngrams.build(
            [h.split() for h in hyp_tok], [[r.split() for r in rs] for rs in ref_tok]
        )
    )
    (o_bleu, o_bleu_items), t = _timed(lambda: bleu_mod.bleu(table))
    ours["bleu"] = t + t_ngrams
    (o_rouge, o_rouge_items), ours["rouge"] = _timed(lambda: rouge_mod.rouge_l(hyp_tok, ref_tok))
    (o_cider, o_cider_items), t = _timed(lambda: cider_mod.cider_d(table))
    ours["cider"] = t + t_ngrams

    diffs = {
        **{f"Bleu_{k + 1}": abs(o_bleu[k] - t_bleu[k]) for k in range(4)},
        "ROUGE_L": abs(o_rouge - t_rouge),
        "CIDEr": abs(o_cider - t_cider),
    }
    item_diffs = {
        "Bleu": float(np.max(np.abs(o_bleu_items - np.array(t_bleu_items).T))),
        "ROUGE_L": float(np.max(np.abs(o_rouge_items - t_rouge_items))),
        "CIDEr": float(np.max(np.abs(o_cider_items - t_cider_items))),
    }
    values = {
        **{f"Bleu_{k + 1}": o_bleu[k] for k in range(4)},
        "ROUGE_L": o_rouge,
        "CIDEr": o_cider,
    }

    if meteor:
        # One after the other, so the two JVMs do not compete for the 2 cores.
        def theirs_meteor():
            m = Meteor()
            try:
                return m.compute_score(gts, res)
            finally:
                del m

        def ours_meteor():
            with MeteorJava(COCO_OPTIONS) as m:
                return m.score(hyp_tok, ref_tok)

        (t_met, t_met_items), theirs["meteor"], jvm_cpu_theirs = _timed_jvm(theirs_meteor)
        (o_met, o_met_items), ours["meteor"], jvm_cpu_ours = _timed_jvm(ours_meteor)
        diffs["METEOR"] = abs(o_met - t_met)
        item_diffs["METEOR"] = float(np.max(np.abs(np.array(o_met_items) - np.array(t_met_items))))
        values["METEOR"] = o_met
        jvm_cpu = {
            "ours": round(jvm_cpu_ours, 2),
            "pycocoevalcap": round(jvm_cpu_theirs, 2),
            "ratio": round(jvm_cpu_ours / jvm_cpu_theirs, 3),
        }
    else:
        jvm_cpu = None

    theirs["total"] = sum(theirs.values())
    ours["total"] = sum(ours.values()) - t_ngrams  # counted in both BLEU and CIDEr above

    # The library call as the pipeline makes it: one score() (its JVM starts first and loads while
    # the Python metrics run), from a cold tokenizer.
    from components.caption_evaluator.scoring import score
    from components.caption_evaluator.scoring.ptb_lexer import _lexer

    _lexer.cache_clear()
    api, t_api = _timed(
        lambda: score(preds, refs, profile="coco", meteor="java" if meteor else "none")
    )
    api_diff = max(abs(api.metrics[k] - values[k]) for k in values)
    return {
        "items": items,
        "refs_per_item": refs_per_item,
        "reference_sentences": items * refs_per_item,
        "seed": seed,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "captions_tokenised_differently": int(tok_diff),
        "max_abs_diff_corpus": diffs,
        "max_abs_diff_per_item": item_diffs,
        "scores": values,
        "seconds_ours": {k: round(v, 3) for k, v in ours.items()},
        "seconds_pycocoevalcap": {k: round(v, 3) for k, v in theirs.items()},
        "ratio_ours_over_theirs": {k: round(ours[k] / theirs[k], 3) for k in ours},
        # METEOR's wall time follows the machine's load; the JVMs' CPU time is the fair comparison.
        "meteor_jvm_cpu_seconds": jvm_cpu,
        "score_api_seconds_end_to_end": round(t_api, 3),
        "score_api_ratio_over_pycocoevalcap_total": round(t_api / theirs["total"], 3),
        "score_api_max_abs_diff_vs_stagewise": api_diff,
        "score_api_signature": api.signature,
        "ngram_count_seconds_shared_by_bleu_and_cider": round(t_ngrams, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (two JVM start-ups)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(args.items, args.refs, args.seed, meteor=not args.no_meteor)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
