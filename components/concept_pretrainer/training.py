"""Train a backbone as a multi-label classifier of the data's own visual concepts (reference 001).

    photos of the train split ─ captions ─► concept vocabulary (concepts.py)
    backbone(weights given) ─ global ─► dropout ─► dense(K, sigmoid)      binary cross-entropy
    ─► the backbone alone (no head) saved as a `backbone/` dir the FeatureExtractor loads

The backbone starts from whatever the user gives (random, a Keras ImageNet file, an earlier
`backbone/`), so on real data this fine-tunes an ImageNet network; every layer trains.
Precision/recall are scored on the val split's photos against their own captions, beside a
frequency baseline (every photo gets the k most frequent concepts, k = the mean count per train
photo), so "it learned" means far above what word frequencies alone give.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

from vistflow import outputs
from vistflow.errors import VistflowError

from . import concepts as concepts_lib
from .photos import Photos, decode_to_memmap, read_photos

log = logging.getLogger(__name__)

BACKBONE_DIR = "backbone"  # the FeatureExtractor's `weights` take this directory
CONCEPTS_JSON = "concepts.json"
HEAD_WEIGHTS = "concept_head.npz"  # the classifier layer, for reports and concept tagging


@dataclasses.dataclass(frozen=True)
class ConceptConfig:
    """Knobs of concept pretraining (PipelineConfig.concept_config)."""

    max_concepts: int = 200
    min_count: int = 5  # a concept must be mentioned by this many train photos
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 3e-3
    dropout: float = 0.1
    threshold: float = 0.5  # predicted when the sigmoid exceeds it (precision/recall on val)
    max_train_photos: int = 0  # 0: all; else a seeded sample (bounds time on huge splits)
    # With an earlier span's concept Model: reuse its backbone unchanged (features of every span
    # in a training window then come from one network), or fine-tune from it (false).
    reuse: bool = True
    train_split: str = "train"
    eval_split: str = "val"

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ConceptConfig:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise VistflowError(
                f"concept_config: unknown keys {unknown}; known: {', '.join(sorted(known))}"
            )
        config = cls(**values)
        if config.max_concepts < 1 or config.epochs < 0 or config.batch_size < 1:
            raise VistflowError(f"concept_config: bad values {dataclasses.asdict(config)}")
        return config


def multi_hot(vocab: concepts_lib.ConceptVocabulary, photos: Photos) -> np.ndarray:
    labels = np.zeros((len(photos), len(vocab)), np.float32)
    for i, texts in enumerate(photos.texts):
        labels[i, vocab.labels(texts)] = 1.0
    return labels


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Micro precision/recall/F1 of multi-hot predictions, and macro F1 over concepts present."""
    tp = float((y_true * y_pred).sum())
    p = tp / max(float(y_pred.sum()), 1.0)
    r = tp / max(float(y_true.sum()), 1.0)
    per_tp = (y_true * y_pred).sum(0)
    per_p = per_tp / np.maximum(y_pred.sum(0), 1)
    per_r = per_tp / np.maximum(y_true.sum(0), 1)
    per_f1 = np.where(per_p + per_r > 0, 2 * per_p * per_r / np.maximum(per_p + per_r, 1e-9), 0)
    present = y_true.sum(0) > 0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "macro_f1": float(per_f1[present].mean()) if present.any() else 0.0,
    }


def frequency_baseline(train_labels: np.ndarray, n: int) -> np.ndarray:
    """Every photo predicted with the k most frequent train concepts (k = mean labels per photo)."""
    k = max(1, int(round(float(train_labels.sum(1).mean()))))
    top = np.argsort(-train_labels.sum(0), kind="stable")[:k]
    pred = np.zeros((n, train_labels.shape[1]), np.float32)
    pred[:, top] = 1.0
    return pred


