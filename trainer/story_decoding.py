"""Story decoding: the P sentences of a story one after another, batched over stories, in-graph.

`decode_story` runs a `tf.while_loop` over sentence positions j = 0..P-1; each iteration decodes
sentence j of every story at once with the one decoder (trainer/decoding.py), whatever the
method (greedy, beam, sampling). A sentence sees what the story said before it:

- `seq2seq_story` is conditioned on the previous generated sentence (004), so it always decodes
  this way;
- with a story-level repetition control (`DecodingConfig.story_control`: `story_block_ngram`,
  `story_repetition_penalty`) every model does, because sentence j must know sentences 0..j-1.
  Per-image models then caption photo j of every story at iteration j, global_context decodes
  its j-th parallel LSTM (the P LSTMs only share h0, so this changes nothing else).

Decoding the P sentences jointly (as P rows of one batch, with blocking across rows) would keep
one decoding pass per story, but "earlier sentence" has no meaning there and a beam's choice in
one row would depend on unfinished hypotheses of the others; sequential decoding costs P passes
of N rows instead of one of N*P rows, and it is what the story signatures do when a control is
on. Without one, per-image models and global_context keep the one joint pass.

The blocking (`story_block_ngram` = n): at every step, the word that would complete an n-gram
already in the story (an earlier sentence, or earlier in this one) gets a -inf logit; END is never
blocked, except when the sentence so far is an exact earlier sentence (so a sentence shorter than
n words is not said twice either). The count penalty (GLACNet) subtracts penalty * count from the
logit of each word the earlier sentences used. Both change the decoding distribution, so `scores`
are log-probabilities under it (trainer/decoding.py's convention).

The loop keeps the story so far as `history` [N, P*(T+1)] (each finished sentence: T tokens and
an END separator, oldest first, PAD where no sentence was decoded yet).

`python_decode_sentence` / `python_decode_story` are the reference: the same algorithm as Python
loops over one story, with the blocked n-grams kept as Python sets (the tests check the graph
against them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from trainer.hparams import DecodingConfig
from vistflow.vocabulary import END_ID, PAD_ID, START_ID

# sentence_fn(j, prev_tokens [N, T']) -> (context, state) of the rows generating sentence j.
SentenceFn = Callable[..., tuple]


def decode_story(
    step_fn,
    sentence_fn: SentenceFn,
    decode_fn,
    rows,
    photos: int,
    *,
    steps: int = 0,
    attention_size: int = 0,
    history: bool = False,
) -> dict:
    """Decode P sentences per story: {"tokens" [N, P, T], "scores" [N, P] (+ "attention")}.

    decode_fn(step_fn, context, state[, history=]) decodes one sentence of every story
    (trainer.decoding.decode with the settings bound); with `history` it is given the story so
    far, `steps` (T = max_length) sized.
    """
    arrays = {
        "tokens": tf.TensorArray(tf.int32, size=photos, element_shape=[None, None]),
        "scores": tf.TensorArray(tf.float32, size=photos, element_shape=[None]),
    }
    if attention_size:
        arrays["attention"] = tf.TensorArray(
            tf.float32, size=photos, element_shape=[None, None, attention_size]
        )

    def body(j, prev, story, arrays):
        context, state = sentence_fn(j, prev)
        if history:
            out = decode_fn(step_fn, context, state, history=story)
            sep = tf.fill([rows, 1], END_ID)
            story = tf.concat([story[:, steps + 1 :], out["tokens"], sep], axis=1)
        else:
            out = decode_fn(step_fn, context, state)
        arrays = {k: arrays[k].write(j, out[k]) for k in arrays}
        # Generated words, END, then PAD: the form seq2seq_story's sentence encoder was trained on.
        return j + 1, out["tokens"], story, arrays

    story = tf.fill([rows, photos * (steps + 1)], PAD_ID) if history else tf.zeros([0], tf.int32)
    _, _, _, arrays = tf.while_loop(
        lambda j, *_: j < photos,
        body,
        (tf.constant(0), tf.fill([rows, 1], START_ID), story, arrays),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, None]),
            story.shape if not history else tf.TensorShape([None, photos * (steps + 1)]),
            {k: tf.TensorShape(None) for k in arrays},
        ),
    )
    out = {
        "tokens": tf.transpose(arrays["tokens"].stack(), [1, 0, 2]),
        "scores": tf.transpose(arrays["scores"].stack()),
    }
    if attention_size:
        out["attention"] = tf.transpose(arrays["attention"].stack(), [1, 0, 2, 3])
    return out


# ---- Python reference ---------------------------------------------------------------------------


def sentence_words(tokens) -> list[int]:
    """The words of a decoded sentence: its tokens before END, PAD dropped."""
    words = []
    for tok in tokens:
        if tok == END_ID:
            break
        if tok not in (PAD_ID, START_ID):
            words.append(int(tok))
    return words


def ngrams(words: list[int], n: int) -> set[tuple[int, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def python_decode_sentence(
    step_fn,
    context: dict,
    state: dict,
    config: DecodingConfig,
    *,
    vocab_size: int,
    history: list[list[int]],
) -> tuple[list[int], float]:
    """Beam search (k = 1: greedy) of ONE row, the story's earlier sentences in `history`.

    Same algorithm and conventions as the in-graph decoder (ties aside).
    """
    from trainer.decoding import NEG_INF, banned_bias

    if config.method == "sample":
        raise ValueError("the Python reference decodes greedy and beam only")
    k = config.beam_size if config.method == "beam" else 1
    steps, n, alpha = config.max_length, config.story_block_ngram, config.length_normalization
    bias = banned_bias(config, vocab_size).numpy()
    earlier = [sentence_words(s) for s in history]
    story_grams = set().union(*(ngrams(w, n) for w in earlier)) if n > 0 else set()
    ended = [tuple(w) for w, s in zip(earlier, history, strict=True) if END_ID in list(s)]
    counts = np.zeros(vocab_size, np.float32)
    for words in earlier:
        for w in words:
            counts[w] += 1
    context = {key: tf.repeat(v, k, axis=0) for key, v in context.items()}
    state = {key: tf.repeat(v, k, axis=0) for key, v in state.items()}
    log_probs = np.array([0.0] + [NEG_INF] * (k - 1), np.float32)
    lengths = np.zeros(k, np.int64)
    seqs = np.full((k, steps), PAD_ID, np.int32)
    finished = np.zeros(k, bool)
    seen = np.zeros((k, vocab_size), np.float32)
    prev = np.full(k, START_ID, np.int32)
    pad_only = np.where(np.arange(vocab_size) == PAD_ID, 0.0, NEG_INF).astype(np.float32)

    def rank(scores, lens):
        if not alpha:
            return scores
        return scores / (((5.0 + lens.astype(np.float32)) / 6.0) ** alpha).astype(np.float32)

    for t in range(steps):
        logits, new_state, _ = step_fn(tf.constant(prev), context, state)
        logits = logits.numpy() + bias
        if config.repetition_penalty != 1.0:
            p = config.repetition_penalty
            logits = np.where(seen > 0, np.where(logits > 0, logits / p, logits * p), logits)
        if config.story_repetition_penalty:
            logits = logits - counts * np.float32(config.story_repetition_penalty)
        if n > 0:
            for b in range(k):
                own = seqs[b, :t].tolist()
                if tuple(own) in ended:
                    logits[b, END_ID] = NEG_INF
                if len(own) < n - 1:
                    continue
                prefix = tuple(own[len(own) - (n - 1) :])
                for gram in story_grams | ngrams(own, n):
                    if gram[:-1] == prefix and gram[-1] != END_ID:
                        logits[b, gram[-1]] = NEG_INF
        logp = logits - _logsumexp(logits)
        logp[finished] = pad_only
        candidates = (log_probs[:, None] + logp).reshape(-1)
        cand_len = np.repeat(np.where(finished, lengths, t + 1), vocab_size)
        top = np.argsort(-rank(candidates, cand_len), kind="stable")[:k]
        parent, tok = top // vocab_size, (top % vocab_size).astype(np.int32)
        log_probs = candidates[top].astype(np.float32)
        lengths = cand_len[top]
        seqs = seqs[parent]
        seqs[:, t] = tok
        seen = seen[parent]
        seen[np.arange(k), tok] = 1.0
        finished = finished[parent] | (tok == END_ID)
        state = {key: tf.gather(v, parent) for key, v in new_state.items()}
        prev = tok
        best_finished = np.max(np.where(finished, rank(log_probs, lengths), 2 * NEG_INF))
        live = rank(log_probs, np.full(k, steps))
        best_live = np.max(np.where(finished, 2 * NEG_INF, live))
        if best_finished >= best_live:
            break
    best = int(np.argmax(rank(log_probs, lengths)))
    return seqs[best].tolist(), float(log_probs[best])


def python_decode_story(
    step_fn,
    sentence_fn: SentenceFn,
    config: DecodingConfig,
    *,
    vocab_size: int,
    photos: int,
) -> tuple[list[list[int]], list[float]]:
    """The P sentences of ONE story (sentence_fn over one row), one after another."""
    sentences, scores = [], []
    prev = tf.constant([[START_ID]])
    for j in range(photos):
        context, state = sentence_fn(tf.constant(j), prev)
        tokens, score = python_decode_sentence(
            step_fn, context, state, config, vocab_size=vocab_size, history=sentences
        )
        sentences.append(tokens)
        scores.append(score)
        prev = tf.constant([tokens], tf.int32)
    return sentences, scores


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
