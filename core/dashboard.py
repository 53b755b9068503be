"""What a customer account's dashboard shows (``/dashboard``): one read of each area's
service API, gathered at the composition root's level because it spans areas.

Invoices come from billing, shipments from tracking and orders from the shop; the
portal adds the open support cases beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from postroom.core.billing.model import AmountsOwed
from postroom.core.cases.model import CaseSummary
from postroom.core.funding.service import FundingOverview
from postroom.core.ledger.service import PostageOverview
from postroom.core.meters.model import Meter
from postroom.core.shop.model import OrderSummary
from postroom.core.tracking.service import ShipmentsOverview

if TYPE_CHECKING:
    from postroom.core.app import Postroom
    from postroom.core.db import UnitOfWork

#: How many of the last refills the dashboard lists.
RECENT_REFILLS = 5
#: How many of the account's open support cases it lists.
OPEN_CASES = 5
#: How many of its supplies orders on their way.
OPEN_ORDERS = 5


@attrs.frozen
class Dashboard:
    customer_number: str
    customer_name: str
    postage: PostageOverview
    meters: list[Meter]
    funding: FundingOverview
    #: what the account owes: balance due, overdue, the unpaid invoices first due
    invoices: AmountsOwed
    shipments: ShipmentsOverview
    #: supplies orders on their way (not delivered or cancelled yet)
    orders: list[OrderSummary] = attrs.field(factory=list)
    #: the account's active support cases, the nearest deadline first
    open_cases: list[CaseSummary] = attrs.field(factory=list)


def customer_dashboard(postroom: Postroom, customer_number: str) -> Dashboard:
    """The dashboard of ``customer_number`` (the caller has checked that the person
    reading it belongs to that account); ``account_not_found`` for an unknown number.

    One read-only transaction: each area answers with one read inside it (its ``*_in``
    API), so the balance, the refills and the meters agree with each other and a page
    costs one round of the database, not one per area. Where a card lists a few rows
    (invoices, orders, cases, shipments), the area answers with summaries: the columns
    shown, without each object's lines, links or history."""

    def read(uow: UnitOfWork) -> Dashboard:
        customer = postroom.accounts.customer_in(uow, customer_number)
        return Dashboard(
            customer_number=customer.number,
            customer_name=customer.name,
            postage=postroom.ledger.postage_overview_in(uow, customer, refills=RECENT_REFILLS),
            meters=postroom.meters.list_in(uow, customer),
            funding=postroom.funding.overview_in(uow, customer),
            invoices=postroom.billing.owed_in(uow, customer),
            shipments=postroom.tracking.overview_in(uow, customer.number),
            orders=postroom.shop.open_orders_in(uow, customer.number, limit=OPEN_ORDERS),
            open_cases=postroom.cases.open_of_customer_in(uow, customer.number, limit=OPEN_CASES),
        )

    return postroom.db.run(read, readonly=True)
