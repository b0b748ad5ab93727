"""A tiny, deterministic SavedModel with the trainer's serving signatures, for tests and demos.

It has no vistflow code inside (its graph decodes with the shared in-graph decoder,
`vistflow.images.decode_pixels`, as the trainer's export does) and the same signature shapes as
the exported captioners:
  serving_default: images string[N]      -> captions string[N], scores float[N],
                                            attention float[N, T, 16] (a 4x4 grid)
  story:           images string[N, 5]   -> sentences string[N, 5], scores float[N, 5]
  from_features:   features float[N, 8]  -> captions string[N], scores float[N]
The caption names the image's dominant colour and brightness, prefixed by `marker`, so a test
can tell which version answered: "v1 a bright red photo". With `spot=True` an image that is not
evenly lit also says where its brightest 4x4 cell is ("v1 a dark red photo with a bright spot at
the top right"), so the caption depends on the pixel layout: a photo decoded sideways gets
another one.
The attention at step t is a softmax over the 4x4 grid of brightness, sharpened with t, so it
follows the bright region.
"""

from __future__ import annotations

import io
import os

ATTENTION_STEPS = 5  # one step per caption word
GRID = 4
FEATURE_DIM = 8
SPOT_CONTRAST = 0.2  # brightness range (0..1) over the 4x4 grid above which a spot is named


def export_toy_captioner(path: str | os.PathLike, marker: str = "v1", spot: bool = False) -> str:
    """Write the toy SavedModel to `path` (a new directory); returns the path.

    Args:
      spot: name the brightest cell in captions of unevenly lit images (layout-sensitive).
    """
    import tensorflow as tf

    colours = tf.constant(["red", "green", "blue"])

    def describe(mean_rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        colour = tf.gather(colours, tf.argmax(mean_rgb, axis=-1))
        brightness = tf.reduce_mean(mean_rgb, axis=-1)
        tone = tf.where(brightness > 0.5, "bright", "dark")
        caption = tf.strings.join([marker, "a", tone, colour, "photo"], separator=" ")
        return caption, tf.reduce_max(mean_rgb, axis=-1)

    rows = tf.constant(["top", "upper middle", "lower middle", "bottom"])
    columns = tf.constant(["left", "centre left", "centre right", "right"])

    def bright_spot(grid: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(grid, [-1])
        cell = tf.argmax(flat, output_type=tf.int32)
        where = tf.strings.join(
            [
                " with a bright spot at the",
                tf.gather(rows, cell // GRID),
                tf.gather(columns, cell % GRID),
            ],
            separator=" ",
        )
        evenly_lit = tf.reduce_max(flat) - tf.reduce_min(flat) < SPOT_CONTRAST
        return tf.where(evenly_lit, tf.constant(""), where)

    def one_image(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        from vistflow.images import decode_pixels

        pixels = tf.cast(decode_pixels(data), tf.float32) / 255.0
        caption, score = describe(tf.reduce_mean(pixels, axis=[0, 1]))
        grid = tf.reduce_mean(tf.image.resize(pixels, [GRID, GRID], method="area"), axis=-1)
        if spot:
            caption = tf.strings.join([caption, bright_spot(grid)])
        logits = tf.reshape(grid, [1, GRID * GRID]) * tf.reshape(
            tf.range(1, ATTENTION_STEPS + 1, dtype=tf.float32) * 4.0, [ATTENTION_STEPS, 1]
        )
        return caption, score, tf.nn.softmax(logits, axis=-1)

    def caption_images(images: tf.Tensor):
        return tf.map_fn(
            one_image,
            images,
            fn_output_signature=(
                tf.TensorSpec([], tf.string),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([ATTENTION_STEPS, GRID * GRID], tf.float32),
            ),
        )

    class ToyCaptioner(tf.Module):
        def __init__(self):
            super().__init__()
            # A variable, so the export has a real variables/ directory like a trained model.
            self.projection = tf.Variable(
                tf.reshape(tf.range(FEATURE_DIM * 3, dtype=tf.float32) % 3.0, [FEATURE_DIM, 3])
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def serve(self, images):
            captions, scores, attention = caption_images(images)
            return {"captions": captions, "scores": scores, "attention": attention}

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.string, name="images")])
        def story(self, images):
            captions, scores, _ = caption_images(tf.reshape(images, [-1]))
            captions = tf.reshape(captions, [-1, 5])
            numbers = tf.broadcast_to(tf.strings.as_string(tf.range(1, 6)), tf.shape(captions))
            # "v1 a bright red photo" -> "v1 sentence 3: a bright red photo"
            tail = tf.strings.regex_replace(captions, r"^\S+ ", "")
            sentences = tf.strings.join([marker + " sentence ", numbers, ": ", tail])
            return {"sentences": sentences, "scores": tf.reshape(scores, [-1, 5])}

        @tf.function(
            input_signature=[tf.TensorSpec([None, FEATURE_DIM], tf.float32, name="features")]
        )
        def from_features(self, features):
            mean_rgb = tf.nn.sigmoid(tf.matmul(features, self.projection))
            captions, scores = describe(mean_rgb)
            return {"captions": captions, "scores": scores}

    module = ToyCaptioner()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.serve,
            "story": module.story,
            "from_features": module.from_features,
        },
    )
    return str(path)


def solid_image(
    rgb: tuple[int, int, int], size: tuple[int, int] = (24, 16), fmt: str = "PNG"
) -> bytes:
    """Encoded bytes of a one-colour image (what the toy captioner describes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format=fmt)
    return buf.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` but holds no pixels (for size-limit tests)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


class JsonClient:
    """A minimal JSON-over-HTTP client for tests: returns (status, parsed body), never raises
    on 4xx/5xx."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: object = None, raw: bytes | None = None
    ) -> tuple[int, object]:
        import json
        import urllib.error
        import urllib.request

        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, object]:
        return self.request("GET", path)

    def post(self, path: str, body: object = None, raw: bytes | None = None) -> tuple[int, object]:
        return self.request("POST", path, body, raw)
