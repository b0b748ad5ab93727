"""ConceptPretrainer: a TFX component that pretrains the backbone on the data's own concepts.

    concepts = ConceptPretrainer(examples=example_gen.outputs["examples"], backbone="tiny")
    features = FeatureExtractor(examples=..., backbone="tiny",
                                backbone_model=concepts.outputs["model"])

Reference 001 pretrains the CNN, then trains CNN and LSTM together; here the pretraining target is
the train split's own visual concepts (the words its captions use, Fang et al. 2015), so even a
network that starts from random weights extracts features that tell a dog from a tent.
"""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts
from tfx.types.channel import Channel

from . import executor


class ConceptPretrainerSpec(component_spec.ComponentSpec):
    """Examples (ingested stories: image_uri + text per photo) -> Model (`backbone/` + concepts)."""

    PARAMETERS = {
        executor.BACKBONE_KEY: component_spec.ExecutionParameter(type=str),
        executor.WEIGHTS_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.SEED_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        # JSON of ConceptConfig fields (a dict parameter would not be a stable cache key).
        executor.CONFIG_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        # An earlier span's concept Model: reused as is (`reuse`, default) or fine-tuned.
        executor.BASE_MODEL_KEY: component_spec.ChannelParameter(
            type=standard_artifacts.Model, optional=True
        ),
    }
    OUTPUTS = {executor.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}


class ConceptPretrainer(base_component.BaseComponent):
    """Trains `backbone` (from `weights`) as a multi-label classifier of the train split's concepts.

    Output `model`: a Model artifact holding `backbone/` (what FeatureExtractor's `backbone_model`
    input loads), `concepts.json` (vocabulary, val precision/recall/F1 beside a frequency
    baseline, timings), `concept_head.npz` and `report.html`.
    """

    SPEC_CLASS = ConceptPretrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples,
        backbone: str,
        weights: str = "random",
        seed: int = 0,
        config: dict | None = None,
        base_model=None,
    ):
        """Args:
        examples: Examples of an ingest (VistExampleGen): the train and val splits are used.
        backbone: one of vistflow.backbones.BACKBONES.
        weights: where training starts: "random", "imagenet", a Keras weights file, a backbone/.
        seed: seed of random weights, the head and the batch order.
        config: ConceptConfig fields (epochs, max_concepts, ...).
        base_model: optional Channel of an earlier ConceptPretrainer Model. With `reuse` (the
          default) its backbone is this run's, unchanged, so features of every span come from
          one network (a training window mixes spans); with `reuse: false` training starts
          from it instead of `weights`.
        """
        import json

        spec = ConceptPretrainerSpec(
            examples=examples,
            base_model=base_model,
            backbone=backbone,
            weights=weights,
            seed=seed,
            config=json.dumps(config or {}, sort_keys=True),
            model=Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec=spec)
