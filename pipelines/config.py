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
    metadata_path: str = ""  # default: <pipeline_root>/metadata.sqlite
    pipeline_name: str = PIPELINE_NAME
    model_name: str = MODEL_NAME
    data_format: str = "vist"
    tasks: tuple[str, ...] = ("sis",)  # which VIST annotations become examples: sis, dii
    backbone: str = "tiny"
    backbone_weights: str = "random"
    backbone_seed: int = 0
    float16_features: bool = False
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
    beam_pipeline_args: tuple[str, ...] = (
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    )
    enable_cache: bool = True

    def __post_init__(self) -> None:
        for name in ("data_root", "pipeline_root", "serving_root"):
            setattr(self, name, os.path.abspath(getattr(self, name)))
        if not self.metadata_path:
            self.metadata_path = os.path.join(self.pipeline_root, "metadata.sqlite")
        if self.schema_path and "://" not in self.schema_path:
            self.schema_path = os.path.abspath(self.schema_path)
        self.tasks = tuple(self.tasks)
        self.train_splits = tuple(self.train_splits)
        self.eval_splits = tuple(self.eval_splits)
        self.beam_pipeline_args = tuple(self.beam_pipeline_args)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls(**json.loads(text))

    def replace(self, **changes: Any) -> PipelineConfig:
        return dataclasses.replace(self, **changes)
