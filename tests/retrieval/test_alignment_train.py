"""Training the alignment model on embedded synthetic data, snippets from it, and its export."""

from __future__ import annotations

import os

import numpy as np
import pytest

from retrieval import ranking


def test_ranking_loss_falls_and_the_model_beats_chance(trained_alignment):
    trained, result, splits = trained_alignment
    losses = [row["loss"] for row in result.history]
    assert len(losses) == result.epochs >= 4
    assert losses[-1] < 0.4 * losses[0], losses
    assert 1 <= result.best_epoch <= result.epochs
    assert set(result.val_metrics) == {ranking.IMAGE_TO_SENTENCE, ranking.SENTENCE_TO_IMAGE}

    from retrieval.embed import Embedder

    # On the images it was trained on, the model ranks far better than chance both ways.
    train = splits["train"]
    embedder = Embedder(trained.model, trained.vocab)
    metrics, _ = embedder.evaluate(train)
    chance = ranking.chance_levels(train.sentence_image, train.num_images)
    for direction in metrics:
        assert metrics[direction].r10 > 2.5 * chance[direction].r10, (direction, metrics[direction])
        assert metrics[direction].median_rank < chance[direction].median_rank / 2.5
    # The traced encoders (evaluation, export) use every region, as the training step does.
    regions = embedder.regions(train.windows[:3], train.global_features[:3])
    direct = trained.model.embed_regions(train.windows[:3], train.global_features[:3]).numpy()
    assert regions.shape[1] == 1 + len(trained.boxes) == 26
    np.testing.assert_allclose(regions, direct, atol=1e-5)


def test_saved_weights_reload_to_the_same_embeddings(trained_alignment):
    from retrieval.embed import Embedder
    from retrieval.train import load_trained

    trained, result, splits = trained_alignment
    reloaded = load_trained(result.out_dir)
    test = splits["test"]
    a = Embedder(trained.model, trained.vocab).split(test)
    b = Embedder(reloaded.model, reloaded.vocab).split(test)
    np.testing.assert_allclose(a.regions, b.regions, atol=1e-5)
    np.testing.assert_allclose(a.words, b.words, atol=1e-5)
    assert os.path.exists(os.path.join(result.out_dir, "history.csv"))


def test_snippets_partition_each_sentence_and_become_region_examples(trained_alignment, tmp_path):
    import tensorflow as tf

    from retrieval import snippets as snippets_lib
    from retrieval.embed import Embedder
    from vistflow.feature_parsing import parse_feature_example
    from vistflow.vocabulary import tokenize

    trained, _, splits = trained_alignment
    train = splits["train"]
    embedded = Embedder(trained.model, trained.vocab).split(train)
    found = snippets_lib.align_split(
        train, embedded, beta=1.0, max_tokens=trained.config.max_tokens
    )
    by_sentence: dict[int, list] = {}
    for s in found:
        by_sentence.setdefault(s.sentence, []).append(s)
    assert set(by_sentence) == set(range(train.num_sentences))
    for m, parts in by_sentence.items():
        words = tokenize(train.sentences[m])[: trained.config.max_tokens]
        assert [w for p in parts for w in p.words] == words  # contiguous, in order, complete
        assert all(p.image == train.sentence_image[m] for p in parts)
    # Larger beta -> fewer, longer snippets.
    coarse = snippets_lib.align_split(
        train, embedded, beta=50.0, max_tokens=trained.config.max_tokens
    )
    assert len(coarse) == train.num_sentences < len(found)

    beta, lengths = snippets_lib.calibrate_beta(
        train, embedded, target_words=3.0, max_tokens=trained.config.max_tokens
    )
    assert lengths[max(lengths)] >= lengths[0.0]  # larger beta, longer snippets
    assert abs(lengths[beta] - 3.0) == min(abs(v - 3.0) for v in lengths.values())

    kept = snippets_lib.keep_snippets(found, min_words=2)
    assert kept and all(s.end - s.start >= 2 and s.mean_score > 0 for s in kept)
    examples = snippets_lib.region_examples(
        train, kept, split_name="train", use_global=True, region_boxes=trained.region_boxes
    )
    path = str(tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz")
    assert snippets_lib.write_examples(path, examples) == len(examples)
    first = kept[0]
    wanted = f"{train.photo_ids[first.image]}#r{first.region}".encode()
    records = tf.data.TFRecordDataset(path, compression_type="GZIP").map(parse_feature_example)
    p = next(r for r in records.as_numpy_iterator() if r["id"] == wanted)
    assert first.text.encode() in p["text"][0].tolist()
    expected = snippets_lib.region_features(train, first.image, first.region, use_global=True)
    np.testing.assert_allclose(p["global_features"][0], expected, rtol=1e-6)
    assert p["local_features"].shape == (1, 1, 1, expected.shape[0])


def test_export_graph_matches_the_python_encoders(
    trained_alignment, exported_alignment, synth_features
):
    import tensorflow as tf

    from retrieval.data import encode_sentences
    from retrieval.embed import Embedder
    from retrieval.index import RetrievalIndex

    trained, _, splits = trained_alignment
    saved = tf.saved_model.load(os.path.join(exported_alignment, "saved_model"))
    assert {"embed_sentences", "embed_features", "embed_images"} <= set(saved.signatures)
    sentences = [splits["test"].sentences[0], "A ZEBRA-striped kite, flying!!", "...", ""]
    out = saved.signatures["embed_sentences"](sentences=tf.constant(sentences))
    embedder = Embedder(trained.model, trained.vocab)
    tokens = encode_sentences(sentences, trained.vocab, trained.config.max_tokens)
    words, mask = embedder.words(tokens)
    np.testing.assert_array_equal(out["mask"].numpy(), mask)
    np.testing.assert_allclose(
        out["words"].numpy() * mask[..., None], words * mask[..., None], atol=1e-5
    )
    assert out["tokens"].numpy()[1, :4].tolist() == [b"a", b"zebra", b"striped", b"kite"]
    assert mask[2].sum() == mask[3].sum() == 1  # no word at all: one UNK

    # Images: the SavedModel decodes the file and runs the extractor's backbone itself.
    index = RetrievalIndex.load(os.path.join(exported_alignment, "index"))
    test_ids = [i for i, s in enumerate(index.image_splits) if s == "test"]
    png = next((i for i in test_ids if index.image_uris[i].endswith(".png")), test_ids[0])
    with open(index.image_uris[png], "rb") as f:
        regions = saved.signatures["embed_images"](images=tf.constant([f.read()]))["regions"]
    scale = np.abs(index.regions[png]).max()
    np.testing.assert_allclose(regions[0].numpy(), index.regions[png], atol=2e-2 * scale)
    assert index.num_images == splits["test"].num_images + splits["train"].num_images


@pytest.mark.parametrize("split", ["test"])
def test_index_text_search_matches_full_score_matrix(trained_alignment, exported_alignment, split):
    from retrieval.embed import Embedder
    from retrieval.index import RetrievalIndex

    trained, _, splits = trained_alignment
    index = RetrievalIndex.load(os.path.join(exported_alignment, "index"))
    embedded = Embedder(trained.model, trained.vocab).split(splits[split])
    scores = embedded.scores()  # [N, M] within the split
    m = 0
    n = int(embedded.mask[m].sum())
    hits = index.search_text(embedded.words[m, :n], k=3, splits=[split])
    best = np.argsort(-scores[:, m])[:3]
    offset = index.image_splits.index(split)
    assert [h.image - offset for h in hits] == best.tolist()
    np.testing.assert_allclose([h.score for h in hits], scores[best, m], rtol=2e-2)
