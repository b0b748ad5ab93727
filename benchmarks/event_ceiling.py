"""The honest ceiling of event accuracy (issue 13 item 4): how well can the five photos' true
contents name the album's event at all?

Run: `python -m benchmarks.event_ceiling [--stories 800] [--seed 2026] [--out JSON]`. Plans the
demo's dataset (same generator arguments, the stories the demo's ingest rejects left out), fits
classifiers of the album's event on the train stories' ground-truth scenes and scores them on the
val photo sequences (the evaluator's items):
  setting       the settings of the five photos
  objects       + the object kinds they show
  scene         + colours, counts and weather (everything a Scene holds)
  oracle        `scene` told the world's rules: an event is possible only if every photo's
                setting is one of its settings and some photo shows one of its key objects
Each as multinomial naive Bayes and as L2 softmax regression (numpy). `ceiling` is the best
val accuracy: chosen on val, so if anything a little optimistic, never a weak baseline.
Prints a table and, on the last line, JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from vistflow.synth import story_metrics as sm
from vistflow.synth.faults import plan_faults
from vistflow.synth.plan import DatasetPlan, Story, plan_dataset
from vistflow.synth.world import EVENTS, Scene

# The demo's generator arguments (vistflow/demo.py defaults).
DEMO_STORIES, DEMO_SEED, DEMO_FAULT_RATE = 800, 2026, 0.05
EVENT_NAMES = sorted(EVENTS)

Featurizer = Callable[[Sequence[Scene]], Counter]


def _setting(scenes: Sequence[Scene]) -> Counter:
    return Counter(f"setting={s.setting}" for s in scenes)


def _objects(scenes: Sequence[Scene]) -> Counter:
    return _setting(scenes) + Counter(f"kind={k}" for s in scenes for k in s.kinds())


def _scene(scenes: Sequence[Scene]) -> Counter:
    c = _objects(scenes) + Counter(f"weather={s.weather}" for s in scenes)
    for s in scenes:
        for p in s.placements:
            c[f"colour={p.kind}:{p.colour}"] += 1
            c[f"count={p.kind}:{p.count}"] += 1
    return c


FEATURES: dict[str, Featurizer] = {"setting": _setting, "objects": _objects, "scene": _scene}


def possible_events(scenes: Sequence[Scene]) -> np.ndarray:
    """The oracle's mask over EVENT_NAMES: the generator puts an album's photos only in its
    event's settings and every story shows at least one of the event's key objects."""
    settings = {s.setting for s in scenes}
    kinds = set().union(*(s.kinds() for s in scenes))
    return np.array(
        [
            settings <= set(EVENTS[e].settings) and bool(kinds & set(EVENTS[e].key_objects))
            for e in EVENT_NAMES
        ]
    )


def demo_plan(stories: int = DEMO_STORIES, seed: int = DEMO_SEED) -> DatasetPlan:
    """The demo's dataset plan (`vistflow synth --stories N --seed S`, 64 px images)."""
    return plan_dataset(stories=stories, seed=seed)


def kept_stories(plan: DatasetPlan, fault_rate: float = DEMO_FAULT_RATE) -> list[Story]:
    """The plan's stories less those the ingest stage rejects for their injected faults."""
    faults = plan_faults(plan, fault_rate, plan.seed)
    rejected = set(faults.stories)  # by index: a duplicate_story_id fault reuses another's id
    bad_photos = {
        e["photo_id"] for e in faults.entries if "photo_id" in e and e["expected"] == "reject"
    }
    for i, story in enumerate(plan.stories):
        if any(p.photo_id in bad_photos for p in plan.story_photos(story)):
            rejected.add(i)
    return [s for i, s in enumerate(plan.stories) if i not in rejected]


def split_data(plan: DatasetPlan, stories: Sequence[Story], split: str) -> tuple[list, np.ndarray]:
    """(scenes of each item, event index of each item). Val and test items are photo sequences,
    one per distinct sequence as the evaluator scores them; train keeps every story."""
    seen: set[tuple] = set()
    scenes, events = [], []
    for story in stories:
        key = (story.album_id, story.photo_indices)
        if story.split != split or (split != "train" and key in seen):
            continue
        seen.add(key)
        scenes.append([p.scene for p in plan.story_photos(story)])
        events.append(EVENT_NAMES.index(plan.album(story.album_id).event))
    return scenes, np.array(events, dtype=np.int64)


