"""Serving defaults, in a module light enough for `vistflow serve --help` to import."""

DEFAULT_PORT = 8501
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_TIMEOUT_MS = 5.0
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024  # 32 MiB: ~20 base64 photos of 1 MB
# Rows (instances) per :predict request. A large request runs through the model one batch-sized
# chunk at a time, but its outputs (captions, attention maps) are held until the response is
# written: 256 rows of the exported captioners answer in ~6 MB (benchmarks/serve.py measures the
# server's peak RSS at this limit). Bulk captioning belongs in `vistflow batch-caption`.
DEFAULT_MAX_INSTANCES = 256
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000  # 40 MP: above any VIST photo, small enough to decode
# One batch in the model at a time: TF already spreads one call over the cores (intra-op), and
# a second thread splits the waiting requests into smaller batches (measured in benchmarks/serve).
DEFAULT_NUM_BATCH_THREADS = 1
