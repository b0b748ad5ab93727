"""One loaded model version: its signatures, their batching queues, and its in-flight count.

Generic over any SavedModel, as TF Serving is: signatures come from
`tf.saved_model.load(path).signatures` and their input/output specs from the SignatureDefs
in `saved_model.pb` (the same protos `tensorflow_model_server` reads).
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from serving.api_errors import Internal, InvalidArgument
from serving.batching import BatchingQueue, Tensors, batch_rows
from serving.compat import INIT_OP_SIGNATURE, read_meta_graph
from serving.defaults import DEFAULT_MAX_BATCH_SIZE
from serving.images import DEFAULT_MAX_IMAGE_PIXELS, ImageCheckError, prepare_image
from serving.json_codec import NUMPY_DTYPES, TensorSpecInfo, specs_from_tensor_infos
from vistflow import uri

logger = logging.getLogger(__name__)

# String inputs named like this carry encoded images: checked and made graph-ready first.
DEFAULT_IMAGE_INPUT_PATTERN = r"(?:^|_)(?:image|images|img|imgs)(?:_bytes)?$"

_TF_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[\[\{\{node [^]]*\]\]|\s*\[Op:[^]]*\]")


def _clean_tf_message(message: str) -> str:
    """A TF runtime error message without graph-internal node/function names."""
    return _TF_NOISE.sub("", message).strip()


def concat_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along dimension 0, padding the other dimensions to the largest.

    Chunks of one request can decode to different lengths (a step axis ends when its own rows
    finish); one batched call would have padded the shorter rows the same way (zeros, b"").
    """
    if len(arrays) == 1:
        return arrays[0]
    if any(a.ndim == 0 for a in arrays):
        raise Internal("a signature output has no batch dimension; cannot split the request")
    target = np.max([a.shape[1:] for a in arrays], axis=0) if arrays[0].ndim > 1 else ()
    padded = []
    for a in arrays:
        widths = [(0, 0)] + [(0, int(t) - d) for t, d in zip(target, a.shape[1:], strict=True)]
        if any(w for _, w in widths):
            fill = b"" if a.dtype == object else 0
            a = np.pad(a, widths, constant_values=fill)
        padded.append(a)
    return np.concatenate(padded)


class SignatureRunner:
    """Runs one signature: checks inputs, then calls the model (through a batcher if enabled)."""

    def __init__(
        self,
        name: str,
        fn: Callable,
        inputs: dict[str, TensorSpecInfo],
        outputs: dict[str, TensorSpecInfo],
        *,
        image_inputs: set[str],
        max_image_pixels: int,
        max_batch_size: int,
        batch_timeout_s: float,
        max_enqueued_rows: int | None,
        num_batch_threads: int = 1,
        label: str,
    ):
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.image_inputs = image_inputs
        self.max_image_pixels = max_image_pixels
        self._fn = fn
        self._label = label
        # Batching needs every input and output to have a free dimension 0 (the batch).
        batchable = all(
            s.shape is not None and len(s.shape) >= 1 and s.shape[0] < 0
            for s in [*inputs.values(), *outputs.values()]
        )
        self.batchable = batchable
        # Rows per model call for a large request: the batch size, or (batching off) the
        # default batch size, so one request never puts thousands of rows in one call.
        self.chunk_rows = max_batch_size if max_batch_size > 1 else DEFAULT_MAX_BATCH_SIZE
        self.batcher = (
            BatchingQueue(
                self.call,
                max_batch_size=max_batch_size,
                batch_timeout_s=batch_timeout_s,
                max_enqueued_rows=max_enqueued_rows,
                num_threads=num_batch_threads,
                name=label,
            )
            if batchable and max_batch_size > 1
            else None
        )

    def prepare_images(self, inputs: Tensors) -> Tensors:
        """`inputs` with every image checked and made graph-ready (`serving.images`).

        WebP, TIFF, CMYK, EXIF-rotated PNG... become PNGs of the shared PIL decode, so the model
        sees the pixels the feature extractor saw; JPEG/PNG pass through untouched.
        """
        prepared = dict(inputs)
        for name in self.image_inputs & inputs.keys():
            ready = np.empty(inputs[name].shape, dtype=object)
            for index, data in np.ndenumerate(inputs[name]):
                try:
                    ready[index] = prepare_image(data, self.max_image_pixels)
                except ImageCheckError as e:
                    where = "".join(f"[{i}]" for i in index)
                    raise InvalidArgument(f"input {name!r}{where}: {e}") from e
            prepared[name] = ready
        return prepared

    def predict(self, inputs: Tensors) -> Tensors:
        """Outputs for `inputs` (already shape-checked against the signature).

        A request of more rows than one model call takes runs as consecutive chunks: images
        are prepared and decoded one chunk at a time (memory stays at one chunk's
        activations, not the whole request's), and each chunk queues like any other request,
        so small requests that arrive meanwhile share the next call instead of waiting.
        """
        rows = batch_rows(inputs)
        if rows is None or not self.batchable or rows <= self.chunk_rows:
            return self._predict_chunk(inputs)
        parts = [
            self._predict_chunk({n: a[start : start + self.chunk_rows] for n, a in inputs.items()})
            for start in range(0, rows, self.chunk_rows)
        ]
        return {name: concat_padded([p[name] for p in parts]) for name in parts[0]}

    def _predict_chunk(self, inputs: Tensors) -> Tensors:
        inputs = self.prepare_images(inputs)
        if self.batcher is not None and batch_rows(inputs) is not None:
            return self.batcher.submit(inputs)
        return self.call(inputs)

    def call(self, inputs: Tensors) -> Tensors:
        """One direct model call; TF's invalid-argument errors become 400s."""
        import tensorflow as tf

        try:
            # Arrays already carry the signature's dtypes (json_codec converted them).
            tensors = {
                n: tf.convert_to_tensor(a, dtype=tf.string if a.dtype == object else None)
                for n, a in inputs.items()
            }
            result = self._fn(**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            raise InvalidArgument(
                f"signature {self.name!r} rejected the input: {_clean_tf_message(e.message)}"
            ) from e
        except tf.errors.OpError as e:
            logger.error("%s: model call failed: %s", self._label, e)
            raise Internal(f"signature {self.name!r} failed: {_clean_tf_message(e.message)}") from e
        return {k: v.numpy() for k, v in result.items()}

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._fn = None  # drop the last reference to the loaded graph


def _warmup_value(spec: TensorSpecInfo, is_image: bool) -> np.ndarray:
    shape = tuple(1 if d < 0 else d for d in (spec.shape or (1,)))
    if spec.dtype != "DT_STRING":
        return np.zeros(shape, dtype=NUMPY_DTYPES.get(spec.dtype, np.float32))
    value = b""
    if is_image:
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (128, 128, 128)).save(buf, format="PNG")
        value = buf.getvalue()
    arr = np.empty(int(np.prod(shape)), dtype=object)
    arr[:] = [value] * arr.size
    return arr.reshape(shape)


