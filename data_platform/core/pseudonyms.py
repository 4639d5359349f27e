"""Keyed pseudonyms: HMAC-SHA256 of an identifier under the platform's secret key.

The marts join customers by a pseudonym, never by the shop's id: without the key nobody can
tell which customer a pseudonym stands for (a bare hash of a known id space could be
reversed by hashing every id). The key comes from ``DATA_PLATFORM_PSEUDONYM_KEY``, or when
that is unset from a key file in the state folder, made once with 32 random bytes
(:func:`load_or_create_key`), so the pseudonyms stay the same from run to run.

dbt computes them in SQL (``macros/pseudonym.sql``): neither DuckDB nor PostgreSQL without
pgcrypto has an HMAC function, but both have SHA-256 over bytes, and HMAC is two SHA-256
passes over the key XOR-ed with two constant pads (RFC 2104). :func:`hmac_pads` gives the
two padded keys the warehouse keeps (``private.pseudonym_key``) for that; :func:`pseudonym`
is the same function in Python (the tests and the erasure register use it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

BLOCK_SIZE = 64  # SHA-256's block, in bytes
KEY_TABLE = ("private", "pseudonym_key")
KEY_FILE = "pseudonym.key"


def pseudonym(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` (UTF-8) under ``key``, 64 lowercase hex digits."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def hmac_pads(key: bytes) -> tuple[str, str]:
    """The inner and outer padded keys of RFC 2104 for ``key``, as hex: HMAC(key, m) =
    SHA256(outer || SHA256(inner || m)). A key longer than a block is hashed first."""
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    block = key.ljust(BLOCK_SIZE, b"\0")
    inner = bytes(b ^ 0x36 for b in block)
    outer = bytes(b ^ 0x5C for b in block)
    return inner.hex(), outer.hex()


def load_or_create_key(path: Path) -> bytes:
    """The key kept in ``path`` (its text, stripped, as UTF-8 bytes); made when missing: 32
    random bytes as hex, written readable by the owner only, atomically (two processes
    starting at once agree on one key). Raises ``OSError`` when the file cannot be read or
    made."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(staged, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return path.read_text().strip().encode()
