"""``postroom mail serve``'s SMTP answers (frontends.smtp.InboundHandler) for each thing
that can happen to an email: kept (250), too large (552), the store down or anything
unexpected (451: the sending server tries again, nothing is lost). No I/O: the email
channel is a stand-in that answers as told."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from postroom.core.cases.mail_model import Outcome, Received
from postroom.core.errors import StorageUnavailable, ValidationError
from postroom.frontends.smtp import InboundHandler


class Channel:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.taken: list[tuple[bytes, str | None, str, object]] = []
        #: the sessions whose email is on its way, as the channel was told
        self.coming: set[object] = set()

    def expect(self, sender: object) -> None:
        self.coming.add(sender)

    def forget(self, sender: object) -> None:
        self.coming.discard(sender)

    def receive(
        self, raw: bytes, *, envelope_sender: str | None, source: str, token: object
    ) -> Received:
        self.taken.append((raw, envelope_sender, source, token))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


SESSION = object()
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """The handler's coroutine on a thread of its own: a test worker that ran a browser
    test keeps Playwright's event loop running in its main thread for the session, and
    asyncio.run refuses to start beside it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _answer(channel: Channel) -> str:
    handler = InboundHandler(channel)  # type: ignore[arg-type]
    envelope = SimpleNamespace(original_content=b"Subject: x\r\n\r\nbody\r\n", mail_from="a@b.c")
    return _run(handler.handle_DATA(None, SESSION, envelope))  # type: ignore[arg-type]


def test_a_kept_email_is_250_with_its_outcome_and_case() -> None:
    channel = Channel(Received(kept_id=7, outcome=Outcome.OPENED, case_number="C-2026-000001"))
    assert _answer(channel) == "250 2.0.0 Kept 7: opened C-2026-000001"
    assert channel.taken == [(b"Subject: x\r\n\r\nbody\r\n", "a@b.c", "smtp", SESSION)]
    robot = Channel(Received(kept_id=8, outcome=Outcome.AUTOMATIC, reason="bounce"))
    assert _answer(robot) == "250 2.0.0 Kept 8: automatic"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationError("too big", code="mail_too_large"), "552"),
        (StorageUnavailable("database down"), "451"),
        (ValidationError("odd", code="something_else"), "451"),
        (RuntimeError("bug"), "451"),
    ],
)
def test_what_could_not_be_kept_is_refused_so_the_sender_retries_or_is_told(
    error: BaseException, code: str
) -> None:
    assert _answer(Channel(error)).startswith(code + " ")


def test_a_session_that_sent_mail_from_is_expected_until_its_email_is_taken_or_reset() -> None:
    # the batch about to start waits briefly for the emails whose sending has begun
    channel = Channel(Received(kept_id=7, outcome=Outcome.OPENED, case_number="C-2026-000001"))
    handler: Any = InboundHandler(channel)  # type: ignore[arg-type]
    envelope = SimpleNamespace(mail_from=None, mail_options=[])
    answer = _run(handler.handle_MAIL(None, SESSION, envelope, "a@b.c", ["SIZE=10"]))
    assert (answer, envelope.mail_from, envelope.mail_options) == ("250 OK", "a@b.c", ["SIZE=10"])
    assert channel.coming == {SESSION}
    assert _answer(channel).startswith("250 ")
    assert channel.coming == set()  # taken
    _run(handler.handle_MAIL(None, SESSION, envelope, "a@b.c", []))
    assert _run(handler.handle_RSET(None, SESSION, envelope)) == "250 OK"
    assert channel.coming == set()
    refused = Channel(ValidationError("too big", code="mail_too_large"))
    refused.expect(SESSION)
    assert _answer(refused).startswith("552 ")
    assert refused.coming == set()  # not waited for
