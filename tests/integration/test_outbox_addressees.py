"""The outbox keeps a message's language, HTML and translations, and sends a customer's
message to each person of the account, in that person's language when it has it."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.db import UnitOfWork
from postroom.core.hookspecs import hookimpl
from postroom.core.outbox import MessageStatus
from postroom.core.ports import Addressee, Notification, Translation


class Recorder:
    """An email notifier that keeps what it was given; ``down_for`` addresses fail."""

    name = "recorder"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.down_for: set[str] = set()

    def send(self, notification: Notification) -> None:
        if notification.recipient in self.down_for:
            raise ConnectionError("mailbox unavailable")
        self.sent.append(notification)

    @hookimpl
    def register_notifiers(self) -> list[Recorder]:
        return [self]


@attrs.define
class Directory:
    """The people of each customer account (the identity area's role)."""

    people: dict[str, list[Addressee]] = attrs.field(factory=dict)

    def addresses(self, customer_number: str) -> Sequence[Addressee]:
        return self.people.get(customer_number, [])


RETURNED = Notification(
    recipient="customer:10000000001",
    subject="Your debit was returned",
    body="The bank returned your debit of 20.00 USD.",
    kind="payment_returned",
    html="<p>The bank returned your debit of <b>20.00 USD</b>.</p>",
    translations={
        "fr": Translation(
            subject="Votre prélèvement a été rejeté",
            body="La banque a rejeté votre prélèvement de 20,00 USD.",
            html="<p>La banque a rejeté votre prélèvement de <b>20,00 USD</b>.</p>",
        )
    },
)


def store(pr: Postroom, notification: Notification) -> str:
    def work(uow: UnitOfWork) -> str:
        added = pr.outbox.add(uow.connection, notification)
        uow.commit()
        return str(added.id)

    return pr.db.run(work)


def recording(pr: Postroom) -> Recorder:
    recorder = Recorder()
    pr.plugins.register(recorder, name="recorder")
    return recorder


def test_language_html_and_translations_are_kept_with_the_message(postroom: Postroom) -> None:
    message_id = store(postroom, attrs.evolve(RETURNED, language="en"))
    kept = postroom.outbox.message(message_id).notification
    assert kept.html == RETURNED.html
    assert kept.language == "en"
    assert kept.translations == RETURNED.translations
    assert postroom.outbox.message(message_id).to_json()["translations"] == ["fr"]


def test_a_customer_message_goes_to_each_addressee_in_their_language(
    postroom: Postroom,
) -> None:
    recorder = recording(postroom)
    postroom.address_book = Directory(
        {
            "10000000001": [
                Addressee("owner@acme.example", "Olive Owner", "fr"),
                Addressee("ops@acme.example", "Omar Operator", "de"),  # no German text
            ]
        }
    )
    message_id = store(postroom, RETURNED)
    assert postroom.outbox.deliver([message_id]) == 1

    by_address = {n.recipient: n for n in recorder.sent}
    assert set(by_address) == {"owner@acme.example", "ops@acme.example"}
    french = by_address["owner@acme.example"]
    assert (french.subject, french.language) == ("Votre prélèvement a été rejeté", "fr")
    assert french.html is not None
    assert "20,00 USD" in french.html
    assert french.data["addressee_name"] == "Olive Owner"
    assert french.id == message_id  # the stable id a notifier dedupes on
    english = by_address["ops@acme.example"]
    assert (english.subject, english.language) == (RETURNED.subject, "en")
    assert english.html == RETURNED.html


def test_an_addressee_who_got_the_message_is_not_sent_it_again_on_retry(
    postroom: Postroom, clock: FrozenClock
) -> None:
    recorder = recording(postroom)
    recorder.down_for = {"ops@acme.example"}
    postroom.address_book = Directory(
        {
            "10000000001": [
                Addressee("owner@acme.example", "Olive Owner", "en"),
                Addressee("ops@acme.example", "Omar Operator", "en"),
            ]
        }
    )
    message_id = store(postroom, RETURNED)
    assert postroom.outbox.deliver([message_id]) == 0
    waiting = postroom.outbox.message(message_id)
    assert waiting.status is MessageStatus.PENDING
    assert "recorder:owner@acme.example" in waiting.delivered_to
    assert waiting.last_error is not None
    assert "ops@acme.example" in waiting.last_error

    recorder.down_for = set()
    clock.advance(waiting.next_attempt_at - clock.now())
    assert postroom.outbox.deliver([message_id]) == 1
    assert [n.recipient for n in recorder.sent] == ["owner@acme.example", "ops@acme.example"]
    assert postroom.outbox.message(message_id).status is MessageStatus.DELIVERED


def test_an_email_address_recipient_is_used_as_is(postroom: Postroom) -> None:
    recorder = recording(postroom)
    message_id = store(postroom, attrs.evolve(RETURNED, recipient="someone@example.org"))
    assert postroom.outbox.deliver([message_id]) == 1
    [sent] = recorder.sent
    assert sent.recipient == "someone@example.org"
    assert sent.subject == RETURNED.subject
