"""The cases service as the email channel's ``CaseDesk``: what ``inbound.CaseMail``
asks of ``pr.cases``, and the listener that runs the channel's bookkeeping in the very
transaction that stores the case's new message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from postroom.core.cases.inbound import AfterCase, CaseFacts, EmailToCase
from postroom.core.cases.mail_model import Sender
from postroom.core.cases.model import Actor, AttachmentRef, Case, Channel, Contact, Message
from postroom.core.cases.ports import Session
from postroom.core.cases.service import CasesService


class ServiceDesk:
    """``inbound.CaseDesk`` over ``CasesService``. ``then`` of an email is called by the
    service's message listener for the message carrying that email's Message-Id, so it
    commits (or is retried, or rolls back) with the case."""

    def __init__(self, cases: CasesService) -> None:
        self._cases = cases
        self._pending: dict[str, AfterCase] = {}
        self._lock = threading.Lock()
        cases.add_message_listener(self._on_message)

    def find(self, number: str) -> CaseFacts | None:
        case = self._cases.find(number)
        return None if case is None else _facts(case)

    def open_by_email(self, email: EmailToCase, then: AfterCase) -> str:
        sender = email.sender
        with self._awaiting(email.message_id, then):
            case = self._cases.open(
                by=_actor(sender, sender.account),
                subject=email.subject,
                description=email.body,
                channel=Channel.EMAIL,
                customer_number=sender.account,
                contact=Contact(name=sender.name, email=sender.address),
                message_id=email.message_id,
                attachments=_refs(email),
            )
        return case.number

    def add_by_email(self, number: str, email: EmailToCase, then: AfterCase) -> str:
        case = self._cases.find(number)
        with self._awaiting(email.message_id, then):
            posted = self._cases.add_customer_message(
                number,
                email.body,
                by=_actor(email.sender, None if case is None else case.customer_number),
                channel=Channel.EMAIL,
                message_id=email.message_id,
                in_reply_to=email.in_reply_to,
                attachments=_refs(email),
            )
        return posted.case.number

    @contextmanager
    def _awaiting(self, message_id: str | None, then: AfterCase) -> Iterator[None]:
        if message_id is None:
            yield
            return
        with self._lock:
            self._pending[message_id] = then
        try:
            yield
        finally:
            with self._lock:
                self._pending.pop(message_id, None)

    def _on_message(self, session: Session, case: Case, message: Message) -> None:
        if message.message_id is None:
            return
        with self._lock:
            then = self._pending.get(message.message_id)
        if then is not None:
            then(session.connection, case.number)


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
