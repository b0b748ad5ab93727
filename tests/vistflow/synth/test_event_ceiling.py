"""The event ceiling benchmark: the photos' true contents name the event; settings alone do not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import event_ceiling as ec
from vistflow.synth.world import EVENTS, Placement, Scene


@pytest.fixture(scope="module")
def small():
    plan = ec.demo_plan(stories=300, seed=5)
    return ec.ceiling(plan, ec.kept_stories(plan))


def test_the_oracle_beats_setting_only_and_accuracies_are_rates(small):
    acc = small["accuracy"]
    assert set(acc) == {"setting", "objects", "scene", "oracle"}
    for row in acc.values():
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert max(acc["oracle"].values()) > max(acc["setting"].values()) + 0.2, acc
    assert small["ceiling"] == max(v for row in acc.values() for v in row.values())
    assert small["oracle_mask_keeps_truth"] == 1.0  # the world's rules never rule out the truth
    assert small["val_items"] >= 20


def test_the_oracle_mask_follows_settings_and_key_objects():
    park = Scene("park", "sunny", (Placement("cake", "white", 1, "centre"),))
    kitchen = Scene("kitchen", "indoor", (Placement("dog", "brown", 1, "centre"),))
    possible = dict(zip(ec.EVENT_NAMES, ec.possible_events([park, kitchen]), strict=True))
    # The cake is birthday's and wedding's; only a birthday is held in parks and kitchens.
    assert {e for e, ok in possible.items() if ok} == {"birthday"}
    assert set(EVENTS) == set(ec.EVENT_NAMES)


def test_the_demos_val_items_are_the_evaluators():
    """Same generator arguments and the same rejected stories: the demo's 71 val items."""
    plan = ec.demo_plan()
    kept = ec.kept_stories(plan)
    scenes, events = ec.split_data(plan, kept, "val")
    assert len(scenes) == len(events) == 71
    assert all(len(s) == 5 for s in scenes)
    assert np.all((events >= 0) & (events < len(EVENTS)))


def test_cli_prints_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "ceiling.json"
    assert ec.main(["--stories", "120", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].split()[0] == "features"
    assert json.loads(printed[-1]) == json.loads(out.read_text())
