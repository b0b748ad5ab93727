"""`tf.distribute` for the Trainer: the strategy named by `HParams.distribute`, and the mends
that make a replicated Keras 3.6 step the one-device step on the same global batch.

  none                   the default strategy: one device, exactly the path of every run before
  mirrored               MirroredStrategy over this machine's GPUs, or its logical CPU devices
                         when it has no GPU (tests and benchmarks split the CPU: `split_cpu`)
  multi_worker_mirrored  MultiWorkerMirroredStrategy: workers from TF_CONFIG (none: this process
                         alone); every worker runs the whole `train()`, only the chief writes the
                         real outputs (`is_chief`, `scratch_dir`)

`batch_size` stays the global batch. What Keras 3.6 (TF backend) gets wrong under a strategy,
each measured on the tiny test run (tests/trainer/test_distribute.py), and mended here:
  - it sums the replicas' gradients without scaling their losses, and our losses are means per
    target token of the replica's rows: N replicas step N times too far, tokens weighted by
    replica. `prepare_model` weights each replica's loss by its share of the global batch's
    tokens, so the sum is the gradient of the global per-token mean (cross-entropy and the
    attention penalty alike) and the logged loss is the global value;
  - fit/evaluate build the model from `next()` of the iterator training then reads: the first
    batch of every epoch is skipped;
  - metrics keep per-replica variables and report the first replica's;
  - a batched-then-repeated validation set is re-split into per-replica batches across the
    repeat boundary (`validation_data`).
Re-check these on a Keras upgrade: tests/trainer/test_distribute.py fails if one comes back.
"""

from __future__ import annotations

import json
import logging
import os

from trainer.hparams import DISTRIBUTE as STRATEGIES
from vistflow.errors import VistflowError

logger = logging.getLogger(__name__)


def split_cpu(devices: int) -> None:
    """Make `devices` logical CPU devices (tests, benchmarks). Call before TensorFlow starts."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices
        )
    except RuntimeError as e:  # TF already initialised: the split would silently not happen
        raise VistflowError(f"cannot split the CPU into {devices} devices: {e}") from e


def make_strategy(name: str):
    """The tf.distribute strategy `name` (one of STRATEGIES)."""
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    # MirroredStrategy on a machine without GPUs uses CPU:0 alone: name the logical CPUs.
    local = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=local)
    elif name == "multi_worker_mirrored":
        if gpus or len(local) == 1 or _cluster():
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            # One worker on logical CPUs (tests, benchmarks): the constructor takes only
            # accelerators as local devices; this is the one TensorFlow's own tests use.
            strategy = tf.distribute.MultiWorkerMirroredStrategy._from_local_devices(local)
    else:
        raise VistflowError(f"distribute {name!r}: choose one of {', '.join(STRATEGIES)}")
    logger.info("distribute: %s, %d replicas in sync", name, strategy.num_replicas_in_sync)
    return strategy


def prepare_model(model, strategy, metrics=()) -> None:
    """Mend Keras 3.6's training under a non-default strategy (a no-op without one).

    Call after `model.compile`, with the metric objects passed to it.
    """
    if strategy is _default_strategy():
        return
    _build_without_consuming_a_batch(model)
    _share_loss_by_tokens(model)
    for metric in (model._loss_tracker, *metrics):
        _sum_over_replicas(metric)


def validation_data(dataset, steps: int, strategy):
    """(validation dataset, validation_steps) for `fit`: the same batches every epoch.

    One device: batched, then repeated, with `steps` (Keras keeps one validation iterator for
    the whole fit). Under a strategy that stream would be split into per-replica batches across
    the repeat boundary (a partial last batch takes rows of the next pass): a finite dataset of
    the first `steps` batches instead, read anew each epoch.
    """
    if strategy is _default_strategy():
        return dataset.repeat(), steps
    return dataset.take(steps), None


def _default_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()  # outside any scope: the default strategy


def _build_without_consuming_a_batch(model) -> None:
    """Under a strategy, Keras 3.6's fit/evaluate build the model from `next(iterator)`, and
    with steps_per_epoch the iterator is the one training then reads: every epoch's first
    training and validation batch would be skipped (a run would not see the one-device data).
    Build from the dataset's element spec instead.
    """

    def maybe_build(iterator=None, data_batch=None):
        if iterator is not None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_build


def _share_loss_by_tokens(model) -> None:
    """Weight each replica's loss by its share of the global batch's target tokens (see above).

    Wraps `model.compute_loss` (the compiled loss plus the model's own losses).
    """
    import tensorflow as tf

    from trainer.models.layers import token_mask

    compute_loss = model.compute_loss

    def shared(x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = compute_loss(x, y, y_pred, sample_weight, training)
        replica = tf.distribute.get_replica_context()
        if replica is None:  # Keras' symbolic build, in cross-replica context: nothing to share
            return loss
        tokens = tf.reduce_sum(token_mask(y))
        weighted = loss * tokens  # this replica's summed per-token loss
        total, all_tokens = replica.all_reduce(
            tf.distribute.ReduceOp.SUM, [tf.stop_gradient(weighted), tokens]
        )
        all_tokens = tf.maximum(all_tokens, 1.0)
        share = weighted / all_tokens
        # Value: the global mean (what one device reports); gradient: this replica's share.
        return share + tf.stop_gradient(total / all_tokens - share)

    model.compute_loss = shared


def is_chief(strategy) -> bool:
    """Whether this process writes the run's outputs (always, unless a multi-worker cluster).

    Every worker of a multi-worker run executes the whole `train()`; the chief is the `chief`
    task, or worker 0 when TF_CONFIG names no chief (TensorFlow's convention).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and resolver.task_id == 0 and not _cluster().get("chief")


def scratch_dir(out_dir: str, strategy) -> str:
    """Where a non-chief worker writes its copies (they must not overwrite the chief's)."""
    resolver = strategy.cluster_resolver
    return os.path.join(out_dir, f".{resolver.task_type}-{resolver.task_id}")


def _cluster() -> dict:
    return json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})


def _sum_over_replicas(metric) -> None:
    """Keras 3.6 keeps a metric's variables per replica and reports the first replica's: a
    history (and early stopping on val_token_nll) would see half the data. Every replica adds
    the sum of all replicas' updates instead. For additive metrics (totals and counts: Mean,
    MaskedTokenMetric).
    """
    import tensorflow as tf

    update_state = metric.update_state

    def update_everywhere(*args, **kwargs):
        replica = tf.distribute.get_replica_context()
        if replica is None or replica.num_replicas_in_sync == 1:
            return update_state(*args, **kwargs)
        before = [tf.identity(v.value) for v in metric.variables]
        update_state(*args, **kwargs)
        local = [v.value - b for v, b in zip(metric.variables, before, strict=True)]
        everywhere = replica.all_reduce(tf.distribute.ReduceOp.SUM, local)
        for v, mine, total in zip(metric.variables, local, everywhere, strict=True):
            v.assign_add(total - mine)

    metric.update_state = update_everywhere
