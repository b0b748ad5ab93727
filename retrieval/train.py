"""Train the alignment model: `train_alignment(train_pattern, eval_pattern, out_dir, config)`.

A run reads both splits into memory (data.py), builds the vocabulary from the training
sentences only, and trains with the paper's optimiser (SGD, momentum 0.9, elementwise clipping at
5, weight decay; 3.3) on batches of `batch_size` image-sentence pairs drawn over the training
sentences. After every epoch it measures retrieval on the validation split and keeps the weights
with the best R@1+R@5+R@10 summed over both directions (the paper cross-validates and reports
the best validation models); `patience` epochs without improvement stop the run.

Writes to `out_dir`: `alignment.weights.h5` (the best weights), `alignment.json` (config,
vocabulary, feature shapes, region boxes, per-epoch history, validation metrics) and
`history.csv`. `export.export_model` turns that into what `vistflow retrieve` loads.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval import ranking
from retrieval import regions as regions_lib
from retrieval.config import AlignmentConfig
from retrieval.data import AlignmentSplit, encode_sentences, read_split
from vistflow.errors import VistflowError
from vistflow.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "alignment.weights.h5"
META_FILE = "alignment.json"
FORMAT_VERSION = 1


@dataclass
class TrainedAlignment:
    """A trained model with everything needed to use it (in memory)."""

    model: object  # AlignmentModel
    vocab: Vocabulary
    config: AlignmentConfig
    local_shape: tuple[int, int, int]
    global_dim: int
    backbone: str
    boxes: np.ndarray  # [R_w, 4] window boxes in grid cells

    @property
    def region_boxes(self) -> np.ndarray:
        """`[R, 4]` [0, 1] (y0, x0, y1, x1) boxes in the model's region order (global first)."""
        h, w, _ = self.local_shape
        boxes = regions_lib.normalized_boxes(self.boxes, h, w)
        if self.config.use_global:
            boxes = np.concatenate([np.asarray([[0, 0, 1, 1]], np.float32), boxes])
        return boxes

    def metadata(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocabulary": list(self.vocab.words),
            "local_shape": list(self.local_shape),
            "global_dim": self.global_dim,
            "backbone": self.backbone,
            "window_boxes": self.boxes.tolist(),
            "region_boxes": self.region_boxes.tolist(),
        }


@dataclass
class AlignmentResult:
    """What a training run produced."""

    out_dir: str
    epochs: int
    best_epoch: int  # 1-based
    stopped_early: bool
    collapsed: bool  # every word vector went to zero (see train_alignment)
    steps: int
    wall_time_s: float
    vocab_size: int
    train_images: int
    train_sentences: int
    val_metrics: dict  # direction -> DirectionMetrics.to_dict() at the best epoch
    history: list[dict] = field(default_factory=list)


def _optimizer(cfg: AlignmentConfig):
    import keras

    kwargs = dict(
        learning_rate=cfg.learning_rate,
        clipvalue=cfg.clip_value or None,
        weight_decay=cfg.weight_decay or None,
    )
    if cfg.optimizer == "adam":
        opt = keras.optimizers.Adam(**kwargs)
    else:
        opt = keras.optimizers.SGD(momentum=cfg.momentum, **kwargs)
    if cfg.weight_decay:
        opt.exclude_from_weight_decay(var_names=["bias"])
    return opt


def build_model(
    cfg: AlignmentConfig,
    vocab: Vocabulary,
    region_dim: int,
    global_dim: int,
    num_windows: int,
    *,
    word_vectors: np.ndarray | None = None,
):
    from retrieval.model import AlignmentModel

    model = AlignmentModel(cfg, len(vocab), region_dim, global_dim, word_vectors=word_vectors)
    model.build_all(num_windows)
    return model


