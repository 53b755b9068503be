"""Traces and claims (``pr.cases``): "request a trace" and "report a lost parcel" open a
tracking case linked to the shipment; a claim collects its documents and is decided —
refunded to the customer's postage account through funding's staff credit, reshipped,
or denied with a reason."""

from __future__ import annotations

import attrs

from postroom.core.cases import claims, model
from postroom.core.cases.access import case_number, locked, not_found, resolve, staff_only
from postroom.core.cases.claims import Claim, ClaimKind, Document, Outcome, Shipment
from postroom.core.cases.model import (
    Actor,
    ActorKind,
    AttachmentRef,
    Case,
    Link,
    LinkKind,
    Message,
    MessageKind,
    Status,
)
from postroom.core.cases.ports import ClaimRefunds, Session, ShipmentLookup
from postroom.core.cases.steps import CaseSteps
from postroom.core.errors import NotFound, PermissionDenied, ValidationError
from postroom.core.money import Money

DOCUMENT_NAMES = {
    Document.PROOF_OF_MAILING: "proof of mailing or shipping receipt",
    Document.SHIPMENT_DETAILS: "tracking number and shipment details",
    Document.PROOF_OF_VALUE: "invoice or proof of value",
    Document.DAMAGE_PHOTOS: "photos of the damage",
}


@attrs.frozen
class ClaimView:
    case: Case
    claim: Claim


