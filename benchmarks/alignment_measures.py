"""benchmarks.alignment's measurements: ground truth from the synthetic scene model, retrieval,
grounding of aligned regions, and the m-RNN's captions (full frame and regions)."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np

log = logging.getLogger("benchmarks.alignment")

TARGET_SNIPPET_WORDS = 3.0

MRNN = dict(
    model="mrnn",
    embedding_dim=128,
    hidden_dim=128,
    batch_size=50,
    min_count=5,
    patience=4,
    decoding={"method": "beam", "beam_size": 3, "max_length": 16},
)


def split_pattern(work: Path, split: str) -> str:
    from vistflow import example_files

    return example_files.split_pattern(str(work / "features"), split)


# ---- ground truth from the synthetic scene model ----------------------------------------------


def object_boxes(stories: int, seed: int) -> dict[str, list[tuple[object, np.ndarray]]]:
    """photo id -> [(placement, [0,1] (y0, x0, y1, x1) box)] from the renderer's own geometry."""
    # The renderer's cell/fit helpers are private; they are the single source of where each
    # object is drawn, so use them rather than copying the layout rules.
    from vistflow.synth import plan_dataset
    from vistflow.synth.render import _cells, _fit
    from vistflow.synth.world import OBJECTS

    plan = plan_dataset(stories=stories, seed=seed)
    out = {}
    for album in plan.albums:
        for photo in album.photos:
            items = []
            for p in photo.scene.placements:
                boxes = [_fit(p.kind, c, OBJECTS[p.kind].in_sky) for c in _cells(p, 1.0, 1.0)]
                x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
                x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
                items.append((p, np.asarray([y0, x0, y1, x1])))
            out[photo.photo_id] = items
    return out


def object_words(kind: str) -> set[str]:
    from vistflow.synth.world import OBJECTS

    # Multi-word nouns ("christmas tree") are matched on their head word.
    return {n.split()[-1] for n in OBJECTS[kind].words()}


def region_references(placement, n: int = 40) -> list[str]:
    """Every phrasing the synthetic grammar uses for one object ("two red balloons", ...)."""
    from vistflow.synth import language

    refs = []
    for i in range(n):
        phrase = language.indefinite(placement, random.Random(i))
        if phrase not in refs:
            refs.append(phrase)
    return refs


# ---- measurements ----------------------------------------------------------------------------


def calibrate(trained, val) -> tuple[float, dict]:
    """MRF beta from the validation split: snippets of ~TARGET_SNIPPET_WORDS words."""
    from retrieval.embed import Embedder
    from retrieval.snippets import calibrate_beta

    embedded = Embedder(trained.model, trained.vocab).split(val)
    return calibrate_beta(
        val, embedded, target_words=TARGET_SNIPPET_WORDS, max_tokens=trained.config.max_tokens
    )


def retrieval_table(trained, train, test) -> dict:
    from retrieval import baselines, ranking
    from retrieval.embed import Embedder

    model_metrics, embedded = Embedder(trained.model, trained.vocab).evaluate(test)
    i2s, s2i = baselines.nn_retrieval_scores(train, test)
    nn_metrics = ranking.evaluate(i2s, test.sentence_image, s2i)
    chance = ranking.chance_levels(test.sentence_image, test.num_images)
    table = {}
    for name, metrics in (
        ("model", model_metrics),
        ("nearest_neighbour", nn_metrics),
        ("chance", chance),
    ):
        table[name] = {d: m.to_dict() for d, m in metrics.items()}
    return table, embedded


def grounding(trained, test, embedded, boxes: dict, beta: float) -> dict:
    """IoU of the region each object noun is aligned to with the object's true box."""
    from retrieval import mrf
    from retrieval.regions import iou
    from vistflow.vocabulary import tokenize

    region_boxes = trained.region_boxes
    rows = {"mrf": [], "argmax": [], "whole_image": [], "random_region": [], "best_region": []}
    on_whole = {"mrf": 0, "argmax": 0}
    for m, sentence in enumerate(test.sentences):
        k = int(test.sentence_image[m])
        objects = boxes.get(test.photo_ids[k], [])
        words = tokenize(sentence)[: trained.config.max_tokens]
        if not objects or not words:
            continue
        unary = embedded.words[m, : len(words)] @ embedded.regions[k].T
        assignments = {"mrf": mrf.viterbi(unary, beta)[0], "argmax": mrf.viterbi(unary, 0.0)[0]}
        for placement, box in objects:
            nouns = object_words(placement.kind)
            ious = iou(region_boxes, box[None, :])
            for t, w in enumerate(words):
                if w not in nouns:
                    continue
                for name, a in assignments.items():
                    rows[name].append(float(ious[a[t]]))
                    on_whole[name] += int(trained.config.use_global and a[t] == 0)
                rows["whole_image"].append(float(iou(np.asarray([0, 0, 1, 1.0]), box)))
                rows["random_region"].append(float(ious.mean()))
                rows["best_region"].append(float(ious.max()))
    n = len(rows["mrf"])
    out = {name: round(float(np.mean(v)), 4) if v else None for name, v in rows.items()}
    out["hit_rate_iou_0.3"] = {
        name: round(float(np.mean(np.asarray(v) >= 0.3)), 4) if v else None
        for name, v in rows.items()
    }
    out["share_on_whole_image"] = {k: round(v / max(1, n), 4) for k, v in on_whole.items()}
    out["object_mentions"] = n
    out["beta"] = beta
    return out


