"""Serve a model over the TensorFlow Serving REST API, with a captioning web page at /.

Serves the newest version(s) under --model-base-path/--model-name/<int version>/ and picks up
newly published versions without a restart. API (same as tensorflow_model_server --rest_api_port):
  GET  /v1/models/NAME[/versions/N]            status
  GET  /v1/models/NAME[/versions/N]/metadata   signatures
  POST /v1/models/NAME[/versions/N]:predict    {"instances": [...]} or {"inputs": ...}
Concurrent requests are batched into one model call (--max-batch-size 1 turns that off).
"""

from __future__ import annotations

import argparse
import signal

from vistflow.errors import VistflowError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _base_path(text: str):
    from vistflow.uri import as_path

    return as_path(text)  # Path() would fold s3://b into s3:/b


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from serving import defaults as d

    parser.add_argument(
        "--model-base-path",
        required=True,
        type=_base_path,
        help="directory or bucket URI (gs://, s3://) holding NAME/",
    )
    parser.add_argument(
        "--model-name", required=True, help="model name (its directory under the base path)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=d.DEFAULT_PORT,
        help=f"REST port (default {d.DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        help="how often to look for new versions (default 2)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=_positive_int,
        default=d.DEFAULT_MAX_BATCH_SIZE,
        help=f"rows per batched model call; 1 = no batching (default {d.DEFAULT_MAX_BATCH_SIZE})",
    )
    parser.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=d.DEFAULT_BATCH_TIMEOUT_MS,
        help=f"how long a request waits to be batched (default {d.DEFAULT_BATCH_TIMEOUT_MS:g})",
    )
    parser.add_argument(
        "--num-batch-threads",
        type=_positive_int,
        default=d.DEFAULT_NUM_BATCH_THREADS,
        help=f"batches in the model at once (default {d.DEFAULT_NUM_BATCH_THREADS})",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=_positive_int,
        default=d.DEFAULT_MAX_REQUEST_BYTES,
        help=f"larger request bodies get 413 (default {d.DEFAULT_MAX_REQUEST_BYTES})",
    )
    parser.add_argument(
        "--max-instances",
        type=_positive_int,
        default=d.DEFAULT_MAX_INSTANCES,
        help=f"more rows in one :predict get 400 (default {d.DEFAULT_MAX_INSTANCES}); large "
        "requests run through the model in --max-batch-size chunks",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=_positive_int,
        default=d.DEFAULT_MAX_IMAGE_PIXELS,
        help=f"larger images get 400 (default {d.DEFAULT_MAX_IMAGE_PIXELS})",
    )
    parser.add_argument(
        "--num-versions",
        type=_positive_int,
        default=1,
        help="how many newest versions stay loaded and addressable (default 1)",
    )
    parser.add_argument(
        "--threads", type=_positive_int, default=16, help="HTTP worker threads (default 16)"
    )


def main(args: argparse.Namespace) -> int:
    from serving.server import ModelServer
    from vistflow.uri import isdir

    if not isdir(args.model_base_path):
        raise VistflowError(f"{args.model_base_path}: --model-base-path is not a directory")
    server = ModelServer(
        args.model_base_path,
        args.model_name,
        host=args.host,
        port=args.port,
        poll_seconds=args.poll_seconds,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        num_batch_threads=args.num_batch_threads,
        max_request_bytes=args.max_request_bytes,
        max_instances=args.max_instances,
        max_image_pixels=args.max_image_pixels,
        num_versions=args.num_versions,
        threads=args.threads,
    )

    def _terminate(signum, frame):  # SIGTERM (docker stop, kill): shut down like Ctrl-C
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except OSError as e:
        raise VistflowError(f"cannot listen on {args.host}:{args.port}: {e}") from e
    return 0
