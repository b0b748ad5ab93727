"""How much of the album's event a backbone's features carry: a linear probe (issue 13).

Concept-pretrains each seeded backbone (`tiny`, the tests' network, and `small`, the demo's) on
an ingested Examples artifact (the demo's VistExampleGen output) with a given `ConceptConfig`,
side by side in one run; runs each on every train/val photo, pools each SIS story's
five global vectors (mean and max) and fits the event ceiling's softmax regression on train; the
val accuracy says how well any story model on these features could name the event, beside the
ceiling of `benchmarks.event_ceiling` (the photos' true contents). Events come from the
generator's plan, so the Examples must be the demo's data (`--stories`/`--seed` as generated).

  python -m benchmarks.event_probe --examples DIR [--backbones tiny,small]
      [--concept-config JSON] [--stories 800]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

from benchmarks import event_ceiling as ec


def _sis_stories(examples: str, split: str) -> list[tuple[str, list[str]]]:
    """(album id, image URIs) of every SIS story of one split, in file order."""
    import tensorflow as tf

    from vistflow import example_format as ef
    from vistflow.example_files import split_files

    stories = []
    records = tf.data.TFRecordDataset(split_files(examples, split), compression_type="GZIP")
    for record in records.as_numpy_iterator():
        ex = tf.train.SequenceExample.FromString(record)
        context, lists = ex.context.feature, ex.feature_lists.feature_list
        if context[ef.TASK].bytes_list.value[0] == b"sis":
            uris = [f.bytes_list.value[0].decode() for f in lists[ef.IMAGE_URI].feature]
            stories.append((context[ef.ALBUM_ID].bytes_list.value[0].decode(), uris))
    return stories


def _story_vectors(examples: str, split: str, net, size: int, album_event: dict) -> tuple:
    """(pooled [mean, max] global features per SIS story, event index per story)."""
    from components.concept_pretrainer.photos import decode_to_memmap

    stories = _sis_stories(examples, split)
    uris = list(dict.fromkeys(u for _, story_uris in stories for u in story_uris))
    with tempfile.TemporaryDirectory() as tmp:
        px, failed = decode_to_memmap(uris, size, f"{tmp}/{split}.npy")
        glob = np.concatenate(
            [
                net.predict_on_batch(px[i : i + 64].astype(np.float32))["global"]
                for i in range(0, len(px), 64)
            ]
        )
    row = {uri: i for i, uri in enumerate(uris) if uri not in failed}
    x, y = [], []
    for album, story_uris in stories:
        if all(u in row for u in story_uris):  # a photo that no longer decodes: story left out
            g = glob[[row[u] for u in story_uris]]
            x.append(np.concatenate([g.mean(0), g.max(0)]))
            y.append(ec.EVENT_NAMES.index(album_event[album]))
    return np.array(x), np.array(y)


def probe(examples: str, concept_config: dict, stories: int, seed: int, backbone: str) -> dict:
    from components.concept_pretrainer.photos import split_patterns
    from components.concept_pretrainer.training import ConceptConfig, train_concepts
    from vistflow import backbones

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as out:
        result = train_concepts(
            split_patterns(examples),
            out,
            backbone=backbone,
            seed=0,
            config=ConceptConfig.from_dict(concept_config),
        )
        net, spec, _ = backbones.load_backbone(f"{out}/backbone")
    plan = ec.demo_plan(stories, seed)
    album_event = {a.album_id: a.event for a in plan.albums}
    data = {
        s: _story_vectors(examples, s, net, spec.input_size, album_event) for s in ("train", "val")
    }
    (x_train, y_train), (x_val, y_val) = data["train"], data["val"]
    accuracy = {}
    for l2 in (1e-3, 1e-2):
        scores = ec.softmax_regression(x_train, y_train, l2=l2, steps=600, lr=0.3)(x_val)
        accuracy[f"l2={l2}"] = round(float(np.mean(scores.argmax(1) == y_val)), 3)
    return {
        "backbone": backbone,
        "concept_seconds": round(result["seconds"]["total"], 1),
        "concept_val_f1": round(result["val"]["f1"], 4),
        "frequency_baseline_f1": round(result["frequency_baseline"]["f1"], 4),
        "train_stories": len(y_train),
        "val_stories": len(y_val),
        "probe_val_accuracy": accuracy,
        "seconds": round(time.monotonic() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, help="an ingested Examples artifact dir")
    parser.add_argument("--backbones", default="tiny,small", help="comma-separated, side by side")
    parser.add_argument("--concept-config", default="{}", help="ConceptConfig fields as JSON")
    parser.add_argument("--stories", type=int, default=ec.DEMO_STORIES)
    parser.add_argument("--seed", type=int, default=ec.DEMO_SEED)
    args = parser.parse_args(argv)
    config = json.loads(args.concept_config)
    results = [
        probe(args.examples, config, args.stories, args.seed, name.strip())
        for name in args.backbones.split(",")
        if name.strip()
    ]
    print(json.dumps({"benchmark": "event_probe", "concept_config": config, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
