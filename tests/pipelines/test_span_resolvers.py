"""The span-bounded resolver strategies: training window, fixed holdout, base model."""

from __future__ import annotations

import pytest


def _examples(artifact_id: int, span: int, splits=("train", "val", "test")):
    from tfx.types import artifact_utils, standard_artifacts

    a = standard_artifacts.Examples()
    a.id, a.span, a.uri = artifact_id, span, f"/ex/{artifact_id}"
    a.split_names = artifact_utils.encode_split_names(list(splits))
    return a


def _model(artifact_id: int, max_span: int | None):
    from tfx.types import standard_artifacts

    m = standard_artifacts.Model()
    m.id, m.uri = artifact_id, f"/model/{artifact_id}"
    if max_span is not None:
        m.set_int_custom_property("max_span", max_span)
    return m


def _blessing(artifact_id: int, model_id: int, blessed: int):
    from tfx.types import standard_artifacts

    b = standard_artifacts.ModelBlessing()
    b.id = artifact_id
    b.set_int_custom_property("current_model_id", model_id)
    b.set_int_custom_property("blessed", blessed)
    return b


# Spans 1..4; span 2 was ingested twice (id 5 is its newer version).
EXAMPLES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 2)]


def _window(**config) -> list[tuple[int, int]]:
    from pipelines.span_resolvers import SpanWindowStrategy

    arts = [_examples(i, s) for i, s in EXAMPLES]
    out = SpanWindowStrategy(**config).resolve_artifacts(None, {"examples": arts})
    return [(a.id, int(a.span)) for a in out["examples"]]


def test_window_is_bounded_by_the_run_span_and_keeps_the_newest_version():
    assert _window(max_span=3) == [(3, 3), (5, 2), (1, 1)]  # a re-run of week 3 ignores week 4
    assert _window(max_span=4) == [(4, 4), (3, 3), (5, 2), (1, 1)]
    assert _window(max_span=4, num_spans=2) == [(4, 4), (3, 3)]
    assert _window(max_span=2, num_spans=5) == [(5, 2), (1, 1)]


def test_holdout_is_the_oldest_span_or_a_pinned_one():
    assert _window(max_span=4, oldest=True) == [(1, 1)]
    assert _window(max_span=4, span=2) == [(5, 2)]
    assert _window(max_span=1, span=3) == []  # a pinned span after the run's: no holdout


def test_spans_without_the_needed_splits_are_left_out():
    from pipelines.span_resolvers import SpanWindowStrategy

    arts = [_examples(1, 1), _examples(2, 2, splits=("val",)), _examples(3, 3)]
    window = SpanWindowStrategy(max_span=3, splits=["train", "val"])
    assert [a.id for a in window.resolve_artifacts(None, {"examples": arts})["examples"]] == [3, 1]
    holdout = SpanWindowStrategy(max_span=3, oldest=True, splits=["test"])
    arts[0] = _examples(1, 1, splits=("train", "val"))  # the oldest has no test split
    assert [a.id for a in holdout.resolve_artifacts(None, {"examples": arts})["examples"]] == [3]


def _base(before_span: int, models, blessings) -> list[int]:
    from pipelines.span_resolvers import BlessedModelBeforeSpanStrategy

    out = BlessedModelBeforeSpanStrategy(before_span).resolve_artifacts(
        None, {"model": models, "model_blessing": blessings}
    )
    assert len(out["model"]) == len(out["model_blessing"])
    return [m.id for m in out["model"]]


@pytest.mark.parametrize(
    ("before_span", "expected"),
    [(4, [30]), (3, [10]), (2, [10]), (1, []), (0, [30])],
)
def test_base_model_is_the_latest_blessed_of_earlier_spans(before_span, expected):
    # Models of spans 1 (blessed), 2 (not blessed), 3 (blessed).
    models = [_model(10, 1), _model(20, 2), _model(30, 3)]
    blessings = [_blessing(11, 10, 1), _blessing(21, 20, 0), _blessing(31, 30, 1)]
    assert _base(before_span, models, blessings) == expected
