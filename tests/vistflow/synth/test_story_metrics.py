"""Story metrics on hand-made predictions: event named, 5-gram repeats, CIDEr as reported."""

from __future__ import annotations

import json

import pytest

from vistflow.errors import VistflowError
from vistflow.synth import story_metrics as sm

BIRTHDAY_REF = (
    "today was [female] 's birthday party ! there was a red gift for the birthday party . "
    "we all went home after the birthday ."
)
CAMPING_REF = (
    "we went to the forest for our camping trip . the orange tent was huge at the camping trip ."
)

ROWS = [
    # names the right event (birthday twice, christmas once)
    {
        "id": "100/1-2-3-4-5",
        "candidate": "we went to the park for the birthday party the cake was huge at the "
        "birthday celebration we sang carols at the christmas party",
        "references": [BIRTHDAY_REF],
    },
    # names a wrong event
    {
        "id": "200/6-7-8-9-10",
        "candidate": "we went to the lake for our hiking trip we climbed the hill on the trail",
        "references": [CAMPING_REF],
    },
    # repeats a 5-gram ("at the camping trip the") and names the right event
    {
        "id": "200/6-7-8-9-11",
        "candidate": "the tent was there at the camping trip the dog ran around at the camping "
        "trip the bird flew by",
        "references": [CAMPING_REF],
    },
    # names no event: the christmas tree is an object, not the event
    {
        "id": "300/12-13-14-15-16",
        "candidate": "we saw a green christmas tree in the living room and a black cat",
        "references": ["it was the best christmas party ever . the christmas tree was pretty ."],
    },
]


def _write(tmp_path, rows, cider=0.42):
    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if cider is not None:
        metrics = {"candidate": {"metrics": {"CIDEr": cider, "Bleu_4": 0.1}}}
        (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_named_event_counts_keywords_and_treats_ties_and_objects_as_none():
    assert sm.named_event("the birthday party and the wedding and the birthday cake") == "birthday"
    assert sm.named_event("the birthday party and the wedding day") is None  # a tie
    assert sm.named_event("a green christmas tree and two graduation caps") is None
    assert sm.named_event("the christmas party by the christmas tree") == "christmas"
    assert sm.named_event("") is None


def test_repeats_ngram_sees_repeats_across_sentences_but_not_across_punctuation():
    assert sm.repeats_ngram("at the end of the day we went at the end of the party")
    assert sm.repeats_ngram("At the end of the day. Then, at the END of the day!")
    assert not sm.repeats_ngram("we went to the park . we went to the lake")
    # Punctuation splits sentences: "the party . the party" is no 5-gram in either sentence.
    assert not sm.repeats_ngram("a b c d . a b c d")
    assert sm.repeats_ngram("a b c d a b c d a")


def test_story_metrics_on_hand_made_predictions(tmp_path):
    result = sm.story_metrics(_write(tmp_path, ROWS))
    assert result["items"] == 4
    assert result["event_accuracy"] == pytest.approx(2 / 4)  # rows 1 and 3
    assert result["repeat_rate"] == pytest.approx(1 / 4)  # row 3
    assert result["CIDEr"] == 0.42  # as the evaluator reported it, not recomputed
    assert result["truth_from"] == {"references": 4}
    assert result["confusion"]["camping->hiking"] == 1
    assert result["confusion"]["christmas->None"] == 1


def test_the_albums_label_beats_the_references(tmp_path):
    """With the SIS annotations, the album's vist_label is the truth, whatever the references say."""
    sis = tmp_path / "val.story-in-sequence.json"
    sis.write_text(
        json.dumps(
            {
                "albums": [
                    {"id": "100", "vist_label": "wedding"},
                    {"id": "200", "vist_label": "hiking"},
                    {"id": "400", "vist_label": "not-a-synth-event"},
                ],
                "annotations": [[{"story_id": "9", "album_id": "200"}]],
            }
        )
    )
    rows = [*ROWS, dict(ROWS[1], id="9")]  # a VIST-profile item: a story id, not album/photos
    result = sm.story_metrics(_write(tmp_path, rows), sis_paths=[sis])
    # 100 is a wedding (row 1 wrong now); 200 is hiking (row 2 and the story-id row right, row 3
    # wrong); 300 has no label: its references say christmas, the candidate names none.
    assert result["event_accuracy"] == pytest.approx(2 / 5)
    assert result["truth_from"] == {"annotations": 4, "references": 1}


def test_no_metrics_file_means_no_cider_and_goals_judge_against_the_ceiling(tmp_path):
    result = sm.story_metrics(_write(tmp_path, ROWS, cider=None))
    assert result["CIDEr"] is None
    goals = sm.goals({"event_accuracy": 0.8, "repeat_rate": 0.1, "CIDEr": None}, ceiling=0.84)
    assert goals["event_accuracy"]["bound"] == pytest.approx(0.95 * 0.84)
    assert goals["event_accuracy"]["met"] is True
    assert goals["repeat_rate"]["met"] is True
    assert goals["CIDEr"]["met"] is None
    assert sm.goals({"event_accuracy": 0.8}, ceiling=1.0)["event_accuracy"]["met"] is False


def test_bad_predictions_name_the_file(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "1", "candidate": "x", "references": []}\nnot json\n')
    with pytest.raises(VistflowError, match=r"predictions\.jsonl: line 2"):
        sm.story_metrics(path)
    with pytest.raises(VistflowError, match="cannot read predictions"):
        sm.story_metrics(tmp_path / "missing.jsonl")


def test_cli_prints_json(tmp_path, capsys):
    assert sm.main([str(_write(tmp_path, ROWS)), "--ceiling", "0.98"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["repeat_rate"] == pytest.approx(0.25)
    assert out["goals"]["CIDEr"] == {"value": 0.42, "bound": 1.0, "met": False}
    assert sm.main([str(tmp_path / "missing.jsonl")]) == 2
