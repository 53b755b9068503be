"""Traces and claims for lost or damaged parcels (seed 001): values and pure rules.

A trace asks the carrier where a parcel is; a claim asks for the money back. Both are
cases of the tracking department linked to the shipment. A claim keeps the seed's
checklist of documents — proof of mailing or the shipping receipt, the tracking number
and shipment details, the invoice or proof of value, photos of the damage (a damaged
parcel only) — a declared value, a deadline for the documents, and an outcome: a
refund credited to the customer's postage account, a reshipment, or a denial with a
reason.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError
from postroom.core.money import Money

#: the customer has this many days from filing to complete the documents
DOCUMENTS_DAYS = 30
MAX_TRACKING = 40
_TRACKING_RE = re.compile(r"[A-Z0-9]{8,40}")


class ClaimKind(StrEnum):
    LOST = "lost"
    DAMAGED = "damaged"


class Document(StrEnum):
    PROOF_OF_MAILING = "proof_of_mailing"
    SHIPMENT_DETAILS = "shipment_details"
    PROOF_OF_VALUE = "proof_of_value"
    DAMAGE_PHOTOS = "damage_photos"


class Outcome(StrEnum):
    PENDING = "pending"
    REFUND = "refund"
    RESHIPMENT = "reshipment"
    DENIED = "denied"


def required_documents(kind: ClaimKind) -> tuple[Document, ...]:
    documents = (Document.PROOF_OF_MAILING, Document.SHIPMENT_DETAILS, Document.PROOF_OF_VALUE)
    return (*documents, Document.DAMAGE_PHOTOS) if kind is ClaimKind.DAMAGED else documents


@attrs.frozen
class Shipment:
    """A shipment as the case knows it: its tracking number and what the tracking area
    can tell (nothing more than the number until that area lands)."""

    tracking_number: str
    carrier: str = ""
    status: str = ""


@attrs.define
class Claim:
    case_id: int
    kind: ClaimKind
    tracking_number: str
    declared_value: Money
    filed_at: datetime
    deadline: date
    #: the documents received, each with the attachment (sha256) that proves it
    documents: dict[Document, str] = attrs.field(factory=dict)
    outcome: Outcome = Outcome.PENDING
    outcome_reason: str = ""
    refunded: Money | None = None
    refund_transfer_id: str | None = None
    reshipment: str = ""
    decided_at: datetime | None = None
    decided_by: str = ""

    @property
    def missing(self) -> tuple[Document, ...]:
        """The documents the customer still has to send."""
        return tuple(d for d in required_documents(self.kind) if d not in self.documents)

    @property
    def decided(self) -> bool:
        return self.outcome is not Outcome.PENDING


def parse_tracking_number(text: object) -> str:
    """A carrier's tracking number, spaces and dashes dropped: 8 to 40 letters/digits."""
    clean = re.sub(r"[\s-]", "", text).upper() if isinstance(text, str) else ""
    if not _TRACKING_RE.fullmatch(clean):
        raise ValidationError(
            "a tracking number is 8 to 40 letters and digits", code="invalid_tracking_number"
        )
    return clean


def parse_claim_kind(text: object) -> ClaimKind:
    clean = text.strip().lower() if isinstance(text, str) else ""
    try:
        return ClaimKind(clean)
    except ValueError:
        raise ValidationError(
            "a claim is for a lost or a damaged parcel", code="invalid_claim_kind"
        ) from None


def parse_document(text: object) -> Document:
    clean = text.strip().lower().replace("-", "_") if isinstance(text, str) else ""
    try:
        return Document(clean)
    except ValueError:
        known = ", ".join(d.value for d in Document)
        raise ValidationError(
            f"a claim document is one of {known}", code="invalid_document"
        ) from None


def check_declared_value(value: object) -> Money:
    if not isinstance(value, Money) or value.mills <= 0:
        raise ValidationError("the declared value is more than zero", code="invalid_declared_value")
    return value


def new_claim(case_id: int, kind: ClaimKind, tracking: str, value: Money, now: datetime) -> Claim:
    return Claim(
        case_id=case_id,
        kind=kind,
        tracking_number=tracking,
        declared_value=value,
        filed_at=now,
        deadline=(now + timedelta(days=DOCUMENTS_DAYS)).date(),
    )


def check_decision(claim: Claim, outcome: Outcome, amount: Money | None) -> None:
    """A claim is decided once; a refund is for at most the declared value, in its
    currency, and needs every document."""
    if claim.decided:
        raise ValidationError(
            f"the claim was decided already ({claim.outcome.value})", code="claim_decided"
        )
    if outcome is Outcome.PENDING:
        raise ValidationError("decide refund, reshipment or denied", code="invalid_outcome")
    if outcome is Outcome.REFUND:
        if claim.missing:
            missing = ", ".join(d.value for d in claim.missing)
            raise ValidationError(
                f"documents still missing: {missing}", code="claim_documents_missing"
            )
        if amount is None or amount.mills <= 0 or amount.currency != claim.declared_value.currency:
            raise ValidationError(
                f"a refund is an amount in {claim.declared_value.currency}",
                code="invalid_refund_amount",
            )
        if amount.mills > claim.declared_value.mills:
            raise ValidationError(
                "a refund is at most the declared value", code="refund_above_declared_value"
            )
