"""Traces and claims on in-memory fakes (no I/O): the shipment link, the checklist of
documents, the declared value and deadline, and the three outcomes (a refund through
funding's staff credit, once; a reshipment; a denial with a reason)."""

from __future__ import annotations

from datetime import date

import pytest
from cases_fakes import MINE, OTHER, FakeDatabase, FakeRefunds, make_service

from postroom.core.cases.claims import Document, Outcome
from postroom.core.cases.model import Actor, AttachmentRef, Department, Link, LinkKind, Status
from postroom.core.cases.service import CasesService
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError
from postroom.core.money import Money

AGENT = Actor.staff(7, "Alex Agent")
SUPERVISOR = Actor.staff(9, "Sue Supervisor", role="supervisor")
CUSTOMER = Actor.customer(MINE, 3, "Chris Customer")
STRANGER = Actor.customer(OTHER, 4, "Camille")
TRACKING = "9400 1000 0000 0000 0000 01"


def doc(name: str) -> AttachmentRef:
    return AttachmentRef(name[0] * 64, f"{name}.pdf", "application/pdf", 2048)


@pytest.fixture
def refunds() -> FakeRefunds:
    return FakeRefunds()


@pytest.fixture
def cases(refunds: FakeRefunds) -> CasesService:
    return make_service(
        FakeDatabase(), FrozenClock.at("2026-03-04T15:00:00+00:00"), refunds=refunds
    )


def file_lost(cases: CasesService, value: str = "80.00 USD") -> str:
    view = cases.file_claim(
        by=CUSTOMER,
        tracking_number=TRACKING,
        kind="lost",
        declared_value=Money.parse(value),
        description="Never arrived",
    )
    return view.case.number


def complete(cases: CasesService, number: str) -> None:
    for name in ("proof_of_mailing", "shipment_details", "proof_of_value"):
        cases.add_claim_document(number, name, doc(name), by=CUSTOMER)


def test_a_trace_is_a_tracking_case_linked_to_the_shipment(cases: CasesService):
    case = cases.request_trace(by=CUSTOMER, tracking_number=TRACKING, description="Where is it?")
    assert case.department is Department.TRACKING
    assert case.links == (Link(LinkKind.SHIPMENT, "9400100000000000000001"),)
    with pytest.raises(ValidationError) as caught:
        cases.request_trace(by=CUSTOMER, tracking_number="x<script>", description="?")
    assert caught.value.code == "invalid_tracking_number"


def test_a_claim_lists_the_documents_still_missing(cases: CasesService):
    number = file_lost(cases)
    view = cases.claim(MINE, number)
    assert view.claim.missing == (
        Document.PROOF_OF_MAILING,
        Document.SHIPMENT_DETAILS,
        Document.PROOF_OF_VALUE,
    )
    assert view.claim.deadline == date(2026, 4, 3)
    cases.add_claim_document(number, "proof-of-mailing", doc("receipt"), by=CUSTOMER)
    assert cases.claim(MINE, number).claim.missing == (
        Document.SHIPMENT_DETAILS,
        Document.PROOF_OF_VALUE,
    )
    thread = cases.get(MINE, number).messages
    assert thread[-1].attachments == (doc("receipt"),)


def test_a_damaged_parcel_needs_photos(cases: CasesService):
    view = cases.file_claim(
        by=CUSTOMER,
        tracking_number=TRACKING,
        kind="damaged",
        declared_value=Money.parse("20.00 USD"),
        description="Crushed",
    )
    assert Document.DAMAGE_PHOTOS in view.claim.missing


def test_another_account_neither_sees_nor_adds_to_a_claim(cases: CasesService):
    number = file_lost(cases)
    with pytest.raises(NotFound):
        cases.claim(OTHER, number)
    with pytest.raises(NotFound):
        cases.add_claim_document(number, "proof_of_value", doc("x"), by=STRANGER)


def test_the_declared_value_is_in_the_accounts_currency(cases: CasesService):
    with pytest.raises(ValidationError) as caught:
        file_lost(cases, "80.00 EUR")
    assert caught.value.code == "currency_mismatch"
    with pytest.raises(ValidationError) as zero:
        file_lost(cases, "0.00 USD")
    assert zero.value.code == "invalid_declared_value"


def test_a_refund_needs_a_supervisor_every_document_and_credits_once(
    cases: CasesService, refunds: FakeRefunds
):
    number = file_lost(cases)
    amount = Money.parse("80.00 USD")
    with pytest.raises(PermissionDenied):
        cases.decide_claim(number, "refund", by=CUSTOMER, amount=amount)
    with pytest.raises(PermissionDenied) as agent:
        cases.decide_claim(number, "refund", by=AGENT, amount=amount)
    assert agent.value.code == "supervisors_only"
    with pytest.raises(ValidationError) as missing:
        cases.decide_claim(number, "refund", by=SUPERVISOR, amount=amount)
    assert missing.value.code == "claim_documents_missing"
    complete(cases, number)
    with pytest.raises(ValidationError) as above:
        cases.decide_claim(number, "refund", by=SUPERVISOR, amount=Money.parse("80.01 USD"))
    assert above.value.code == "refund_above_declared_value"
    assert refunds.credits == {}
    claim = cases.decide_claim(number, "refund", by=SUPERVISOR, amount=amount)
    assert claim.outcome is Outcome.REFUND
    assert refunds.credits == {f"claim-{number}": (MINE, amount, "staff:9 Sue Supervisor")}
    with pytest.raises(ValidationError) as twice:
        cases.decide_claim(number, "refund", by=SUPERVISOR, amount=amount)
    assert twice.value.code == "claim_decided"
    detail = cases.get(MINE, number)
    assert detail.case.status is Status.RESOLVED
    assert "refund of 80.00 USD" in detail.messages[-1].body


def test_reshipment_and_denial(cases: CasesService):
    first = file_lost(cases)
    claim = cases.decide_claim(first, "reshipment", by=AGENT, reshipment="9400 2000 0000 0001")
    assert claim.reshipment == "9400200000000001"
    second = file_lost(cases)
    with pytest.raises(ValidationError) as caught:
        cases.decide_claim(second, "denied", by=AGENT)
    assert caught.value.code == "missing_reason"
    denied = cases.decide_claim(second, "denied", by=AGENT, reason="delivered, signed for")
    assert denied.outcome_reason == "delivered, signed for"
    assert cases.get(MINE, second).messages[-1].body == "Claim denied: delivered, signed for"
