"""Reading feature examples of every task into images and sentences; word vectors from a file."""

from __future__ import annotations

import numpy as np
import pytest

from vistflow.errors import InputFormatError, VistflowError


def _example(example_id, task, photos, texts, glob, local, shape=(2, 2, 3)):
    import tensorflow as tf

    from vistflow import example_format as ef

    ex = tf.train.SequenceExample()
    ctx = ex.context.feature
    ctx[ef.ID].bytes_list.value.append(example_id.encode())
    ctx[ef.TASK].bytes_list.value.append(task.encode())
    ctx[ef.BACKBONE].bytes_list.value.append(b"toy")
    ctx[ef.GLOBAL_DIM].int64_list.value.append(glob.shape[1])
    ctx[ef.LOCAL_SHAPE].int64_list.value.extend(shape)
    fl = ex.feature_lists.feature_list
    for i, photo in enumerate(photos):
        fl[ef.PHOTO_ID].feature.add().bytes_list.value.append(photo.encode())
        fl[ef.IMAGE_URI].feature.add().bytes_list.value.append(f"/img/{photo}.jpg".encode())
        fl[ef.TEXT].feature.add().bytes_list.value.extend(t.encode() for t in texts[i])
        fl[ef.GLOBAL_FEATURES].feature.add().float_list.value.extend(glob[i])
        fl[ef.LOCAL_FEATURES].feature.add().float_list.value.extend(local[i].ravel())
    return ex.SerializeToString()


def _write(path, examples):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path), options="GZIP") as w:
        for e in examples:
            w.write(e)


def test_photos_are_the_unit_and_keep_every_sentence_once(tmp_path):
    from retrieval.data import encode_sentences, read_split
    from vistflow.vocabulary import Vocabulary

    rng = np.random.default_rng(0)
    glob = rng.normal(size=(3, 4)).astype(np.float32)
    local = rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    # Two SIS stories share photo "b"; photo "c" has no text and is left out.
    examples = [
        _example("s1", "sis", ["a", "b"], [["A dog runs."], ["A cat sits."]], glob[:2], local[:2]),
        _example(
            "s2", "sis", ["b", "c"], [["The cat naps.", "A cat sits."], [""]], glob[1:], local[1:]
        ),
    ]
    _write(tmp_path / "x.gz", examples)
    split = read_split(str(tmp_path / "x.gz"), windows=((0.5, 0.5),), keep_local=True)
    assert split.photo_ids == ["a", "b"]
    assert split.sentences == ["A dog runs.", "A cat sits.", "The cat naps."]
    assert split.sentence_image.tolist() == [0, 1, 1]
    assert split.image_uris == ["/img/a.jpg", "/img/b.jpg"]
    assert split.windows.shape == (2, 4, 3)  # the four 1x1 quadrants of a 2x2 grid
    np.testing.assert_allclose(split.windows[1, 3], local[1, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(split.whole[0], local[0].mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(split.global_features, glob[:2], rtol=1e-6)
    assert split.local.shape == (2, 2, 2, 3)
    first = read_split(str(tmp_path / "x.gz"), windows=((0.5, 0.5),), max_images=1)
    assert first.photo_ids == ["a"] and first.sentences == ["A dog runs."]

    vocab = Vocabulary.from_sentences(split.sentences, min_count=1, max_size=100)
    tokens = encode_sentences(["a cat", "zebra!!", "", "a " * 30], vocab, max_tokens=5)
    assert tokens.shape == (4, 5)
    assert tokens[0, :2].tolist() == [vocab.index["a"], vocab.index["cat"]] and tokens[0, 2] == 0
    assert tokens[1, 0] == tokens[2, 0] == 3 and tokens[2, 1:].sum() == 0  # UNK kept once
    assert (tokens[3] == vocab.index["a"]).all()  # cut at max_tokens


def test_feature_shape_changes_are_reported_with_the_record(tmp_path):
    from retrieval.data import read_split

    ok = _example(
        "e1", "caption", ["a"], [["x"]], np.zeros((1, 4), np.float32), np.zeros((1, 2, 2, 3))
    )
    bad = _example(
        "e2", "caption", ["b"], [["y"]], np.zeros((1, 5), np.float32), np.zeros((1, 2, 2, 3))
    )
    _write(tmp_path / "x.gz", [ok, bad])
    with pytest.raises(InputFormatError, match=r"record 1 \(e2\)"):
        read_split(str(tmp_path / "x.gz"))
    with pytest.raises(VistflowError, match="no input files"):
        read_split(str(tmp_path / "missing-*.gz"))


def test_word2vec_text_file(tmp_path):
    from retrieval.wordvec import load_word_vectors

    path = tmp_path / "vectors.txt"
    path.write_text("3 2\ncat 1 2\nDog 3 4\ndog 5 6\nzebra 7 8\n")
    words = ("<pad>", "<start>", "<end>", "<unk>", "cat", "dog", "bird")
    matrix, found = load_word_vectors(str(path), words, 2)
    assert found == 2
    np.testing.assert_allclose(matrix[4], [1, 2])
    np.testing.assert_allclose(matrix[5], [5, 6])  # the exact-case entry wins over "Dog"
    assert np.abs(matrix[6]).max() < 1  # not in the file: small random
    path.write_text("2 3\ncat 1 2 3\n")
    with pytest.raises(InputFormatError, match="3-d, expected 2"):
        load_word_vectors(str(path), words, 2)
    path.write_text("cat 1 2 3\n")
    with pytest.raises(InputFormatError, match="line 1"):
        load_word_vectors(str(path), words, 2)


def test_word_vectors_initialise_and_freeze_the_embedding():
    from retrieval.config import AlignmentConfig
    from retrieval.model import AlignmentModel

    vectors = np.arange(7 * 4, dtype=np.float32).reshape(7, 4)
    cfg = AlignmentConfig(embed_dim=6, word_dim=4, hidden_dim=5, train_word_vectors=False)
    model = AlignmentModel(cfg, 7, region_dim=3, global_dim=2, word_vectors=vectors)
    model.build_all(num_windows=2)
    np.testing.assert_allclose(model.word_embedding.embeddings.numpy(), vectors)
    trainable = [v.path for v in model.trainable_variables]
    assert not any("word_embedding" in p for p in trainable) and any("W_e" in p for p in trainable)
