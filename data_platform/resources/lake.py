"""The lake: a file store with ``landing/`` and ``raw/`` zones.

By default a local folder; ``s3://bucket/prefix`` puts it on any S3-compatible store (AWS S3,
MinIO, Ceph...) through s3fs, configured by the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, credentials from the usual chain). Moving the lake is a
settings change. Paths given to the resource are relative to its root and always use ``/``.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from fsspec.implementations.local import LocalFileSystem
from pydantic import Field, PrivateAttr

_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LakeFile:
    """One file in the lake: its path below the root, size in bytes, and content version.

    ``version`` changes whenever the content changes: the object's ETag on S3, a content hash
    for local files. A sensor uses it to tell a re-delivered file from one already processed.
    """

    path: str
    size: int
    version: str


class LakeResource(ConfigurableResource):
    """Reads and writes lake files; every write is atomic (a reader never sees half a file)."""

    url: str = Field(description="Root of the lake: a local folder or an s3://bucket/prefix URL.")

    _fs: fsspec.AbstractFileSystem | None = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")

    def _filesystem(self) -> tuple[fsspec.AbstractFileSystem, str]:
        if self._fs is None:
            if "://" in self.url and not self.url.startswith("file://"):
                self._fs, root = fsspec.core.url_to_fs(self.url)
            else:
                local = Path(self.url.removeprefix("file://")).expanduser().resolve()
                local.mkdir(parents=True, exist_ok=True)
                self._fs, root = LocalFileSystem(), local.as_posix()
            self._root = root.rstrip("/")
        return self._fs, self._root

    @property
    def is_local(self) -> bool:
        return isinstance(self._filesystem()[0], LocalFileSystem)

    def _full(self, path: str) -> str:
        _, root = self._filesystem()
        return f"{root}/{path.lstrip('/')}"

    # -- writes -------------------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically.

        Locally: to a temporary name in the same folder, then a rename. On S3 one PUT (or one
        multipart upload) is atomic already: the object appears whole or not at all.
        """
        fs, _ = self._filesystem()
        full = self._full(path)
        if not self.is_local:
            fs.pipe_file(full, data)
            return
        parent = full.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            fs.pipe_file(tmp, data)
            fs.mv(tmp, full)
        except BaseException:
            if fs.exists(tmp):
                fs.rm_file(tmp)
            raise

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """Write ``table`` as one Parquet file at ``path``, atomically."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(path, buffer.getvalue())

    def delete(self, path: str) -> None:
        """Delete the file at ``path`` if it exists."""
        fs, _ = self._filesystem()
        full = self._full(path)
        if fs.exists(full):
            fs.rm_file(full)

    # -- reads --------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        fs, _ = self._filesystem()
        return fs.isfile(self._full(path))

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``; raises ``FileNotFoundError`` if absent."""
        fs, _ = self._filesystem()
        return fs.cat_file(self._full(path))

    def read_parquet(self, path: str) -> pa.Table:
        """The Parquet file at ``path`` as an Arrow table."""
        return pq.read_table(io.BytesIO(self.read_bytes(path)))

    def list_files(self, prefix: str) -> list[LakeFile]:
        """Every file below ``prefix`` (recursively, past any page size), sorted by path.

        Temporary files of unfinished local writes are left out.
        """
        fs, root = self._filesystem()
        fs.invalidate_cache()  # listings must be fresh on every sensor tick
        found = fs.find(self._full(prefix), detail=True)
        files = []
        for full, info in found.items():
            if info.get("type") != "file" or full.rsplit("/", 1)[-1].startswith(_TMP_PREFIX):
                continue
            version = self._version(fs, full, info)
            files.append(LakeFile(full[len(root) + 1 :], int(info.get("size") or 0), version))
        return sorted(files, key=lambda f: f.path)

    def _version(self, fs: fsspec.AbstractFileSystem, full: str, info: dict) -> str:
        etag = info.get("ETag") or info.get("etag")
        if etag:
            return str(etag).strip('"')
        digest = hashlib.md5(usedforsecurity=False)
        with fs.open(full, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
