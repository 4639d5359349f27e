"""The lake: a file store with ``landing/`` and ``raw/`` zones.

By default a local folder; ``s3://bucket/prefix`` puts it on any S3-compatible store (AWS S3,
MinIO, Ceph...) through s3fs, configured by the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, credentials from the usual chain). Moving the lake is a
settings change. Paths given to the resource are relative to its root and always use ``/``.

A raw ingest writes a batch's files through :meth:`LakeResource.staged`: each file is written
in full before the warehouse transaction (locally under a temporary name beside its place; on
S3 kept in memory) and put in place only after it (a rename; one PUT), so a fault before or
during the transaction leaves the lake as it was (see :mod:`data_platform.loading.loader`).
Errors of the filesystem (s3fs, the local disk) come out as the faults of
:mod:`data_platform.resources.faults`: a refused credential, a missing bucket or a full disk
fail at once, a reset connection or a timeout is retried by the step's policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from fsspec.implementations.local import LocalFileSystem
from pydantic import Field, PrivateAttr

from data_platform.resources.faults import faults

_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LakeFile:
    """One file in the lake: its path below the root, size in bytes, content version, and when
    it last changed.

    ``version`` changes whenever the content changes: the object's ETag on S3, a content hash
    for local files. A sensor uses it to tell a re-delivered file from one already processed.
    ``modified``: seconds since the epoch (a local file's mtime, an object's LastModified on
    the store's clock), ``None`` when the store does not say.
    """

    path: str
    size: int
    version: str
    modified: float | None = None


@dataclass(frozen=True)
class WrittenFile:
    """A Parquet file a raw ingest wrote: path below the root, rows, size in bytes, and the
    SHA-256 of its content (what the materialization records of it)."""

    path: str
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


@dataclass
class LakeStage:
    """A batch's lake writes and deletes, held until :meth:`publish` (see
    :meth:`LakeResource.staged`). ``files``: what was written, in order."""

    lake: LakeResource
    files: list[WrittenFile] = field(default_factory=list)
    # (path, local temporary file or the bytes to PUT), and the paths to delete.
    _writes: list[tuple[str, str | bytes]] = field(default_factory=list)
    _deletes: list[str] = field(default_factory=list)

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """Stage ``table`` as the Parquet file ``path``: written in full now (locally), put
        in place by :meth:`publish`."""
        data = parquet_bytes(table)
        digest = hashlib.sha256(data).hexdigest()
        self.files.append(WrittenFile(path, table.num_rows, len(data), digest))
        lake = self.lake
        with faults(f"lake {lake.url}: writing {path}"):
            self._writes.append(
                (path, lake._write_temporary(path, data) if lake.is_local else data)
            )

    def delete(self, path: str) -> None:
        """Delete ``path`` (if it exists) on :meth:`publish`."""
        self._deletes.append(path)

    def publish(self) -> None:
        """Put every staged file in place and delete the files to delete. A fault here (after
        the warehouse committed) leaves the lake behind for the files not yet placed: the
        ``lake_files`` check says so, and a re-run of the partitions repairs it."""
        lake = self.lake
        fs, _ = lake._filesystem()
        with faults(
            f"lake {lake.url}: placing files after the warehouse committed (the lake is behind "
            "for the batch's partitions until they run again)"
        ):
            while self._writes:
                path, staged = self._writes[0]
                if isinstance(staged, str):
                    fs.mv(staged, lake._full(path))
                else:
                    fs.pipe_file(lake._full(path), staged)
                self._writes.pop(0)
            while self._deletes:
                lake.delete(self._deletes.pop(0))

    def discard(self) -> None:
        """Remove the temporary files of writes not published."""
        fs, _ = self.lake._filesystem()
        for _, staged in self._writes:
            if isinstance(staged, str) and fs.exists(staged):
                fs.rm_file(staged)
        self._writes.clear()


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of one Parquet file (zstd, plain encoding), as the lake stores
    it."""
    buffer = io.BytesIO()
    # No dictionary encoding: raw keys are mostly distinct (UUIDs), so the dictionary is built
    # and then not worth it; zstd takes repeats. Measured on 4,000-row daily order files:
    # 1.8 million rows/s instead of 1.3, and 10 % smaller files.
    pq.write_table(table, buffer, compression="zstd", use_dictionary=False)
    return buffer.getvalue()


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
        fs.mv(self._write_temporary(path, data), full)

    def _write_temporary(self, path: str, data: bytes) -> str:
        # Beside its place (same filesystem: the rename is atomic); removed if the write fails.
        fs, _ = self._filesystem()
        parent = self._full(path).rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            fs.pipe_file(tmp, data)
        except BaseException:
            if fs.exists(tmp):
                fs.rm_file(tmp)
            raise
        return tmp

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """Write ``table`` as one Parquet file at ``path``, atomically."""
        self.write_bytes(path, parquet_bytes(table))

    @contextmanager
    def staged(self) -> Iterator[LakeStage]:
        """A :class:`LakeStage` whose writes are put in place when the block ends without an
        error, and discarded (temporary files removed) when it raises: run the warehouse
        transaction inside the block, so the lake follows only a committed warehouse."""
        stage = LakeStage(self)
        try:
            yield stage
        except BaseException:
            stage.discard()
            raise
        try:
            stage.publish()
        finally:
            stage.discard()

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

    def parquet_rows(self, path: str) -> int:
        """The row count in the footer of the Parquet file at ``path`` (reads the footer only:
        locally a few kB; on S3 one HEAD and one ranged GET). Raises ``FileNotFoundError`` when
        absent, ``pyarrow.ArrowInvalid`` when it is not a whole Parquet file."""
        fs, _ = self._filesystem()
        with fs.open(self._full(path), "rb") as handle:
            return pq.read_metadata(handle).num_rows

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
            size = int(info.get("size") or 0)
            files.append(LakeFile(full[len(root) + 1 :], size, version, _modified(info)))
        return sorted(files, key=lambda f: f.path)

    def list_paths(self, prefix: str) -> list[str]:
        """The path of every file below ``prefix`` (recursively), sorted: a listing without the
        versions :meth:`list_files` computes (a local file's hash reads the whole file).
        Temporary files of unfinished local writes are left out."""
        fs, root = self._filesystem()
        fs.invalidate_cache()
        full = self._full(prefix)
        if not fs.exists(full):
            return []
        found = fs.find(full)
        return sorted(
            p[len(root) + 1 :] for p in found if not p.rsplit("/", 1)[-1].startswith(_TMP_PREFIX)
        )

    def list_folders(self, prefix: str) -> list[str]:
        """The names of the folders directly below ``prefix`` (one listing, not recursive),
        sorted; empty when ``prefix`` does not exist."""
        fs, _ = self._filesystem()
        fs.invalidate_cache()
        full = self._full(prefix).rstrip("/")
        if not fs.exists(full):
            return []
        entries = fs.ls(full, detail=True)
        return sorted(
            e["name"].rstrip("/").rsplit("/", 1)[-1]
            for e in entries
            if e.get("type") == "directory"
        )

    def _version(self, fs: fsspec.AbstractFileSystem, full: str, info: dict) -> str:
        etag = info.get("ETag") or info.get("etag")
        if etag:
            return str(etag).strip('"')
        digest = hashlib.md5(usedforsecurity=False)
        with fs.open(full, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()


def _modified(info: dict) -> float | None:
    """When a listed file last changed, from fsspec's details: ``mtime`` (local), or
    ``LastModified`` (s3fs), in seconds since the epoch."""
    mtime = info.get("mtime")
    if isinstance(mtime, int | float):
        return float(mtime)
    last = info.get("LastModified")
    return last.timestamp() if isinstance(last, dt.datetime) else None
