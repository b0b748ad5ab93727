"""Decode an eval split with an exported SavedModel's `from_features` signature.

The SavedModel is the trainer's export and runs without vistflow code. Its input names are read
from the signature (`structured_input_signature`), never assumed: an input whose name mentions
`global` receives the per-photo global vectors, `local` the conv grids (reshaped to the
signature's rank), `image` the encoded image bytes. A signature whose outputs hold `sentences`
decodes whole stories (`[N, L, ...]` inputs); one with `captions` decodes single photos.

Features are streamed from the gzipped TFRecords and dropped once decoded, so the memory used
is the metadata (ids, references, image paths) plus one batch, whatever the split's size.
Photos (or photo sequences) that repeat across stories are decoded once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vistflow import example_format as ef
from vistflow.errors import InputFormatError, VistflowError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoMeta:
    """What the evaluator keeps of a photo after its features are decoded."""

    photo_id: str
    image_uri: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class ExampleMeta:
    """What the evaluator keeps of one SequenceExample (story, photo sequence or image)."""

    example_id: str
    album_id: str
    task: str
    photos: tuple[PhotoMeta, ...]
    local_shape: tuple[int, ...]  # (H, W, C) of the local grid, () if unknown
    source: str  # "<file>#<record index>", for error messages and the report


@dataclass
class _Example:
    meta: ExampleMeta
    global_features: list[np.ndarray]
    local_features: list[np.ndarray | None]
    image_bytes: list[bytes | None]


@dataclass(frozen=True)
class PhotoPrediction:
    """The model's text for one photo; attention is `[T, H*W]` (float16) when the model has it."""

    text: str
    score: float
    attention: np.ndarray | None = field(default=None, compare=False)