def _nested_layers(model):
    """Every layer of `model`, inside nested models too (an application wrapped in a model)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _nested_layers(layer)


def _classifier(backbone, prior: np.ndarray, dropout: float, seed: int, *, pretrained: bool):
    """backbone -> global -> dropout -> dense(K, sigmoid), the bias at the concepts' log-odds.

    Starting from the priors (not 0.5) skips the long first phase in which a rare-label head
    only learns word frequencies and passes the backbone almost no gradient. A `pretrained`
    backbone (ImageNet or earlier weights) is fine-tuned with its batch-norm layers frozen
    (Keras's fine-tuning rule; a frozen BatchNormalization runs in inference mode): its
    statistics are kept, the rest learns. From random weights they are learned.
    """
    import keras

    prior = np.clip(prior, 1e-4, 1 - 1e-4)
    if pretrained:
        for layer in _nested_layers(backbone):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False

    inputs = keras.Input(backbone.input_shape[1:], name="image")
    glob = backbone(inputs)["global"]
    x = keras.layers.Dropout(dropout, seed=seed, name="concept_dropout")(glob)
    out = keras.layers.Dense(
        len(prior),
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer=keras.initializers.Constant(np.log(prior / (1 - prior))),
        name="concepts",
    )(x)
    return keras.Model(inputs, out, name="concept_classifier")


def _batches(pixels: np.ndarray, labels: np.ndarray, rows: np.ndarray, batch: int, seed: int):
    """Endless shuffled batches of memmap rows (a new order every epoch, seeded)."""
    import tensorflow as tf

    size, k = pixels.shape[1], labels.shape[1]

    def fetch(idx):
        idx = np.sort(idx)  # sorted: sequential memmap reads
        return pixels[idx].astype(np.float32), labels[idx]

    def load(idx):
        x, y = tf.numpy_function(fetch, [idx], (tf.float32, tf.float32))
        return tf.ensure_shape(x, [None, size, size, 3]), tf.ensure_shape(y, [None, k])

    return (
        tf.data.Dataset.from_tensor_slices(rows)
        .shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        .batch(batch)
        .map(load)
        .repeat()
        .prefetch(2)
    )


def predict(model, pixels: np.ndarray, rows: np.ndarray, batch: int = 64) -> np.ndarray:
    out = [
        model.predict_on_batch(pixels[rows[i : i + batch]].astype(np.float32))
        for i in range(0, len(rows), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def train_concepts(
    patterns: dict[str, str],
    out_dir: str,
    *,
    backbone: str,
    weights: str = "random",
    seed: int = 0,
    config: ConceptConfig | None = None,
    work_dir: str | None = None,
) -> dict[str, Any]:
    """Pretrain `backbone` on the concepts of `patterns[config.train_split]`; write `out_dir`.

    Writes `<out_dir>/backbone/` (what FeatureExtractor loads), `concepts.json` (vocabulary,
    val scores, the baseline, time) and `concept_head.npz`. Returns the concepts.json dict.
    """
    import keras

    from vistflow import backbones

    config = config or ConceptConfig()
    for split in (config.train_split, config.eval_split):
        if split not in patterns:
            raise VistflowError(
                f"concept pretraining needs the {split!r} split; the examples have "
                f"{sorted(patterns)} (set concept_config.train_split/eval_split)"
            )
    started = time.monotonic()
    spec = backbones.get_spec(backbone)
    train, val = read_photos(patterns[config.train_split]), read_photos(patterns[config.eval_split])
    vocab = concepts_lib.build_vocabulary(
        train.texts, max_concepts=config.max_concepts, min_count=config.min_count
    )
    log.info(
        "concept vocabulary: %d concepts from %d train photos (top: %s)",
        len(vocab),
        vocab.photos,
        ", ".join(vocab.words[:15]),
    )
    if config.max_train_photos and len(train) > config.max_train_photos:
        keep = np.sort(
            np.random.default_rng(seed).permutation(len(train))[: config.max_train_photos]
        )
        train = Photos(
            [train.uris[i] for i in keep],
            [train.photo_ids[i] for i in keep],
            [train.texts[i] for i in keep],
        )
    tmp = tempfile.mkdtemp(prefix="vistflow-concepts-", dir=work_dir)
    try:
        t0 = time.monotonic()
        train_px, train_failed = decode_to_memmap(
            train.uris, spec.input_size, os.path.join(tmp, "train.npy")
        )
        val_px, val_failed = decode_to_memmap(
            val.uris, spec.input_size, os.path.join(tmp, "val.npy")
        )
        decode_s = time.monotonic() - t0
        train_y, val_y = multi_hot(vocab, train), multi_hot(vocab, val)
        train_rows = np.array(
            [i for i, u in enumerate(train.uris) if u not in train_failed], np.int64
        )
        val_rows = np.array([i for i, u in enumerate(val.uris) if u not in val_failed], np.int64)

        net = backbones.build_backbone(backbone, weights=weights, seed=seed)
        model = _classifier(
            net, train_y[train_rows].mean(0), config.dropout, seed, pretrained=weights != "random"
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss="binary_crossentropy",
        )
        history: list[dict[str, float]] = []

        def on_epoch_end(epoch, logs):
            prob = predict(model, val_px, val_rows)
            f1 = scores(val_y[val_rows], (prob > config.threshold).astype(np.float32))["f1"]
            history.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "val_f1": f1})
            log.info(
                "concept pretraining: epoch %d/%d loss %.4f val F1 %.3f",
                epoch + 1,
                config.epochs,
                logs["loss"],
                f1,
            )

        t0 = time.monotonic()
        if config.epochs and len(train_rows):
            model.fit(
                _batches(train_px, train_y, train_rows, config.batch_size, seed),
                epochs=config.epochs,
                steps_per_epoch=-(-len(train_rows) // config.batch_size),
                callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)],
                verbose=0,
            )
        train_s = time.monotonic() - t0
        val_prob = predict(model, val_px, val_rows)
        val_pred = (val_prob > config.threshold).astype(np.float32)
        result = _summary(vocab, config, val_y[val_rows], val_pred, train_y[train_rows])
        result.update(
            backbone=backbone,
            base_weights=backbones.describe_weights(weights, seed, name=backbone),
            history=history,
            photos={"train": len(train_rows), "val": len(val_rows)},
            failed={**train_failed, **val_failed},
            seconds={"decode": decode_s, "train": train_s, "total": time.monotonic() - started},
            config=dataclasses.asdict(config),
            examples=_examples(val, val_rows, val_prob, vocab),
        )
        _write(out_dir, net, spec, model, vocab, result)
        return result
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _summary(vocab, config, y_true, y_pred, train_y) -> dict[str, Any]:
    base = frequency_baseline(train_y, len(y_true))
    per_tp = (y_true * y_pred).sum(0)
    per_concept = [
        {
            "concept": w,
            "train_photos": int(vocab.counts[i]),
            "val_photos": int(y_true[:, i].sum()),
            "precision": float(per_tp[i] / max(y_pred[:, i].sum(), 1)),
            "recall": float(per_tp[i] / max(y_true[:, i].sum(), 1)),
        }
        for i, w in enumerate(vocab.words)
    ]
    return {
        "num_concepts": len(vocab),
        "vocabulary": vocab.to_json(),
        "threshold": config.threshold,
        "val": scores(y_true, y_pred),
        "frequency_baseline": scores(y_true, base),
        "per_concept": per_concept,
    }


def _examples(val: Photos, rows: np.ndarray, prob: np.ndarray, vocab, n: int = 12) -> list[dict]:
    """A few val photos with their top predicted concepts and the concepts their captions name."""
    out = []
    for j, i in enumerate(rows[:n]):
        top = np.argsort(-prob[j])[:5]
        out.append(
            {
                "uri": val.uris[i],
                "photo_id": val.photo_ids[i],
                "predicted": [(vocab.words[k], float(prob[j, k])) for k in top],
                "captions_name": [vocab.words[k] for k in vocab.labels(val.texts[i])],
            }
        )
    return out


def _write(out_dir: str, net, spec, model, vocab, result: dict[str, Any]) -> None:
    import json

    import tensorflow as tf

    from vistflow import backbones

    desc = {
        "weights": "concept-pretrained",
        "random": False,
        "base": result["base_weights"],
        "concepts": len(vocab),
        "val_f1": result["val"]["f1"],
        "val_precision": result["val"]["precision"],
        "val_recall": result["val"]["recall"],
        "frequency_baseline_f1": result["frequency_baseline"]["f1"],
    }
    backbones.save_backbone(net, spec, desc, os.path.join(out_dir, BACKBONE_DIR))
    kernel, bias = model.get_layer("concepts").get_weights()
    head = io.BytesIO()
    np.savez(head, kernel=kernel, bias=bias, words=np.array(vocab.words))
    outputs.write_file_atomic(os.path.join(out_dir, HEAD_WEIGHTS), head.getvalue())
    with tf.io.gfile.GFile(os.path.join(out_dir, CONCEPTS_JSON), "w") as f:
        f.write(json.dumps(result, indent=1, sort_keys=True, default=str) + "\n")


def reuse_model(base_uri: str, out_dir: str, backbone: str) -> dict[str, Any]:
    """Copy an earlier concept Model (backbone/, concepts.json, head, report) to `out_dir`.

    The same bytes, so features extracted with it equal the earlier span's. Returns its
    concepts.json dict; a VistflowError when it holds another backbone.
    """
    import json

    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(base_uri, CONCEPTS_JSON)) as f:
        result = json.load(f)
    if result.get("backbone") != backbone:
        raise VistflowError(
            f"{base_uri}: the earlier concept model is of backbone {result.get('backbone')!r}, "
            f"this pipeline's is {backbone!r} (set concept_config.reuse to false to retrain)"
        )
    for src_dir, _, files in tf.io.gfile.walk(base_uri):
        rel = os.path.relpath(src_dir, base_uri)
        dst_dir = os.path.normpath(os.path.join(out_dir, rel))
        tf.io.gfile.makedirs(dst_dir)
        for name in files:
            tf.io.gfile.copy(os.path.join(src_dir, name), os.path.join(dst_dir, name), True)
    return result
