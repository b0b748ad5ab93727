"""Run a served model's signatures in-process, without a server (the caption/story CLIs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.compat import read_meta_graph
from serving.defaults import DEFAULT_MAX_IMAGE_PIXELS
from serving.image_files import file_problem
from serving.layout import resolve_saved_model
from vistflow import images as shared
from vistflow.errors import VistflowError
from vistflow.reasons import INFERENCE_FAILED

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


@dataclass(frozen=True)
class ImageFailure:
    """An image that got no text: a reason code (as batch-caption's rejects) and why."""

    image: Path
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.image}: {self.reason}: {self.detail}"


def model_error_cause(error: Exception) -> str:
    """The cause in a TF error, without "Graph execution error:", node names or stack noise."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines()]
    marker = next((i for i, line in enumerate(lines) if "[[{{node " in line), len(lines))
    # The op's own message is the text right before TF's "[[{{node ...}}]]" marker.
    before = lines[marker].split("[[{{node ")[0].strip() if marker < len(lines) else ""
    candidates = [before] if before else []
    candidates += reversed(lines[:marker])
    for line in candidates:
        if line and not (
            line.startswith(("Graph execution error", "Detected at node", "File ", "<stack"))
        ):
            return line
    return type(error).__name__


def load_image(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> bytes | ImageFailure:
    """The bytes to feed the model for the file, or why it cannot be captioned.

    What the path is comes first (a FIFO or a directory is never opened, a dangling link is
    `missing_image`); then the shared decoder (`vistflow.images.graph_ready_bytes`) checks the
    limits and decodes every pixel (so a truncated file is `undecodable` here, not a model
    error), and WebP/TIFF/CMYK/EXIF-rotated PNG files become PNGs of the shared decode: `caption`
    and `story` see what the server, batch-caption and the feature extractor see.
    """
    reason, detail, _ = file_problem(str(path))
    if reason:
        return ImageFailure(Path(path), reason, detail)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return ImageFailure(Path(path), shared.UNDECODABLE, f"cannot read: {e.strerror or e}")
    try:
        return shared.graph_ready_bytes(
            data, shared.ImageLimits(max_pixels=max_pixels), verify=True
        )
    except shared.ImageError as e:
        return ImageFailure(Path(path), e.reason, e.detail)


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> bytes:
    """`load_image`, raising VistflowError ("FILE: reason: detail") for a bad file."""
    ready = load_image(path, max_pixels)
    if isinstance(ready, ImageFailure):
        raise VistflowError(str(ready))
    return ready


def album_images(album_dir: Path) -> list[Path]:
    """The album's entries named like images, in name order; exactly five, or VistflowError.

    Entries that are not regular files (a dangling link, a folder, a FIFO named `x.jpg`) are
    kept, so that loading them names them (`load_image`) rather than the count coming up short.
    """
    album_dir = Path(album_dir)
    if not album_dir.is_dir():
        raise VistflowError(f"{album_dir}: not a directory")
    images = sorted(
        p
        for p in album_dir.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
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

    def caption(
        self, images: list[Path], batch_size: int = 32
    ) -> tuple[list[TextResult], list[ImageFailure]]:
        """One caption per usable image (signature `serving_default`), in the given order.

        Returns (results, failures): a bad file, or one the model cannot take, is a failure
        with its reason and costs only itself; every image is in exactly one of the two.
        """
        loaded = [(Path(p), load_image(p)) for p in images]
        failures = [data for _, data in loaded if isinstance(data, ImageFailure)]
        good = [(p, data) for p, data in loaded if not isinstance(data, ImageFailure)]
        results: list[TextResult] = []
        for start in range(0, len(good), batch_size):
            batch = good[start : start + batch_size]
            done, failed = self._caption_batch(batch)
            results.extend(done)
            failures.extend(failed)
        order = {p: i for i, (p, _) in enumerate(loaded)}
        failures.sort(key=lambda f: order[f.image])
        return results, failures

    def _caption_batch(
        self, batch: list[tuple[Path, bytes]]
    ) -> tuple[list[TextResult], list[ImageFailure]]:
        import tensorflow as tf

        data = [d for _, d in batch]
        try:
            texts, scores = self._run("serving_default", "captions", data, [len(data)])
        except tf.errors.InvalidArgumentError as e:
            if len(batch) == 1:
                return [], [ImageFailure(batch[0][0], INFERENCE_FAILED, model_error_cause(e))]
            # Name the image the model could not take: rerun this batch one by one.
            results: list[TextResult] = []
            failures: list[ImageFailure] = []
            for one in batch:
                done, failed = self._caption_batch([one])
                results.extend(done)
                failures.extend(failed)
            return results, failures
        paths = [p for p, _ in batch]
        return [TextResult(p, t, s) for p, t, s in zip(paths, texts, scores, strict=True)], []

    def story(self, images: list[tuple[Path, bytes]]) -> list[TextResult]:
        """Five sentences for five loaded images (`load_image`), in order (signature `story`).

        VistflowError naming the album when the model rejects the five together.
        """
        import tensorflow as tf

        paths = [p for p, _ in images]
        try:
            texts, scores = self._run(
                "story", "sentences", [d for _, d in images], [1, STORY_LENGTH]
            )
        except tf.errors.InvalidArgumentError as e:
            raise VistflowError(
                f"{paths[0].parent}: the model rejected the album: {model_error_cause(e)}"
            ) from e
        return [TextResult(p, t, s) for p, t, s in zip(paths, texts, scores, strict=True)]
