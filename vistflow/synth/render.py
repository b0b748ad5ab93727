"""Draw a `Scene` as an RGB image: a textured background for the setting, then each placement.

Shapes are drawn at twice the target size and downsampled, so small objects keep smooth edges and
their colour. Randomness (texture, jitter) comes from a generator seeded by the caller, so the
pixels depend only on the dataset seed and the photo.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from vistflow.synth.draw_objects import RGB, Box, draw_object
from vistflow.synth.draw_objects import shade as _shade
from vistflow.synth.world import COLOURS, OBJECTS, POSITIONS, Placement, Scene

SUPERSAMPLE = 2

SKY = {"sunny": (115, 175, 238), "cloudy": (165, 172, 182), "night": (18, 22, 58)}

# (width / height, size relative to the cell) per kind: a ball is smaller than a person.
SHAPES: dict[str, tuple[float, float]] = {
    "man": (0.45, 1.0),
    "woman": (0.5, 0.95),
    "child": (0.45, 0.7),
    "bride": (0.55, 1.0),
    "dog": (1.4, 0.55),
    "cat": (1.0, 0.45),
    "ball": (1.0, 0.4),
    "balloon": (0.6, 0.8),
    "cake": (1.1, 0.6),
    "tree": (0.7, 1.0),
    "christmas_tree": (0.7, 1.0),
    "car": (1.9, 0.55),
    "boat": (1.2, 0.8),
    "house": (1.0, 0.95),
    "guitar": (0.45, 0.85),
    "flower": (0.5, 0.6),
    "tent": (1.4, 0.75),
    "campfire": (1.0, 0.55),
    "gift": (1.0, 0.5),
    "snowman": (0.6, 0.95),
    "bicycle": (1.7, 0.55),
    "kite": (0.8, 0.7),
    "umbrella": (1.0, 0.95),
    "microphone": (0.4, 0.9),
    "drum": (1.0, 0.55),
    "cap": (1.3, 0.45),
    "pumpkin": (1.3, 0.5),
    "bench": (1.8, 0.45),
    "bird": (1.4, 0.35),
    "blanket": (2.2, 0.35),
    "backpack": (0.8, 0.5),
}


# --- backgrounds -----------------------------------------------------------------------------


def _fill(
    a: np.ndarray, y0: float, y1: float, rgb: RGB, noise: float, rng: np.random.Generator
) -> None:
    h = a.shape[0]
    r0, r1 = int(y0 * h), int(y1 * h)
    if r1 <= r0:
        return
    block = np.broadcast_to(np.array(rgb, np.float32), (r1 - r0, a.shape[1], 3)).copy()
    if noise:
        block += rng.normal(0.0, noise, (r1 - r0, a.shape[1], 1)).astype(np.float32)
    a[r0:r1] = block


def _sky(a: np.ndarray, horizon: float, weather: str, rng: np.random.Generator) -> None:
    top = np.array(SKY[weather], np.float32)
    low = top * 0.75 + 255 * 0.25 if weather != "night" else top * 1.4
    rows = max(1, int(horizon * a.shape[0]))
    t = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    a[:rows] = top * (1 - t) + low * t


def _sky_details(d: ImageDraw.ImageDraw, w: int, h: int, horizon: float, weather: str, rng) -> None:
    if weather == "sunny":
        x = w * rng.uniform(0.1, 0.9)
        r = h * 0.07
        d.ellipse((x - r, h * 0.05, x + r, h * 0.05 + 2 * r), fill=(255, 226, 80))
    elif weather == "cloudy":
        for _ in range(3):
            x, y = w * rng.uniform(0, 1), h * rng.uniform(0.04, max(0.05, horizon - 0.2))
            d.ellipse((x - w * 0.12, y, x + w * 0.12, y + h * 0.08), fill=(222, 224, 228))
    elif weather == "night":
        for _ in range(12):
            x, y = w * rng.uniform(0, 1), h * rng.uniform(0, horizon * 0.9)
            d.point((x, y), fill=(240, 240, 220))
        x = w * rng.uniform(0.1, 0.9)
        d.ellipse((x, h * 0.05, x + h * 0.1, h * 0.15), fill=(235, 235, 205))


def _background(scene: Scene, w: int, h: int, rng: np.random.Generator) -> Image.Image:
    a = np.zeros((h, w, 3), np.float32)
    s, weather = scene.setting, scene.weather
    night = weather == "night"
    dim = 0.55 if night else 1.0
    horizon = {
        "beach": 0.42,
        "park": 0.5,
        "city_street": 0.58,
        "snow_field": 0.5,
        "forest": 0.55,
        "lake": 0.45,
        "mountain_trail": 0.6,
        "backyard": 0.52,
    }.get(s, 0.6)
    if weather != "indoor":
        _sky(a, horizon, weather, rng)
    grounds = {
        "beach": [(0.42, 0.62, (30, 110, 190), 6), (0.62, 1.0, (228, 205, 150), 8)],
        "park": [(0.5, 1.0, (85, 165, 70), 10)],
        "city_street": [(0.58, 0.68, (175, 175, 175), 5), (0.68, 1.0, (68, 68, 72), 5)],
        "snow_field": [(0.5, 1.0, (242, 245, 250), 5)],
        "forest": [(0.55, 1.0, (105, 85, 55), 10)],
        "lake": [(0.45, 0.82, (55, 115, 165), 5), (0.82, 1.0, (90, 150, 70), 9)],
        "mountain_trail": [(0.6, 1.0, (150, 130, 100), 9)],
        "backyard": [(0.52, 1.0, (95, 170, 75), 10)],
        "kitchen": [
            (0.0, 0.55, (238, 228, 205), 3),
            (0.55, 0.63, (120, 90, 60), 3),
            (0.63, 1.0, (220, 220, 220), 3),
        ],
        "living_room": [(0.0, 0.62, (205, 178, 145), 3), (0.62, 1.0, (150, 100, 60), 6)],
        "stage": [(0.0, 0.7, (38, 22, 38), 3), (0.7, 1.0, (125, 82, 42), 5)],
        "hall": [(0.0, 0.65, (232, 222, 192), 3), (0.65, 1.0, (172, 142, 102), 5)],
    }[s]
    for y0, y1, rgb, noise in grounds:
        _fill(a, y0, y1, _shade(rgb, dim) if weather != "indoor" else rgb, noise, rng)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    if weather != "indoor":
        _sky_details(d, w, h, horizon, weather, rng)
    _setting_details(d, s, w, h, horizon, night, rng)
    return img


def _setting_details(
    d: ImageDraw.ImageDraw, s: str, w: int, h: int, horizon: float, night: bool, rng
) -> None:
    if s == "beach":
        for i in range(4):
            y = h * (0.46 + 0.04 * i)
            d.line(
                (w * rng.uniform(0, 0.5), y, w * rng.uniform(0.5, 1), y),
                fill=(200, 225, 245),
                width=1,
            )
    elif s == "park":
        for i in range(6):
            x = w * (i + rng.uniform(0, 1)) / 6
            d.ellipse((x - w * 0.06, h * 0.42, x + w * 0.06, h * 0.52), fill=(45, 110, 45))
    elif s == "city_street":
        x = 0.0
        while x < w:
            bw = w * rng.uniform(0.1, 0.2)
            top = h * rng.uniform(0.12, 0.4)
            tone = int(rng.uniform(110, 190))
            d.rectangle(
                (x, top, x + bw, h * horizon),
                fill=(tone, tone - 8, tone - 20),
                outline=(70, 70, 70),
            )
            win = (250, 230, 120) if night else (170, 205, 235)
            for wy in np.arange(top + h * 0.04, h * horizon - h * 0.04, h * 0.07):
                for wx in np.arange(x + bw * 0.2, x + bw * 0.8, bw * 0.3):
                    d.rectangle((wx, wy, wx + bw * 0.12, wy + h * 0.03), fill=win)
            x += bw
        for i in range(5):
            x0 = w * (i / 5 + 0.03)
            d.rectangle((x0, h * 0.83, x0 + w * 0.1, h * 0.845), fill=(235, 235, 235))
    elif s == "snow_field":
        d.polygon([(0, h * 0.5), (w * 0.3, h * 0.36), (w * 0.6, h * 0.5)], fill=(215, 222, 232))
        d.polygon([(w * 0.45, h * 0.5), (w * 0.8, h * 0.33), (w, h * 0.5)], fill=(205, 214, 228))
    elif s == "forest":
        for i in range(9):
            x = w * (i + rng.uniform(-0.3, 0.3)) / 8
            top = h * rng.uniform(0.12, 0.3)
            d.polygon(
                [(x, top), (x - w * 0.09, h * 0.56), (x + w * 0.09, h * 0.56)], fill=(25, 85, 40)
            )
    elif s == "lake":
        d.polygon([(0, h * 0.45), (w * 0.25, h * 0.3), (w * 0.55, h * 0.45)], fill=(70, 120, 90))
        d.polygon([(w * 0.4, h * 0.45), (w * 0.75, h * 0.27), (w, h * 0.45)], fill=(60, 105, 85))
        for i in range(4):
            y = h * (0.52 + 0.07 * i)
            x = w * rng.uniform(0, 0.7)
            d.line((x, y, x + w * 0.25, y), fill=(130, 175, 210), width=1)
    elif s == "mountain_trail":
        for cx, top in ((0.25, 0.15), (0.65, 0.1), (0.95, 0.25)):
            peak = (w * cx, h * top)
            d.polygon(
                [peak, (w * (cx - 0.35), h * 0.6), (w * (cx + 0.35), h * 0.6)], fill=(120, 118, 125)
            )
            d.polygon(
                [peak, (w * (cx - 0.08), h * (top + 0.08)), (w * (cx + 0.08), h * (top + 0.08))],
                fill=(245, 245, 250),
            )
        d.polygon(
            [(w * 0.42, h * 0.6), (w * 0.58, h * 0.6), (w * 0.75, h), (w * 0.25, h)],
            fill=(185, 165, 130),
        )
    elif s == "backyard":
        d.rectangle((0, h * 0.34, w, h * 0.52), fill=(150, 105, 60))
        for i in range(12):
            x = w * i / 12
            d.line((x, h * 0.34, x, h * 0.52), fill=(110, 75, 40), width=1)
    elif s == "kitchen":
        for x in np.arange(0, w, w / 8):
            d.line((x, 0, x, h * 0.55), fill=(210, 200, 178))
        for y in np.arange(0, h * 0.55, h / 8):
            d.line((0, y, w, y), fill=(210, 200, 178))
        cell = w / 10
        for i in range(10):
            for j in range(int(h * 0.37 / cell) + 1):
                if (i + j) % 2:
                    d.rectangle(
                        (i * cell, h * 0.63 + j * cell, (i + 1) * cell, h * 0.63 + (j + 1) * cell),
                        fill=(60, 60, 60),
                    )
    elif s == "living_room":
        wx = w * rng.uniform(0.1, 0.6)
        d.rectangle(
            (wx, h * 0.12, wx + w * 0.3, h * 0.45),
            fill=(165, 205, 235),
            outline=(245, 245, 245),
            width=2,
        )
        for y in np.arange(h * 0.62, h, h / 14):
            d.line((0, y, w, y), fill=(120, 80, 45))
    elif s == "stage":
        for x0, x1 in ((0, w * 0.16), (w * 0.84, w)):
            d.rectangle((x0, 0, x1, h * 0.7), fill=(150, 20, 30))
            for x in np.arange(x0, x1, w / 25):
                d.line((x, 0, x, h * 0.7), fill=(110, 10, 20))
        d.ellipse((w * 0.25, h * 0.72, w * 0.75, h * 0.95), fill=(175, 130, 75))
    elif s == "hall":
        for i in range(4):
            x = w * (0.1 + 0.23 * i)
            d.rectangle((x, h * 0.12, x + w * 0.1, h * 0.5), fill=(170, 200, 230))
            d.ellipse((x, h * 0.07, x + w * 0.1, h * 0.17), fill=(170, 200, 230))


# --- layout ----------------------------------------------------------------------------------


def _cells(p: Placement, w: int, h: int) -> list[Box]:
    """Where each of the `count` objects goes: a grid in the placement's third of the image."""
    third = POSITIONS.index(p.position)
    x0, x1 = w * (third + 0.06) / 3, w * (third + 0.94) / 3
    if OBJECTS[p.kind].in_sky:
        y0, y1 = h * 0.06, h * 0.48
    else:
        y0, y1 = h * 0.4, h * 0.96
    cols = p.count if p.count <= 2 else 2
    rows = math.ceil(p.count / cols)
    cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
    cells = []
    for i in range(p.count):
        r, c = divmod(i, cols)
        # A lone object in the last row sits in the middle, not under the left column.
        shift = cw / 2 if (r == rows - 1 and p.count % cols and cols > 1) else 0.0
        cells.append(
            (x0 + c * cw + shift, y0 + r * ch, x0 + (c + 1) * cw + shift, y0 + (r + 1) * ch)
        )
    return cells


