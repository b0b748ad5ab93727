"""Score captions: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D under a named protocol, with its signature.

  vistflow evaluate --predictions P.json --references R.json --profile coco [--meteor java|nltk|none]

P.json is in COCO results format, [{"image_id": ..., "caption": "..."}], one entry per id; R.json in
COCO captions format, {"annotations": [{"image_id": ..., "caption": "..."}, ...]}, any number of
captions per id. Every predicted id needs references; references without a prediction are ignored.
For the VIST profiles an "image_id" names the scored item (a story, photo sequence or album) and each
caption is a whole story. Prints JSON with coco-caption's metric names and the signature, e.g.
{"Bleu_1": 0.71, ..., "CIDEr": 0.94, "signature": "profile:coco|tok:ptb|refs:5|...|meteor:1.5-en-norm|agg:corpus"}.
Profiles: coco (pycocoevalcap), vist-challenge (official VIST challenge METEOR), vist-album (AREL).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from vistflow.errors import InputFormatError, VistflowError

log = logging.getLogger(__name__)

PROFILE_NAMES = (
    "coco",
    "vist-challenge",
    "vist-album",
)  # components.caption_evaluator.scoring.PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", required=True, type=Path, help="COCO results JSON")
    parser.add_argument("--references", required=True, type=Path, help="COCO captions JSON")
    parser.add_argument(
        "--profile", default="coco", choices=PROFILE_NAMES, help="protocol (default coco)"
    )
    parser.add_argument(
        "--meteor",
        default="java",
        choices=("java", "nltk", "none"),
        help="METEOR 1.5 jar (default), nltk with offline WordNet 3.0, or no METEOR",
    )
    parser.add_argument(
        "--per-item", type=Path, help="also write per-item scores to this JSON file"
    )


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFormatError(path, "", "no such file") from None
    except IsADirectoryError:
        raise InputFormatError(path, "", "is a directory, expected a JSON file") from None
    except OSError as e:
        raise InputFormatError(path, "", f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise InputFormatError(path, "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise InputFormatError(path, "", "empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFormatError(
            path, "", f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None


def _check_id(path: Path, where: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputFormatError(
            path, where, f"image_id must be an integer or a string, got {json.dumps(value)}"
        )


def _caption(path: Path, where: str, value) -> str:
    if not isinstance(value, str):
        raise InputFormatError(
            path, where, f"caption must be a string, got {json.dumps(value)[:60]}"
        )
    return value


def load_predictions(path: Path) -> dict:
    """COCO results JSON -> {image_id: caption}; InputFormatError names the bad entry."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise InputFormatError(
            path, "", 'expected a list of {"image_id", "caption"} objects (COCO results)'
        )
    if not data:
        raise InputFormatError(path, "", "no predictions")
    out: dict = {}
    first_at: dict = {}
    for i, entry in enumerate(data):
        where = f"$[{i}]"
        if not isinstance(entry, dict):
            raise InputFormatError(path, where, "expected an object with image_id and caption")
        for key in ("image_id", "caption"):
            if key not in entry:
                raise InputFormatError(path, where, f"missing {key!r}")
        image_id = entry["image_id"]
        _check_id(path, f"{where}.image_id", image_id)
        if image_id in out:
            raise InputFormatError(
                path,
                f"{where}.image_id",
                f"duplicate prediction for {image_id!r} (first at {first_at[image_id]})",
            )
        out[image_id] = _caption(path, f"{where}.caption", entry["caption"])
        first_at[image_id] = where
    return out


def load_references(path: Path) -> dict:
    """COCO captions JSON -> {image_id: [captions]}; InputFormatError names the bad entry."""
    data = _load_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise InputFormatError(
            path, "", 'expected an object with "annotations" (COCO captions format)'
        )
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise InputFormatError(path, "$.annotations", "expected a list")
    if not anns:
        raise InputFormatError(path, "$.annotations", "no reference captions")
    out: dict = {}
    for i, entry in enumerate(anns):
        where = f"$.annotations[{i}]"
        if not isinstance(entry, dict):
            raise InputFormatError(path, where, "expected an object with image_id and caption")
        for key in ("image_id", "caption"):
            if key not in entry:
                raise InputFormatError(path, where, f"missing {key!r}")
        _check_id(path, f"{where}.image_id", entry["image_id"])
        out.setdefault(entry["image_id"], []).append(
            _caption(path, f"{where}.caption", entry["caption"])
        )
    return out


def _check_ids(pred_path: Path, ref_path: Path, predictions: dict, references: dict) -> None:
    for i, image_id in enumerate(predictions):
        if image_id not in references:
            hint = ""
            if str(image_id) in {str(k) for k in references}:
                hint = " (the references spell it with another JSON type: string vs number)"
            raise InputFormatError(
                pred_path,
                f"$[{i}].image_id",
                f"{image_id!r} has no reference captions in {ref_path}{hint}",
            )
    unused = len(set(references) - set(predictions))
    if unused:
        log.info("%d reference ids have no prediction and are not scored", unused)


def _check_output_path(path: Path) -> None:
    """Fail before scoring (which can take a minute) if the per-item file cannot be written."""
    if path.is_dir():
        raise InputFormatError(path, "", "is a directory, expected a file path for --per-item")
    if not path.parent.is_dir():
        raise InputFormatError(path, "", f"directory {path.parent} does not exist")


def _warn_empty(predictions: dict) -> None:
    empty = [k for k, caption in predictions.items() if not caption.strip()]
    if empty:
        log.warning(
            "%d of %d predictions are empty captions (scored as such, e.g. %r)",
            len(empty),
            len(predictions),
            empty[0],
        )


def main(args: argparse.Namespace) -> int:
    if args.per_item:
        _check_output_path(args.per_item)
    predictions = load_predictions(args.predictions)
    references = load_references(args.references)
    _check_ids(args.predictions, args.references, predictions, references)
    _warn_empty(predictions)

    from components.caption_evaluator.scoring import MeteorError, score

    try:
        result = score(predictions, references, profile=args.profile, meteor=args.meteor)
    except MeteorError as e:
        raise VistflowError(str(e)) from None
    print(json.dumps(result.to_json(), indent=2))
    if args.per_item:
        rows = [{"image_id": k, **v} for k, v in result.per_item.items()]
        args.per_item.write_text(
            json.dumps({"signature": result.signature, "items": rows}, indent=1)
        )
        log.info("wrote per-item scores to %s", args.per_item)
    return 0
