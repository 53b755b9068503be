"""What billing is configured with: who bills, the tax table, where customers read
their invoices."""

from __future__ import annotations

import attrs

from postroom.core.billing.model import Party
from postroom.core.billing.taxes import TaxTable


@attrs.frozen
class BillingSettings:
    """The seller printed on every document, the tax table, and the portal's address
    (links in emails)."""

    seller: Party
    taxes: TaxTable
    portal_url: str = "http://localhost:8000"
    #: the SEPA creditor identifier (AT-02) SEPA mandates name; empty: SEPA direct
    #: debit is not offered
    creditor_id: str = ""

    def invoice_link(self, number: str) -> str:
        return f"{self.portal_url.rstrip('/')}/billing/invoices/{number}"

    def debit_link(self) -> str:
        return f"{self.portal_url.rstrip('/')}/billing/direct-debit"
