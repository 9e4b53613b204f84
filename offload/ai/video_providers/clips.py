"""What the clip providers share: the MP4 check on a download, and (for the remote ones) the model,
the whole-second length asked for and its list price."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from offload.errors import NonRetryableError

# An MP4 (ISO BMFF) file starts with a box whose type, at bytes 4..8, is "ftyp".
MP4_BRAND_BOX = b"ftyp"


def write_clip(data: bytes, dest: Path, *, source: str) -> Path:
    """Write a downloaded clip to `dest` after checking it is an MP4; `source` names where it came from."""
    if not data:
        raise NonRetryableError(
            f"{source} is empty (0 bytes), not a video: the provider kept no clip for this job; submit the scene again"
        )
    if data[4:8] != MP4_BRAND_BOX:
        raise NonRetryableError(
            f"{source} is not a video: {len(data)} bytes starting {data[:16]!r}, without an MP4 'ftyp' box; "
            "check that base_url points at a /v1/videos-compatible API, then submit the scene again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def whole_seconds(seconds: float, allowed: Sequence[int] | None, *, model: str) -> int:
    """The clip length to ask for: the shortest of `allowed` that is at least `seconds` (any whole
    number, rounded up, when `allowed` is None), so the clip is never shorter than the scene."""
    wanted = math.ceil(seconds - 1e-9)
    if allowed is None:
        return wanted
    fitting = [s for s in sorted(allowed) if s >= wanted]
    if not fitting:
        raise NonRetryableError(
            f"{model} makes clips of {', '.join(str(s) for s in sorted(allowed))} s; a {seconds:g} s scene is longer: "
            f"split it, or lower the scene length to at most {max(allowed)} s"
        )
    return fitting[0]


def list_price(prices: Mapping[str, float], model: str, seconds: float) -> float | None:
    """`seconds` at the model's per-second list price, None for a model the table does not know."""
    rate = prices.get(model)
    return None if rate is None else round(rate * seconds, 4)


class ListedModelProvider:
    """The part of a remote clip provider that is the same for each: its name and model, the
    whole-second length it asks the model for, and that length's list price."""

    provider = ""

    def __init__(self, model: str, *, durations: Sequence[int] | None, prices: Mapping[str, float]) -> None:
        self._model = model
        self._durations = durations
        self._prices = prices

    @property
    def name(self) -> str:
        return self.provider

    @property
    def model(self) -> str:
        return self._model

    def clip_seconds(self, seconds: float) -> int:
        """The length to ask for a scene of `seconds`: see `whole_seconds`."""
        return whole_seconds(seconds, self._durations, model=self._model)

    def cost_usd(self, seconds: float) -> float | None:
        """The list price of the clip asked for a scene of `seconds`, None for a model without a price."""
        return list_price(self._prices, self._model, self.clip_seconds(seconds))
