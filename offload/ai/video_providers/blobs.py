"""Where the local clip provider keeps rendered clips between its steps (each a separate Lambda
invocation): a small blob store port, with a directory-backed adapter for tests and local runs.
The generate pack passes an S3-backed one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class BlobStore(Protocol):
    """Files by key."""

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at `path` under `key` (replacing what was there)."""
        ...

    def get_file(self, key: str, dest: Path) -> Path:
        """Write the blob `key` to `dest`; returns `dest`. Raises KeyError when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        ...


class DirBlobStore:
    """A BlobStore in a local directory: key "a/b.mp4" is the file root/a/b.mp4."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_file(self, key: str, path: Path) -> None:
        """Copy `path` to root/key."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def get_file(self, key: str, dest: Path) -> Path:
        """Copy root/key to `dest`."""
        source = self._path(key)
        if not source.is_file():
            raise KeyError(f"no blob {key!r} under {self.root}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return dest

    def exists(self, key: str) -> bool:
        """Whether root/key is a file."""
        return self._path(key).is_file()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key {key!r} leaves {self.root}: use a relative key without '..'")
        return path
