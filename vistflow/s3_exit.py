"""TensorFlow's s3:// support (tensorflow-io), Beam's empty-object mend and the one containment
of tensorflow-io's exit crash.

TF 2.16 has no built-in S3 filesystem: `import tensorflow_io` registers it (endpoint from
`S3_ENDPOINT`, credentials from the AWS SDK's usual environment; vistflow stores none).
tensorflow-io 0.37.1's S3 plugin aborts at interpreter exit after it was used ("pure virtual
method called / terminate called", tensorflow/io#2039: its static AWS client outlives the SDK's
shutdown), turning a successful job into SIGABRT. `exit_now` is therefore the CLI's way out once
the plugin is loaded: flush everything and `os._exit(status)`, skipping the static destructors.

Beam 2.59's S3 writer completes a multipart upload with no parts for an empty file, which S3
rejects (MalformedXML; its own comment says zero-length writes fail): an empty rejects.jsonl or
an empty shard would fail the job: `_mend_beam_s3` uploads one empty part instead.
Beam's S3 filesystem also refuses to work before a pipeline set its options (the driver's
`FileSystems.match` of an input glob): the mend gives it default options, so
boto3 finds endpoint and credentials in its usual environment. And it builds a new boto3
session and client for every operation (each stat, each open: ~0.1 s of client set-up, more
than the request on a near server): the mend lets every operation of the
process with the same settings share one boto3 client (boto3's clients are thread-safe; the
per-download state stays in Beam's own wrapper).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback


def load_plugin_for(path: str) -> None:
    """Import tensorflow_io when `path` is an s3:// URI (once; cheap afterwards)."""
    if path.startswith("s3://") and "tensorflow_io" not in sys.modules:
        _mend_beam_s3()
        try:
            import tensorflow_io  # noqa: F401 - registers the s3 filesystem with tf.io.gfile
        except ImportError:
            pass  # tf.io.gfile then names the unsupported scheme itself


def _mend_beam_s3() -> None:
    """Beam's S3 filesystem mended once per process (see the module docstring)."""
    try:
        from apache_beam.io.aws import s3io
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:
        return
    if getattr(s3io, "_vistflow_mended", False):
        return
    _upload_empty_files_as_one_part(s3io.S3Uploader)
    _share_boto3_clients(boto3_client.Client)
    s3io._vistflow_mended = True
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    if FileSystems._pipeline_options is None:  # a running pipeline sets its own
        FileSystems.set_options(PipelineOptions([]))


def _upload_empty_files_as_one_part(uploader) -> None:
    finish = uploader.finish

    def finish_with_a_part(self):
        if not self.parts and not self.buffer and self.last_error is None:
            self._write_to_s3(b"")  # one empty (last) part: an empty object
        return finish(self)

    uploader.finish = finish_with_a_part


# The settings Beam's boto3 wrapper builds its client from (pipeline options or a dict).
_S3_SETTINGS = (
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_session_token",
    "s3_endpoint_url",
    "s3_disable_ssl",
    "s3_region_name",
    "s3_api_version",
    "s3_verify",
)


def _s3_client_key(options) -> tuple:
    """What a boto3 client depends on: Beam's S3 options and the AWS_* environment."""
    from apache_beam.options.pipeline_options import PipelineOptions, S3Options

    if isinstance(options, PipelineOptions):
        view = options.view_as(S3Options)
        settings = tuple(getattr(view, name, None) for name in _S3_SETTINGS)
    else:
        settings = tuple(options.get(name) for name in _S3_SETTINGS)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    return settings, env


def _share_boto3_clients(wrapper) -> None:
    build = wrapper.__init__
    # settings -> the attributes of a wrapper just built with them: the boto3 client and an idle
    # download state, copied into every later wrapper of the same settings.
    built: dict[tuple, dict] = {}
    lock = threading.Lock()

    def init_sharing_the_client(self, options):
        key = _s3_client_key(options)
        with lock:
            state = built.get(key)
        if state is None:
            build(self, options)
            with lock:
                built.setdefault(key, dict(vars(self)))
        else:
            self.__dict__.update(state)

    wrapper.__init__ = init_sharing_the_client


def load_plugins_for_args(args: list[str]) -> None:
    """Load the plugins that any URI among the command-line `args` needs."""
    for arg in args:
        if "s3://" in arg:
            load_plugin_for(arg[arg.index("s3://") :])


def plugin_loaded() -> bool:
    return "tensorflow_io" in sys.modules


def status_of(error: BaseException) -> int:
    """The exit status Python would give `error` (printing it as Python would)."""
    if isinstance(error, SystemExit):
        if error.code is None or isinstance(error.code, int):
            return error.code or 0
        print(error.code, file=sys.stderr)
        return 1
    traceback.print_exception(type(error), error, error.__traceback__)
    return 1


def exit_now(status: int) -> None:
    """Exit with `status` without running the S3 plugin's crashing destructors (if it is loaded)."""
    if not plugin_loaded():
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not change the status
            pass
    os._exit(status)
