"""Story-level repetition control: how often decoded stories repeat themselves, and what it costs.

Run: `python -m benchmarks.story_repetition [--stories 300] [--epochs 20]`. Trains show_tell,
global_context and seq2seq_story on synthetic stories (the quality benchmark's data and
settings), then decodes the val stories through the story signatures' code path
(`Captioner.story_features`) with `story_block_ngram` 0 (off) / 3 / 4, greedy and beam 3, plus
the GLACNet-style count penalty alone. Prints one JSON line: per model and setting the share of
stories that repeat a 5-gram or a whole sentence, CIDEr (coco profile, no METEOR) and decode
time, and the same repeat rates of the reference stories themselves (the synthetic stories do
repeat phrases: a control that removes every repeat cannot match them perfectly).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from benchmarks import quality as q

MODELS = ("show_tell", "global_context", "seq2seq_story")


def repeats_ngram(story: list[str], n: int = 5) -> bool:
    """True if any n-gram occurs twice in the story (across or within its sentences)."""
    grams = []
    for sentence in story:
        words = sentence.split()
        grams += [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) < len(grams)


def _settings():
    from trainer.hparams import DecodingConfig

    out = {}
    for method, k in (("greedy", 1), ("beam3", 3)):
        for n in (0, 3, 4):
            out[f"{method} block{n}"] = DecodingConfig(
                method="greedy" if k == 1 else "beam", beam_size=k, max_length=20,
                story_block_ngram=n,
            )  # fmt: skip
    out["beam3 penalty0.5 only"] = DecodingConfig(
        method="beam", beam_size=3, max_length=20, story_block_ngram=0, story_repetition_penalty=0.5
    )
    return out


def _decode(export: str, decoding, split: dict) -> list[list[str]]:
    from trainer.export import load_captioner

    captioner = load_captioner(export, decoding=decoding)
    sentences = []
    for i in range(0, len(split["ids"]), 32):
        given = {
            "global_features": split["global"][i : i + 32],
            "local_features": split["local"][i : i + 32],
        }
        out = captioner.story_features(**{k: given[k] for k in captioner.feature_keys()})
        sentences += [[s.decode() for s in story] for story in out["sentences"].numpy().tolist()]
    return sentences


def run(stories: int, epochs: int, work: str) -> dict:
    from trainer.hparams import HParams
    from trainer.train import train

    features = os.path.join(work, "features")
    q.prepare_data(work, stories, 0, False)
    split = q.load_split(features, "val")
    references = [[refs[0] for refs in story] for story in split["texts"]]
    result = {
        "benchmark": "story_repetition",
        "stories": stories,
        "epochs": epochs,
        "val_stories": len(split["ids"]),
        "references": {
            "repeat_5gram": round(float(np.mean([repeats_ngram(s) for s in references])), 3),
            "repeat_3gram": round(float(np.mean([repeats_ngram(s, 3) for s in references])), 3),
        },
        "models": {},
    }
    for name in MODELS:
        hp = HParams.from_config(q.hparams_config(name, epochs, 0))
        run_dir = os.path.join(work, "runs", name)
        export = train(
            q._pattern(features, "train"), q._pattern(features, "val"), run_dir, hp
        ).export_dir
        rows = {}
        for label, decoding in _settings().items():
            start = time.monotonic()
            decoded = _decode(export, decoding, split)
            scored = q._score_sentences(split["ids"], decoded, split["texts"], "none")
            rows[label] = {
                "repeat_5gram": round(float(np.mean([repeats_ngram(s) for s in decoded])), 3),
                "repeated_sentence": round(
                    float(np.mean([len(set(s)) < len(s) for s in decoded])), 3
                ),
                "CIDEr": round(scored["metrics"]["CIDEr"], 4),
                "decode_s": round(time.monotonic() - start, 1),
                "example": decoded[0],
            }
        result["models"][name] = rows
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--work", help="keep the data and models here (default: a temp dir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.work:
        result = run(args.stories, args.epochs, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-story-rep-") as work:
            result = run(args.stories, args.epochs, work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