class LoadedVersion:
    """A loaded SavedModel version, reference-counted so retiring it never cuts a request."""

    def __init__(
        self,
        model_name: str,
        version: int,
        path: Path,
        *,
        max_batch_size: int = 32,
        batch_timeout_s: float = 0.005,
        max_enqueued_rows: int | None = None,
        num_batch_threads: int = 1,
        image_input_pattern: str = DEFAULT_IMAGE_INPUT_PATTERN,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        on_closed: Callable[[LoadedVersion], None] | None = None,
    ):
        import tensorflow as tf

        self.model_name = model_name
        self.version = version
        self.path = uri.as_path(path)
        self._on_closed = on_closed
        meta_graph = read_meta_graph(self.path)
        self.signature_defs = dict(meta_graph.signature_def)
        self._model = tf.saved_model.load(str(self.path), tags=["serve"])
        image_re = re.compile(image_input_pattern)
        self.runners: dict[str, SignatureRunner] = {}
        for name, fn in self._model.signatures.items():
            if name == INIT_OP_SIGNATURE or name not in self.signature_defs:
                continue
            signature_def = self.signature_defs[name]
            inputs = specs_from_tensor_infos(signature_def.inputs)
            self.runners[name] = SignatureRunner(
                name,
                fn,
                inputs,
                specs_from_tensor_infos(signature_def.outputs),
                image_inputs={
                    n for n, s in inputs.items() if s.dtype == "DT_STRING" and image_re.search(n)
                },
                max_image_pixels=max_image_pixels,
                max_batch_size=max_batch_size,
                batch_timeout_s=batch_timeout_s,
                max_enqueued_rows=max_enqueued_rows,
                num_batch_threads=num_batch_threads,
                label=f"{model_name}/{version}/{name}",
            )
        self._lock = threading.Lock()
        self._inflight = 0
        self._retired = False
        self.closed = False

    def runner(self, signature_name: str) -> SignatureRunner:
        try:
            return self.runners[signature_name]
        except KeyError:
            raise InvalidArgument(
                f'Serving signature name: "{signature_name}" not found in signature def '
                f"(model {self.model_name} version {self.version} has {sorted(self.runners)})"
            ) from None

    def input_specs(self, signature_name: str) -> dict[str, TensorSpecInfo]:
        return self.runner(signature_name).inputs

    def warmup(self) -> None:
        """Call every signature once so the first real request does not pay graph set-up."""
        for name, runner in self.runners.items():
            inputs = {
                n: _warmup_value(s, n in runner.image_inputs) for n, s in runner.inputs.items()
            }
            try:
                runner.call(inputs)
            except Exception as e:  # noqa: BLE001 - warm-up is best effort
                logger.info(
                    "%s v%d: warm-up of %r skipped: %s", self.model_name, self.version, name, e
                )

    def acquire(self) -> None:
        with self._lock:
            if self.closed:
                raise RuntimeError("acquire() on a closed version")
            self._inflight += 1

    def release(self) -> None:
        with self._lock:
            self._inflight -= 1
            close = self._retired and self._inflight == 0 and not self.closed
        if close:
            self._close()

    def retire(self) -> None:
        """Stop taking requests (the manager no longer hands it out); close once drained."""
        with self._lock:
            self._retired = True
            close = self._inflight == 0 and not self.closed
        if close:
            self._close()

    @property
    def inflight(self) -> int:
        return self._inflight

    def _close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for runner in self.runners.values():
            runner.close()
        self._model = None  # lets TF free the graph and variables
        logger.info("%s: version %d unloaded", self.model_name, self.version)
        if self._on_closed is not None:
            self._on_closed(self)