def _train_mrnn(train_pattern, eval_pattern, out_dir, epochs):
    from trainer.hparams import HParams
    from trainer.train import train

    hp = HParams.from_config({**MRNN, "epochs": epochs})
    return train(train_pattern, eval_pattern, out_dir, hp, backbone_dir="none")


def _decode(export_dir: str, features: np.ndarray) -> list[str]:
    import tensorflow as tf

    fn = tf.saved_model.load(export_dir).signatures["from_features"]
    out = []
    for i in range(0, len(features), 128):
        res = fn(global_features=tf.constant(features[i : i + 128], tf.float32))
        out += [c.decode() for c in res["captions"].numpy()]
    return out


class Scorer:
    """coco-profile caption scores, one METEOR JVM for every call (it takes ~15 s to start)."""

    def __init__(self, meteor: str):
        self.meteor, self._jvm = meteor, None
        if meteor == "java":
            from components.caption_evaluator.scoring.meteor import COCO_OPTIONS, MeteorJava

            try:
                self._jvm = MeteorJava(COCO_OPTIONS)
            except Exception as e:  # no Java, no jar: keep the other metrics and say so
                log.warning("METEOR 1.5 unavailable (%s): scoring without it", e)
                self.meteor = "none"

    def __call__(self, predictions: dict, references: dict) -> dict:
        from components.caption_evaluator.scoring import score

        result = score(
            predictions, references, profile="coco", meteor=self.meteor, meteor_scorer=self._jvm
        )
        metrics = {k: round(v, 4) for k, v in result.metrics.items()}
        return {**metrics, "signature": result.signature}

    def close(self) -> None:
        if self._jvm is not None:
            self._jvm.close()


def fullframe_table(work: Path, train, test, epochs: int, scorer: Scorer) -> dict:
    from retrieval import baselines

    run = _train_mrnn(
        split_pattern(work, "train"),
        split_pattern(work, "val"),
        str(work / "mrnn_fullframe"),
        epochs,
    )
    captions = _decode(run.export_dir, test.global_features)
    refs = {pid: test.sentences_of(i) for i, pid in enumerate(test.photo_ids)}
    mrnn = dict(zip(test.photo_ids, captions, strict=True))
    nn = baselines.nn_captions(train, test)
    train_sentences = set(train.sentences)
    return {
        "mrnn": scorer(mrnn, refs),
        "nearest_neighbour": scorer(nn, refs),
        "mrnn_training": {
            "epochs": run.epochs,
            "best_epoch": run.best_epoch + 1,
            "val_token_nll": round(run.best_val_loss, 4),
        },
        "distinct_captions": {
            "mrnn": round(len(set(captions)) / len(captions), 4),
            "nearest_neighbour": round(len(set(nn.values())) / len(nn), 4),
        },
        "mrnn_captions_seen_in_training": round(
            float(np.mean([c in train_sentences for c in captions])), 4
        ),
        "examples": [
            {
                "photo": pid,
                "mrnn": mrnn[pid],
                "nearest_neighbour": nn[pid],
                "reference": refs[pid][0],
            }
            for pid in test.photo_ids[:3]
        ],
    }


