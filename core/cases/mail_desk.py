"""The cases service as the email channel's ``CaseDesk``: what ``inbound.CaseMail``
asks of ``pr.cases``, on the channel's transaction, so that a case opened or added to
commits or rolls back with the email's keeping and its acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from postroom.core.cases.inbound import CaseFacts, EmailToCase
from postroom.core.cases.mail_model import Sender
from postroom.core.cases.model import Actor, AttachmentRef, Case, Channel, Contact
from postroom.core.cases.service import CasesService


class ServiceDesk:
    """``inbound.CaseDesk`` over ``CasesService``."""

    def __init__(self, cases: CasesService) -> None:
        self._cases = cases

    def find_in(self, connection: Connection, number: str) -> CaseFacts | None:
        case = self._cases.find_in(connection, number)
        return None if case is None else _facts(case)

    def open_in(self, connection: Connection, email: EmailToCase) -> str:
        return self.open_all_in(connection, [email])[0]

    def open_all_in(self, connection: Connection, emails: Sequence[EmailToCase]) -> list[str]:
        opened = self._cases.open_all_in(connection, [_request(email) for email in emails])
        return [case.number for case in opened]

    def add_in(self, connection: Connection, case: CaseFacts, email: EmailToCase) -> str:
        posted = self._cases.add_customer_message_in(
            connection,
            case.number,
            email.body,
            by=_actor(email.sender, case.customer_number),
            channel=Channel.EMAIL,
            message_id=email.message_id,
            in_reply_to=email.in_reply_to,
            attachments=_refs(email),
        )
        return posted.case.number


def _request(email: EmailToCase) -> dict[str, Any]:
    """``CasesService.open``'s arguments for a case opened by ``email``."""
    sender = email.sender
    return {
        "by": _actor(sender, sender.account),
        "subject": email.subject,
        "description": email.body,
        "channel": Channel.EMAIL,
        "customer_number": sender.account,
        "contact": Contact(name=sender.name, email=sender.address),
        "message_id": email.message_id,
        "attachments": _refs(email),
    }


def _facts(case: Case) -> CaseFacts:
    return CaseFacts(
        number=case.number,
        customer_number=case.customer_number,
        contact_email=case.contact.email,
        subject=case.subject,
    )


def _actor(sender: Sender, case_account: str | None) -> Actor:
    """A user of the case's account writes as the customer (a case opened by a user is
    their account's); anyone else as the contact known by their address."""
    if sender.account is not None and sender.account == case_account:
        return Actor.customer(sender.account, sender.user_id or "", sender.name)
    return Actor.contact(sender.address, sender.name)


def _refs(email: EmailToCase) -> tuple[AttachmentRef, ...]:
    return tuple(
        AttachmentRef(sha256=f.sha256, filename=f.name, content_type=f.media_type, size=f.size)
        for f in email.attachments
    )
