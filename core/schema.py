"""Every table of every area, for Alembic's autogenerate and for schema checks.

An area adds its store module here when it adds tables.
"""

from postroom.core import instance, outbox
from postroom.core.accounts import store as accounts_store
from postroom.core.contracts import store as contracts_store
from postroom.core.db import metadata
from postroom.core.identity import store as identity_store
from postroom.core.meters import store as meters_store
from postroom.core.meters import virtual_store
from postroom.core.rates import store as rates_store
from postroom.core.vault import funding_store, payout_store, refund_store
from postroom.core.vault import store as vault_store

__all__ = [
    "accounts_store",
    "contracts_store",
    "funding_store",
    "identity_store",
    "instance",
    "metadata",
    "meters_store",
    "outbox",
    "payout_store",
    "rates_store",
    "refund_store",
    "vault_store",
    "virtual_store",
]
