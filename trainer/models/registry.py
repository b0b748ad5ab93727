"""The models, by the name used in `custom_config["model"]`: the one list of model names.

Classes are imported on first use, so `trainer.hparams` validates names without loading Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.models.base import CaptionModel

# name -> (module, class), in the references' order.
_CLASSES: dict[str, tuple[str, str]] = {
    "mrnn": ("trainer.models.mrnn", "MRNN"),
    "show_tell": ("trainer.models.show_tell", "ShowTell"),
    "show_attend_tell": ("trainer.models.show_attend_tell", "ShowAttendTell"),
    "global_context": ("trainer.models.global_context", "GlobalContext"),
    "seq2seq_story": ("trainer.models.seq2seq_story", "Seq2SeqStory"),
}
MODEL_NAMES: tuple[str, ...] = tuple(_CLASSES)


def model_class(name: str) -> type[CaptionModel]:
    """The class of model `name` (one of MODEL_NAMES)."""
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def build_model(hparams, vocab_size: int, info, backbone=None) -> CaptionModel:
    """Instantiate `hparams.model` (hparams already `resolved`) and create all its variables."""
    model = model_class(hparams.model)(hparams, vocab_size, info, backbone)
    model.build_variables()
    return model
