"""Which vector index the images pack writes and searches, and the "active index" pointer.

Each embedder (model and size) gets its own index, named `images-<model>-<dimensions>`
(offload.ai.s3_vectors.index_name_for): on Amazon S3 Vectors an index of the stack's vector bucket,
with the S3-JSON adapter a prefix `index/<name>/` of the media bucket. The pipeline's index step writes
to the index of the configured embedder. Search reads the *active* index named by a small pointer
object (`index/active.json` in the media bucket) and embeds the query with the model that index was
built with, so a re-index (offload.packs.images.reindex) fills a new index while search keeps using
the old one, and switches the pointer only when it is done. Without a pointer the configured
embedder's index is the active one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from offload.ai.ports import Embedder, VectorIndex
from offload.ai.s3_vectors import S3VectorsIndex, ensure_index, index_name_for
from offload.packs.images.settings import ImagesSettings
from offload.settings import SettingsError

INDEX_NAME_PREFIX = "images"
INDEX_OBJECT_PREFIX = "index/"
ACTIVE_POINTER_KEY = "index/active.json"
POINTER_CACHE_S = 30.0  # how long a process trusts the pointer it read: a switch is seen within this


@dataclass(frozen=True)
class IndexRef:
    """One vector index: its name and the embedder (model, size) its vectors come from."""

    name: str
    model: str
    dimensions: int

    @classmethod
    def for_model(cls, model: str, dimensions: int) -> IndexRef:
        """The index the vectors of `model` (of size `dimensions`) go to."""
        return cls(index_name_for(INDEX_NAME_PREFIX, model, dimensions), model, dimensions)

    @classmethod
    def for_embedder(cls, embedder: Embedder) -> IndexRef:
        """The index the vectors of `embedder` go to."""
        return cls.for_model(embedder.model, embedder.dimensions)


class ImageVectors:
    """Opens the images pack's vector indexes on the configured backend and keeps the active pointer."""

    def __init__(self, settings: ImagesSettings, s3: Any, s3vectors: Any | None) -> None:
        self.settings = settings
        self._s3 = s3
        self._s3vectors = s3vectors
        self._pointer: tuple[float, IndexRef | None] | None = None

    @property
    def backend(self) -> str:
        return self.settings.vector_index

    def open(self, ref: IndexRef) -> VectorIndex:
        """The VectorIndex port on `ref`, on the configured backend."""
        if self.backend == "s3vectors":
            return S3VectorsIndex(self._require_client(), self._vector_bucket(), ref.name)
        from offload.ai.vector_index import S3VectorIndex

        return S3VectorIndex(self._s3, self.settings.media_bucket, f"{INDEX_OBJECT_PREFIX}{ref.name}/")

    def ensure(self, ref: IndexRef) -> bool:
        """Create `ref`'s index if the backend needs it (S3 Vectors); True when it was created now."""
        if self.backend != "s3vectors":
            return False  # an S3 prefix needs no creating
        return ensure_index(self._require_client(), self._vector_bucket(), ref.name, ref.dimensions)

    def active(self, default: IndexRef) -> IndexRef:
        """The index search uses: the pointer's, or `default` (the configured embedder's) without one."""
        now = time.monotonic()
        if self._pointer is None or now - self._pointer[0] > POINTER_CACHE_S:
            self._pointer = (now, self._read_pointer())
        return self._pointer[1] or default

    def activate(self, ref: IndexRef, *, previous: IndexRef | None = None) -> None:
        """Make `ref` the index search uses (one PUT of the pointer object)."""
        body = {**asdict(ref), "backend": self.backend, "previous": asdict(previous) if previous else None}
        body["activated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._s3.put_object(
            Bucket=self.settings.media_bucket,
            Key=ACTIVE_POINTER_KEY,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
        )
        self._pointer = (time.monotonic(), ref)

    def _read_pointer(self) -> IndexRef | None:
        try:
            raw = self._s3.get_object(Bucket=self.settings.media_bucket, Key=ACTIVE_POINTER_KEY)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        doc = json.loads(raw)
        return IndexRef(str(doc["name"]), str(doc["model"]), int(doc["dimensions"]))

    def _vector_bucket(self) -> str:
        if not self.settings.vector_bucket:
            raise SettingsError(
                "the images pack's settings choose vector_index 's3vectors' but name no vector_bucket: deploy the "
                "stack with this offload version, or choose images_pack(vector_index='s3json') in the catalog"
            )
        return self.settings.vector_bucket

    def _require_client(self) -> Any:
        if self._s3vectors is None:
            raise SettingsError("no s3vectors client was given: pass Clients().client('s3vectors')")
        return self._s3vectors
