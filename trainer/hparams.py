"""Hyperparameters of a training run and of the decoder baked into the export.

Defaults are the references' settings (hidden and embedding 512, dropout everywhere except the
recurrent connections, elementwise gradient clipping at 5, RMSprop for m-RNN as in 002, Adam for
the attention models as in 003, min word count 5 as in 002, vocabulary 10k DII / 18k SIS as in
000). The TFX Trainer passes them as `custom_config` (a flat dict; `decoding` may be a nested dict
or `decoding.<field>` keys); tests pass small overrides.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

from trainer.models.registry import MODEL_NAMES
from vistflow.errors import VistflowError

DECODING_METHODS = ("greedy", "beam", "sample")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
DISTRIBUTE = ("none", "mirrored", "multi_worker_mirrored")  # trainer/distribute.py

# Vocabulary caps of reference 000 (table 1), by task; "caption" (Karpathy data) uses the DII cap.
MAX_VOCAB_BY_TASK = {"dii": 10_000, "sis": 18_000, "caption": 10_000}

# Keys of custom_config that configure the run, not the model (read by run.py / train.py).
RUN_KEYS = ("results_csv", "checkpoint_dir", "backbone_dir", "warm_start", "run_name")


@dataclass(frozen=True)
class DecodingConfig:
    """How the exported graph decodes. Fixed at export time; `export.reexport` changes it."""

    method: str = "beam"  # greedy | beam | sample
    beam_size: int = 3
    max_length: int = 20  # tokens generated per sentence, END included
    repetition_penalty: float = 1.0  # CTRL-style: >1 discourages tokens already generated
    temperature: float = 1.0  # sampling only
    top_k: int = 0  # sampling only; 0 = the whole vocabulary
    seed: int = 0  # sampling only; -1 = non-deterministic (stateful RNG)
    suppress_unk: bool = True  # never emit UNK
    # Story-level repetition control (trainer/story_decoding.py). n > 0: an n-gram already in
    # the story (an earlier sentence, or earlier in this sentence) is never emitted again: the
    # logit of the word that would complete it is removed (a caption is a one-sentence story),
    # and no sentence ends as an exact copy of an earlier one (sentences shorter than n words).
    story_block_ngram: int = 3
    # GLACNet-style: subtract penalty * (times the word occurs in the story's earlier sentences)
    # from its logit. 0 = off.
    story_repetition_penalty: float = 0.0
    # Beam only: rank hypotheses by score / ((5 + len) / 6) ** alpha (GNMT, Wu et al. 2016;
    # len counts END). 0 = raw summed log-probabilities (short sentences favoured).
    length_normalization: float = 0.0

    @property
    def story_control(self) -> bool:
        """Whether a story's sentences depend on the ones decoded before them."""
        return self.story_block_ngram > 0 or self.story_repetition_penalty > 0

    def validate(self) -> DecodingConfig:
        if self.method not in DECODING_METHODS:
            raise VistflowError(
                f"decoding.method {self.method!r}: choose one of {', '.join(DECODING_METHODS)}"
            )
        _positive("decoding.beam_size", self.beam_size)
        _positive("decoding.max_length", self.max_length)
        if self.repetition_penalty < 1.0:
            raise VistflowError(
                f"decoding.repetition_penalty {self.repetition_penalty}: must be >= 1 (1 = off)"
            )
        if self.temperature <= 0:
            raise VistflowError(f"decoding.temperature {self.temperature}: must be > 0")
        if self.top_k < 0:
            raise VistflowError(f"decoding.top_k {self.top_k}: must be >= 0")
        if self.story_block_ngram < 0:
            raise VistflowError(
                f"decoding.story_block_ngram {self.story_block_ngram}: must be >= 0 (0 = off)"
            )
        for name in ("story_repetition_penalty", "length_normalization"):
            if getattr(self, name) < 0:
                raise VistflowError(
                    f"decoding.{name} {getattr(self, name)}: must be >= 0 (0 = off)"
                )
        return self


