"""Story metrics of the demo (issue 13): event accuracy, 5-gram repeat rate, the evaluator's CIDEr.

Read from the CaptionEvaluator's `predictions.jsonl` (one JSON object a line: `id`, `candidate`,
`references`) and its `metrics.json` beside it. Pure Python: no TensorFlow, no stage imports, so
the demo, the benchmarks and the tests compute these numbers one way.

`python -m vistflow.synth.story_metrics PREDICTIONS.jsonl [--sis SIS.json ...]` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vistflow.errors import VistflowError
from vistflow.synth.world import EVENTS, OBJECTS

REPEAT_N = 5
METRICS_FILE = "metrics.json"  # what the evaluator writes beside predictions.jsonl

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?]+")
_KEYWORD_EVENT = {e.keyword: e.name for e in EVENTS.values()}
# Object nouns that contain an event's keyword ("christmas tree", "graduation cap") name the
# object, not the event: they are removed before the keywords are counted.
_OBJECT_PHRASES = sorted(
    (
        tuple(_WORD.findall(n))
        for kind in OBJECTS.values()
        for n in kind.words()
        if len(n.split()) > 1 and set(n.split()) & set(_KEYWORD_EVENT)
    ),
    key=len,
    reverse=True,
)


def words(text: str) -> list[str]:
    """Word tokens, lower-cased, punctuation stripped ("[female] 's" -> "female", "s")."""
    return _WORD.findall(text.lower())


def _without_object_phrases(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        hit = next((p for p in _OBJECT_PHRASES if tuple(tokens[i : i + len(p)]) == p), None)
        if hit is None:
            out.append(tokens[i])
            i += 1
        else:
            i += len(hit)
    return out


def event_counts(text: str) -> Counter:
    """How often each synth event's keyword occurs in `text` (event name -> count).

    Every event phrase the generator writes contains its event's keyword and no other event's
    ("birthday party", "beach vacation"), so a keyword count is a count of the event's mentions.
    """
    return Counter(
        _KEYWORD_EVENT[t] for t in _without_object_phrases(words(text)) if t in _KEYWORD_EVENT
    )


def named_event(text: str) -> str | None:
    """The event `text` names most often; None when it names none or two events tie."""
    top = event_counts(text).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def repeats_ngram(text: str, n: int = REPEAT_N) -> bool:
    """True if some n-gram of word tokens occurs more than once in the story.

    Sentences are split at . ! ? when the text has them (the references do); the evaluator joins
    a candidate's sentences with spaces and decoded sentences carry no final punctuation, so a
    candidate is one token sequence and an n-gram may span two of its sentences.
    """
    grams: list[tuple[str, ...]] = []
    for sentence in _SENTENCE_END.split(text):
        tokens = words(sentence)
        grams += [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) < len(grams)


def read_predictions(path: str | Path) -> list[dict]:
    """The rows of an evaluator's predictions.jsonl, each with `id`, `candidate`, `references`."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise VistflowError(f"{path}: cannot read predictions ({e.strerror or e})") from e
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise VistflowError(f"{path}: line {number}: not JSON ({e})") from e
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("id"), str)
            or not isinstance(row.get("candidate"), str)
            or not isinstance(row.get("references"), list)
        ):
            raise VistflowError(
                f"{path}: line {number}: expected an object with string `id`, string `candidate`"
                " and list `references`"
            )
        rows.append(row)
    if not rows:
        raise VistflowError(f"{path}: no predictions")
    return rows


def album_events(sis_paths: Iterable[str | Path]) -> tuple[dict[str, str], dict[str, str]]:
    """(album id -> true event, story id -> album id) from SIS annotation files.

    The synth writer records each album's event as its `vist_label` (the event's keyword); labels
    that are no synth event (real VIST's) are left out, so those albums fall back to references.
    """
    albums: dict[str, str] = {}
    stories: dict[str, str] = {}
    for path in map(Path, sis_paths):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise VistflowError(f"{path}: cannot read SIS annotations ({e})") from e
        if not isinstance(doc, dict):
            raise VistflowError(f"{path}: not a SIS annotation file (top level is not an object)")
        for album in doc.get("albums") or []:
            if isinstance(album, dict) and album.get("vist_label") in _KEYWORD_EVENT:
                albums[str(album.get("id"))] = _KEYWORD_EVENT[album["vist_label"]]
        for group in doc.get("annotations") or []:
            for row in group if isinstance(group, list) else []:
                if isinstance(row, dict) and "story_id" in row and "album_id" in row:
                    stories.setdefault(str(row["story_id"]), str(row["album_id"]))
    return albums, stories


