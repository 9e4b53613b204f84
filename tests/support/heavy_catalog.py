"""A catalog module that imports a processor module eagerly: tests/unit/test_cold_start.py's guard
must see it (the worker's import then pulls in the images steps and Pillow)."""

from __future__ import annotations

import offload.packs.images.steps  # noqa: F401  (the eager import the guard must catch)
from offload.packs import everything as catalog

__all__ = ["catalog"]
