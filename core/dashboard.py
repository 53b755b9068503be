"""What a customer account's dashboard shows (``/dashboard``): one read of each area's
service API, gathered at the composition root's level because it spans areas.

Cases, invoices, orders and shipments have no area yet; the dashboard names them so
that the page keeps its shape when those areas arrive and fill them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from postroom.core.funding.service import FundingOverview
from postroom.core.ledger.service import PostageOverview
from postroom.core.meters.model import Meter

if TYPE_CHECKING:
    from postroom.core.app import Postroom

#: How many of the last refills the dashboard lists.
RECENT_REFILLS = 5


@attrs.frozen
class Dashboard:
    customer_number: str
    customer_name: str
    postage: PostageOverview
    meters: list[Meter]
    funding: FundingOverview


def customer_dashboard(postroom: Postroom, customer_number: str) -> Dashboard:
    """The dashboard of ``customer_number`` (the caller has checked that the person
    reading it belongs to that account). ``customer_not_found`` for an unknown number."""
    customer = postroom.accounts.get(customer_number)
    return Dashboard(
        customer_number=customer.number,
        customer_name=customer.name,
        postage=postroom.ledger.postage_overview(customer.number, refills=RECENT_REFILLS),
        meters=postroom.meters.list(customer.number),
        funding=postroom.funding.overview(customer.number),
    )
