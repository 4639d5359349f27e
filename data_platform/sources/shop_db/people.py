"""The demo customers' contact details: e-mail, phone and postal address, made up by Faker.

jafgen gives a customer an id and a name only; a real shop also holds how to reach them, and
that is the personal data the platform must classify, keep out of the marts and erase on
request. :func:`contact_details` makes it up deterministically per customer id (Faker seeded
with a digest of the id and the version), so two seeds of the same jafgen files give the same
shop database, and a customer who moves or changes e-mail gets version ``n + 1``'s details.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker

CONTACT_COLUMNS = ("email", "phone", "street", "city", "postcode")


@cache
def _faker() -> Faker:
    # Building a Faker loads its locale's providers (tens of ms): once per process, and only
    # in one that seeds or simulates (importing faker alone costs every process 35 ms).
    from faker import Faker

    return Faker("en_US")


def contact_details(customer_id: str, name: str | None, version: int = 0) -> dict[str, str]:
    """The ``email``, ``phone`` (US, 10 digits in one of the common layouts), ``street``,
    ``city`` and ``postcode`` (5 digits) of customer ``customer_id`` at ``version`` (0 when
    seeded; each later version is a move or a new e-mail address). The e-mail is made of the
    name (ASCII letters, dot-separated) at a free mail domain, with a number when the name is
    missing. Pure: the same arguments give the same details."""
    fake = _faker()
    digest = hashlib.sha256(f"{customer_id}/{version}".encode()).digest()
    fake.seed_instance(int.from_bytes(digest[:8], "big"))
    local = _mailbox(name) or "customer"
    return {
        "email": f"{local}{fake.random_int(1, 999)}@{fake.free_email_domain()}",
        "phone": fake.basic_phone_number(),
        "street": fake.street_address(),
        "city": fake.city(),
        "postcode": fake.postcode(),
    }


def _mailbox(name: str | None) -> str:
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    return ".".join(re.findall(r"[a-z]+", ascii_name.lower()))
