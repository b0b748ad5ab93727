"""Export a trained model again with other decoding settings (they are fixed in the graph).

Reads a vistflow SavedModel (its weights and `assets.extra/vistflow_model.json`), rebuilds the
model and writes a new SavedModel whose signatures decode with the given settings; unspecified
settings keep their exported values.

  vistflow export-model --from models/sat/1 --out models/sat/2 --method beam --beam-size 7
  vistflow export-model --from models/sat/1 --out models/sat/3 --story-block-ngram 0

An export written before a setting existed gets that setting's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from trainer.hparams import DECODING_METHODS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, help="a vistflow SavedModel dir")
    parser.add_argument("--out", required=True, help="new SavedModel dir (must not exist)")
    parser.add_argument("--method", choices=DECODING_METHODS)
    parser.add_argument("--beam-size", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--repetition-penalty", type=float)
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--seed", type=int, help="sampling seed (-1: non-deterministic)")
    parser.add_argument(
        "--story-block-ngram",
        type=int,
        help="n: no n-gram twice in a story (earlier sentences and this one); 0 = off",
    )
    parser.add_argument(
        "--story-repetition-penalty",
        type=float,
        help="subtract this times the count of a word in the story's earlier sentences; 0 = off",
    )
    parser.add_argument(
        "--length-normalization",
        type=float,
        help="beam: rank by score / ((5 + len) / 6) ** ALPHA (GNMT); 0 = off",
    )
    parser.add_argument(
        "--allow-unk", action="store_true", help="let the decoder emit the unknown-word token"
    )


def main(args: argparse.Namespace) -> int:
    from trainer.export import read_metadata, reexport
    from trainer.hparams import DecodingConfig

    current = DecodingConfig(**read_metadata(args.source)["decoding"])
    changes = {
        field: getattr(args, field)
        for field in ("method", "beam_size", "max_length", "repetition_penalty", "temperature")
        + ("top_k", "seed", "story_block_ngram", "story_repetition_penalty")
        + ("length_normalization",)
        if getattr(args, field) is not None
    }
    if args.allow_unk:
        changes["suppress_unk"] = False
    decoding = dataclasses.replace(current, **changes).validate()
    reexport(args.source, args.out, decoding)
    print(json.dumps({"export_dir": args.out, "decoding": dataclasses.asdict(decoding)}))
    return 0
