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
an empty shard would fail the job. `_mend_beam_empty_upload` uploads one empty part instead.
Beam's S3 filesystem also refuses to work before a pipeline set its options (the driver's
`FileSystems.match` of an input glob): `_mend_beam_empty_upload` gives it default options, so
boto3 finds endpoint and credentials in its usual environment.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback


def load_plugin_for(path: str) -> None:
    """Import tensorflow_io when `path` is an s3:// URI (once; cheap afterwards)."""
    if path.startswith("s3://") and "tensorflow_io" not in sys.modules:
        _mend_beam_empty_upload()
        try:
            import tensorflow_io  # noqa: F401 - registers the s3 filesystem with tf.io.gfile
        except ImportError:
            pass  # tf.io.gfile then names the unsupported scheme itself


def _mend_beam_empty_upload() -> None:
    try:
        from apache_beam.io.aws import s3io
    except ImportError:
        return
    uploader = s3io.S3Uploader
    if getattr(uploader, "_vistflow_mended", False):
        return
    finish = uploader.finish

    def finish_with_a_part(self):
        if not self.parts and not self.buffer and self.last_error is None:
            self._write_to_s3(b"")  # one empty (last) part: an empty object
        return finish(self)

    uploader.finish = finish_with_a_part
    uploader._vistflow_mended = True
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    if FileSystems._pipeline_options is None:  # a running pipeline sets its own
        FileSystems.set_options(PipelineOptions([]))


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
