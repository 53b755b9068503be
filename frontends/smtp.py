"""``postroom mail serve``: the inbound SMTP server of support's email channel.

An aiosmtpd server whose DATA handler hands each message, as its bytes came, with the
envelope sender, to ``pr.case_mail.receive`` (in a worker thread: the store is
synchronous, the SMTP loop must keep answering other clients). The answer tells the
sending server what happened: 250 once the email is kept (whatever its outcome: a
case, a robot's mail, a rejected one: all are kept for staff), 552 for an email over
the size limit (the sending server bounces it to its author), 451 when the store is
unavailable or anything unexpected happens, so the sending server tries again later
and no message is lost.

It listens on loopback by default: put it behind the site's mail server (which does
the spam filtering and TLS), or give ``--host`` to listen elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from postroom.core.cases.inbound import CaseMail
from postroom.core.errors import PostroomError, StorageUnavailable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525


class InboundHandler:
    """aiosmtpd's handler: every message of a session to ``case_mail.receive``."""

    def __init__(self, case_mail: CaseMail) -> None:
        self.case_mail = case_mail

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        # an email is on its way: the batch about to start waits briefly for it
        self.case_mail.expect(session)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Any, envelope: Any) -> str:
        self.case_mail.forget(session)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or b"")
        sender = envelope.mail_from
        loop = asyncio.get_running_loop()
        try:
            received = await loop.run_in_executor(
                None,
                lambda: self.case_mail.receive(
                    raw, envelope_sender=sender, source="smtp", token=session
                ),
            )
        except StorageUnavailable as error:
            log.warning("inbound email not taken, the store is unavailable: %s", error.message)
            return "451 4.3.0 Temporarily unable to take the message, try again later"
        except PostroomError as error:
            if error.code == "mail_too_large":
                return "552 5.3.4 Message too big"
            log.warning("inbound email refused: %s (%s)", error.message, error.code)
            return "451 4.3.0 Temporarily unable to take the message, try again later"
        except Exception:  # the sending server retries: nothing is lost
            log.exception("inbound email failed")
            return "451 4.3.0 Temporarily unable to take the message, try again later"
        finally:
            self.case_mail.forget(session)  # taken, or refused before its batch
        where = f" {received.case_number}" if received.case_number else ""
        return f"250 2.0.0 Kept {received.kept_id}: {received.outcome.value}{where}"


class _Controller(Controller):
    """aiosmtpd's controller, reading back the port the system chose for port 0."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def start(case_mail: CaseMail, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Controller:
    """Start the inbound SMTP server in a thread (stop it with ``.stop()``); with port 0
    the system chooses a free one (``.port``)."""
    controller = _Controller(
        InboundHandler(case_mail),
        hostname=host,
        port=port,
        server_hostname="postroom",
        data_size_limit=case_mail.settings.max_bytes,
        # a message's bytes exactly as they came: parsing is the channel's job
        decode_data=False,
    )
    controller.start()
    return controller
