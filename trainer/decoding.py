"""One decoder for every model: greedy, beam (k) and sampling, batched, inside the TF graph.

`decode(step_fn, context, state, config, ...)` runs a `tf.while_loop` over time for all rows at
once (no per-example Python), so it lives inside the exported SavedModel and TF Serving runs it.
`step_fn(tokens [N], context, state) -> (logits [N, V], state, attention [N, L] | None)` is a
model's `step` (trainer/models/base.py).

Conventions, shared by all methods:
- PAD and START are never generated; UNK neither when `suppress_unk` (the default).
- `repetition_penalty` p > 1 (CTRL, Keskar et al. 2019) divides positive logits / multiplies
  negative logits of words this hypothesis already produced.
- `scores` are the summed log-probabilities of the emitted tokens, END included, under the
  decoding distribution (after the token masks, repetition penalty, and for sampling the
  temperature and top-k); with the defaults that is the model's own log-probability.
- `tokens` [N, max_length] hold the words, then END, then PAD; a sentence that reaches
  `max_length` without END is cut there. `attention` [N, max_length, L] is zero after END.

Beam search keeps finished hypotheses in the beam with their final score (they can only be
extended by PAD at no cost), so a finished sentence is returned as soon as no live hypothesis can
beat it (log-probabilities only fall), and k = 1 is exactly greedy decoding.
`python_beam_search` is the same algorithm as a per-image Python loop over compiled steps (the
im2txt-style baseline measured by benchmarks/decode.py, and a cross-check in the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from trainer.hparams import DecodingConfig
from trainer.vocabulary import END_ID, PAD_ID, START_ID, UNK_ID

NEG_INF = -1e9
StepFn = Callable[..., tuple]


def decode(
    step_fn: StepFn,
    context: dict,
    state: dict,
    config: DecodingConfig,
    *,
    vocab_size: int,
    attention_size: int = 0,
) -> dict:
    """Decode every row: returns {"tokens" [N, T] int32, "scores" [N] float32,
    "attention" [N, T, L] float32 (only if attention_size)} with T = config.max_length."""
    if config.method == "beam" and config.beam_size > 1:
        return _beam_search(step_fn, context, state, config, vocab_size, attention_size)
    return _sequential(step_fn, context, state, config, vocab_size, attention_size)


def _rows(state: dict):
    return tf.shape(tf.nest.flatten(state)[0])[0]


def banned_bias(config: DecodingConfig, vocab_size: int) -> tf.Tensor:
    """[V] additive logit bias that removes PAD, START (and UNK) from every distribution."""
    banned = [PAD_ID, START_ID] + ([UNK_ID] if config.suppress_unk else [])
    return tf.reduce_sum(tf.one_hot(banned, vocab_size), axis=0) * NEG_INF


def _penalize(logits, seen, penalty: float):
    if seen is None:
        return logits
    penalized = tf.where(logits > 0, logits / penalty, logits * penalty)
    return tf.where(seen > 0, penalized, logits)


def _sequential(step_fn, context, state, config, vocab_size, attention_size):
    """Greedy (argmax) or sampling decoding, one token per row per step."""
    n = _rows(state)
    steps = config.max_length
    bias = banned_bias(config, vocab_size)
    use_seen = config.repetition_penalty != 1.0
    sample = config.method == "sample"

    def body(t, prev, state, finished, scores, seen, tokens_ta, att_ta):
        logits, new_state, att = step_fn(prev, context, state)
        logits = _penalize(logits + bias, seen if use_seen else None, config.repetition_penalty)
        if sample:
            logits = logits / config.temperature
            if config.top_k:
                kth = tf.math.top_k(logits, min(config.top_k, vocab_size)).values[:, -1:]
                logits = tf.where(logits < kth, NEG_INF, logits)
            if config.seed >= 0:
                seed = tf.stack([tf.constant(config.seed, tf.int32), t])
                tok = tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32)[:, 0]
            else:
                tok = tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]
        else:
            tok = tf.argmax(logits, axis=-1, output_type=tf.int32)
        logp = tf.nn.log_softmax(logits)
        tok_logp = tf.gather(logp, tok, batch_dims=1)
        tok = tf.where(finished, PAD_ID, tok)
        scores = scores + tf.where(finished, 0.0, tok_logp)
        tokens_ta = tokens_ta.write(t, tok)
        if attention_size:
            att_ta = att_ta.write(t, tf.where(finished[:, None], 0.0, att))
        if use_seen:
            seen = tf.maximum(seen, tf.one_hot(tok, vocab_size))
        finished = finished | tf.equal(tok, END_ID)
        return t + 1, tok, new_state, finished, scores, seen, tokens_ta, att_ta

    def cond(t, prev, state, finished, *_):
        return tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished)))

    loop_vars = (
        tf.constant(0),
        tf.fill([n], START_ID),
        state,
        tf.zeros([n], tf.bool),
        tf.zeros([n]),
        tf.zeros([n, vocab_size]) if use_seen else tf.zeros([0]),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, attention_size]),
    )
    t, _, _, _, scores, _, tokens_ta, att_ta = tf.while_loop(
        cond, body, loop_vars, maximum_iterations=steps
    )
    tokens = _pad_time(tf.transpose(tokens_ta.stack()), steps, PAD_ID)
    out = {"tokens": tf.ensure_shape(tokens, [None, steps]), "scores": scores}
    if attention_size:
        att = _pad_time(tf.transpose(att_ta.stack(), [1, 0, 2]), steps, 0.0)
        out["attention"] = tf.ensure_shape(att, [None, steps, attention_size])
    return out


def _pad_time(x, steps: int, value):
    """Pad axis 1 (time) of x up to `steps` (the loop may stop early when all rows finished)."""
    pad = steps - tf.shape(x)[1]
    paddings = [[0, 0], [0, pad]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)


def _beam_search(step_fn, context, state, config, vocab_size, attention_size):
    k = config.beam_size
    n = _rows(state)
    steps = config.max_length
    bias = banned_bias(config, vocab_size)
    use_seen = config.repetition_penalty != 1.0
    width = min(k, vocab_size)
    # A finished hypothesis may only continue with PAD, at no cost: its `width` best words.
    pad_only_scores = tf.constant([0.0] + [NEG_INF] * (width - 1))
    pad_only_words = tf.fill([width], PAD_ID)

    context = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), context)
    state = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), state)
    # Only beam 0 is live at first, so step 0 expands k distinct words of one hypothesis.
    first = tf.constant([0.0] + [NEG_INF] * (k - 1))
    log_probs = tf.tile(first[None, :], [n, 1])
    offsets = (tf.range(n) * k)[:, None]

    def body(t, prev, state, log_probs, finished, seqs, att_buf, seen):
        logits, new_state, att = step_fn(prev, context, state)
        logits = _penalize(logits + bias, seen if use_seen else None, config.repetition_penalty)
        # The k best continuations overall are among each hypothesis' own k best, so select per
        # hypothesis first ([n*k, V] -> [n*k, k]) and never build the [n, k*V] candidate table:
        # same result, ties included (both top_k passes prefer the lower flat index).
        word_logits, words = tf.math.top_k(logits, width)
        word_logp = word_logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        done = tf.reshape(finished, [-1, 1])
        word_logp = tf.where(done, pad_only_scores[None, :], word_logp)
        words = tf.where(done, pad_only_words[None, :], words)
        candidates = tf.reshape(log_probs, [-1, 1]) + word_logp  # [n*k, width]
        top_scores, top_index = tf.math.top_k(tf.reshape(candidates, [n, k * width]), k)
        parent = top_index // width  # [n, k]
        tok = tf.gather(tf.reshape(words, [n, k * width]), top_index, batch_dims=1)
        flat_parent = tf.reshape(parent + offsets, [-1])
        new_state = tf.nest.map_structure(lambda x: tf.gather(x, flat_parent), new_state)
        at_t = tf.equal(tf.range(steps), t)[None, None, :]
        seqs = tf.where(at_t, tok[:, :, None], tf.gather(seqs, parent, batch_dims=1))
        was_finished = tf.gather(finished, parent, batch_dims=1)
        if attention_size:
            att = tf.gather(tf.reshape(att, [n, k, attention_size]), parent, batch_dims=1)
            att = tf.where(was_finished[:, :, None], 0.0, att)
            att_buf = tf.where(
                at_t[..., None], att[:, :, None, :], tf.gather(att_buf, parent, batch_dims=1)
            )
        flat_tok = tf.reshape(tok, [-1])
        if use_seen:
            seen = tf.maximum(tf.gather(seen, flat_parent), tf.one_hot(flat_tok, vocab_size))
        finished = was_finished | tf.equal(tok, END_ID)
        return t + 1, flat_tok, new_state, top_scores, finished, seqs, att_buf, seen

    def cond(t, prev, state, log_probs, finished, *_):
        # Live scores only fall, so once the best finished hypothesis of every row beats every
        # live one, nothing can change.
        best_finished = tf.reduce_max(tf.where(finished, log_probs, 2 * NEG_INF), axis=1)
        best_live = tf.reduce_max(tf.where(finished, 2 * NEG_INF, log_probs), axis=1)
        done = tf.reduce_all(best_finished >= best_live)
        return tf.logical_and(t < steps, tf.logical_not(done))

    loop_vars = (
        tf.constant(0),
        tf.fill([n * k], START_ID),
        state,
        log_probs,
        tf.zeros([n, k], tf.bool),
        tf.fill([n, k, steps], PAD_ID),
        tf.zeros([n, k, steps, attention_size]) if attention_size else tf.zeros([0]),
        tf.zeros([n * k, vocab_size]) if use_seen else tf.zeros([0]),
    )
    _, _, _, log_probs, _, seqs, att_buf, _ = tf.while_loop(
        cond, body, loop_vars, maximum_iterations=steps
    )
    best = tf.argmax(log_probs, axis=1, output_type=tf.int32)
    out = {
        "tokens": tf.gather(seqs, best, batch_dims=1),
        "scores": tf.gather(log_probs, best, batch_dims=1),
    }
    if attention_size:
        out["attention"] = tf.gather(att_buf, best, batch_dims=1)
    return out


def python_beam_search(
    step_fn: StepFn,
    context: dict,
    state: dict,
    config: DecodingConfig,
    *,
    vocab_size: int,
) -> tuple[list[int], float]:
    """Beam search of ONE row (context/state with leading dim 1) as a Python loop over steps.

    Same algorithm and conventions as the in-graph beam search (ties aside); `step_fn` is called
    once per step on the k beams, as im2txt's caption_generator does.
    """
    k = config.beam_size if config.method == "beam" else 1
    steps = config.max_length
    bias = banned_bias(config, vocab_size).numpy()
    context = {key: tf.repeat(v, k, axis=0) for key, v in context.items()}
    state = {key: tf.repeat(v, k, axis=0) for key, v in state.items()}
    log_probs = np.array([0.0] + [NEG_INF] * (k - 1), np.float32)
    seqs = np.full((k, steps), PAD_ID, np.int32)
    finished = np.zeros(k, bool)
    seen = np.zeros((k, vocab_size), np.float32)
    prev = np.full(k, START_ID, np.int32)
    pad_only = np.where(np.arange(vocab_size) == PAD_ID, 0.0, NEG_INF).astype(np.float32)
    for t in range(steps):
        logits, new_state, _ = step_fn(tf.constant(prev), context, state)
        logits = logits.numpy() + bias
        if config.repetition_penalty != 1.0:
            p = config.repetition_penalty
            logits = np.where(seen > 0, np.where(logits > 0, logits / p, logits * p), logits)
        logp = logits - _logsumexp(logits)
        logp[finished] = pad_only
        candidates = (log_probs[:, None] + logp).reshape(-1)
        top = np.argsort(-candidates, kind="stable")[:k]
        parent, tok = top // vocab_size, (top % vocab_size).astype(np.int32)
        log_probs = candidates[top].astype(np.float32)
        seqs = seqs[parent]
        seqs[:, t] = tok
        seen = seen[parent]
        seen[np.arange(k), tok] = 1.0
        finished = finished[parent] | (tok == END_ID)
        state = {key: tf.gather(v, parent) for key, v in new_state.items()}
        prev = tok
        best_finished = np.max(np.where(finished, log_probs, 2 * NEG_INF))
        best_live = np.max(np.where(finished, 2 * NEG_INF, log_probs))
        if best_finished >= best_live:
            break
    best = int(np.argmax(log_probs))
    return seqs[best].tolist(), float(log_probs[best])


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
