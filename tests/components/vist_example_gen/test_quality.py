"""quality: the counters behind report.json and the invariants it enforces (no Beam)."""

from __future__ import annotations

import pytest

from components.vist_example_gen import quality


def test_tokenize_keeps_vist_placeholders_and_lowercases():
    assert quality.tokenize("[female] went to the Beach, didn't she?") == [
        "[female]", "went", "to", "the", "beach", "didn't", "she",
    ]  # fmt: skip


def test_value_summary_quantiles_and_integer_bins():
    summary = quality.value_summary({7: 1, 9: 3, 14: 2})
    assert (summary["count"], summary["min"], summary["median"], summary["max"]) == (6, 7, 9, 14)
    assert summary["mean"] == pytest.approx(62 / 6, abs=1e-3)
    assert summary["hist"] == {"edges": list(range(7, 16)), "counts": [1, 0, 3, 0, 0, 0, 0, 2]}
    wide = quality.value_summary({100: 5, 6000: 1})
    assert len(wide["hist"]["counts"]) == 20 and sum(wide["hist"]["counts"]) == 6
    assert quality.value_summary({}) == {"count": 0}


def test_unk_tokens_are_counted_against_the_train_vocabulary():
    events = dict(quality.vocabulary_events("kite", {"train": 4, "val": 2, "test": 1}))
    # Seen 4 times in train: below the min count of 5, so every val/test use is an <unk>.
    assert (
        events[("text", "val", "unk_tokens")] == 2 and events[("text", "test", "unk_tokens")] == 1
    )
    assert ("text", "train", "vocab_min_count") not in events
    assert events[("text", "all", "vocab_min_count")] == 1  # 7 uses over all splits
    frequent = dict(quality.vocabulary_events("the", {"train": 9, "val": 3}))
    assert ("text", "val", "unk_tokens") not in frequent


def counters(extra=None):
    base = {
        ("split", "train", "input", "sis"): 3,
        ("split", "train", "accepted", "sis"): 2,
        ("split", "train", "rejected", "sis", "empty_text"): 1,
    }
    return {**base, **(extra or {})}


def test_assemble_report_sums_tasks_and_checks_every_invariant():
    report = quality.assemble_report(
        counters(),
        top_words={},
        shards=[("train", 0, 1), ("train", 1, 1)],
        config={},
        n_image_rejects=0,
    )
    assert report["train"]["by_reason"] == {"empty_text": 1} and report["train"]["invariant_ok"]
    assert report["val"]["input"] == 0 and report["totals"]["input"] == 3
    with pytest.raises(RuntimeError, match="1 accepted but 2 examples written"):
        quality.assemble_report(
            counters({("split", "train", "accepted", "sis"): 1, ("split", "train", "input", "sis"): 2}),
            top_words={}, shards=[("train", 0, 2)], config={}, n_image_rejects=0,
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="images failed their check but 0 logged"):
        quality.assemble_report(
            counters({("images", "rejected"): 1}),
            top_words={}, shards=[("train", 0, 2)], config={}, n_image_rejects=0,
        )  # fmt: skip
