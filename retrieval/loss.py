"""The max-margin structured ranking loss of 002 (section 3.1.3, eq. 9).

For a batch of B corresponding pairs (image k, sentence k):

    C = sum_k [ sum_l max(0, S_kl - S_kk + margin)     (image k against the other sentences)
              + sum_l max(0, S_lk - S_kk + margin) ]   (sentence k against the other images)

Departures from the formula as printed, both because a batch may hold several sentences of the
same image (batches are drawn over sentences, several per image): pairs (k, l) whose image is the
same are not negatives and are left out (the printed sum would push an image away from its own
second caption), and so is l = k, whose term is a constant `margin`. The sum is divided by B so
the learning rate does not depend on the batch size.
"""

from __future__ import annotations

import tensorflow as tf


def ranking_loss(scores, image_ids, margin: float = 1.0):
    """Mean over the batch of eq. 9's hinge terms.

    Args:
      scores: `[B, B]` S_kl for the batch's images (rows) and sentences (columns); pair k is
        (image k, sentence k).
      image_ids: `[B]` int: which image pair k's image is (equal ids = not negatives).
      margin: the hinge margin (1 in the paper).
    """
    scores = tf.convert_to_tensor(scores)
    positive = tf.linalg.diag_part(scores)
    ids = tf.convert_to_tensor(image_ids)
    negative = tf.cast(tf.not_equal(ids[:, None], ids[None, :]), scores.dtype)
    rank_sentences = tf.nn.relu(scores - positive[:, None] + margin)  # row k: image k's query
    rank_images = tf.nn.relu(scores - positive[None, :] + margin)  # column k: sentence k's query
    total = tf.reduce_sum((rank_sentences + rank_images) * negative)
    return total / tf.cast(tf.shape(scores)[0], scores.dtype)
