"""The lake: a file store with ``landing/`` and ``raw/`` zones.

By default a local folder; any URI that ``pyarrow.fs.FileSystem.from_uri`` understands works
the same way, so moving to object storage is a settings change. Paths given to the resource
are relative to its root and always use ``/``.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr


@dataclass(frozen=True)
class LakeFile:
    """One file in the lake: its path below the root, size in bytes, and content version.

    ``version`` changes whenever the content changes (a content hash for local files), so a
    sensor can tell a re-delivered file from one it has already processed.
    """

    path: str
    size: int
    version: str


class LakeResource(ConfigurableResource):
    """Reads and writes lake files; every write is atomic (a reader never sees half a file)."""

    url: str = Field(description="Root of the lake: a local folder or a filesystem URI.")

    _fs: pafs.FileSystem | None = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self._fs is None:
            url = self.url
            if "://" not in url:
                # A plain folder: make it absolute so from_uri accepts it, and create it.
                import pathlib

                local = pathlib.Path(url).expanduser().resolve()
                local.mkdir(parents=True, exist_ok=True)
                url = str(local)
            self._fs, self._root = pafs.FileSystem.from_uri(url)
        return self._fs, self._root.rstrip("/")

    def _full(self, path: str) -> str:
        _, root = self._filesystem()
        return f"{root}/{path.lstrip('/')}"

    # -- writes -------------------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically: to a temporary name, then a rename."""
        fs, _ = self._filesystem()
        full = self._full(path)
        parent = full.rsplit("/", 1)[0]
        fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            with fs.open_output_stream(tmp) as out:
                out.write(data)
            fs.move(tmp, full)
        except BaseException:
            _delete_quietly(fs, tmp)
            raise

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """Write ``table`` as one Parquet file at ``path``, atomically."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(path, buffer.getvalue())

    def delete(self, path: str) -> None:
        """Delete the file at ``path`` if it exists."""
        fs, _ = self._filesystem()
        _delete_quietly(fs, self._full(path))

    # -- reads --------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        fs, _ = self._filesystem()
        return fs.get_file_info(self._full(path)).type == pafs.FileType.File

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``; raises ``FileNotFoundError`` if absent."""
        fs, _ = self._filesystem()
        with fs.open_input_stream(self._full(path)) as stream:
            return stream.read()

    def read_parquet(self, path: str) -> pa.Table:
        """The Parquet file at ``path`` as an Arrow table."""
        fs, _ = self._filesystem()
        return pq.read_table(self._full(path), filesystem=fs)

    def list_files(self, prefix: str) -> list[LakeFile]:
        """Every file below ``prefix`` (recursively), sorted by path; temporary files excluded."""
        fs, root = self._filesystem()
        selector = pafs.FileSelector(self._full(prefix), recursive=True, allow_not_found=True)
        files = []
        for info in fs.get_file_info(selector):
            if info.type != pafs.FileType.File or info.base_name.startswith(".tmp-"):
                continue
            relative = info.path[len(root) + 1 :]
            files.append(LakeFile(relative, info.size, self._version(fs, info.path)))
        return sorted(files, key=lambda f: f.path)

    @staticmethod
    def _version(fs: pafs.FileSystem, full_path: str) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with fs.open_input_stream(full_path) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()


def _delete_quietly(fs: pafs.FileSystem, full_path: str) -> None:
    try:
        fs.delete_file(full_path)
    except (FileNotFoundError, OSError):
        pass
