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
  decoding distribution (after the token masks, blocked n-grams, penalties, and for sampling
  the temperature and top-k); where no n-gram was blocked, with the other defaults, that is the
  model's own log-probability.
- `tokens` [N, max_length] hold the words, then END, then PAD; a sentence that reaches
  `max_length` without END is cut there. `attention` [N, max_length, L] is zero after END.
- Story-level controls (`story_block_ngram`, `story_repetition_penalty`) read `history`, the
  earlier sentences of the row's story (trainer/story_decoding.py); n-gram blocking also covers
  the sentence's own earlier n-grams, so a single caption gets it too.
- `length_normalization` alpha > 0 (beam only) ranks hypotheses by score / ((5 + len) / 6)^alpha
  (GNMT), len = tokens emitted including END; the returned `scores` stay summed log-probs.

Beam search keeps finished hypotheses in the beam with their final score (they can only be
extended by PAD at no cost), so a finished sentence is returned as soon as no live hypothesis can
beat it (log-probabilities only fall), and k = 1 is exactly greedy decoding.
`python_beam_search` is the same algorithm as a per-image Python loop over compiled steps (the
im2txt-style baseline measured by benchmarks/decode.py, and a cross-check in the tests; it lives
in trainer/story_decoding.py with the story reference).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from trainer.hparams import DecodingConfig
from vistflow.vocabulary import END_ID, PAD_ID, START_ID, UNK_ID

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
    history=None,
) -> dict:
    """Decode every row: returns {"tokens" [N, T] int32, "scores" [N] float32,
    "attention" [N, T, L] float32 (only if attention_size)} with T = config.max_length.

    history: [N, H] int32, the earlier sentences of each row's story (words, END, PAD; a PAD or
    END column between sentences), read by the story controls; None = the row starts a story.
    """
    controls = _StoryControls(config, vocab_size, history)
    if config.method == "beam" and config.beam_size > 1:
        return _beam_search(step_fn, context, state, config, vocab_size, attention_size, controls)
    return _sequential(step_fn, context, state, config, vocab_size, attention_size, controls)


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


def blocked_words(seen, prefix, n: int, vocab_size: int):
    """[R, V] bool: the words that would complete an n-gram of `seen` [R, M] after `prefix`.

    `prefix` [R, n-1] is each hypothesis' last n-1 tokens (START before its first word, so no
    n-gram matches before n-1 words). END is never blocked (a sentence may always stop); windows
    holding END/PAD in their first n-1 tokens never match a live hypothesis.
    """
    rows = tf.shape(seen)[0]
    seen = tf.pad(seen, [[0, 0], [0, n]], constant_values=PAD_ID)  # at least one window
    width = tf.shape(seen)[1] - n + 1
    match = tf.ones([rows, width], tf.bool)
    for i in range(n - 1):
        match &= tf.equal(seen[:, i : i + width], prefix[:, i : i + 1])
    target = seen[:, n - 1 : n - 1 + width]
    match &= tf.not_equal(target, END_ID) & tf.not_equal(target, PAD_ID)
    index = tf.stack([tf.broadcast_to(tf.range(rows)[:, None], [rows, width]), target], axis=-1)
    hits = tf.tensor_scatter_nd_max(
        tf.zeros([rows, vocab_size]),
        tf.reshape(index, [-1, 2]),
        tf.reshape(tf.cast(match, tf.float32), [-1]),
    )
    return hits > 0


def story_counts(history, vocab_size: int):
    """[R, H] tokens -> [R, V] how often each word occurs (PAD, START, END not counted)."""
    rows, length = tf.shape(history)[0], tf.shape(history)[1]
    word = (history != PAD_ID) & (history != START_ID) & (history != END_ID)
    index = tf.stack([tf.repeat(tf.range(rows), length), tf.reshape(history, [-1])], axis=1)
    return tf.tensor_scatter_nd_add(
        tf.zeros([rows, vocab_size]), index, tf.reshape(tf.cast(word, tf.float32), [-1])
    )