def _str(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _to_example(parsed: dict, source: str) -> _Example:
    """An _Example from `parse_feature_example`'s output (numpy values)."""
    example_id = _str(parsed[ef.ID])
    photo_ids = [_str(p) for p in parsed[ef.PHOTO_ID]]
    uris = [_str(u) for u in parsed[ef.IMAGE_URI]]
    texts = parsed[ef.TEXT]
    texts = texts.to_list() if hasattr(texts, "to_list") else list(texts)
    globals_ = parsed[ef.GLOBAL_FEATURES]
    locals_ = parsed[ef.LOCAL_FEATURES]
    images = list(parsed[ef.IMAGE_BYTES])
    n = len(photo_ids)
    for key, column in ((ef.IMAGE_URI, uris), (ef.TEXT, texts), (ef.GLOBAL_FEATURES, globals_)):
        if len(column) != n:
            raise InputFormatError(
                source, example_id, f"{key!r} has {len(column)} steps, expected {n}"
            )
    photos = tuple(
        PhotoMeta(
            photo_ids[i] or f"{example_id}#{i}",
            uris[i],
            tuple(t for t in (_str(r).strip() for r in texts[i]) if t),
        )
        for i in range(n)
    )
    meta = ExampleMeta(
        example_id=example_id or source,
        album_id=_str(parsed[ef.ALBUM_ID]),
        task=_str(parsed[ef.TASK]) or ("caption" if n == 1 else "sis"),
        photos=photos,
        local_shape=tuple(int(d) for d in locals_.shape[1:]) if locals_.size else (),
        source=source,
    )
    return _Example(
        meta=meta,
        global_features=[np.asarray(g, np.float32) for g in globals_],
        # Flat, row-major: reshaped to whatever the signature declares.
        local_features=[np.asarray(x, np.float32).reshape(-1) for x in locals_]
        if locals_.size
        else [None] * n,
        image_bytes=images if len(images) == n else [None] * n,
    )


def iter_examples(files: Sequence[str], max_examples: int = 0) -> Iterator[_Example]:
    """Parsed examples of the given shards, in order; at most `max_examples` (0 = all)."""
    import tensorflow as tf

    from vistflow.feature_parsing import parse_feature_example

    count = 0
    for path in files:
        compression = "GZIP" if path.endswith(".gz") else ""
        dataset = tf.data.TFRecordDataset(path, compression_type=compression).map(
            parse_feature_example
        )
        records = dataset.as_numpy_iterator()
        index = 0
        while True:
            source = f"{path}#{index}"
            try:
                parsed = next(records)
            except StopIteration:
                break
            except tf.errors.OpError as e:
                raise InputFormatError(
                    path, f"record {index}", f"not a feature SequenceExample: {e.message}"
                ) from e
            yield _to_example(parsed, source)
            index += 1
            count += 1
            if max_examples and count >= max_examples:
                return


def _classify_input(name: str) -> str:
    lowered = name.lower()
    for kind in ("global", "local"):
        if kind in lowered:
            return kind
    if "image" in lowered or "bytes" in lowered:
        return "image"
    raise VistflowError(
        f"signature input {name!r}: cannot tell which stored feature feeds it "
        "(expected a name mentioning global, local or image)"
    )


class FeatureModel:
    """An exported captioner/storyteller called through its `from_features` signature."""

    def __init__(self, saved_model_dir: str, signature_name: str = "from_features"):
        import tensorflow as tf

        self.path = saved_model_dir
        # Keep the loaded object alive: signature functions only hold weak references to it.
        self._loaded = tf.saved_model.load(saved_model_dir)
        if signature_name not in self._loaded.signatures:
            raise VistflowError(
                f"{saved_model_dir}: no {signature_name!r} signature "
                f"(has {', '.join(sorted(self._loaded.signatures)) or 'none'})"
            )
        self._fn = self._loaded.signatures[signature_name]
        _, inputs = self._fn.structured_input_signature
        outputs = self._fn.structured_outputs
        self.inputs = {name: (spec, _classify_input(name)) for name, spec in inputs.items()}
        if "sentences" in outputs:
            self.per_story, self._text_key = True, "sentences"
        elif "captions" in outputs:
            self.per_story, self._text_key = False, "captions"
        else:
            raise VistflowError(
                f"{saved_model_dir}: signature {signature_name!r} returns neither "
                f"'captions' nor 'sentences' (returns {', '.join(sorted(outputs))})"
            )
        self.has_attention = "attention" in outputs
        self.story_length = None
        if self.per_story:
            dims = [spec.shape[1] for spec, _ in self.inputs.values() if spec.shape.rank]
            self.story_length = next((int(d) for d in dims if d is not None), None)

    def _feature(self, ex: _Example, i: int, name: str) -> np.ndarray | bytes:
        spec, kind = self.inputs[name]
        if kind == "image":
            data = ex.image_bytes[i]
            if data is None:
                import tensorflow as tf

                uri = ex.meta.photos[i].image_uri
                try:
                    with tf.io.gfile.GFile(uri, "rb") as f:  # local paths and gs:// alike
                        data = f.read()
                except (OSError, tf.errors.OpError) as e:
                    raise InputFormatError(
                        ex.meta.source, ex.meta.photos[i].photo_id, f"image {uri}: {e}"
                    ) from e
            return data
        value = ex.global_features[i] if kind == "global" else ex.local_features[i]
        if value is None:
            raise InputFormatError(
                ex.meta.source,
                ex.meta.photos[i].photo_id,
                f"signature input {name!r} needs {kind} features, which the example lacks",
            )
        # Per-photo shape = the spec's shape without the batch (and story) dimensions.
        shape = spec.shape.as_list()[2 if self.per_story else 1 :]
        if len(shape) > 1:
            known = [d for d in shape if d is not None]
            if None in shape and kind == "local" and len(shape) in (2, 3) and ex.meta.local_shape:
                h, w, c = ex.meta.local_shape
                shape = [h * w, c] if len(shape) == 2 else [h, w, c]
            elif shape.count(None) > 1 or (not known and len(shape) > 1):
                raise VistflowError(
                    f"signature input {name!r}: cannot infer the shape {shape} of one photo"
                )
            value = value.reshape([-1 if d is None else d for d in shape])
        return value.astype(spec.dtype.as_numpy_dtype, copy=False)

    def _positions(self, ex: _Example) -> list[int]:
        """The photo indices fed to a story model: a lone image is repeated to fill the story
        (the trainer's convention for captioning one image with a sequence model)."""
        n = len(ex.meta.photos)
        if n == 1 and self.story_length:
            return [0] * self.story_length
        return list(range(n))

    def _call(self, batch: dict[str, list]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        args = {}
        for name, values in batch.items():
            spec, _ = self.inputs[name]
            if spec.dtype == tf.string:
                args[name] = tf.constant(np.array(values, dtype=object))
            else:
                args[name] = tf.constant(np.stack(values))
        out = self._fn(**args)
        return {k: v.numpy() for k, v in out.items()}

    def _predictions(
        self, out: dict[str, np.ndarray], row: int, positions: Iterable[int | None]
    ) -> list[PhotoPrediction]:
        preds = []
        for pos in positions:
            index = (row,) if pos is None else (row, pos)
            text = out[self._text_key][index]
            score = out["scores"][index] if "scores" in out else np.nan
            attention = out["attention"][index].astype(np.float16) if self.has_attention else None
            preds.append(
                PhotoPrediction(
                    text.decode("utf-8", "replace").strip()
                    if isinstance(text, bytes)
                    else str(text),
                    float(score),
                    attention,
                )
            )
        return preds

    def decode(
        self, examples: Iterable[_Example], batch_size: int = 32
    ) -> tuple[list[ExampleMeta], dict[str, PhotoPrediction]]:
        """Metadata of every example and the prediction for every photo key (see `photo_key`)."""
        metas: list[ExampleMeta] = []
        predictions: dict[str, PhotoPrediction] = {}
        pending: list[tuple[_Example, int | None, str]] = []  # example, photo index, unit key
        queued: set[str] = set()

        def flush() -> None:
            if not pending:
                return
            batch: dict[str, list] = {name: [] for name in self.inputs}
            for ex, i, _ in pending:
                for name in self.inputs:
                    if self.per_story:
                        story = [self._feature(ex, j, name) for j in self._positions(ex)]
                        floating = self.inputs[name][0].dtype.is_floating
                        batch[name].append(np.stack(story) if floating else story)
                    else:
                        batch[name].append(self._feature(ex, i, name))
            out = self._call(batch)
            for row, (ex, _, key) in enumerate(pending):
                if self.per_story:
                    n = len(ex.meta.photos)
                    # A single image repeated as a story: its caption is the first sentence.
                    preds = self._predictions(out, row, range(n))
                    for j, pred in enumerate(preds):
                        predictions[photo_key(ex.meta, j, per_story=True)] = pred
                else:
                    predictions[key] = self._predictions(out, row, [None])[0]
            pending.clear()

        for ex in examples:
            metas.append(ex.meta)
            if self.per_story:
                n = len(ex.meta.photos)
                if self.story_length is not None and n not in (1, self.story_length):
                    raise VistflowError(
                        f"{ex.meta.source}: example {ex.meta.example_id!r} has {n} photos; "
                        f"{self.path} decodes stories of {self.story_length}"
                    )
                units = [(None, photo_key(ex.meta, 0, per_story=True))]
            else:
                units = [
                    (i, photo_key(ex.meta, i, per_story=False)) for i in range(len(ex.meta.photos))
                ]
            for i, key in units:
                if key in queued:
                    continue
                queued.add(key)
                pending.append((ex, i, key))
                if len(pending) >= batch_size:
                    flush()
        flush()
        logger.info(
            "decoded %d examples (%d unique %s) with %s",
            len(metas),
            len(queued),
            "photo sequences" if self.per_story else "photos",
            self.path,
        )
        return metas, predictions


def photo_key(meta: ExampleMeta, i: int, *, per_story: bool) -> str:
    """The key of photo `i`'s prediction: the photo id, or its place in the photo sequence."""
    if not per_story:
        return meta.photos[i].photo_id
    # A story model's sentence depends on the whole sequence, not only on the photo.
    return "|".join(p.photo_id for p in meta.photos) + f"#{i}"


def texts_for(
    meta: ExampleMeta, predictions: dict[str, PhotoPrediction], *, per_story: bool
) -> list[PhotoPrediction]:
    """The predictions of an example's photos, in order."""
    return [predictions[photo_key(meta, i, per_story=per_story)] for i in range(len(meta.photos))]


@dataclass(frozen=True)
class EvalItem:
    """One scored unit: a photo (caption, dii) or a photo sequence / album (sis)."""

    item_id: str
    references: tuple[str, ...]
    example: ExampleMeta  # the example whose prediction is scored
    photo_index: int | None  # the photo scored alone, or None for the whole sequence

    @property
    def photos(self) -> tuple[PhotoMeta, ...]:
        if self.photo_index is None:
            return self.example.photos
        return (self.example.photos[self.photo_index],)

    def predictions(
        self, predictions: dict[str, PhotoPrediction], *, per_story: bool
    ) -> list[PhotoPrediction]:
        """The predictions of the item's photos, in order."""
        every = texts_for(self.example, predictions, per_story=per_story)
        return every if self.photo_index is None else [every[self.photo_index]]

    def text(self, predictions: dict[str, PhotoPrediction], *, per_story: bool) -> str:
        """The text scored: a caption, or a story's sentences joined by spaces."""
        return " ".join(p.text for p in self.predictions(predictions, per_story=per_story))


def _story_text(meta: ExampleMeta) -> str:
    return " ".join(p.references[0] for p in meta.photos if p.references)


def _sequence_key(meta: ExampleMeta) -> str:
    return f"{meta.album_id}/" + "-".join(p.photo_id for p in meta.photos)


def build_items(metas: Sequence[ExampleMeta], profile: str) -> list[EvalItem]:
    """Group examples into scored items with all their references, sorted by id.

    Photos are items for `caption` and `dii` (references: every text of the photo). SIS stories
    follow the profile's protocol (as `scoring.score_stories` does): `vist-album` scores every
    story (id = story id) against all stories of its album; `vist-challenge` one story per photo
    sequence (the first one's id) against the stories of that sequence; `coco` one item per
    photo sequence (id = `album/photo-photo-...`) against the stories of that sequence.
    """
    # Reference stories by story id (two workers may write the same words: both count).
    by_album: dict[str, dict[str, str]] = {}
    by_sequence: dict[str, dict[str, str]] = {}
    for meta in metas:
        story = _story_text(meta) if meta.task == "sis" else ""
        if story:
            by_album.setdefault(meta.album_id, {}).setdefault(meta.example_id, story)
            by_sequence.setdefault(_sequence_key(meta), {}).setdefault(meta.example_id, story)
    groups: dict[str, tuple[ExampleMeta, int | None, list[str]]] = {}
    seen_sequences: set[str] = set()
    for meta in metas:
        if meta.task == "sis":
            sequence = _sequence_key(meta)
            if profile == "vist-album":
                key, refs = meta.example_id, by_album.get(meta.album_id, {})
            elif sequence in seen_sequences:
                continue
            else:
                key = meta.example_id if profile == "vist-challenge" else sequence
                refs = by_sequence.get(sequence, {})
            seen_sequences.add(sequence)
            groups.setdefault(key, (meta, None, list(refs.values())))
        else:
            for i, photo in enumerate(meta.photos):
                refs = groups.setdefault(photo.photo_id, (meta, i, []))[2]
                for ref in photo.references:
                    if ref not in refs:
                        refs.append(ref)
    items = []
    for key in sorted(groups):
        meta, index, refs = groups[key]
        if not refs:
            # Upstream rejects empty text; an item without references cannot be scored.
            logger.warning("%s: item %r has no reference text; not scored", meta.source, key)
            continue
        items.append(EvalItem(key, tuple(refs), meta, index))
    return items


def story_references(
    metas: Sequence[ExampleMeta],
) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[str]]]:
    """SIS references as `scoring.score_stories` takes them: album -> story id -> sentences,
    and story id -> photo ids."""
    albums: dict[str, dict[str, list[str]]] = {}
    sequences: dict[str, list[str]] = {}
    for meta in metas:
        if meta.task != "sis" or meta.example_id in sequences:
            continue
        sentences = [p.references[0] for p in meta.photos if p.references]
        albums.setdefault(meta.album_id, {})[meta.example_id] = sentences
        sequences[meta.example_id] = [p.photo_id for p in meta.photos]
    return albums, sequences
