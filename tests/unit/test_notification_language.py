"""A notification read in a language: its translation when it has one, else itself."""

from __future__ import annotations

from postroom.core.ports import Notification, Translation

NOTICE = Notification(
    recipient="customer:10000000001",
    subject="Refill returned",
    body="Your refill was returned.",
    html="<p>Your refill was returned.</p>",
    translations={"fr": Translation("Recharge restituée", "Votre recharge a été restituée.")},
)


def test_a_reader_of_a_translated_language_gets_the_translation() -> None:
    french = NOTICE.in_language("fr")
    assert (french.subject, french.body, french.language) == (
        "Recharge restituée",
        "Votre recharge a été restituée.",
        "fr",
    )
    assert french.html is None  # the French text has no HTML of its own: none of the English
    assert french.recipient == NOTICE.recipient


def test_a_reader_of_another_language_gets_the_message_as_written() -> None:
    assert NOTICE.in_language("de") is NOTICE
    assert NOTICE.in_language("en") is NOTICE
