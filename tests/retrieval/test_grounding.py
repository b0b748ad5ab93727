"""When regions carry what the words name, training learns to align each word to its region.

A controlled dataset with a known answer: each image is a 4 x 4 feature grid holding two
concepts, each in one quadrant (a one-hot direction added to that quadrant's cells), and its
sentences name both. The regions are the four quadrants (+ the whole image). After training on
the ranking loss alone (no box supervision), the MRF with beta = 0 must send each concept word to
the quadrant that holds it on unseen images: the property section 3.1.4 relies on.
"""

from __future__ import annotations

import numpy as np

from retrieval import regions as regions_lib
from retrieval.data import AlignmentSplit

NAMES = ("zebra", "kettle", "violin", "tulip", "anchor", "lantern")
QUADRANTS = ((0.5, 0.5),)  # windows of half the side at stride half: the four quadrants


def concept_split(n: int, seed: int) -> tuple[AlignmentSplit, list[dict[str, int]]]:
    rng = np.random.default_rng(seed)
    c = len(NAMES) + 2
    local = rng.normal(0.0, 0.2, size=(n, 4, 4, c)).astype(np.float32)
    boxes = regions_lib.window_boxes(4, 4, QUADRANTS)
    truth, sentences, sentence_image = [], [], []
    for i in range(n):
        a, b = rng.choice(len(NAMES), 2, replace=False)
        qa, qb = rng.choice(4, 2, replace=False)
        for concept, q in ((a, qa), (b, qb)):
            y0, x0, y1, x1 = boxes[q]
            local[i, y0:y1, x0:x1, concept] += 1.0
        truth.append({NAMES[a]: int(qa), NAMES[b]: int(qb)})
        for text in (f"a {NAMES[a]} and a {NAMES[b]}", f"the {NAMES[b]} next to the {NAMES[a]}"):
            sentences.append(text)
            sentence_image.append(i)
    matrix = regions_lib.pooling_matrix(boxes, 4, 4)
    split = AlignmentSplit(
        photo_ids=[f"img{i}" for i in range(n)],
        image_uris=[f"/img{i}.png" for i in range(n)],
        global_features=local.mean(axis=(1, 2)),
        windows=regions_lib.pool(local, matrix),
        whole=local.mean(axis=(1, 2)),
        sentences=sentences,
        sentence_image=np.asarray(sentence_image),
        local_shape=(4, 4, c),
        backbone="concepts",
        window_spec=QUADRANTS,
    )
    return split, truth


def test_words_align_to_the_regions_that_hold_them(tmp_path):
    from retrieval import mrf, ranking
    from retrieval.config import AlignmentConfig
    from retrieval.embed import Embedder
    from retrieval.train import train_alignment
    from vistflow.vocabulary import tokenize

    train, _ = concept_split(240, seed=0)
    test, truth = concept_split(60, seed=1)
    cfg = AlignmentConfig(
        embed_dim=16,
        word_dim=8,
        hidden_dim=16,
        windows=QUADRANTS,
        min_count=1,
        dropout=0.0,
        batch_size=40,
        learning_rate=0.002,
        weight_decay=0.0,
        epochs=10,
        patience=10,
    )
    trained, result = train_alignment(train, train, str(tmp_path), cfg, verbose=False)
    assert not result.collapsed
    metrics, embedded = Embedder(trained.model, trained.vocab).evaluate(test)
    chance = ranking.chance_levels(test.sentence_image, test.num_images)
    assert metrics["sentence_to_image"].r5 > 3 * chance["sentence_to_image"].r5

    hits = total = 0
    for m, sentence in enumerate(test.sentences):
        words = tokenize(sentence)
        unary = embedded.words[m, : len(words)] @ embedded.regions[test.sentence_image[m]].T
        assignment, _ = mrf.viterbi(unary, 0.0)
        for t, w in enumerate(words):
            quadrant = truth[test.sentence_image[m]].get(w)
            if quadrant is not None:
                total += 1
                hits += int(assignment[t] == 1 + quadrant)  # region 0 is the whole image
    assert total == 2 * test.num_sentences
    assert hits / total > 0.8, hits / total


def test_a_collapsed_run_is_detected_and_stopped(tmp_path, caplog):
    from retrieval.config import AlignmentConfig
    from retrieval.train import train_alignment

    train, _ = concept_split(80, seed=2)
    # SGD at 50x the learning rate above kills every ReLU of W_d within a few epochs.
    cfg = AlignmentConfig(
        embed_dim=16,
        word_dim=8,
        hidden_dim=16,
        windows=QUADRANTS,
        min_count=1,
        dropout=0.0,
        batch_size=40,
        learning_rate=0.1,
        weight_decay=0.0,
        epochs=10,
        patience=10,
    )
    _, result = train_alignment(train, train, str(tmp_path), cfg, verbose=False)
    assert result.collapsed and result.epochs < 10, [h["loss"] for h in result.history]
    assert result.best_epoch <= result.epochs
    assert "collapsed" in caplog.text