class _StoryControls:
    """The story-level repetition controls of one sentence, applied to each step's logits."""

    def __init__(self, config: DecodingConfig, vocab_size: int, history):
        self.n = config.story_block_ngram
        self.vocab_size = vocab_size
        self.penalty = config.story_repetition_penalty
        self.history = history
        self.counts = None
        if history is not None and self.penalty > 0:
            self.counts = story_counts(history, vocab_size) * self.penalty

    def tile(self, k: int) -> _StoryControls:
        """The same controls for k beams per row (rows repeated consecutively)."""
        out = _StoryControls.__new__(_StoryControls)
        out.__dict__.update(self.__dict__)
        if self.history is not None:
            out.history = tf.repeat(self.history, k, axis=0)
        if self.counts is not None:
            out.counts = tf.repeat(self.counts, k, axis=0)
        return out

    def apply(self, logits, own, t):
        """logits [R, V]; own [R, T] tokens of each hypothesis so far (PAD from step t on)."""
        shape = logits.shape  # keep a static row count static for the loops
        return tf.ensure_shape(self._apply(logits, own, t), shape)

    def _apply(self, logits, own, t):
        if self.counts is not None:
            logits = logits - self.counts
        if self.n <= 0:
            return logits
        rows = tf.shape(own)[0]
        padded = tf.concat([tf.fill([rows, self.n - 1], START_ID), own], axis=1)
        prefix = tf.gather(padded, t + tf.range(self.n - 1), axis=1)
        seen = own
        if self.history is not None:
            # An END column keeps a sentence cut at max_length apart from this one.
            seen = tf.concat([self.history, tf.fill([rows, 1], END_ID), own], axis=1)
        blocked = blocked_words(seen, prefix, self.n, self.vocab_size)
        if self.history is not None:
            # A sentence shorter than n words has no n-gram: it may not be said twice either.
            again = _repeats_a_sentence(self.history, own, t)
            blocked |= again[:, None] & tf.equal(tf.range(self.vocab_size), END_ID)[None, :]
        return tf.where(blocked, NEG_INF, logits)


def _repeats_a_sentence(history, own, t):
    """[R] bool: the hypothesis' t words are a whole earlier sentence (which ended with END)."""
    steps = own.shape[1]
    earlier = tf.reshape(history, [tf.shape(history)[0], -1, steps + 1])  # [R, P, T + 1]
    own = tf.pad(own, [[0, 0], [0, 1]], constant_values=PAD_ID)[:, None, :]
    before_t = tf.range(steps + 1)[None, None, :] < t
    same = tf.reduce_all(tf.equal(earlier, own) | ~before_t, axis=-1)
    ends = tf.equal(tf.gather(earlier, t, axis=2), END_ID)
    return tf.reduce_any(same & ends, axis=1)