def _true_event(
    row: Mapping, albums: Mapping[str, str], stories: Mapping[str, str]
) -> tuple[str | None, str]:
    """The item's event and where it came from: "annotations", "references" or "unknown".

    Item ids are `album/photo-...` (coco profile) or a story id (VIST profiles).
    """
    item = row["id"]
    album = item.split("/", 1)[0] if "/" in item else stories.get(item)
    if album in albums:
        return albums[album], "annotations"
    event = named_event(" ".join(str(r) for r in row["references"]))
    return event, "references" if event else "unknown"


def read_cider(metrics_path: str | Path) -> float | None:
    """The candidate's CIDEr as the evaluator reported it (None if the file has none)."""
    path = Path(metrics_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VistflowError(f"{path}: cannot read evaluator metrics ({e})") from e
    value = ((doc.get("candidate") or {}).get("metrics") or {}).get("CIDEr")
    return float(value) if isinstance(value, (int, float)) else None


def story_metrics(
    predictions_path: str | Path,
    *,
    sis_paths: Sequence[str | Path] = (),
    metrics_path: str | Path | None = None,
) -> dict:
    """Event accuracy, repeat rate and CIDEr of the candidate stories in `predictions_path`.

    event_accuracy: the share of items whose candidate names (most often) the item's true event:
    the album's `vist_label` from `sis_paths` when given, else the event the references name
    most. A candidate that names no event or ties between two counts as wrong, and so does an
    item whose true event cannot be told (no label, references naming none or tied).
    repeat_rate: the share of candidates in which some 5-gram occurs more than once
    (`repeats_ngram`); references_repeat_rate: the same over every reference story, for scale.
    CIDEr: what the evaluator wrote in `metrics.json` (beside the predictions unless given).
    """
    rows = read_predictions(predictions_path)
    albums, stories = album_events(sis_paths)
    correct = repeats = 0
    sources: Counter = Counter()
    confusion: Counter = Counter()
    for row in rows:
        truth, source = _true_event(row, albums, stories)
        sources[source] += 1
        named = named_event(row["candidate"])
        correct += truth is not None and named == truth
        confusion[f"{truth}->{named}"] += 1
        repeats += repeats_ngram(row["candidate"])
    references = [str(r) for row in rows for r in row["references"]]
    metrics_path = metrics_path or Path(predictions_path).parent / METRICS_FILE
    return {
        "items": len(rows),
        "event_accuracy": correct / len(rows),
        "repeat_rate": repeats / len(rows),
        "references_repeat_rate": (
            sum(map(repeats_ngram, references)) / len(references) if references else None
        ),
        "CIDEr": read_cider(metrics_path) if Path(metrics_path).exists() else None,
        "truth_from": dict(sources),
        "confusion": dict(confusion.most_common()),  # "true->named" pairs, commonest first
    }


# Issue 13's goals for the demo's val stories.
GOAL_EVENT_ACCURACY = 0.9
GOAL_CEILING_SHARE = 0.95  # ... or this share of the measured ceiling, if that is lower
GOAL_REPEAT_RATE = 0.10
GOAL_CIDER = 1.0


def goals(metrics: Mapping, ceiling: float | None = None) -> dict:
    """Each goal of issue 13 with its bound, the value and whether it is met (None: no value)."""

    def check(value, bound, higher_is_better=True) -> dict:
        met = None if value is None else (value >= bound if higher_is_better else value <= bound)
        return {"value": value, "bound": bound, "met": met}

    event_bound = GOAL_EVENT_ACCURACY
    if ceiling is not None:
        event_bound = min(event_bound, GOAL_CEILING_SHARE * ceiling)
    return {
        "event_accuracy": check(metrics.get("event_accuracy"), event_bound),
        "repeat_rate": check(metrics.get("repeat_rate"), GOAL_REPEAT_RATE, False),
        "CIDEr": check(metrics.get("CIDEr"), GOAL_CIDER),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", help="the evaluator's predictions.jsonl")
    parser.add_argument(
        "--sis",
        action="append",
        default=[],
        help="SIS annotation file whose albums' vist_label is the true event (repeatable)",
    )
    parser.add_argument("--metrics", help="the evaluator's metrics.json (default: beside it)")
    parser.add_argument("--ceiling", type=float, help="the measured event ceiling, for the goals")
    args = parser.parse_args(argv)
    try:
        result = story_metrics(args.predictions, sis_paths=args.sis, metrics_path=args.metrics)
    except VistflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["goals"] = goals(result, args.ceiling)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
