"""`create_pusher`: the stock TFX Pusher configured with the atomic executor."""

from __future__ import annotations

import os

from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types.channel import BaseChannel

from components.atomic_pusher.executor import Executor


def create_pusher(
    model: BaseChannel,
    blessing: BaseChannel,
    serving_root: str,
    model_name: str,
) -> Pusher:
    """A Pusher publishing blessed models to `<serving_root>/<model_name>/<int version>/`.

    Versions are consecutive integers (one above the highest existing one), made visible by an
    atomic rename once complete, so TF Serving and `serving/` never load a half-copied model.
    """
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"{model_name!r}: not a valid model name")
    return Pusher(
        model=model,
        model_blessing=blessing,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=os.path.join(str(serving_root), model_name)
            )
        ),
        custom_executor_spec=executor_spec.ExecutorClassSpec(Executor),
    )
