"""benchmarks.quality's data: the synthetic dataset through the real CLI (ingest, concept
backbone, features), the splits as arrays, and decoding + scoring an exported model."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import concept_backbone

METRICS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def _cli(*args: str) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "vistflow")
    cmd = [exe, *args] if os.path.exists(exe) else [sys.executable, "-m", "commands.main", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")


def prepare_data(
    work: str,
    stories: int,
    seed: int,
    store_images: bool,
    backbone_weights: str = "random",
    backbone: str = "tiny",
) -> dict:
    from vistflow.synth import generate

    t0 = time.monotonic()
    generate(os.path.join(work, "data"), stories=stories, seed=seed, image_size=64)
    _cli(
        "ingest",
        "--data-root",
        os.path.join(work, "data"),
        "--out",
        os.path.join(work, "ingest"),
        "--num-shards",
        "1",
    )
    examples = os.path.join(work, "ingest", "examples")
    if not os.path.isdir(examples):
        examples = os.path.join(work, "ingest")
    out = {"concept_pretraining": None}
    weights = "random"
    if backbone_weights == "concept":
        # The pipeline's concept stage on this data's train split (val scores it), from the same
        # seeded random weights the random features use; the features are extracted with it.
        out["concept_pretraining"] = concept_backbone.pretrain(
            examples, os.path.join(work, "concepts"), seed=seed, backbone=backbone
        )
        weights = out["concept_pretraining"]["weights"]
    # Frozen-CNN features, and with --fine-tune the same plus the resized images (joint CNN).
    variants = {"features": ()} | ({"features_images": ("--store-images",)} if store_images else {})
    for key, extra in variants.items():
        out[key] = os.path.join(work, key)
        _cli(
            "features",
            "--examples",
            examples,
            "--out",
            out[key],
            "--backbone",
            backbone,
            "--weights",
            weights,
            "--seed",
            str(seed),
            *extra,
            "--overwrite",
        )
    out["prepare_s"] = round(time.monotonic() - t0, 1)
    return out


def _pattern(features: str, split: str) -> str:
    from vistflow import example_files

    return example_files.split_pattern(features, split)


def load_split(features: str, split: str, photos: int = 5) -> dict:
    """{"ids" [N], "global" [N, P, D], "local" [N, P, L], "texts" [N][P] references,
    "images" [N][P] stored JPEG bytes or None} of the stories with P photos."""
    from trainer import data as data_lib
    from vistflow import example_files
    from vistflow import example_format as ef

    files = example_files.resolve_files(_pattern(features, split))
    out = {"ids": [], "global": [], "local": [], "texts": [], "images": []}
    for raw in data_lib._tfrecords(files):
        ex = data_lib.parse_example(raw)
        g = ex[ef.GLOBAL_FEATURES].numpy()
        if g.shape[0] != photos:
            continue
        out["ids"].append(ex["id"].numpy().decode())
        out["global"].append(g)
        out["local"].append(ex[ef.LOCAL_FEATURES].numpy())
        out["texts"].append([[t.decode() for t in row] for row in ex["text"].to_list()])
        out["images"].append(ex[ef.IMAGE_BYTES].numpy().tolist())
    out["global"], out["local"] = np.stack(out["global"]), np.stack(out["local"])
    if not all(out["images"]):
        out["images"] = None
    return out


def decode_and_score(export_dir, decoding, split_data, meteor: str) -> dict:
    """Decode each test story's five sentences and score them. A jointly fine-tuned model has
    its own CNN, so it decodes from the stored images (the stored features came from the
    frozen one); every other model from the stored features."""
    from trainer.export import load_captioner

    cap = load_captioner(export_dir, decoding=decoding)
    n = len(split_data["ids"])
    sentences = []
    for i in range(0, n, 16):
        if cap.model.joint:
            if split_data["images"] is None:
                raise SystemExit(f"{export_dir}: a fine-tuned model needs the stored images")
            out = cap.story_images(np.array(split_data["images"][i : i + 16], dtype=object))
        else:
            given = {
                "global_features": split_data["global"][i : i + 16],
                "local_features": split_data["local"][i : i + 16],
            }
            out = cap.story_features(**{k: given[k] for k in cap.feature_keys()})
        sentences.extend(out["sentences"].numpy().tolist())
    return _score_sentences(split_data["ids"], sentences, split_data["texts"], meteor)


def _score_sentences(ids, sentences, texts, meteor: str) -> dict:
    """Per-photo sentences [N][P] against the stories' references -> metrics + diversity."""
    from components.caption_evaluator.scoring import score

    preds, refs = {}, {}
    for sid, story, ref in zip(ids, sentences, texts, strict=True):
        for j, (s, r) in enumerate(zip(story, ref, strict=True)):
            preds[f"{sid}/{j}"] = s.decode() if isinstance(s, bytes) else s
            refs[f"{sid}/{j}"] = list(r)
    result = score(preds, refs, profile="coco", meteor=meteor)
    metrics = result.metrics
    per_story = [
        float(np.mean([result.per_item[f"{sid}/{j}"]["CIDEr"] for j in range(len(story))]))
        for sid, story in zip(ids, sentences, strict=True)
    ]
    return {
        # CIDEr is the mean of the items' CIDEr (idf from the references, which both sides of a
        # comparison share), so per-story means support a paired bootstrap; not printed.
        "_per_story_CIDEr": per_story,
        "metrics": {
            m: (round(float(metrics[m]), 4) if metrics.get(m) is not None else None)
            for m in METRICS
        },
        "distinct_sentences": len(set(preds.values())),
        "sentences": len(preds),
        "example": preds[next(iter(preds))],
    }
