"""The trainer's input: the vocabulary from the train split only, rows of the input pipeline,
hyperparameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from trainer_testdata import split_pattern, write_artifact

from vistflow.vocabulary import END_ID, PAD_ID, START_ID, Vocabulary, tokenize


def test_vocabulary_is_built_from_the_train_split_only(tmp_path):
    """Words seen only in val never enter; train words below min count become UNK."""
    from trainer.data import scan_text

    root = str(tmp_path)
    write_artifact(
        root,
        task="dii",
        stories={"train": 2, "val": 2},
        photos=5,
        extra_words={"train": ["rare rare trainonly"], "val": ["valonly valonly valonly"]},
    )
    scan = scan_text(split_pattern(root, "train"), photos_per_story=5)
    # Each of the 10 training photos has 1 sentence + the extra one.
    assert scan.sentences == 20 and scan.stories == 2
    assert scan.image_rows == 20 and scan.story_rows == 4  # min(k)=2 descriptions per photo
    assert scan.counts["rare"] == 20 and scan.counts["trainonly"] == 10
    assert "valonly" not in scan.counts
    vocab = Vocabulary.from_counts(scan.counts, min_count=11, max_size=1000)
    assert "rare" in vocab.words
    assert "trainonly" not in vocab.words  # 10 < min count 11
    assert "valonly" not in vocab.words


def test_input_pipeline_encodes_rows(tmp_path):
    """Per-image rows: one per (photo, reference); sequence rows: one per story sample."""
    from trainer.data import (
        GLOBAL,
        LOCAL,
        PHOTO_MASK,
        PREV_TOKENS,
        TOKENS_IN,
        inspect_features,
        make_dataset,
        scan_text,
    )
    from trainer.hparams import HParams

    root = str(tmp_path)
    art = write_artifact(root, task="dii", stories={"train": 3}, refs_per_photo=2, photos=4)
    pattern = split_pattern(root, "train")
    info = inspect_features(pattern)
    assert (info.global_dim, info.local_shape, info.task) == (128, (8, 8, 64), "dii")
    scan = scan_text(pattern, photos_per_story=5)
    vocab = Vocabulary.from_counts(scan.counts, min_count=1, max_size=100)
    hp = HParams(batch_size=100, max_tokens=4, photos_per_story=5)
    rows = next(
        iter(
            make_dataset(
                pattern,
                info=info,
                vocab=vocab,
                hparams=hp,
                sequence_model=False,
                needs=frozenset({GLOBAL, LOCAL}),
                training=False,
            )
        )
    )
    x, y = rows
    assert x[TOKENS_IN].shape == (24, 5)  # 3 stories x 4 photos x 2 references
    first = art["examples"]["train"][0]
    np.testing.assert_allclose(x[GLOBAL][0], first[1][0], rtol=1e-6)
    np.testing.assert_allclose(x[GLOBAL][1], first[1][0], rtol=1e-6)  # same photo, 2nd ref
    np.testing.assert_allclose(x[LOCAL][2].numpy().reshape(-1), first[2][1], rtol=1e-6)
    words = tokenize(f"A {first[3][0]} thing")[:2]
    assert vocab.decode(y[0].numpy()).split()[:2] == words
    assert y[0][4] == END_ID and x[TOKENS_IN][0][0] == START_ID  # cut to 4 words + END

    story = next(
        iter(
            make_dataset(
                pattern,
                info=info,
                vocab=vocab,
                hparams=hp,
                sequence_model=True,
                needs=frozenset({GLOBAL, PREV_TOKENS}),
                training=False,
            )
        )
    )
    x, y = story
    assert y.shape == (6, 5, 5)  # 3 stories x min(k)=2 samples, padded to 5 photos
    np.testing.assert_array_equal(x[PHOTO_MASK][0], [1, 1, 1, 1, 0])
    assert (y[:, 4] == PAD_ID).numpy().all()  # the padded photo has no target
    np.testing.assert_array_equal(x[PREV_TOKENS][0, 1], y[0, 0])  # previous sentence
    assert x[PREV_TOKENS][0, 0, 0] == START_ID
    # Sample 0 takes each photo's first reference, sample 1 its second.
    assert vocab.decode(y[0, 0]) != vocab.decode(y[1, 0])


@pytest.mark.parametrize("bad", [{"model": "nope"}, {"dropout": 1.5}, {"hidden": 3}])
def test_hparams_reject_bad_config(bad):
    from trainer.hparams import HParams
    from vistflow.errors import VistflowError

    with pytest.raises(VistflowError):
        HParams.from_config(bad)


def test_hparams_from_tfx_style_config():
    from trainer.hparams import HParams

    hp = HParams.from_config(
        {
            "model": "mrnn",
            "epochs": "3",
            "fine_tune_cnn": "false",
            "decoding.method": "greedy",
            "results_csv": "/x.csv",
        }
    )
    assert (hp.model, hp.epochs, hp.fine_tune_cnn, hp.decoding.method) == (
        "mrnn",
        3,
        False,
        "greedy",
    )
    resolved = hp.resolved("sis")
    assert (resolved.rnn_cell, resolved.optimizer, resolved.max_vocab) == ("rnn", "rmsprop", 18000)
    assert HParams(model="show_attend_tell").resolved("dii").max_vocab == 10000