@dataclass(frozen=True)
class HParams:
    """Everything that defines a training run. `from_config` builds one from `custom_config`."""

    model: str = "show_attend_tell"
    task: str = ""  # sis | dii | caption; "" = read from the examples' `task` context feature
    # Architecture (papers' sizes).
    embedding_dim: int = 512
    hidden_dim: int = 512
    attention_dim: int = 512
    rnn_cell: str = ""  # "" = the model's paper default (mrnn: rnn, others: lstm)
    dropout: float = 0.5  # on embeddings and outputs, never on recurrent connections (002)
    attention: bool = True  # seq2seq_story: Luong attention over both encoders (004 variant)
    attention_regularization: float = 1.0  # show_attend_tell: doubly stochastic lambda (Xu et al.)
    photos_per_story: int = 5
    # seq2seq_story: condition each sentence on the previous one (004); False = images only.
    previous_sentence: bool = True
    # Standardize backbone features per dimension with train-split statistics kept in the model
    # (trainer/standardize.py); False feeds the raw activations as the papers describe.
    standardize_features: bool = True
    # Optimisation.
    optimizer: str = ""  # "" = the model's paper default (mrnn: rmsprop, others: adam)
    learning_rate: float = 0.0  # 0 = the optimizer's default below
    clip_value: float = 5.0  # elementwise gradient clipping (002: "important")
    batch_size: int = 64
    epochs: int = 20
    patience: int = 3  # early stopping on validation loss
    seed: int = 0
    shuffle_buffer: int = 0  # rows; 0 = as many as fit 512 MB (trainer/data.py)
    # Vocabulary (002 preprocessing, 000 caps).
    min_count: int = 5
    max_vocab: int = 0  # 0 = MAX_VOCAB_BY_TASK[task]; counts PAD/START/END/UNK
    max_tokens: int = 25  # training sentences are cut to this many words
    # tf.distribute strategy (trainer/distribute.py): none | mirrored | multi_worker_mirrored.
    # batch_size stays the global batch: each of N replicas gets batch_size / N rows.
    distribute: str = "none"
    # Joint CNN fine-tuning (001): train the backbone from pixels together with the decoder.
    fine_tune_cnn: bool = False
    decoding: DecodingConfig = field(default_factory=DecodingConfig)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> HParams:
        """Build from a `custom_config`-style dict; unknown keys are an error (typos cost runs)."""
        config = dict(config or {})
        for key in RUN_KEYS:
            config.pop(key, None)
        decoding = dict(config.pop("decoding", None) or {})
        for key in [k for k in config if k.startswith("decoding.")]:
            decoding[key.split(".", 1)[1]] = config.pop(key)
        names = {f.name for f in fields(cls)} - {"decoding"}
        unknown = sorted(set(config) - names)
        if unknown:
            raise VistflowError(
                f"custom_config: unknown hyperparameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names | set(RUN_KEYS) | {'decoding'}))}"
            )
        dec_names = {f.name for f in fields(DecodingConfig)}
        bad = sorted(set(decoding) - dec_names)
        if bad:
            raise VistflowError(
                f"custom_config: unknown decoding setting(s) {', '.join(bad)}; "
                f"known: {', '.join(sorted(dec_names))}"
            )
        try:
            dec = DecodingConfig(**{k: _coerce(DecodingConfig, k, v) for k, v in decoding.items()})
            hp = cls(**{k: _coerce(cls, k, v) for k, v in config.items()}, decoding=dec)
        except (TypeError, ValueError) as e:
            raise VistflowError(f"custom_config: {e}") from e
        return hp.validate()

    def replace(self, **changes: Any) -> HParams:
        return dataclasses.replace(self, **changes)

    def validate(self) -> HParams:
        if self.model not in MODEL_NAMES:
            raise VistflowError(f"model {self.model!r}: choose one of {', '.join(MODEL_NAMES)}")
        if self.task not in ("", *MAX_VOCAB_BY_TASK):
            raise VistflowError(f"task {self.task!r}: choose one of {', '.join(MAX_VOCAB_BY_TASK)}")
        if self.optimizer not in ("", *OPTIMIZERS):
            raise VistflowError(f"optimizer {self.optimizer!r}: choose one of {OPTIMIZERS}")
        for name in ("embedding_dim", "hidden_dim", "attention_dim", "batch_size", "epochs"):
            _positive(name, getattr(self, name))
        for name in ("photos_per_story", "min_count", "max_tokens", "patience"):
            _positive(name, getattr(self, name))
        if self.distribute not in DISTRIBUTE:
            raise VistflowError(
                f"distribute {self.distribute!r}: choose one of {', '.join(DISTRIBUTE)}"
            )
        if self.shuffle_buffer < 0:
            raise VistflowError(f"shuffle_buffer {self.shuffle_buffer}: must be >= 0 (0 = auto)")
        if not 0.0 <= self.dropout < 1.0:
            raise VistflowError(f"dropout {self.dropout}: must be in [0, 1)")
        if self.max_vocab and self.max_vocab < 5:
            raise VistflowError(f"max_vocab {self.max_vocab}: must be >= 5 (4 special tokens)")
        self.decoding.validate()
        return self

    def resolved(self, task: str) -> HParams:
        """Fill the paper defaults that depend on the model and the task."""
        from trainer.models.registry import model_class

        cls = model_class(self.model)
        hp = self.replace(
            task=self.task or task,
            rnn_cell=self.rnn_cell or cls.default_rnn_cell,
            optimizer=self.optimizer or cls.default_optimizer,
        )
        if hp.rnn_cell not in cls.rnn_cells:
            raise VistflowError(
                f"rnn_cell {hp.rnn_cell!r} is not available for {hp.model}: "
                f"choose one of {', '.join(cls.rnn_cells)}"
            )
        if not hp.learning_rate:
            hp = hp.replace(learning_rate={"adam": 1e-3, "rmsprop": 1e-3, "sgd": 0.1}[hp.optimizer])
        if not hp.max_vocab:
            hp = hp.replace(max_vocab=MAX_VOCAB_BY_TASK.get(hp.task, 10_000))
        return hp

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise VistflowError(f"{name} {value}: must be > 0")


def _coerce(cls: type, name: str, value: Any) -> Any:
    """custom_config travels as JSON through TFX: accept "3" for ints, "true" for bools."""
    typ = {f.name: f.type for f in fields(cls)}[name]
    if typ in ("int", int):
        return int(value)
    if typ in ("float", float):
        return float(value)
    if typ in ("bool", bool):
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{name}: expected true/false, got {value!r}")
            return value.lower() in ("true", "1")
        return bool(value)
    if typ in ("str", str):
        return str(value)
    return value
