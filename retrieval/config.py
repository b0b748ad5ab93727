"""Hyperparameters of the alignment model (002, sections 3.1 and 3.3) and their defaults.

Paper settings where it states them: word vectors 300-d, BRNN hidden 300-600, multimodal space
h 1000-1600, ReLU everywhere, margin 1, SGD with momentum 0.9 on batches of 100 image-sentence
pairs, elementwise gradient clipping at 5, dropout on every non-recurrent layer, vocabulary of
words seen at least 5 times in training, MRF beta "a hyperparameter". Learning rate and weight
decay were cross-validated in the paper; ours are chosen on the validation split the same way
(model selection by validation R@1+R@5+R@10 over both directions, per epoch).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any

from retrieval.regions import DEFAULT_WINDOWS
from vistflow.errors import VistflowError


@dataclass(frozen=True)
class AlignmentConfig:
    """Everything that defines an alignment training run."""

    # Representation sizes.
    embed_dim: int = 1000  # h: the multimodal space (paper: 1000-1600)
    word_dim: int = 300  # word vectors (paper: 300-d word2vec)
    hidden_dim: int = 300  # BRNN streams (paper: 300-600)
    # Regions: (side, stride) windows as grid fractions (regions.py); plus the whole-image
    # global vector as one more region.
    windows: tuple[tuple[float, float], ...] = DEFAULT_WINDOWS
    use_global: bool = True
    # Words (002 preprocessing: lowercase, alphanumeric, min count 5).
    min_count: int = 5
    max_vocab: int = 10_000
    max_tokens: int = 25  # longer sentences are cut
    word_vectors: str = ""  # optional word2vec text file to initialise the 300-d vectors
    train_word_vectors: bool = True  # paper: fixed when from word2vec ("little change" either way)
    # Objective and optimisation.
    margin: float = 1.0
    optimizer: str = "sgd"  # sgd (paper: momentum 0.9) | adam
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip_value: float = 5.0  # elementwise
    dropout: float = 0.5  # on every non-recurrent layer's input
    batch_size: int = 100
    epochs: int = 30
    patience: int = 10  # epochs without a better validation recall sum before stopping
    seed: int = 0
    # MRF snippets.
    beta: float = 1.0

    def validate(self) -> AlignmentConfig:
        for name in ("embed_dim", "word_dim", "hidden_dim", "max_tokens", "batch_size", "epochs"):
            if getattr(self, name) <= 0:
                raise VistflowError(f"alignment {name} {getattr(self, name)}: must be > 0")
        if self.batch_size < 2:
            raise VistflowError("alignment batch_size must be >= 2 (the loss ranks within a batch)")
        if not 0.0 <= self.dropout < 1.0:
            raise VistflowError(f"alignment dropout {self.dropout}: must be in [0, 1)")
        if self.optimizer not in ("sgd", "adam"):
            raise VistflowError(f"alignment optimizer {self.optimizer!r}: choose sgd or adam")
        if self.learning_rate <= 0 or self.margin <= 0:
            raise VistflowError("alignment learning_rate and margin must be > 0")
        if not self.windows and not self.use_global:
            raise VistflowError("alignment needs regions: give windows or use_global")
        if self.max_vocab < 5 or self.min_count < 1:
            raise VistflowError("alignment max_vocab must be >= 5 and min_count >= 1")
        return self

    def replace(self, **changes: Any) -> AlignmentConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["windows"] = [list(w) for w in self.windows]
        return d

    @classmethod
    def from_dict(cls, config: dict[str, Any] | None) -> AlignmentConfig:
        """From a JSON-style dict; unknown keys are an error (a typo costs a run)."""
        config = dict(config or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise VistflowError(
                f"unknown alignment setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        if "windows" in config:
            config["windows"] = tuple(tuple(float(v) for v in w) for w in config["windows"])
        try:
            return cls(**config).validate()
        except TypeError as e:
            raise VistflowError(f"alignment config: {e}") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
