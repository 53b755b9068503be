"""A notifier that writes every notification to the ``postroom.notifications`` log.

Always on, so an installation without email still keeps a trace of what
customers were told; real channels (email, SMS) are further notifiers.
"""

from __future__ import annotations

import logging

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Notification, Notifier

log = logging.getLogger("postroom.notifications")


class LogNotifier:
    name = "log"
    channels = ("email", "sms", "log")

    def send(self, notification: Notification) -> None:
        log.info(
            "to=%s channel=%s kind=%s subject=%s",
            notification.recipient,
            notification.channel,
            notification.kind,
            notification.subject,
        )


@hookimpl
def register_notifiers() -> list[Notifier]:
    return [LogNotifier()]
