"""Run a served model's signatures in-process, without a server (the caption/story CLIs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.compat import read_meta_graph
from serving.images import DEFAULT_MAX_IMAGE_PIXELS, ImageCheckError, prepare_image
from serving.layout import resolve_saved_model
from vistflow.errors import VistflowError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".jfif"}
)
STORY_LENGTH = 5


@dataclass(frozen=True)
class TextResult:
    """One image's generated text and its score."""

    image: Path
    text: str
    score: float


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> bytes:
    """The bytes to feed the model for the file (checked, graph-ready: see serving.images).

    WebP/TIFF/CMYK/EXIF-rotated PNG files become PNGs of the shared decode, so `caption` and
    `story` see what the server and the feature extractor see. VistflowError names the file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise VistflowError(f"{path}: cannot read image ({e.strerror or e})") from e
    try:
        return prepare_image(data, max_pixels)
    except ImageCheckError as e:
        raise VistflowError(f"{path}: {e}") from e


def album_images(album_dir: Path) -> list[Path]:
    """The album's image files in name order; exactly five, or VistflowError naming the folder."""
    album_dir = Path(album_dir)
    if not album_dir.is_dir():
        raise VistflowError(f"{album_dir}: not a directory")
    images = sorted(
        p
        for p in album_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if len(images) != STORY_LENGTH:
        names = ", ".join(p.name for p in images) or "none"
        raise VistflowError(
            f"{album_dir}: a story needs exactly {STORY_LENGTH} images, found {len(images)} "
            f"({names})"
        )
    return images


class LocalModel:
    """A SavedModel (or the latest version under `<base>/<model>`) loaded for direct calls."""

    def __init__(self, model: Path):
        import tensorflow as tf

        self.path = resolve_saved_model(Path(model))
        self._signature_defs = dict(read_meta_graph(self.path).signature_def)
        self._model = tf.saved_model.load(str(self.path), tags=["serve"])

    def _signature(self, name: str, text_output: str):
        signatures = self._model.signatures
        if name not in signatures:
            raise VistflowError(
                f"{self.path}: the model has no {name!r} signature (it has {sorted(signatures)})"
            )
        signature_def = self._signature_defs[name]
        inputs = list(signature_def.inputs)
        if len(inputs) != 1:
            raise VistflowError(
                f"{self.path}: signature {name!r} must take one input, has {inputs}"
            )
        outputs = set(signature_def.outputs)
        if text_output not in outputs:
            raise VistflowError(
                f"{self.path}: signature {name!r} has no {text_output!r} output ({sorted(outputs)})"
            )
        return signatures[name], inputs[0], "scores" if "scores" in outputs else None

    def _run(self, name: str, text_output: str, batch: list[bytes], shape: list[int]):
        import numpy as np
        import tensorflow as tf

        fn, input_key, score_key = self._signature(name, text_output)
        images = tf.reshape(tf.constant(batch, dtype=tf.string), shape)
        result = fn(**{input_key: images})
        texts = result[text_output].numpy().reshape(-1)
        scores = (
            result[score_key].numpy().reshape(-1)
            if score_key
            else np.full(len(texts), np.nan, np.float32)
        )
        return [t.decode("utf-8", "replace") for t in texts], [float(s) for s in scores]

    def caption(self, images: list[Path], batch_size: int = 32) -> list[TextResult]:
        """One caption per image (signature `serving_default`), in the given order."""
        import tensorflow as tf

        data = [read_image(p) for p in images]
        results: list[TextResult] = []
        for start in range(0, len(images), batch_size):
            paths, batch = images[start : start + batch_size], data[start : start + batch_size]
            try:
                texts, scores = self._run("serving_default", "captions", batch, [len(batch)])
            except tf.errors.InvalidArgumentError as e:
                # Name the image the model could not take: rerun this batch one by one.
                for path, one in zip(paths, batch, strict=True):
                    try:
                        self._run("serving_default", "captions", [one], [1])
                    except tf.errors.InvalidArgumentError as e1:
                        raise VistflowError(
                            f"{path}: the model rejected it: {e1.message.splitlines()[0]}"
                        ) from e1
                raise VistflowError(f"{self.path}: model call failed: {e.message}") from e
            results.extend(
                TextResult(p, t, s) for p, t, s in zip(paths, texts, scores, strict=True)
            )
        return results

    def story(self, album_dir: Path) -> list[TextResult]:
        """Five sentences for the album's five images in name order (signature `story`)."""
        import tensorflow as tf

        paths = album_images(album_dir)
        data = [read_image(p) for p in paths]
        try:
            texts, scores = self._run("story", "sentences", data, [1, STORY_LENGTH])
        except tf.errors.InvalidArgumentError as e:
            raise VistflowError(
                f"{album_dir}: the model rejected the album: {e.message.splitlines()[0]}"
            ) from e
        return [TextResult(p, t, s) for p, t, s in zip(paths, texts, scores, strict=True)]
