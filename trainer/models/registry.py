"""The models, by the name used in `custom_config["model"]`."""

from __future__ import annotations

from trainer.hparams import MODEL_NAMES
from trainer.models.base import CaptionModel


def _models() -> dict[str, type[CaptionModel]]:
    from trainer.models.global_context import GlobalContext
    from trainer.models.mrnn import MRNN
    from trainer.models.seq2seq_story import Seq2SeqStory
    from trainer.models.show_attend_tell import ShowAttendTell
    from trainer.models.show_tell import ShowTell

    return {
        "mrnn": MRNN,
        "show_tell": ShowTell,
        "show_attend_tell": ShowAttendTell,
        "global_context": GlobalContext,
        "seq2seq_story": Seq2SeqStory,
    }


MODELS: dict[str, type[CaptionModel]] = _models()
assert tuple(MODELS) == MODEL_NAMES, "trainer.hparams.MODEL_NAMES is out of date"


def build_model(hparams, vocab_size: int, info, backbone=None) -> CaptionModel:
    """Instantiate `hparams.model` (hparams already `resolved`) and create all its variables."""
    model = MODELS[hparams.model](hparams, vocab_size, info, backbone)
    model.build_variables()
    return model