def _batches(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    order = rng.permutation(n)
    # A last batch of one pair has no negatives: fold it into the previous one.
    cuts = list(range(0, n, batch_size))
    if len(cuts) > 1 and n - cuts[-1] < 2:
        cuts.pop()
    return [order[c : (cuts[i + 1] if i + 1 < len(cuts) else n)] for i, c in enumerate(cuts)]


def train_alignment(
    train_pattern: str | Sequence[str] | AlignmentSplit,
    eval_pattern: str | Sequence[str] | AlignmentSplit,
    out_dir: str,
    config: AlignmentConfig,
    *,
    verbose: bool = True,
) -> tuple[TrainedAlignment, AlignmentResult]:
    """Train on `train_pattern`, select on `eval_pattern`, save to `out_dir`.

    Args:
      train_pattern, eval_pattern: feature TFRecord patterns, or splits already read.
      out_dir: receives the weights, alignment.json and history.csv.
    """
    import keras
    import tensorflow as tf

    from retrieval.embed import Embedder
    from retrieval.loss import ranking_loss
    from retrieval.model import pair_scores

    started = time.time()
    cfg = config.validate()
    keras.utils.set_random_seed(cfg.seed)
    train = _as_split(train_pattern, cfg)
    val = _as_split(eval_pattern, cfg)
    if train.local_shape != val.local_shape or (
        train.global_features.shape[1] != val.global_features.shape[1]
    ):
        raise VistflowError(
            f"train features {train.global_features.shape[1]}/{train.local_shape} differ from "
            f"eval features {val.global_features.shape[1]}/{val.local_shape}"
        )
    vocab = Vocabulary.from_sentences(
        train.sentences, min_count=cfg.min_count, max_size=cfg.max_vocab
    )
    logger.info(
        "alignment: %d train images / %d sentences, %d val images / %d sentences, vocabulary %d",
        train.num_images,
        train.num_sentences,
        val.num_images,
        val.num_sentences,
        len(vocab),
    )
    word_vectors = None
    if cfg.word_vectors:
        from retrieval.wordvec import load_word_vectors

        word_vectors, _ = load_word_vectors(
            cfg.word_vectors, vocab.words, cfg.word_dim, seed=cfg.seed
        )
    h, w, c = train.local_shape
    boxes = regions_lib.window_boxes(h, w, cfg.windows)
    model = build_model(
        cfg, vocab, c, train.global_features.shape[1], len(boxes), word_vectors=word_vectors
    )
    model.set_feature_stats(train.windows, train.global_features)
    trained = TrainedAlignment(
        model,
        vocab,
        cfg,
        train.local_shape,
        int(train.global_features.shape[1]),
        train.backbone,
        boxes,
    )
    optimizer = _optimizer(cfg)
    variables = model.trainable_variables
    tokens = encode_sentences(train.sentences, vocab, cfg.max_tokens)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, len(boxes), c], tf.float32),
            tf.TensorSpec([None, train.global_features.shape[1]], tf.float32),
            tf.TensorSpec([None, cfg.max_tokens], tf.int32),
            tf.TensorSpec([None], tf.int64),
        ]
    )
    def step(windows, glob, toks, image_ids):
        with tf.GradientTape() as tape:
            v = model.embed_regions(windows, glob, training=True)
            s, mask = model.embed_words(toks, training=True)
            loss = ranking_loss(pair_scores(v, s, mask), image_ids, cfg.margin)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    embedder = Embedder(model, vocab)
    rng = np.random.default_rng(cfg.seed)
    history: list[dict] = []
    best_sum, best_epoch, best_weights, best_metrics = -1.0, 0, None, {}
    stale = 0
    steps = 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.time()
        losses = []
        for batch in _batches(rng, train.num_sentences, cfg.batch_size):
            img = train.sentence_image[batch]
            loss = step(train.windows[img], train.global_features[img], tokens[batch], img)
            losses.append(float(loss))
            steps += 1
        if not np.isfinite(losses).all():
            raise VistflowError(
                f"alignment training diverged at epoch {epoch} (loss {losses[-1]}): lower "
                f"learning_rate ({cfg.learning_rate})"
            )
        metrics, embedded = embedder.evaluate(val)
        total = ranking.recall_sum(metrics)
        collapsed = not np.any(embedded.words * embedded.mask[..., None])
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "val_recall_sum": total,
            **{f"val_{d}_{k}": v for d, m in metrics.items() for k, v in m.to_dict().items()},
            "seconds": round(time.time() - t0, 2),
        }
        history.append(row)
        if verbose:
            logger.info(
                "epoch %d/%d: loss %.4f, val R@1/5/10 i->s %.1f/%.1f/%.1f s->i %.1f/%.1f/%.1f (%.1fs)",
                epoch,
                cfg.epochs,
                row["loss"],
                *(getattr(metrics[d], k) for d in metrics for k in ("r1", "r5", "r10")),
                row["seconds"],
            )
        if collapsed:
            # Every s_t = ReLU(...) is 0: all scores tie and no gradient flows back (dying ReLU;
            # SGD with a too-large learning rate does this early). Nothing more can be learnt.
            logger.error(
                "alignment collapsed at epoch %d: every word vector is zero (dead ReLU); keeping "
                "epoch %d. Lower learning_rate (%g).",
                epoch,
                best_epoch,
                cfg.learning_rate,
            )
            row["collapsed"] = True
            if best_weights is None:
                best_weights = [v.numpy() for v in model.weights]
                best_epoch = epoch
            break
        if total > best_sum:
            best_sum, best_epoch, stale = total, epoch, 0
            best_weights = [v.numpy() for v in model.weights]
            best_metrics = {d: m.to_dict() for d, m in metrics.items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                logger.info("no better validation recall for %d epochs: stopping", stale)
                break
    for var, value in zip(model.weights, best_weights, strict=True):
        var.assign(value)

    result = AlignmentResult(
        out_dir=out_dir,
        epochs=len(history),
        best_epoch=best_epoch,
        stopped_early=len(history) < cfg.epochs,
        collapsed=bool(history and history[-1].get("collapsed")),
        steps=steps,
        wall_time_s=round(time.time() - started, 2),
        vocab_size=len(vocab),
        train_images=train.num_images,
        train_sentences=train.num_sentences,
        val_metrics=best_metrics,
        history=history,
    )
    save_trained(trained, out_dir, result)
    return trained, result


def _as_split(source, cfg: AlignmentConfig) -> AlignmentSplit:
    if isinstance(source, AlignmentSplit):
        wanted = tuple(tuple(float(v) for v in w) for w in cfg.windows)
        if tuple(source.window_spec) != wanted:
            raise VistflowError(
                f"{source.source or 'split'}: its regions were pooled with windows "
                f"{source.window_spec}, the config asks for {wanted}: read it with the config's"
            )
        return source
    return read_split(source, cfg.windows)


def save_trained(trained: TrainedAlignment, out_dir: str, result: AlignmentResult | None = None):
    """Write the weights and alignment.json (+ history.csv) of a trained model to `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    trained.model.save_weights(os.path.join(out_dir, WEIGHTS_FILE), overwrite=True)
    meta = trained.metadata()
    if result is not None:
        meta["training"] = {k: v for k, v in vars(result).items() if k != "out_dir"}
        with open(os.path.join(out_dir, "history.csv"), "w") as f:
            f.write(_history_csv(result.history))
    with open(os.path.join(out_dir, META_FILE), "w") as f:
        json.dump(meta, f, indent=1)


def load_trained(model_dir: str) -> TrainedAlignment:
    """Rebuild a TrainedAlignment from what `save_trained` wrote."""
    path = os.path.join(model_dir, META_FILE)
    try:
        with open(path) as f:
            meta = json.load(f)
        cfg = AlignmentConfig.from_dict(meta["config"])
        vocab = Vocabulary(words=tuple(meta["vocabulary"]), min_count=cfg.min_count)
        boxes = np.asarray(meta["window_boxes"], np.int32).reshape(-1, 4)
        local_shape = tuple(int(v) for v in meta["local_shape"])
        global_dim = int(meta["global_dim"])
    except (OSError, ValueError, KeyError) as e:
        raise VistflowError(f"{path}: not a trained alignment model: {e}") from e
    model = build_model(cfg.replace(word_vectors=""), vocab, local_shape[2], global_dim, len(boxes))
    model.load_weights(os.path.join(model_dir, WEIGHTS_FILE))
    return TrainedAlignment(model, vocab, cfg, local_shape, global_dim, meta["backbone"], boxes)


def _history_csv(history: list[dict]) -> str:
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()