def _matrix(counters: list[Counter], vocab: dict[str, int]) -> np.ndarray:
    x = np.zeros((len(counters), len(vocab)))
    for i, c in enumerate(counters):
        for name, n in c.items():
            if name in vocab:
                x[i, vocab[name]] = n
    return x


def naive_bayes(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> Callable:
    """Multinomial naive Bayes with add-`alpha` smoothing; returns log-scores of new rows."""
    k = len(EVENT_NAMES)
    prior = np.log((np.bincount(y, minlength=k) + 1.0) / (len(y) + k))
    counts = np.stack([x[y == c].sum(0) for c in range(k)]) + alpha
    log_p = np.log(counts / counts.sum(1, keepdims=True))
    return lambda new: new @ log_p.T + prior


def softmax_regression(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 400, lr: float = 0.5
) -> Callable:
    """L2-regularised multinomial logistic regression by full-batch gradient descent."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    k = len(EVENT_NAMES)
    w, b = np.zeros((x.shape[1], k)), np.zeros(k)
    onehot = np.eye(k)[y]
    for _ in range(steps):
        logits = z @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) / len(y)
        w -= lr * (z.T @ grad + l2 * w)
        b -= lr * grad.sum(0)
    return lambda new: ((new - mean) / std) @ w + b


CLASSIFIERS = {"naive_bayes": naive_bayes, "softmax_regression": softmax_regression}


def ceiling(plan: DatasetPlan, stories: Sequence[Story], split: str = "val") -> dict:
    """Val accuracy of every feature set x classifier, and the best of them as `ceiling`."""
    train_scenes, y_train = split_data(plan, stories, "train")
    eval_scenes, y_eval = split_data(plan, stories, split)
    if not len(y_train) or not len(y_eval):
        raise ValueError(f"no train or {split} stories to fit and score on")
    mask = np.stack([possible_events(s) for s in eval_scenes])
    rows: dict[str, dict[str, float]] = {}
    for name, featurize in [*FEATURES.items(), ("oracle", _scene)]:
        train_feats = [featurize(s) for s in train_scenes]
        vocab = {f: i for i, f in enumerate(sorted(set().union(*train_feats)))}
        x_train = _matrix(train_feats, vocab)
        x_eval = _matrix([featurize(s) for s in eval_scenes], vocab)
        rows[name] = {}
        for cname, fit in CLASSIFIERS.items():
            scores = fit(x_train, y_train)(x_eval)
            if name == "oracle":
                scores = np.where(mask, scores, -np.inf)
            rows[name][cname] = float(np.mean(scores.argmax(1) == y_eval))
    best = max((acc, f"{n} {c}") for n, r in rows.items() for c, acc in r.items())
    return {
        "benchmark": "event_ceiling",
        "train_stories": len(y_train),
        f"{split}_items": len(y_eval),
        "events": len(EVENT_NAMES),
        "chance": float(np.bincount(y_eval).max() / len(y_eval)),  # majority class
        "accuracy": rows,
        "oracle_mask_keeps_truth": float(np.mean(mask[np.arange(len(y_eval)), y_eval])),
        "ceiling": best[0],
        "ceiling_model": best[1],
        # Issue 13's goal for the demo's event accuracy, judged against this ceiling.
        "goal_event_accuracy": sm.goals({}, best[0])["event_accuracy"]["bound"],
    }


def table(result: dict) -> str:
    names = list(CLASSIFIERS)
    lines = [f"{'features':<10}" + "".join(f"{n:>20}" for n in names)]
    for feature, row in result["accuracy"].items():
        lines.append(f"{feature:<10}" + "".join(f"{row[n]:>20.3f}" for n in names))
    lines.append(
        f"ceiling {result['ceiling']:.3f} ({result['ceiling_model']}); majority class "
        f"{result['chance']:.3f}; {result['train_stories']} train stories, "
        f"{result['val_items']} val items"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=DEMO_STORIES)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--fault-rate", type=float, default=DEMO_FAULT_RATE)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    plan = demo_plan(args.stories, args.seed)
    result = ceiling(plan, kept_stories(plan, args.fault_rate))
    result.update(stories=args.stories, seed=args.seed, fault_rate=args.fault_rate)
    print(table(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
