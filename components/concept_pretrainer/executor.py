"""TFX executor of ConceptPretrainer: trains on an Examples artifact, writes a Model artifact."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.types import artifact, artifact_utils
from tfx.utils import io_utils

from vistflow.errors import VistflowError

from . import report
from .training import BACKBONE_DIR, ConceptConfig, reuse_model, train_concepts

logger = logging.getLogger(__name__)

EXAMPLES_KEY = "examples"
BASE_MODEL_KEY = "base_model"
MODEL_KEY = "model"
BACKBONE_KEY = "backbone"
WEIGHTS_KEY = "weights"
SEED_KEY = "seed"
CONFIG_KEY = "config"


class Executor(base_executor.BaseExecutor):
    """Writes `<model>/backbone/`, `concepts.json`, `concept_head.npz` and `report.html`."""

    def Do(
        self,
        input_dict: dict[str, list[artifact.Artifact]],
        output_dict: dict[str, list[artifact.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        try:
            config = ConceptConfig.from_dict(json.loads(exec_properties.get(CONFIG_KEY) or "{}"))
        except (TypeError, ValueError) as e:
            raise VistflowError(f"concept_config: {e}") from e
        splits = artifact_utils.decode_split_names(examples.split_names)
        patterns = {
            split: io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))
            for split in splits
        }
        base = (input_dict.get(BASE_MODEL_KEY) or [None])[0]
        weights = exec_properties.get(WEIGHTS_KEY) or "random"
        if base is not None and config.reuse:
            result = reuse_model(base.uri, model.uri, exec_properties[BACKBONE_KEY])
            model.set_string_custom_property("reused_from", base.uri)
            logger.info("concept pretraining: reusing the concept backbone of %s", base.uri)
        else:
            if base is not None:  # fine-tune the earlier span's backbone on this span
                weights = os.path.join(base.uri, BACKBONE_DIR)
            result = train_concepts(
                patterns,
                model.uri,
                backbone=exec_properties[BACKBONE_KEY],
                weights=weights,
                seed=int(exec_properties.get(SEED_KEY) or 0),
                config=config,
            )
            report.write_report(model.uri, result, examples.uri)
        # Searchable in ML Metadata: what it learned and how well, beside the frequency baseline.
        model.set_int_custom_property("span", int(examples.span or 0))
        model.set_string_custom_property("backbone", result["backbone"])
        model.set_string_custom_property("base_weights", result["base_weights"]["weights"])
        model.set_int_custom_property("num_concepts", result["num_concepts"])
        for key in ("precision", "recall", "f1"):
            model.set_float_custom_property(f"val_{key}", result["val"][key])
        model.set_float_custom_property("frequency_baseline_f1", result["frequency_baseline"]["f1"])
        logger.info(
            "concept pretraining: %d concepts, val P %.3f R %.3f F1 %.3f (frequency baseline "
            "F1 %.3f) in %.0f s; wrote %s",
            result["num_concepts"],
            result["val"]["precision"],
            result["val"]["recall"],
            result["val"]["f1"],
            result["frequency_baseline"]["f1"],
            result["seconds"]["total"],
            model.uri,
        )
