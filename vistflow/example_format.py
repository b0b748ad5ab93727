"""Keys of the tf.train.SequenceExample that flows from ingest to training and evaluation.

One SequenceExample per SIS story, per DII photo sequence, or per Karpathy image (length 1).
Context features describe the item; feature lists hold one element per photo, in order.
Artifacts store them as gzipped TFRecord shards under `Split-<split>/` (what ImportExampleGen
and the TFX Trainer read).
"""

# --- context (written by components/vist_example_gen) ---
ID = "id"  # bytes: story_id (SIS), album id (DII), image id (Karpathy)
ALBUM_ID = "album_id"  # bytes
SPLIT = "split"  # bytes: train / val / test
TASK = "task"  # bytes: one of TASKS
TASKS = ("sis", "dii", "caption")

# --- feature lists, one element per photo (written by components/vist_example_gen) ---
PHOTO_ID = "photo_id"  # bytes_list [1]
IMAGE_URI = "image_uri"  # bytes_list [1]: absolute path/URI of the checked image file
TEXT = "text"  # bytes_list [k]: every reference sentence for this photo (SIS k=1)

# --- added by components/feature_extractor ---
GLOBAL_FEATURES = "global_features"  # float_list [D]: pooled / fc7-like vector per photo
LOCAL_FEATURES = "local_features"  # float_list [H*W*C]: conv grid per photo, row-major
IMAGE_BYTES = "image_bytes"  # bytes_list [1]: resized JPEG, only for joint CNN fine-tuning
GLOBAL_DIM = "global_dim"  # context int64 [1]
LOCAL_SHAPE = "local_shape"  # context int64 [3]: H, W, C
BACKBONE = "backbone"  # context bytes: e.g. vgg16, tiny
# Storage dtype. float32 (default): the float_list keys above. float16 (`--float16`, half the
# bytes): instead of them, `*_f16` keys hold ONE bytes value per photo, the raw little-endian
# IEEE float16 array (D values / H*W*C values row-major). Readers never branch on this:
# `vistflow.feature_parsing.parse_feature_example` returns float32 either way.
FEATURE_DTYPE = "feature_dtype"  # context bytes: float32 | float16
GLOBAL_FEATURES_F16 = "global_features_f16"  # bytes_list [1]: raw <f2 [D]
LOCAL_FEATURES_F16 = "local_features_f16"  # bytes_list [1]: raw <f2 [H*W*C]

SPLIT_DIR = "Split-{split}"
SHARD_PATTERN = "data_tfrecord-*.gz"