def _sequential(step_fn, context, state, config, vocab_size, attention_size, controls):
    """Greedy (argmax) or sampling decoding, one token per row per step."""
    n = _rows(state)
    steps = config.max_length
    bias = banned_bias(config, vocab_size)
    use_seen = config.repetition_penalty != 1.0
    sample = config.method == "sample"
    use_own = controls.n > 0

    def body(t, prev, state, finished, scores, seen, own, tokens_ta, att_ta):
        logits, new_state, att = step_fn(prev, context, state)
        logits = _penalize(logits + bias, seen if use_seen else None, config.repetition_penalty)
        logits = controls.apply(logits, own, t)
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
        if use_own:
            own = tf.where(tf.equal(tf.range(steps), t)[None, :], tok[:, None], own)
        finished = finished | tf.equal(tok, END_ID)
        return t + 1, tok, new_state, finished, scores, seen, own, tokens_ta, att_ta

    def cond(t, prev, state, finished, *_):
        return tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished)))

    loop_vars = (
        tf.constant(0),
        tf.fill([n], START_ID),
        state,
        tf.zeros([n], tf.bool),
        tf.zeros([n]),
        tf.zeros([n, vocab_size]) if use_seen else tf.zeros([0]),
        tf.fill([n, steps], PAD_ID) if use_own else tf.zeros([0], tf.int32),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, attention_size]),
    )
    t, _, _, _, scores, _, _, tokens_ta, att_ta = tf.while_loop(
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


def length_penalty(length, alpha: float):
    """GNMT's ((5 + len) / 6) ** alpha; beam hypotheses are ranked by score / this."""
    return ((5.0 + tf.cast(length, tf.float32)) / 6.0) ** alpha


def _beam_search(step_fn, context, state, config, vocab_size, attention_size, controls):
    k = config.beam_size
    n = _rows(state)
    steps = config.max_length
    bias = banned_bias(config, vocab_size)
    use_seen = config.repetition_penalty != 1.0
    alpha = config.length_normalization
    width = min(k, vocab_size)
    controls = controls.tile(k)
    # A finished hypothesis may only continue with PAD, at no cost: its `width` best words.
    pad_only_scores = tf.constant([0.0] + [NEG_INF] * (width - 1))
    pad_only_words = tf.fill([width], PAD_ID)

    context = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), context)
    state = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), state)
    # Only beam 0 is live at first, so step 0 expands k distinct words of one hypothesis.
    first = tf.constant([0.0] + [NEG_INF] * (k - 1))
    log_probs = tf.tile(first[None, :], [n, 1])
    offsets = (tf.range(n) * k)[:, None]

    def body(t, prev, state, log_probs, finished, lengths, seqs, att_buf, seen):
        logits, new_state, att = step_fn(prev, context, state)
        logits = _penalize(logits + bias, seen if use_seen else None, config.repetition_penalty)
        logits = controls.apply(logits, tf.reshape(seqs, [n * k, steps]), t)
        # The k best continuations overall are among each hypothesis' own k best, so select per
        # hypothesis first ([n*k, V] -> [n*k, k]) and never build the [n, k*V] candidate table:
        # same result, ties included (both top_k passes prefer the lower flat index). All
        # continuations of one hypothesis have one length, so length normalisation keeps this.
        word_logits, words = tf.math.top_k(logits, width)
        word_logp = word_logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        done = tf.reshape(finished, [-1, 1])
        word_logp = tf.where(done, pad_only_scores[None, :], word_logp)
        words = tf.where(done, pad_only_words[None, :], words)
        candidates = tf.reshape(log_probs, [-1, 1]) + word_logp  # [n*k, width]
        flat_candidates = tf.reshape(candidates, [n, k * width])
        # A finished hypothesis keeps its length; a live one now has t + 1 tokens.
        cand_len = tf.where(done, tf.reshape(lengths, [-1, 1]), t + 1)
        cand_len = tf.reshape(tf.broadcast_to(cand_len, [n * k, width]), [n, k * width])
        if alpha:
            ranked = flat_candidates / length_penalty(cand_len, alpha)
            _, top_index = tf.math.top_k(ranked, k)
            top_scores = tf.gather(flat_candidates, top_index, batch_dims=1)
        else:
            top_scores, top_index = tf.math.top_k(flat_candidates, k)
        lengths = tf.gather(cand_len, top_index, batch_dims=1)
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
        return t + 1, flat_tok, new_state, top_scores, finished, lengths, seqs, att_buf, seen

    def ranking(log_probs, lengths):
        return log_probs / length_penalty(lengths, alpha) if alpha else log_probs

    def cond(t, prev, state, log_probs, finished, lengths, *_):
        # Live scores only fall, so once the best finished hypothesis of every row beats every
        # live one, nothing can change. With length normalisation a live hypothesis can still
        # reach score / penalty(max_length) at best (scores are <= 0).
        best_finished = tf.reduce_max(
            tf.where(finished, ranking(log_probs, lengths), 2 * NEG_INF), axis=1
        )
        live_bound = ranking(log_probs, tf.fill(tf.shape(lengths), steps))
        best_live = tf.reduce_max(tf.where(finished, 2 * NEG_INF, live_bound), axis=1)
        done = tf.reduce_all(best_finished >= best_live)
        return tf.logical_and(t < steps, tf.logical_not(done))

    loop_vars = (
        tf.constant(0),
        tf.fill([n * k], START_ID),
        state,
        log_probs,
        tf.zeros([n, k], tf.bool),
        tf.zeros([n, k], tf.int32),
        tf.fill([n, k, steps], PAD_ID),
        tf.zeros([n, k, steps, attention_size]) if attention_size else tf.zeros([0]),
        tf.zeros([n * k, vocab_size]) if use_seen else tf.zeros([0]),
    )
    _, _, _, log_probs, _, lengths, seqs, att_buf, _ = tf.while_loop(
        cond, body, loop_vars, maximum_iterations=steps
    )
    best = tf.argmax(ranking(log_probs, lengths), axis=1, output_type=tf.int32)
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
    history: list[list[int]] | None = None,
) -> tuple[list[int], float]:
    """Beam search of ONE row (context/state with leading dim 1) as a Python loop over steps.

    Same algorithm and conventions as the in-graph beam search (ties aside); `step_fn` is called
    once per step on the k beams, as im2txt's caption_generator does. The story controls read
    `history`, the earlier sentences of the row's story (trainer/story_decoding.py).
    """
    from trainer.story_decoding import python_decode_sentence

    return python_decode_sentence(
        step_fn, context, state, config, vocab_size=vocab_size, history=history or []
    )
