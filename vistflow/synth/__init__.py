"""Deterministic synthetic VIST dataset (official layout) for demos, tests and benchmarks.

`generate(out_dir, stories=..., seed=...)` writes it; `plan_dataset(...)` returns the same
dataset as data (scenes, events, stories) for checking what the text says against the images.
"""

from vistflow.synth.faults import FAULT_KINDS
from vistflow.synth.generate import SynthResult, generate
from vistflow.synth.plan import DatasetPlan, plan_dataset

__all__ = ["FAULT_KINDS", "DatasetPlan", "SynthResult", "generate", "plan_dataset"]
