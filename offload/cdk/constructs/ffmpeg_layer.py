"""The ffmpeg layer: a static ffmpeg at /opt/bin/ffmpeg and PyAV, for the video pack's functions only.

Built without Docker from the wheels of offload's `video` extra (offload/cdk/layers.py,
`build_ffmpeg_layer`), cached by the same stamp as the runtime layer, with a NOTICE for the GPL.
It stays out of the runtime layer: every other function would pay its 200 MB against Lambda's 250.
"""

from __future__ import annotations

from constructs import Construct

from offload.cdk.constructs.runtime_layer import layer_version, one_per_stack
from offload.cdk.layers import build_ffmpeg_layer


class FfmpegLayer(Construct):
    """Builds (or reuses) `layers/ffmpeg/build` and publishes it as a layer version: one per stack, which every
    pack's ffmpeg functions share (`FfmpegLayer.of(scope)`)."""

    @classmethod
    def of(cls, scope: Construct) -> FfmpegLayer:
        """The stack's ffmpeg layer, made on first use."""
        return one_per_stack(scope, cls, "FfmpegLayer")

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = layer_version(
            self, build_ffmpeg_layer(), "offload ffmpeg: static ffmpeg (GPL, see NOTICE) at /opt/bin/ffmpeg, and PyAV"
        )