def region_table(work: Path, trained, splits, boxes, epochs: int, scorer: Scorer) -> dict:
    from retrieval import regions as regions_lib
    from retrieval import snippets as snip
    from retrieval.embed import Embedder

    cfg = trained.config
    embedder = Embedder(trained.model, trained.vocab)
    written, kept_snippets = {}, {}
    for split in ("train", "val"):
        data = splits[split]
        emb = embedder.split(data)
        found = snip.align_split(data, emb, cfg.beta, max_tokens=cfg.max_tokens)
        kept = snip.keep_snippets(found, min_words=2, max_words=8)
        kept_snippets[split] = (kept, emb, found)
        region_ex = snip.region_examples(
            data,
            kept,
            split_name=split,
            use_global=cfg.use_global,
            region_boxes=trained.region_boxes,
        )
        full_ex = [
            snip.caption_example(
                example_id=pid,
                photo_id=pid,
                image_uri=data.image_uris[i],
                texts=data.sentences_of(i),
                feature=data.whole[i],
                split_name=split,
                backbone=data.backbone,
            )
            for i, pid in enumerate(data.photo_ids)
        ]
        written[split] = {
            "snippets_found": len(found),
            "snippets_kept": len(kept),
            "region_examples": snip.write_examples(
                str(
                    work
                    / "regions"
                    / "snippets"
                    / f"Split-{split}"
                    / "data_tfrecord-00000-of-00001.gz"
                ),
                region_ex,
            ),
            "fullframe_examples": snip.write_examples(
                str(
                    work
                    / "regions"
                    / "fullframe"
                    / f"Split-{split}"
                    / "data_tfrecord-00000-of-00001.gz"
                ),
                full_ex,
            ),
        }
    pattern = lambda kind, s: str(work / "regions" / kind / f"Split-{s}" / "*.gz")  # noqa: E731
    region_run = _train_mrnn(
        pattern("snippets", "train"), pattern("snippets", "val"), str(work / "mrnn_region"), epochs
    )
    full_run = _train_mrnn(
        pattern("fullframe", "train"),
        pattern("fullframe", "val"),
        str(work / "mrnn_fullframe_c"),
        epochs,
    )

    # Ground-truth test regions: the local grid pooled over each object's box.
    test = splits["test"]
    h, w, _ = test.local_shape
    feats, refs, ids = [], {}, []
    for i, pid in enumerate(test.photo_ids):
        for j, (placement, box) in enumerate(boxes.get(pid, [])):
            cells = regions_lib.box_to_cells(box, h, w)
            matrix = regions_lib.pooling_matrix(cells[None], h, w)
            feats.append(regions_lib.pool(test.local[i : i + 1], matrix)[0, 0])
            ids.append(f"{pid}#{j}")
            refs[ids[-1]] = region_references(placement)
    feats = np.stack(feats)
    region_caps = dict(zip(ids, _decode(region_run.export_dir, feats), strict=True))
    full_caps = dict(zip(ids, _decode(full_run.export_dir, feats), strict=True))

    # Ranking baseline: the training snippet the alignment model scores highest for the region
    # (S of eq. 8 with one region: sum over the snippet's words, in their sentence context).
    kept, emb_train, _ = kept_snippets["train"]
    model = trained.model
    x = (feats - model.window_mean.numpy()) * model.window_scale.numpy()
    v = x @ model.region_proj.kernel.numpy() + model.region_proj.bias.numpy()  # [Q, h]
    snippet_vecs = np.stack(
        [emb_train.words[s.sentence, s.start : s.end].sum(axis=0) for s in kept]
    )
    best = (v @ snippet_vecs.T).argmax(axis=1)
    ranked = {q: kept[int(b)].text for q, b in zip(ids, best, strict=True)}
    lengths = {
        name: round(float(np.mean([len(c.split()) for c in caps.values()])), 2)
        for name, caps in (
            ("region_mrnn", region_caps),
            ("fullframe_mrnn", full_caps),
            ("ranking_baseline", ranked),
        )
    }
    return {
        "regions": len(ids),
        "snippet_data": written,
        "snippet_examples": [s.text for s in kept_snippets["train"][0][:8]],
        "region_mrnn": scorer(region_caps, refs),
        "fullframe_mrnn": scorer(full_caps, refs),
        "ranking_baseline": scorer(ranked, refs),
        "mean_words": lengths,
        "distinct_outputs": {
            name: round(len(set(c.values())) / len(c), 4)
            for name, c in (
                ("region_mrnn", region_caps),
                ("fullframe_mrnn", full_caps),
                ("ranking_baseline", ranked),
            )
        },
        "examples": [
            {
                "region": q,
                "reference": refs[q][0],
                "region_mrnn": region_caps[q],
                "fullframe_mrnn": full_caps[q],
                "ranking_baseline": ranked[q],
            }
            for q in ids[:4]
        ],
    }
