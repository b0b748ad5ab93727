"""Image regions without a detector: pooled windows over the backbone's local grid.

Reference 002 (section 3.1.1) embeds the top 19 R-CNN detections plus the whole image. No
detector can be downloaded here, so regions are a fixed, weight-free set of windows over the
backbone's conv grid (the same boxes for every image, like a sliding-window proposal method),
each average-pooled over its cells (Fast R-CNN-style RoI pooling on the stored feature map, so no
extra CNN pass per box). The default is two scales: quarter-side tiles (4 x 4 = 16) and half-side
windows at 50% overlap (3 x 3 = 9), i.e. 25 windows + the whole image = 26 regions, close to the
paper's 20. Sizes are fractions of the grid, so vgg16's 14 x 14 and resnet's 7 x 7 grids get the
same layout as the tiny backbone's 8 x 8.

Boxes are `(y0, x0, y1, x1)` in grid cells (half-open) or, via `normalized_boxes`, in [0, 1]
image coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vistflow.errors import VistflowError

# (window side, stride) as fractions of the grid side.
DEFAULT_WINDOWS: tuple[tuple[float, float], ...] = ((0.25, 0.25), (0.5, 0.25))


def _starts(n: int, size: int, stride: int) -> list[int]:
    """Window starts along an axis of n cells; the last window is flush with the far edge."""
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def window_boxes(
    grid_h: int, grid_w: int, windows: Sequence[tuple[float, float]] = DEFAULT_WINDOWS
) -> np.ndarray:
    """Boxes `[R, 4]` int (y0, x0, y1, x1) in grid cells, scale by scale, row-major.

    Args:
      grid_h, grid_w: the local grid's height and width (cells).
      windows: (side, stride) pairs as fractions of the grid side, each in (0, 1].
    """
    if grid_h < 1 or grid_w < 1:
        raise VistflowError(f"region windows need a local grid, got {grid_h} x {grid_w}")
    boxes: list[tuple[int, int, int, int]] = []
    for side, stride in windows:
        if not (0 < side <= 1 and 0 < stride <= 1):
            raise VistflowError(f"region window ({side}, {stride}): fractions must be in (0, 1]")
        sh, sw = max(1, round(side * grid_h)), max(1, round(side * grid_w))
        th, tw = max(1, round(stride * grid_h)), max(1, round(stride * grid_w))
        for y in _starts(grid_h, sh, th):
            for x in _starts(grid_w, sw, tw):
                box = (y, x, y + sh, x + sw)
                if box not in boxes:
                    boxes.append(box)
    return np.asarray(boxes, np.int32).reshape(-1, 4)


def full_box(grid_h: int, grid_w: int) -> np.ndarray:
    return np.asarray([0, 0, grid_h, grid_w], np.int32)


def pooling_matrix(boxes: np.ndarray, grid_h: int, grid_w: int) -> np.ndarray:
    """`[R, grid_h * grid_w]` float32: row r averages the cells of box r (row-major cells)."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    mats = np.zeros((len(boxes), grid_h, grid_w), np.float32)
    for r, (y0, x0, y1, x1) in enumerate(boxes):
        if not (0 <= y0 < y1 <= grid_h and 0 <= x0 < x1 <= grid_w):
            raise VistflowError(
                f"region box {tuple(boxes[r])} is outside the {grid_h}x{grid_w} grid"
            )
        mats[r, y0:y1, x0:x1] = 1.0 / ((y1 - y0) * (x1 - x0))
    return mats.reshape(len(boxes), grid_h * grid_w)


def pool(local: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Average-pool local grids `[N, h*w, c]` (or `[N, h, w, c]`) over boxes -> `[N, R, c]`."""
    local = np.asarray(local, np.float32)
    n, c = local.shape[0], local.shape[-1]
    return np.einsum("rp,npc->nrc", matrix, local.reshape(n, -1, c))


def normalized_boxes(boxes: np.ndarray, grid_h: int, grid_w: int) -> np.ndarray:
    """Cell boxes -> `[R, 4]` float (y0, x0, y1, x1) in [0, 1] image coordinates."""
    scale = np.asarray([grid_h, grid_w, grid_h, grid_w], np.float32)
    return np.asarray(boxes, np.float32).reshape(-1, 4) / scale


def box_to_cells(box: Sequence[float], grid_h: int, grid_w: int) -> np.ndarray:
    """A [0, 1] (y0, x0, y1, x1) image box -> the smallest cell box covering it (>= 1 cell)."""
    y0, x0, y1, x1 = (float(v) for v in box)
    cy0 = min(grid_h - 1, max(0, int(np.floor(y0 * grid_h))))
    cx0 = min(grid_w - 1, max(0, int(np.floor(x0 * grid_w))))
    cy1 = max(cy0 + 1, min(grid_h, int(np.ceil(y1 * grid_h))))
    cx1 = max(cx0 + 1, min(grid_w, int(np.ceil(x1 * grid_w))))
    return np.asarray([cy0, cx0, cy1, cx1], np.int32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes `a [..., 4]` and `b [..., 4]` (broadcast), any units."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ih = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iw = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ih * iw
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)
