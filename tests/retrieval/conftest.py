"""Session fixtures: synthetic feature examples, one tiny trained alignment model, its export."""

from __future__ import annotations

import pytest
from alignment_testdata import TINY, split_pattern, write_synth_features


@pytest.fixture(scope="session")
def synth_features(synth_clean, tmp_path_factory):
    """(features root, photos per split) for the session's clean synthetic dataset."""
    root = str(tmp_path_factory.mktemp("align_features"))
    photos = write_synth_features(str(synth_clean), root)
    return root, photos


@pytest.fixture(scope="session")
def trained_alignment(synth_features, tmp_path_factory):
    """(TrainedAlignment, AlignmentResult, splits) of a tiny model trained on the synthetic data.

    Epochs are selected on the training split itself: the 10-image validation split of this tiny
    dataset is too small to select on (the benchmark selects on validation as the paper does).
    """
    from retrieval.config import AlignmentConfig
    from retrieval.data import read_split
    from retrieval.train import train_alignment

    root, _ = synth_features
    cfg = AlignmentConfig.from_dict(TINY)
    splits = {s: read_split(split_pattern(root, s), cfg.windows) for s in ("train", "val", "test")}
    out = str(tmp_path_factory.mktemp("align_run"))
    trained, result = train_alignment(splits["train"], splits["train"], out, cfg, verbose=False)
    return trained, result, splits


@pytest.fixture(scope="session")
def exported_alignment(trained_alignment, synth_features, tmp_path_factory):
    """The retrieval model directory (SavedModel + test/train index) of the tiny model."""
    import os

    from retrieval.export import export_model

    trained, result, splits = trained_alignment
    root, _ = synth_features
    model_dir = str(tmp_path_factory.mktemp("align_export") / "model")
    export_model(
        trained,
        model_dir,
        {"test": splits["test"], "train": splits["train"]},
        backbone_dir=os.path.join(root, "backbone"),
        training={"epochs": result.epochs},
    )
    return model_dir
