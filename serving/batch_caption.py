"""Caption a large image collection with an exported SavedModel (Beam, any runner).

    python -m serving.batch_caption --model DIR --input 'images/**' --output OUT \
        [--batch-size 16] [--restart] [--runner DataflowRunner ...]

Steps: record (or check) which model writes OUT (`serving.batch_manifest`), list the files
(`serving.image_files`: every entry the glob matches, or the paths in a list), skip images
already captioned by an earlier run, check what each path is before opening it and read and
check each image (everything unusable goes to `rejects.jsonl` with a reason), batch, run the
model's `serving_default` signature through RunInference with a custom ModelHandler, write part
files, then merge (`serving.batch_parts`).

Kill-safe resume: parts are written whole or not at all and named by the paths they hold; a
rerun with the same model skips the paths in finished parts and the merge keeps one line per
path. Killing the job at any point and rerunning it therefore captions every image exactly once
in the output. A rerun with another model refuses (exit 2 from the CLI) unless --restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from serving import image_files
from serving.batch_manifest import claim_output, describe, model_record
from serving.batch_options import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, add_arguments
from serving.batch_parts import (  # noqa: F401 - re-exported: the job's outputs in one place
    CAPTION_PARTS,
    CAPTIONS_FILE,
    MANIFEST_FILE,
    NAMESPACE,
    PARTS_DIR,
    REJECT_PARTS,
    REJECTS_FILE,
    SUMMARY_FILE,
    SkipDoneFn,
    WritePartsFn,
    done_paths,
    merge_parts,
    part_name,
    write_atomically,
)
from serving.local import model_error_cause
from vistflow import image_limits, images, reasons
from vistflow.errors import VistflowError

logger = logging.getLogger(__name__)

# The shared codes (`vistflow.reasons`) this job's rejects carry, one metrics counter each.
REJECT_REASONS = (
    reasons.MISSING_IMAGE,  # no such file, or a dangling symbolic link
    reasons.NOT_A_FILE,  # a directory, FIFO, socket or device (never opened)
    reasons.EMPTY_FILE,
    reasons.UNDECODABLE,
    reasons.NOT_AN_IMAGE,
    reasons.TOO_LARGE,
    reasons.INFERENCE_FAILED,
)
REJECTS_TAG = "rejects"


def image_id(path: str) -> str:
    """The id written for an image: its file name without extension (VIST's photo id)."""
    return os.path.splitext(os.path.basename(path.rstrip("/")))[0]


def _reject(path: str, reason: str, detail: str) -> dict:
    return {"id": image_id(path), "path": path, "reason": reason, "detail": detail}


def _absolute(path: str) -> str:
    return path if not image_files.is_local(path) else os.path.abspath(path)


# --------------------------------------------------------------------------- reading, checking


class CheckImageFn(beam.DoFn):
    """FileMetadata/path -> (path, image bytes the model decodes as every other stage), or a reject.

    What the path is comes first (`serving.image_files.file_problem`): a dangling link, a
    directory or a FIFO is rejected without being opened, so nothing blocks. Then the shared
    decoder (`vistflow.images.graph_ready_bytes`) decides: JPEG/PNG that the in-graph
    `decode_image` reads exactly as PIL does pass through untouched; everything else (CMYK,
    WebP, TIFF, GIF, BMP, PNG with an EXIF orientation...) becomes a lossless PNG of PIL's
    oriented 8-bit RGB pixels (16-bit scaled, not clipped). Every pixel is decoded once here, so
    a truncated file is a reject, not a model failure.
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_aspect: float = images.DEFAULT_MAX_ASPECT,
    ):
        self._max_bytes = max_bytes
        self._limits = images.ImageLimits(max_pixels=max_pixels, max_aspect=max_aspect)

    def setup(self):
        self._rejected = {r: Metrics.counter(NAMESPACE, f"rejected_{r}") for r in REJECT_REASONS}
        self._converted = Metrics.counter(NAMESPACE, "images_converted")
        self._ok = Metrics.counter(NAMESPACE, "images_checked")
        self._read = Metrics.counter(NAMESPACE, "images_read")

    def process(self, element: FileMetadata | str) -> Iterator[Any]:
        path = element.path if isinstance(element, FileMetadata) else str(element)
        self._read.inc()
        result = self._check(path)
        if isinstance(result, dict):
            self._rejected[result["reason"]].inc()
            yield beam.pvalue.TaggedOutput(REJECTS_TAG, result)
        else:
            self._ok.inc()
            yield path, result

    def _check(self, path: str) -> bytes | dict:
        reason, detail, size = image_files.file_problem(path)
        if reason:
            return _reject(path, reason, detail)
        if size is not None and size > self._max_bytes:
            return _reject(path, reasons.TOO_LARGE, f"{size} bytes > {self._max_bytes}")
        try:
            data = image_limits.read_file(path, self._max_bytes)  # bytes as stored
        except images.FileTooLarge:
            return _reject(path, reasons.TOO_LARGE, f"more than {self._max_bytes} bytes")
        except FileNotFoundError as e:
            return _reject(path, reasons.MISSING_IMAGE, str(e))
        except Exception as e:  # noqa: BLE001 - BeamIOError/OSError from any filesystem
            if not FileSystems.exists(path):
                return _reject(path, reasons.MISSING_IMAGE, str(e))
            return _reject(path, reasons.UNDECODABLE, f"cannot read: {e}")
        if not data:
            return _reject(path, reasons.EMPTY_FILE, "0 bytes")
        try:
            ready = images.graph_ready_bytes(data, self._limits, verify=True)
        except images.ImageError as e:  # reasons: empty_file, not_an_image, undecodable, too_large
            return _reject(path, e.reason, e.detail)
        if ready is not data:
            self._converted.inc()
        return ready


class ReadAndCheckImages(beam.PTransform):
    """FileMetadata/paths -> main: (path, bytes); `rejects`: {"id","path","reason","detail"}.

    Files are opened through `FileSystems`, so any Beam file system works (gs://, s3://).
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_aspect: float = images.DEFAULT_MAX_ASPECT,
    ):
        super().__init__()
        self._fn = CheckImageFn(max_bytes, max_pixels, max_aspect)

    def expand(self, pcoll):
        return pcoll | "CheckImage" >> beam.ParDo(self._fn).with_outputs(REJECTS_TAG, main="images")


# --------------------------------------------------------------------------- the model


class _Captioner:
    """A loaded SavedModel's `serving_default`; keeps the loaded object alive for the call."""

    def __init__(self, path: str, signature: str):
        import tensorflow as tf

        self.path = path
        self._loaded = tf.saved_model.load(path)
        if signature not in self._loaded.signatures:
            raise VistflowError(f"{path}: no {signature!r} signature")
        self._fn = self._loaded.signatures[signature]
        _, inputs = self._fn.structured_input_signature
        self._input = _image_input(path, {k: v.dtype.name for k, v in inputs.items()})

    def __call__(self, images: Sequence[bytes]) -> dict[str, Any]:
        import tensorflow as tf

        out = self._fn(**{self._input: tf.constant(list(images), dtype=tf.string)})
        return {k: v.numpy() for k, v in out.items()}


def _image_input(path: str, inputs: dict[str, str]) -> str:
    """The name of the signature's image-bytes input ({name: dtype name})."""
    strings = [name for name, dtype in inputs.items() if dtype == "string"]
    if "images" in strings:
        return "images"
    if len(strings) == 1 and len(inputs) == 1:
        return strings[0]
    raise VistflowError(
        f"{path}: serving_default must take one string input of encoded images "
        f"(has {', '.join(f'{k}: {v}' for k, v in inputs.items()) or 'none'})"
    )


class CaptionModelHandler(ModelHandler[bytes, dict, _Captioner]):
    """RunInference handler for the exported captioner (Beam's TF handlers use Keras loading).

    A batch the model rejects (e.g. one image TF cannot decode) is retried image by image, so
    one bad image costs only itself: it comes back as `{"error": ...}` and becomes a reject.
    """

    def __init__(
        self, saved_model_dir: str, batch_size: int = 16, signature: str = "serving_default"
    ):
        super().__init__()
        self._path = saved_model_dir
        self._batch_size = batch_size
        self._signature = signature

    def load_model(self) -> _Captioner:
        return _Captioner(self._path, self._signature)

    def run_inference(
        self, batch: Sequence[bytes], model: _Captioner, inference_args: dict | None = None
    ) -> Iterable[PredictionResult]:
        try:
            out = model(batch)
        except Exception as e:  # noqa: BLE001 - tf.errors.* on bad inputs
            if len(batch) == 1:
                return [PredictionResult(batch[0], {"error": _error_text(e)}, self._path)]
            logger.warning("batch of %d failed (%s); retrying one by one", len(batch), e)
            return [r for image in batch for r in self.run_inference([image], model)]
        results = []
        for i, image in enumerate(batch):
            caption = out["captions"][i]
            if isinstance(caption, bytes):
                caption = caption.decode("utf-8", "replace")
            score = float(out["scores"][i]) if "scores" in out else None
            results.append(
                PredictionResult(image, {"caption": str(caption), "score": score}, self._path)
            )
        return results

    def batch_elements_kwargs(self) -> dict[str, int]:
        # Fixed-size batches: the model's cost is per batch, adaptive sizing would start at 1.
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(b) for b in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


def _error_text(e: Exception) -> str:
    return f"{type(e).__name__}: {model_error_cause(e)}"


def to_row(keyed: tuple[str, PredictionResult]) -> Iterator[Any]:
    """(path, PredictionResult) -> output row, or a reject when inference failed."""
    path, result = keyed
    inference = result.inference
    if "error" in inference:
        yield beam.pvalue.TaggedOutput(
            REJECTS_TAG, _reject(path, reasons.INFERENCE_FAILED, inference["error"])
        )
        return
    score = inference.get("score")
    yield {
        "id": image_id(path),
        "path": path,
        "caption": inference["caption"].strip(),
        "score": None if score is None else round(float(score), 6),
    }


class CaptionImages(beam.PTransform):
    """(path, bytes) -> main: {"id","path","caption","score"}; `rejects`: failed inferences."""

    def __init__(self, model_handler: ModelHandler):
        super().__init__()
        self._handler = model_handler

    def expand(self, pcoll):
        from apache_beam.ml.inference.base import RunInference

        return (
            pcoll
            | "RunInference" >> RunInference(KeyedModelHandler(self._handler))
            | "ToRow" >> beam.FlatMap(to_row).with_outputs(REJECTS_TAG, main="rows")
        )


# --------------------------------------------------------------------------- the pipeline


def resolve_model_dir(model: str) -> str:
    """A SavedModel dir from: a SavedModel, `<base>/<model>` (latest version) or a TFX Model."""
    from serving.layout import is_saved_model_dir, resolve_saved_model
    from vistflow import uri

    # On a bucket too: `<base>/<model>` resolves to its newest committed version.
    serving = uri.join(model, "Format-Serving")
    if is_saved_model_dir(serving):
        return str(serving)
    return str(resolve_saved_model(model))


def check_signature(saved_model_dir: str, signature: str = "serving_default") -> None:
    """Fail before launching workers if the model cannot serve images -> captions.

    Reads the signature from saved_model.pb (cheap: no variables, no graph loading).
    """
    from tensorflow.core.protobuf import saved_model_pb2

    with FileSystems.open(
        FileSystems.join(saved_model_dir, "saved_model.pb"), compression_type="uncompressed"
    ) as f:
        proto = saved_model_pb2.SavedModel.FromString(f.read())
    defs = proto.meta_graphs[0].signature_def if proto.meta_graphs else {}
    if signature not in defs:
        raise VistflowError(
            f"{saved_model_dir}: no {signature!r} signature (has {', '.join(sorted(defs)) or 'none'})"
        )
    sig = defs[signature]
    from tensorflow.core.framework import types_pb2

    _image_input(
        saved_model_dir,
        {
            k: types_pb2.DataType.Name(v.dtype).removeprefix("DT_").lower()
            for k, v in sig.inputs.items()
        },
    )
    if "captions" not in sig.outputs:
        raise VistflowError(
            f"{saved_model_dir}: {signature!r} returns no 'captions' "
            f"(returns {', '.join(sorted(sig.outputs))})"
        )


def _outside(path: str, output_dir: str) -> bool:
    return path != output_dir and not path.startswith(output_dir + "/")


def build_pipeline(pipeline: beam.Pipeline, args: argparse.Namespace, model_dir: str) -> None:
    """Add the batch-captioning transforms to `pipeline`."""
    out = args.output.rstrip("/")
    caption_parts = FileSystems.join(out, PARTS_DIR, CAPTION_PARTS)
    reject_parts = FileSystems.join(out, PARTS_DIR, REJECT_PARTS)
    rows_per_part = args.rows_per_part or 8 * args.batch_size

    done = (
        pipeline
        | "DonePattern" >> beam.Create([FileSystems.join(caption_parts, "part-*.jsonl")])
        | "MatchDoneParts" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
        | "ReadDoneParts" >> fileio.ReadMatches()
        | "DonePaths" >> beam.FlatMap(done_paths)
        | "AsKeys" >> beam.Map(lambda path: (path, True))
    )
    if args.input:
        files = (
            pipeline
            | "InputPattern" >> beam.Create([args.input])
            # Every entry: dangling links, directories and FIFOs too (rejected, not dropped).
            | "MatchInput" >> beam.FlatMap(image_files.list_matches)
            # Never caption our own outputs when --output lies under the input glob.
            | "NotOutputs" >> beam.Filter(_outside, out)
        )
    else:
        files = (
            pipeline
            | "ReadInputList" >> beam.io.ReadFromText(args.input_list)
            | "NonEmpty" >> beam.Filter(str.strip)
            | "AbsolutePaths" >> beam.Map(lambda line: _absolute(line.strip()))
        )
    todo = files | "SkipDone" >> beam.ParDo(SkipDoneFn(), done=beam.pvalue.AsDict(done))
    checked = todo | "ReadAndCheck" >> ReadAndCheckImages(
        args.max_bytes, args.max_pixels, args.max_aspect_ratio
    )
    captioned = checked.images | "Caption" >> CaptionImages(
        CaptionModelHandler(model_dir, args.batch_size)
    )
    rejects = (checked.rejects, captioned.rejects) | "AllRejects" >> beam.Flatten()
    written = (
        captioned.rows
        | "WriteCaptionParts" >> beam.ParDo(WritePartsFn(caption_parts, rows_per_part)),
        rejects | "WriteRejectParts" >> beam.ParDo(WritePartsFn(reject_parts, rows_per_part)),
    ) | "AllParts" >> beam.Flatten()
    (
        written
        | "WaitForParts" >> beam.combiners.Count.Globally()
        | "MergeParts" >> beam.Map(lambda _, out_dir: merge_parts(out_dir), out)
    )


def run(
    argv: Sequence[str] | None = None,
    save_main_session: bool = True,
    test_pipeline: beam.Pipeline | None = None,
) -> dict:
    """Run the job; returns the summary (captions, rejects by reason, skipped, newly captioned).

    Raises VistflowError before any worker starts on bad flags, on an input that matches
    nothing, or when the output holds captions by another model (and not `--restart`).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    return run_with_args(args, beam_args, save_main_session, test_pipeline)


def run_with_args(
    args: argparse.Namespace,
    beam_args: Sequence[str] = (),
    save_main_session: bool = True,
    test_pipeline: beam.Pipeline | None = None,
) -> dict:
    """`run` on flags already parsed by `serving.batch_options.add_arguments` (the CLI's)."""
    if args.batch_size < 1 or args.rows_per_part < 0:
        raise VistflowError("--batch-size must be >= 1 and --rows-per-part >= 0")
    # Absolute local paths: resume matches images by path, whatever the rerun's working dir.
    args.input = _absolute(args.input) if args.input else None
    args.output = _absolute(args.output)
    model_dir = resolve_model_dir(args.model)
    if args.input and not image_files.has_match(args.input):
        raise VistflowError(f"--input {args.input}: no file matches")
    if args.input_list and not FileSystems.exists(args.input_list):
        raise VistflowError(f"--input-list {args.input_list}: no such file")
    check_signature(model_dir)  # it imports TensorFlow
    # Last check, first write: which model writes the output (refuses to mix two models).
    model = model_record(model_dir)
    state = claim_output(
        args.output.rstrip("/"),
        model,
        restart=args.restart,
        restart_if_model_changed=args.restart_if_model_changed,
    )
    logger.info("%s into %s with model %s", state, args.output, describe(model))

    options = PipelineOptions(list(beam_args))
    options.view_as(SetupOptions).save_main_session = save_main_session
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build_pipeline(pipeline, args, model_dir)
    result = pipeline.run()
    result.wait_until_finish()

    with FileSystems.open(FileSystems.join(args.output.rstrip("/"), SUMMARY_FILE)) as f:
        summary = json.loads(f.read())
    summary["model"] = model
    summary["output_state"] = state  # new, resume or restart
    try:  # not every runner reports metrics
        counters = {
            r.key.metric.name: r.committed
            for r in result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE))[
                "counters"
            ]
        }
        summary["skipped_already_done"] = counters.get("skipped_already_done", 0)
        summary["read_this_run"] = counters.get("images_read", 0)
    except Exception:  # noqa: BLE001
        logger.info("runner reported no metrics")
    logger.info("batch caption done: %s", summary)
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(run(), indent=2))
