"""How each kind of object is drawn (at supersampled size) into its box: people by what they wear,
animals, things; every shape outlined so light objects stay visible on light settings.
"""

from __future__ import annotations

from PIL import ImageDraw

from vistflow.synth.world import COLOURS

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
RGB = tuple[int, int, int]
SKIN = (236, 196, 160)


def shade(rgb: RGB, f: float) -> RGB:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def outline(rgb: RGB) -> RGB:
    # Dark edge for light objects, light edge for dark ones: keeps white-on-snow visible.
    return shade(rgb, 0.5) if sum(rgb) > 150 else (110, 110, 115)


def draw_object(d: ImageDraw.ImageDraw, kind: str, box: Box, rgb: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    ol = outline(rgb)
    lw = max(1, round(min(w, h) * 0.06))
    if kind in ("man", "woman", "child", "bride"):
        head = h * 0.22
        d.ellipse((cx - head / 2, y0, cx + head / 2, y0 + head), fill=SKIN, outline=(120, 90, 70))
        if kind in ("woman", "bride"):
            d.polygon(
                [(cx, y0 + head), (x0, y1 - h * 0.1), (x1, y1 - h * 0.1)], fill=rgb, outline=ol
            )
            d.rectangle((cx - w * 0.25, y1 - h * 0.1, cx - w * 0.12, y1), fill=SKIN)
            d.rectangle((cx + w * 0.12, y1 - h * 0.1, cx + w * 0.25, y1), fill=SKIN)
            if kind == "bride":  # veil
                d.polygon(
                    [
                        (cx - head / 2, y0),
                        (cx - w * 0.5, y0 + h * 0.55),
                        (cx - head / 2, y0 + h * 0.5),
                    ],
                    fill=(250, 250, 250),
                    outline=(180, 180, 180),
                )
        else:
            d.rectangle(
                (x0 + w * 0.1, y0 + head, x1 - w * 0.1, y0 + h * 0.62), fill=rgb, outline=ol
            )
            d.rectangle((x0 + w * 0.18, y0 + h * 0.62, cx - w * 0.05, y1), fill=(40, 45, 70))
            d.rectangle((cx + w * 0.05, y0 + h * 0.62, x1 - w * 0.18, y1), fill=(40, 45, 70))
    elif kind in ("dog", "cat"):
        body = (x0 + w * 0.15, y0 + h * 0.35, x1 - w * 0.2, y0 + h * 0.75)
        for lx in (0.22, 0.35, 0.6, 0.72):
            d.rectangle(
                (x0 + w * lx, y0 + h * 0.65, x0 + w * (lx + 0.07), y1), fill=rgb, outline=ol
            )
        d.ellipse(body, fill=rgb, outline=ol)
        head = (x1 - w * 0.35, y0 + h * 0.05, x1, y0 + h * 0.5)
        d.ellipse(head, fill=rgb, outline=ol)
        if kind == "cat":
            d.polygon(
                [
                    (head[0] + w * 0.03, head[1] + h * 0.1),
                    (head[0] + w * 0.08, y0 - h * 0.08),
                    (head[0] + w * 0.16, head[1] + h * 0.05),
                ],
                fill=rgb,
                outline=ol,
            )
            d.polygon(
                [
                    (head[2] - w * 0.16, head[1] + h * 0.05),
                    (head[2] - w * 0.08, y0 - h * 0.08),
                    (head[2] - w * 0.03, head[1] + h * 0.1),
                ],
                fill=rgb,
                outline=ol,
            )
            d.line((x0 + w * 0.18, y0 + h * 0.5, x0, y0), fill=ol, width=lw)
        else:
            d.ellipse(
                (head[0] - w * 0.02, head[1] + h * 0.1, head[0] + w * 0.1, head[1] + h * 0.4),
                fill=shade(rgb, 0.7),
            )
            d.line((x0 + w * 0.18, y0 + h * 0.45, x0, y0 + h * 0.2), fill=ol, width=lw)
        d.ellipse(
            (head[2] - w * 0.12, head[1] + h * 0.15, head[2] - w * 0.07, head[1] + h * 0.23),
            fill=(10, 10, 10),
        )
    elif kind in ("ball", "pumpkin"):
        d.ellipse(box, fill=rgb, outline=ol, width=lw)
        if kind == "ball":
            d.line(
                (x0 + w * 0.1, y0 + h * 0.5, x1 - w * 0.1, y0 + h * 0.5),
                fill=(250, 250, 250),
                width=lw,
            )
        else:
            for f in (0.35, 0.65):
                d.arc((x0 + w * (f - 0.2), y0, x0 + w * (f + 0.2), y1), 90, 270, fill=ol, width=lw)
            d.rectangle(
                (cx - w * 0.05, y0 - h * 0.15, cx + w * 0.05, y0 + h * 0.05), fill=(60, 120, 40)
            )
    elif kind == "balloon":
        d.line((cx, y0 + h * 0.6, cx + w * 0.1, y1), fill=(90, 90, 90), width=1)
        d.ellipse((x0, y0, x1, y0 + h * 0.65), fill=rgb, outline=ol)
        d.ellipse((x0 + w * 0.25, y0 + h * 0.1, x0 + w * 0.4, y0 + h * 0.2), fill=shade(rgb, 1.35))
    elif kind == "cake":
        d.rectangle((x0, y0 + h * 0.45, x1, y1), fill=rgb, outline=ol)
        d.rectangle(
            (x0 + w * 0.18, y0 + h * 0.15, x1 - w * 0.18, y0 + h * 0.45), fill=rgb, outline=ol
        )
        d.line((x0, y0 + h * 0.55, x1, y0 + h * 0.55), fill=(250, 250, 250), width=lw)
        for f in (0.35, 0.5, 0.65):
            d.line((x0 + w * f, y0, x0 + w * f, y0 + h * 0.15), fill=(240, 60, 60), width=lw)
    elif kind in ("tree", "christmas_tree"):
        d.rectangle((cx - w * 0.1, y0 + h * 0.7, cx + w * 0.1, y1), fill=(100, 65, 30))
        if kind == "tree":
            d.ellipse((x0, y0, x1, y0 + h * 0.78), fill=rgb, outline=ol)
        else:
            for i, f in enumerate((0.0, 0.25, 0.45)):
                half = w * (0.3 + 0.1 * i)
                d.polygon(
                    [
                        (cx, y0 + h * f),
                        (cx - half, y0 + h * (f + 0.3)),
                        (cx + half, y0 + h * (f + 0.3)),
                    ],
                    fill=rgb,
                    outline=ol,
                )
            d.ellipse(
                (cx - w * 0.1, y0 - h * 0.04, cx + w * 0.1, y0 + h * 0.08), fill=(255, 220, 40)
            )
            for fx, fy in ((-0.15, 0.35), (0.12, 0.5), (-0.2, 0.65), (0.2, 0.68)):
                d.ellipse(
                    (cx + w * fx - 1, y0 + h * fy - 1, cx + w * fx + 1, y0 + h * fy + 1),
                    fill=(230, 40, 40),
                )
    elif kind == "car":
        d.rectangle((x0, y0 + h * 0.4, x1, y0 + h * 0.8), fill=rgb, outline=ol)
        d.polygon(
            [
                (x0 + w * 0.2, y0 + h * 0.4),
                (x0 + w * 0.3, y0),
                (x1 - w * 0.3, y0),
                (x1 - w * 0.15, y0 + h * 0.4),
            ],
            fill=rgb,
            outline=ol,
        )
        d.rectangle(
            (x0 + w * 0.33, y0 + h * 0.08, x1 - w * 0.33, y0 + h * 0.36), fill=(175, 215, 240)
        )
        for fx in (0.22, 0.78):
            r = h * 0.2
            d.ellipse((x0 + w * fx - r, y1 - 2 * r, x0 + w * fx + r, y1), fill=(20, 20, 20))
    elif kind == "boat":
        d.polygon(
            [(x0, y0 + h * 0.7), (x1, y0 + h * 0.7), (x1 - w * 0.2, y1), (x0 + w * 0.2, y1)],
            fill=rgb,
            outline=ol,
        )
        d.line((cx, y0, cx, y0 + h * 0.7), fill=(90, 70, 50), width=lw)
        d.polygon(
            [(cx, y0), (cx, y0 + h * 0.62), (x0 + w * 0.12, y0 + h * 0.62)],
            fill=(250, 250, 250),
            outline=(150, 150, 150),
        )
    elif kind == "house":
        d.rectangle((x0 + w * 0.08, y0 + h * 0.42, x1 - w * 0.08, y1), fill=rgb, outline=ol)
        d.polygon(
            [(x0, y0 + h * 0.45), (cx, y0), (x1, y0 + h * 0.45)],
            fill=(120, 45, 35),
            outline=(70, 25, 20),
        )
        d.rectangle((cx - w * 0.1, y0 + h * 0.7, cx + w * 0.1, y1), fill=(90, 60, 30))
        d.rectangle(
            (x0 + w * 0.18, y0 + h * 0.52, x0 + w * 0.34, y0 + h * 0.66), fill=(175, 215, 240)
        )
    elif kind == "guitar":
        d.rectangle((cx - w * 0.07, y0, cx + w * 0.07, y0 + h * 0.5), fill=(110, 75, 40))
        d.ellipse(
            (x0 + w * 0.12, y0 + h * 0.35, x1 - w * 0.12, y0 + h * 0.65), fill=rgb, outline=ol
        )
        d.ellipse((x0, y0 + h * 0.55, x1, y1), fill=rgb, outline=ol)
        d.ellipse((cx - w * 0.15, y0 + h * 0.66, cx + w * 0.15, y0 + h * 0.8), fill=(20, 20, 20))
    elif kind == "flower":
        d.line((cx, y0 + h * 0.35, cx, y1), fill=(40, 130, 40), width=lw)
        d.ellipse((cx - w * 0.35, y0 + h * 0.55, cx, y0 + h * 0.7), fill=(40, 130, 40))
        r = w * 0.45
        d.ellipse((cx - r, y0, cx + r, y0 + 2 * r), fill=rgb, outline=ol)
        d.ellipse((cx - r * 0.35, y0 + r * 0.65, cx + r * 0.35, y0 + r * 1.35), fill=(250, 210, 40))
    elif kind == "tent":
        d.polygon([(cx, y0), (x0, y1), (x1, y1)], fill=rgb, outline=ol)
        d.polygon(
            [(cx, y0 + h * 0.35), (cx - w * 0.15, y1), (cx + w * 0.15, y1)], fill=shade(rgb, 0.45)
        )
    elif kind == "campfire":
        d.line((x0, y1, x1, y1 - h * 0.25), fill=(100, 60, 25), width=max(1, lw * 2))
        d.line((x0, y1 - h * 0.25, x1, y1), fill=(100, 60, 25), width=max(1, lw * 2))
        d.polygon(
            [(cx, y0), (x0 + w * 0.2, y1 - h * 0.2), (x1 - w * 0.2, y1 - h * 0.2)],
            fill=(245, 135, 30),
        )
        d.polygon(
            [(cx, y0 + h * 0.35), (cx - w * 0.15, y1 - h * 0.22), (cx + w * 0.15, y1 - h * 0.22)],
            fill=(255, 225, 60),
        )
    elif kind == "gift":
        d.rectangle((x0, y0 + h * 0.2, x1, y1), fill=rgb, outline=ol)
        rib = (250, 225, 60) if rgb != COLOURS["yellow"] else (220, 40, 40)
        d.rectangle((cx - w * 0.08, y0 + h * 0.2, cx + w * 0.08, y1), fill=rib)
        d.ellipse((cx - w * 0.3, y0, cx, y0 + h * 0.22), outline=rib, width=lw)
        d.ellipse((cx, y0, cx + w * 0.3, y0 + h * 0.22), outline=rib, width=lw)
    elif kind == "snowman":
        for top, bot, half in ((0.0, 0.3, 0.28), (0.25, 0.6, 0.38), (0.52, 1.0, 0.5)):
            d.ellipse(
                (cx - w * half, y0 + h * top, cx + w * half, y0 + h * bot), fill=rgb, outline=ol
            )
        d.polygon(
            [(cx, y0 + h * 0.14), (cx + w * 0.3, y0 + h * 0.17), (cx, y0 + h * 0.2)],
            fill=(245, 135, 30),
        )
        d.rectangle((cx - w * 0.3, y0 + h * 0.26, cx + w * 0.3, y0 + h * 0.31), fill=(210, 35, 40))
    elif kind == "bicycle":
        r = h * 0.35
        for fx in (0.22, 0.78):
            d.ellipse(
                (x0 + w * fx - r, y1 - 2 * r, x0 + w * fx + r, y1), outline=(30, 30, 30), width=lw
            )
        pts = [
            (x0 + w * 0.22, y1 - r),
            (cx, y1 - r),
            (x0 + w * 0.62, y0 + h * 0.25),
            (x0 + w * 0.35, y0 + h * 0.25),
            (x0 + w * 0.22, y1 - r),
        ]
        d.line(pts, fill=rgb, width=max(1, lw * 2))
        d.line(
            (x0 + w * 0.62, y0 + h * 0.25, x0 + w * 0.78, y1 - r), fill=rgb, width=max(1, lw * 2)
        )
        d.line(
            (x0 + w * 0.58, y0 + h * 0.1, x0 + w * 0.7, y0 + h * 0.1), fill=(30, 30, 30), width=lw
        )
    elif kind == "kite":
        d.polygon(
            [(cx, y0), (x1, y0 + h * 0.35), (cx, y0 + h * 0.75), (x0, y0 + h * 0.35)],
            fill=rgb,
            outline=ol,
        )
        d.line((cx, y0 + h * 0.75, cx - w * 0.2, y1), fill=(90, 90, 90), width=1)
    elif kind == "umbrella":
        d.line((cx, y0 + h * 0.3, cx, y1), fill=(80, 80, 80), width=lw)
        d.pieslice((x0, y0, x1, y0 + h * 0.6), 180, 360, fill=rgb, outline=ol)
    elif kind == "microphone":
        d.line((cx, y0 + h * 0.2, cx, y1), fill=shade(rgb, 1.2), width=lw)
        d.line((x0, y1, x1, y1), fill=shade(rgb, 1.2), width=lw)
        d.ellipse(
            (cx - w * 0.4, y0, cx + w * 0.4, y0 + h * 0.22), fill=rgb, outline=(200, 200, 200)
        )
    elif kind == "drum":
        d.rectangle((x0, y0 + h * 0.2, x1, y1 - h * 0.1), fill=rgb, outline=ol)
        d.ellipse((x0, y0 + h * 0.05, x1, y0 + h * 0.35), fill=(235, 235, 225), outline=ol)
        d.ellipse((x0, y1 - h * 0.25, x1, y1), fill=rgb, outline=ol)
        d.line((x0 + w * 0.2, y0 - h * 0.1, cx, y0 + h * 0.15), fill=(200, 170, 120), width=lw)
    elif kind == "cap":
        d.polygon(
            [(x0, y0 + h * 0.35), (cx, y0), (x1, y0 + h * 0.35), (cx, y0 + h * 0.7)],
            fill=rgb,
            outline=ol,
        )
        d.rectangle((cx - w * 0.2, y0 + h * 0.5, cx + w * 0.2, y1), fill=rgb, outline=ol)
        d.line((cx, y0 + h * 0.35, x1 - w * 0.1, y1), fill=(250, 210, 40), width=lw)
    elif kind == "bench":
        d.rectangle((x0, y0, x1, y0 + h * 0.3), fill=rgb, outline=ol)
        d.rectangle((x0, y0 + h * 0.45, x1, y0 + h * 0.6), fill=rgb, outline=ol)
        for fx in (0.1, 0.85):
            d.rectangle((x0 + w * fx, y0 + h * 0.6, x0 + w * (fx + 0.05), y1), fill=(60, 60, 60))
    elif kind == "bird":
        d.ellipse((x0 + w * 0.25, y0 + h * 0.35, x1 - w * 0.2, y1), fill=rgb, outline=ol)
        d.polygon(
            [(x0, y0), (cx, y0 + h * 0.55), (x0 + w * 0.3, y0 + h * 0.6)], fill=rgb, outline=ol
        )
        d.polygon(
            [(x1 - w * 0.2, y0 + h * 0.5), (x1, y0 + h * 0.6), (x1 - w * 0.2, y0 + h * 0.7)],
            fill=(245, 170, 40),
        )
    elif kind == "blanket":
        d.polygon(
            [(x0 + w * 0.1, y0), (x1 - w * 0.1, y0), (x1, y1), (x0, y1)], fill=rgb, outline=ol
        )
        for f in (0.25, 0.5, 0.75):
            d.line((x0 + w * f, y0, x0 + w * f, y1), fill=(250, 250, 250), width=lw)
        d.line(
            (x0 + w * 0.05, y0 + h * 0.5, x1 - w * 0.05, y0 + h * 0.5),
            fill=(250, 250, 250),
            width=lw,
        )
    elif kind == "backpack":
        d.rounded_rectangle((x0, y0 + h * 0.1, x1, y1), radius=w * 0.25, fill=rgb, outline=ol)
        d.rectangle(
            (x0 + w * 0.2, y0 + h * 0.55, x1 - w * 0.2, y1 - h * 0.08),
            fill=shade(rgb, 0.75),
            outline=ol,
        )
        d.arc(
            (x0 + w * 0.25, y0 - h * 0.05, x1 - w * 0.25, y0 + h * 0.25),
            180,
            360,
            fill=ol,
            width=lw,
        )
    else:  # pragma: no cover - every kind in world.OBJECTS has a branch above
        raise KeyError(kind)