class ClaimsDesk:
    def __init__(
        self, steps: CaseSteps, *, refunds: ClaimRefunds, shipments: ShipmentLookup
    ) -> None:
        self._c = steps
        self._refunds = refunds
        self._shipments = shipments

    def _shipment(self, tracking_number: object) -> Shipment:
        return self._shipments.shipment(claims.parse_tracking_number(tracking_number))

    def request_trace(
        self,
        *,
        by: Actor,
        tracking_number: str,
        description: str,
        customer_number: str | None = None,
        channel: str = "web",
    ) -> Case:
        """ "Request a trace": a tracking case linked to the shipment."""
        shipment = self._shipment(tracking_number)
        return self._c.open(
            by=by,
            customer_number=customer_number,
            subject=f"Trace request: {shipment.tracking_number}",
            description=description,
            channel=channel,
            department="tracking",
            links=[Link(LinkKind.SHIPMENT, shipment.tracking_number)],
        )

    def file_claim(
        self,
        *,
        by: Actor,
        tracking_number: str,
        kind: str,
        declared_value: Money,
        description: str,
        customer_number: str | None = None,
        channel: str = "web",
    ) -> ClaimView:
        """ "Report a lost parcel" (or a damaged one): a tracking case linked to the
        shipment with its claim: the declared value (in the account's currency), the
        documents' deadline, the checklist of documents still missing."""
        if by.kind not in (ActorKind.CUSTOMER, ActorKind.STAFF):
            raise PermissionDenied("a claim is filed for a customer account", code="not_customer")
        clean_kind = claims.parse_claim_kind(kind)
        value = claims.check_declared_value(declared_value)
        shipment = self._shipment(tracking_number)
        account_number = by.account if by.kind is ActorKind.CUSTOMER else customer_number
        if account_number is None:
            raise ValidationError("name the customer account", code="missing_account")
        account = self._c.accounts.get(account_number)
        if value.currency != account.currency:
            raise ValidationError(
                f"account {account.number} is in {account.currency}", code="currency_mismatch"
            )
        what = "Lost parcel" if clean_kind is ClaimKind.LOST else "Damaged parcel"
        request = self._c.request(
            by=by,
            customer_number=account.number,
            subject=f"{what} claim: {shipment.tracking_number}",
            description=description,
            channel=channel,
            department="tracking",
            links=[Link(LinkKind.SHIPMENT, shipment.tracking_number)],
        )
        calendar = self._c.calendar(account.number)
        now = self._c.clock.now()

        def work(uow: Session) -> ClaimView:
            case = self._c.open_request(uow, request, calendar)
            claim = claims.new_claim(case.id, clean_kind, shipment.tracking_number, value, now)
            repository = self._c.repository(uow)
            repository.save_claim(claim)
            missing = ", ".join(DOCUMENT_NAMES[d] for d in claim.missing)
            self._c.history(repository, case, by, now, "claim", f"filed; missing: {missing}")
            uow.commit()
            return ClaimView(case, claim)

        return self._c.db.run(work)

    def claim(self, customer_number: str, number: str) -> ClaimView:
        """The account's claim on case ``number``; another account's is not found."""
        return self._read(number, lambda case: case.customer_number == customer_number)

    def claim_for_staff(self, number: str, *, by: Actor) -> ClaimView:
        staff_only(by)
        return self._read(number, lambda _case: True)

    def _read(self, number: str, allowed: object) -> ClaimView:
        clean = case_number(number)

        def work(uow: Session) -> ClaimView:
            repository = self._c.repository(uow)
            case = resolve(repository, clean)
            if case is None or not allowed(case):  # type: ignore[operator]
                raise not_found(number)
            claim = repository.claim(case.id)
            if claim is None:
                raise NotFound(f"case {case.number} has no claim", code="claim_not_found")
            return ClaimView(case, claim)

        return self._c.db.run(work, readonly=True)

    def add_claim_document(
        self, number: str, document: str, attachment: AttachmentRef, *, by: Actor
    ) -> Claim:
        """A document of the checklist arrives (the customer's, or staff on their
        behalf): the attachment joins the thread and the item is ticked."""
        clean_document = claims.parse_document(document)
        if not isinstance(attachment, AttachmentRef):
            raise ValidationError("a document is a stored attachment", code="invalid_attachment")
        clean = case_number(number)
        now = self._c.clock.now()
        found = self._c.find(clean)
        if found is None or not (
            by.is_staff or (by.kind is ActorKind.CUSTOMER and found.customer_number == by.account)
        ):
            raise not_found(number)

        def work(uow: Session) -> Claim:
            repository = self._c.repository(uow)
            case = locked(repository, found.number)
            claim = repository.claim(case.id)
            if claim is None:
                raise NotFound(f"case {case.number} has no claim", code="claim_not_found")
            if claim.decided:
                raise ValidationError("the claim was decided already", code="claim_decided")
            claim.documents[clean_document] = attachment.sha256
            repository.save_claim(claim)
            self._c.post(
                uow,
                repository,
                case,
                Message(
                    id=0,
                    case_id=case.id,
                    kind=MessageKind.AGENT if by.is_staff else MessageKind.CUSTOMER,
                    author=by,
                    body=f"Claim document: {DOCUMENT_NAMES[clean_document]}",
                    created_at=now,
                    attachments=(attachment,),
                ),
            )
            self._c.history(repository, case, by, now, "claim", f"document {clean_document}")
            uow.commit()
            return claim

        return self._c.db.run(work)

    def decide_claim(
        self,
        number: str,
        outcome: str,
        *,
        by: Actor,
        amount: Money | None = None,
        reason: str = "",
        reshipment: str = "",
    ) -> Claim:
        """Decide the claim (staff; a refund only by a supervisor, with every document
        in): ``refund`` credits ``amount`` (at most the declared value) to the
        customer's postage account through funding's staff credit, once (its transfer id
        is the case's); ``reshipment`` names the new shipment; ``denied`` needs a
        reason. The customer is told in the thread and the case is resolved."""
        staff_only(by)
        try:
            clean_outcome = Outcome(outcome.strip().lower() if isinstance(outcome, str) else "")
        except ValueError:
            raise ValidationError(
                "an outcome is refund, reshipment or denied", code="invalid_outcome"
            ) from None
        if clean_outcome is Outcome.REFUND and not by.supervises:
            raise PermissionDenied("a refund is a supervisor's decision", code="supervisors_only")
        why = model.parse_reason(reason) if clean_outcome is Outcome.DENIED or reason else ""
        new_shipment = (
            claims.parse_tracking_number(reshipment) if clean_outcome is Outcome.RESHIPMENT else ""
        )
        view = self.claim_for_staff(number, by=by)
        case = view.case
        # a refund decided before whose credit or finish failed is taken up again
        resuming = (
            clean_outcome is Outcome.REFUND
            and view.claim.outcome is Outcome.REFUND
            and view.claim.refunded == amount
            and view.claim.decided_at is None  # set once the customer was told
        )
        if not resuming:
            claims.check_decision(view.claim, clean_outcome, amount)
        decided = attrs.evolve(
            view.claim,
            outcome=clean_outcome,
            outcome_reason=why,
            refunded=amount if clean_outcome is Outcome.REFUND else None,
            refund_transfer_id=f"claim-{case.number}" if clean_outcome is Outcome.REFUND else None,
            reshipment=new_shipment,
            decided_by=by.label,
        )
        if clean_outcome is Outcome.REFUND:
            if not resuming:
                # the decision first, in its own commit: a concurrent other decision is
                # refused from here on, so no credit can meet a denied claim
                self._record(case.number, decided, amount)
            assert amount is not None
            assert case.customer_number is not None
            assert decided.refund_transfer_id is not None
            # idempotent by its transfer id: a retry after a failure below credits once
            self._refunds.credit(
                case.customer_number,
                amount,
                decided.refund_transfer_id,
                staff=by.label,
                reason=f"claim {case.number}: parcel {view.claim.tracking_number}",
                reference=case.number,
            )
        return self._finish(
            case.number, decided, amount, by, check=clean_outcome is not Outcome.REFUND
        )

    def _record(self, number: str, decided: Claim, amount: Money | None) -> None:
        def work(uow: Session) -> None:
            repository = self._c.repository(uow)
            current = locked(repository, number)
            claim = repository.claim(current.id)
            assert claim is not None
            claims.check_decision(claim, decided.outcome, amount)
            repository.save_claim(decided)
            uow.commit()

        self._c.db.run(work)

    def _finish(
        self, number: str, decided: Claim, amount: Money | None, by: Actor, *, check: bool
    ) -> Claim:
        """Record the decision as told (``decided_at``), tell the customer in the thread
        and resolve the case, in one commit; ``check``: the decision is new here (a
        refund's was recorded before its credit)."""
        text = _decision_text(decided)
        calendar = self._c.calendar(self._c.found(number).customer_number)

        def work(uow: Session) -> Claim:
            repository = self._c.repository(uow)
            current = locked(repository, number)
            claim = repository.claim(current.id)
            assert claim is not None
            if check:
                claims.check_decision(claim, decided.outcome, amount)
            elif claim.decided_at is not None:  # a racing retry finished it
                return claim
            now = self._c.clock.now()
            told = attrs.evolve(decided, decided_at=now)
            repository.save_claim(told)
            if current.first_response_at is None:
                current = attrs.evolve(current, first_response_at=now)
            if current.active:  # a case the customer closed meanwhile stays closed
                current = self._c.moved(repository, current, Status.RESOLVED, by, now, calendar)
            repository.update(current)
            self._c.post(
                uow,
                repository,
                current,
                Message(
                    id=0,
                    case_id=current.id,
                    kind=MessageKind.AGENT,
                    author=by,
                    body=text,
                    created_at=now,
                ),
            )
            self._c.history(repository, current, by, now, "claim", text)
            uow.commit()
            return told

        return self._c.db.run(work)


def _decision_text(claim: Claim) -> str:
    if claim.outcome is Outcome.REFUND:
        assert claim.refunded is not None
        return f"Claim decided: refund of {claim.refunded} credited to your postage account."
    if claim.outcome is Outcome.RESHIPMENT:
        return f"Claim decided: the parcel is shipped again ({claim.reshipment})."
    return f"Claim denied: {claim.outcome_reason}"