def _fit(kind: str, cell: Box, in_sky: bool) -> Box:
    aspect, scale = SHAPES[kind]
    cx0, cy0, cx1, cy1 = cell
    cw, ch = cx1 - cx0, cy1 - cy0
    height = min(ch, cw / aspect) * (0.55 + 0.45 * scale)
    width = height * aspect
    x = (cx0 + cx1 - width) / 2
    y = (cy0 + cy1 - height) / 2 if in_sky else cy1 - height
    return (x, y, x + width, y + height)


def render(
    scene: Scene, width: int, height: int, seed: int | np.random.SeedSequence
) -> Image.Image:
    """The RGB image of `scene` at `width` x `height`; `seed` fixes textures and jitter."""
    rng = np.random.default_rng(seed)
    w, h = width * SUPERSAMPLE, height * SUPERSAMPLE
    img = _background(scene, w, h, rng)
    d = ImageDraw.Draw(img)
    # Sky objects first, then ground objects from the back row forward.
    for p in sorted(scene.placements, key=lambda p: not OBJECTS[p.kind].in_sky):
        for cell in _cells(p, w, h):
            draw_object(d, p.kind, _fit(p.kind, cell, OBJECTS[p.kind].in_sky), COLOURS[p.colour])
    return img.resize((width, height), Image.Resampling.BOX)
