"""Knobs of the vistflow TFX pipeline, shared by the local runner, the Airflow DAGs and tests."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

PIPELINE_NAME = "vistflow"
MODEL_NAME = "vist_captioner"
# The checked-in schema (tiny backbone, float32). Pin it, or another file, with `schema_path`.
SCHEMA_PATH = str(Path(__file__).resolve().parent.parent / "schemas" / "features_schema.pbtxt")


@dataclasses.dataclass
class PipelineConfig:
    """Everything `create_pipeline` needs; plain data so Airflow can pass it between tasks."""

    data_root: str
    pipeline_root: str
    serving_root: str
    # ML Metadata's SQLite file, always local (SQLite cannot live on a bucket). Default:
    # <pipeline_root>/metadata.sqlite; when pipeline_root is a URI (gs://...):
    # $VISTFLOW_HOME/metadata/<pipeline_name>.sqlite, or ~/.vistflow/metadata/... without it.
    metadata_path: str = ""
    # ML Metadata on a server: a `postgresql://user@host:port/db` URL (pipelines.metadata_config);
    # "" keeps the SQLite file `metadata_path` (the quick default of `vistflow run`).
    metadata_connection: str = ""
    pipeline_name: str = PIPELINE_NAME
    model_name: str = MODEL_NAME
    data_format: str = "vist"
    tasks: tuple[str, ...] = ("sis",)  # which VIST annotations become examples: sis, dii
    backbone: str = "tiny"
    backbone_weights: str = "random"
    backbone_seed: int = 0
    float16_features: bool = False
    # Reference 001's pretraining: before extraction, train the backbone (from `backbone_weights`)
    # as a multi-label classifier of the train split's own visual concepts (words of its
    # captions); the FeatureExtractor then extracts with those weights. Knobs in `concept_config`
    # (components.concept_pretrainer.training.ConceptConfig fields).
    concept_pretraining: bool = True
    concept_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    store_images: bool = False
    # "" (default): validate against the schema the FeatureExtractor derives for `backbone` and
    # the storage dtype. A path pins a schema (ImportSchemaGen): features that differ from it,
    # e.g. of another backbone, are anomalies.
    schema_path: str = ""
    train_splits: tuple[str, ...] = ("train",)
    eval_splits: tuple[str, ...] = ("val",)
    train_steps: int = 400
    eval_steps: int = 20
    trainer_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluator_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Empty: Beam's defaults (the DirectRunner, in memory, one worker). Given any args, TFX first
    # builds an sdist of itself for remote workers (~1.8 s per Beam component run), which the
    # in-process DirectRunner never uses; a real runner's args (Dataflow, Flink, portable) need it.
    beam_pipeline_args: tuple[str, ...] = ()
    enable_cache: bool = True
    # Scheduled retraining over spans (one landed partition = one span; the Airflow DAG uses the
    # logical date as YYYYMMDD). 0: an unspanned run, trained and evaluated on its own data only.
    span: int = 0
    # Spans the Trainer learns from, up to this run's: "all", or the latest N (an int or "N").
    training_window: str | int = "all"
    # Start from the latest blessed model trained on earlier spans (a fine-tune, not from scratch).
    warm_start: bool = True
    # The fixed holdout the evaluator also compares candidate and baseline on: "first" (the oldest
    # span's `holdout_split`), a span number, or "none".
    holdout: str | int = "first"
    holdout_split: str = "test"

    def __post_init__(self) -> None:
        for name in ("data_root", "pipeline_root", "serving_root"):
            value = getattr(self, name)
            if "://" not in value:  # a URI (gs://b/x) stays as given: abspath would mangle it
                setattr(self, name, os.path.abspath(value))
        if not self.metadata_path:
            self.metadata_path = self._default_metadata_path()
        elif "://" in self.metadata_path:
            raise ValueError(f"metadata_path {self.metadata_path!r}: must be a local SQLite path")
        if self.schema_path and "://" not in self.schema_path:
            self.schema_path = os.path.abspath(self.schema_path)
        self.tasks = tuple(self.tasks)
        self.train_splits = tuple(self.train_splits)
        self.eval_splits = tuple(self.eval_splits)
        self.beam_pipeline_args = tuple(self.beam_pipeline_args)
        self.span = int(self.span)
        self.window_spans()  # fail on a bad window now, not in the Trainer
        self.holdout_span()

    def _default_metadata_path(self) -> str:
        if "://" not in self.pipeline_root:
            return os.path.join(self.pipeline_root, "metadata.sqlite")
        home = os.environ.get("VISTFLOW_HOME") or os.path.join(os.path.expanduser("~"), ".vistflow")
        return os.path.join(os.path.abspath(home), "metadata", f"{self.pipeline_name}.sqlite")

    def window_spans(self) -> int:
        """How many spans the training window holds (0 = all)."""
        window = str(self.training_window).strip().lower()
        if window == "all":
            return 0
        if not window.isdigit() or int(window) < 1:
            raise ValueError(f"training_window {self.training_window!r}: 'all' or a number >= 1")
        return int(window)

    def holdout_span(self) -> int | None:
        """The pinned holdout span, 0 for the oldest span ("first"), None for no holdout."""
        holdout = str(self.holdout).strip().lower()
        if holdout in ("none", "off", "false", ""):
            return None
        if holdout == "first":
            return 0
        if not holdout.isdigit():
            raise ValueError(f"holdout {self.holdout!r}: 'first', a span number or 'none'")
        return int(holdout)

    def metadata_spec(self) -> str:
        """What `pipelines.metadata_config.connection_config` connects to."""
        return self.metadata_connection or self.metadata_path

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls(**json.loads(text))

    def replace(self, **changes: Any) -> PipelineConfig:
        return dataclasses.replace(self, **changes)
