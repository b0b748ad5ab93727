"""Region windows over the backbone grid, their pooling, and box helpers."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import regions


@pytest.mark.parametrize("grid", [7, 8, 14])
def test_default_windows_give_25_boxes_covering_the_grid(grid):
    boxes = regions.window_boxes(grid, grid)
    assert boxes.shape == (25, 4)
    assert len({tuple(b) for b in boxes}) == 25
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= grid).all()
    covered = np.zeros((grid, grid), bool)
    for y0, x0, y1, x1 in boxes[:16]:  # the small scale tiles the whole grid
        covered[y0:y1, x0:x1] = True
    assert covered.all()


def test_8x8_layout():
    boxes = regions.window_boxes(8, 8)
    small, large = boxes[:16], boxes[16:]
    assert set(small[:, 2] - small[:, 0]) == {2} and set(large[:, 2] - large[:, 0]) == {4}
    assert sorted({int(y) for y in large[:, 0]}) == [0, 2, 4]  # half-side windows, 50% overlap
    assert [int(v) for v in boxes[0]] == [0, 0, 2, 2]


def test_pooling_averages_the_cells_of_each_box():
    rng = np.random.default_rng(0)
    local = rng.normal(size=(3, 8, 8, 5)).astype(np.float32)
    boxes = regions.window_boxes(8, 8)
    pooled = regions.pool(local, regions.pooling_matrix(boxes, 8, 8))
    assert pooled.shape == (3, 25, 5)
    for r, (y0, x0, y1, x1) in enumerate(boxes):
        np.testing.assert_allclose(
            pooled[:, r], local[:, y0:y1, x0:x1].mean(axis=(1, 2)), atol=1e-5
        )


def test_box_helpers():
    np.testing.assert_allclose(
        regions.normalized_boxes(np.asarray([[0, 2, 4, 8]]), 8, 8), [[0, 0.25, 0.5, 1.0]]
    )
    # The right third of the lower half of an 8 x 8 grid.
    assert regions.box_to_cells((0.5, 2 / 3, 1.0, 1.0), 8, 8).tolist() == [4, 5, 8, 8]
    assert regions.box_to_cells((0.1, 0.1, 0.11, 0.11), 8, 8).tolist() == [0, 0, 1, 1]
    assert regions.iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
    assert regions.iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    with pytest.raises(Exception, match="outside"):
        regions.pooling_matrix(np.asarray([[0, 0, 9, 1]]), 8, 8)
