"""The pseudonym key, as a resource: the secret the marts' keyed pseudonyms are made with.

Given by ``DATA_PLATFORM_PSEUDONYM_KEY`` (passed as ``EnvVar``: the UI shows the variable's
name, never the key) or, when that is unset, kept in a key file of the state folder, made on
first use (:func:`~data_platform.core.pseudonyms.load_or_create_key`).
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from data_platform.core.pseudonyms import hmac_pads, load_or_create_key, pseudonym


class PseudonymKeyResource(ConfigurableResource):
    """The key of the keyed pseudonyms (HMAC-SHA256)."""

    key: str = Field(default="", description="the secret; empty: the key file's")
    key_file: str = Field(description="where the key is kept when no key is given")

    def secret(self) -> bytes:
        """The key's bytes. Raises ``OSError`` when the key file cannot be read or made."""
        return self.key.encode() if self.key else load_or_create_key(Path(self.key_file))

    def pads(self) -> tuple[str, str]:
        """The HMAC pads the warehouse keeps for the dbt macro ``pseudonym``."""
        return hmac_pads(self.secret())

    def of(self, value: str) -> str:
        """The pseudonym of ``value`` (what the dbt macro computes)."""
        return pseudonym(self.secret(), value)
