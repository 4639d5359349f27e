"""Changes to the shop's customers, as the shop's application makes them.

A customer moves (a new street, city, postcode and phone), changes e-mail address, or is
deleted at their request; every edit sets ``updated_at`` to the time of the change (naive
UTC), which is what the change capture of ``raw/customers`` reads by. The new details are
:func:`~data_platform.sources.shop_db.people.contact_details` of a later version of the
customer, so they are made up deterministically too. The simulator and the tests make their
changes through :func:`apply_customer_change`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from data_platform.sources.shop_db.people import contact_details
from data_platform.sources.shop_db.tables import customers

CustomerChangeKind = Literal["move", "email", "delete"]
MOVED = ("street", "city", "postcode", "phone")


@dataclass(frozen=True)
class CustomerChange:
    """Customer ``customer_id`` moves, changes e-mail (to the details of ``version``), or is
    deleted, at ``at`` (naive UTC)."""

    customer_id: str
    kind: CustomerChangeKind
    at: dt.datetime
    version: int = 1


def apply_customer_change(shop_db, change: CustomerChange) -> dict | None:
    """Apply ``change`` to the shop database (one transaction); the row's new values (None
    for a deletion). Raises ``KeyError`` for a customer the shop does not hold."""
    table = customers
    where = table.c.id == change.customer_id
    with shop_db.engine().begin() as conn:
        name = conn.execute(sa.select(table.c.name).where(where)).scalar_one_or_none()
        found = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
        if not found:
            raise KeyError(f"no customer {change.customer_id} in the shop database")
        if change.kind == "delete":
            conn.execute(sa.delete(table).where(where))
            return None
        details = contact_details(change.customer_id, name, change.version)
        columns = MOVED if change.kind == "move" else ("email",)
        values = {c: details[c] for c in columns} | {"updated_at": change.at}
        conn.execute(sa.update(table).where(where).values(**values))
        return values
