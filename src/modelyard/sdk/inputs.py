"""TrainingInput: one channel's data, with SageMaker's name and arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainingInput:
    s3_data: str
    content_type: str | None = None
    distribution: str = "FullyReplicated"
    input_mode: str = "File"

    def to_channel(self, name: str) -> dict[str, Any]:
        return {
            "channel": name,
            "uri": self.s3_data,
            "content_type": self.content_type or "text/csv",
        }


def channels_from(inputs: Any) -> list[dict[str, Any]]:
    """fit()'s inputs: a URI or TrainingInput (the train channel), or a dict of channels."""
    if inputs is None:
        return []
    if isinstance(inputs, (str, TrainingInput)):
        inputs = {"train": inputs}
    if not isinstance(inputs, dict):
        raise TypeError(
            "inputs must be an s3:// URI, a TrainingInput or a dict of channel "
            f"name -> URI or TrainingInput, not {type(inputs).__name__}"
        )
    channels = []
    for name, value in inputs.items():
        if isinstance(value, str):
            value = TrainingInput(value)
        if not isinstance(value, TrainingInput):
            raise TypeError(
                f"channel {name!r}: expected a URI or TrainingInput, not {type(value).__name__}"
            )
        channels.append(value.to_channel(name))
    return channels
