"""Every table of every area, for Alembic's autogenerate and for schema checks.

An area adds its store module here when it adds tables.
"""

from postroom.core import instance, outbox
from postroom.core.accounts import closure_store
from postroom.core.accounts import store as accounts_store
from postroom.core.billing import store as billing_store
from postroom.core.cases import canned_store
from postroom.core.cases import mail_store as cases_mail_store
from postroom.core.cases import store as cases_store
from postroom.core.contracts import store as contracts_store
from postroom.core.db import metadata
from postroom.core.funding import store as funding_store
from postroom.core.identity import store as identity_store
from postroom.core.kiosks import meter_piece_store
from postroom.core.kiosks import store as kiosks_store
from postroom.core.knowledge import chat_store
from postroom.core.knowledge import store as knowledge_store
from postroom.core.ledger import store as ledger_store
from postroom.core.meters import refill_store, virtual_store
from postroom.core.meters import store as meters_store
from postroom.core.payouts import store as payouts_store
from postroom.core.rates import store as rates_store
from postroom.core.refunds import store as refunds_store
from postroom.core.shop import store as shop_store
from postroom.core.tracking import store as tracking_store

__all__ = [
    "accounts_store",
    "billing_store",
    "canned_store",
    "cases_mail_store",
    "cases_store",
    "chat_store",
    "closure_store",
    "contracts_store",
    "funding_store",
    "identity_store",
    "instance",
    "kiosks_store",
    "knowledge_store",
    "ledger_store",
    "metadata",
    "meter_piece_store",
    "meters_store",
    "outbox",
    "payouts_store",
    "rates_store",
    "refill_store",
    "refunds_store",
    "shop_store",
    "tracking_store",
    "virtual_store",
]
