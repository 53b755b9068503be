"""Canned replies: the answers agents send again and again, written once in English and
in French, with placeholders filled from the case they answer (``pr.canned_replies``).

A placeholder is a name in braces, ``{customer_name}``; ``PLACEHOLDERS`` lists the
names and what each becomes. A reply is checked when it is saved (an unknown name or a
stray brace is refused), so filling it in can never fail in front of an agent.
Supervisors and staff admins write them; every agent uses them.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

import attrs
from sqlalchemy.engine import Connection

from postroom.core.clock import Clock
from postroom.core.errors import NotFound, ValidationError
from postroom.core.text import check_no_control

T = TypeVar("T")

MAX_TITLE = 120
MAX_BODY = 5_000
LANGUAGES = ("en", "fr")
#: The names a reply may use, each filled from the case it answers.
PLACEHOLDERS = (
    "customer_name",  # the contact's name, else the customer account's name
    "case_number",  # C-2026-000123
    "subject",  # the case's subject
    "account_number",  # the customer account's number
    "agent_name",  # the agent who sends the reply
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@attrs.frozen
class CannedReply:
    id: int
    title: str
    #: the department it is meant for (a department value), or None: every department
    department: str | None
    body_en: str
    body_fr: str
    updated_at: datetime

    def body(self, language: str) -> str:
        """The text in ``language`` (French, or English for any other)."""
        return self.body_fr if language == "fr" else self.body_en


# ------------------------------------------------------------------ rules


def check_placeholders(text: str, field: str) -> str:
    """``text`` unchanged if every brace belongs to a known placeholder; else
    ``unknown_placeholder`` naming the first stranger."""
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            raise ValidationError(
                f"{{{name}}} is no placeholder; use {', '.join(PLACEHOLDERS)}",
                code="unknown_placeholder",
                field=field,
            )
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        raise ValidationError(
            "a brace opens a placeholder such as {case_number}: close it or remove it",
            code="unknown_placeholder",
            field=field,
        )
    return text


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each placeholder replaced by its value ("" when not given)."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), template)


def parse_title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("give the reply a title", code="missing_title", field="title")
    clean = value.strip()
    if len(clean) > MAX_TITLE:
        raise ValidationError(
            f"a title has at most {MAX_TITLE} characters", code="title_too_long", field="title"
        )
    return check_no_control(clean, "title")


def parse_reply_body(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"give the {field}", code=f"missing_{field}", field=field)
    clean = value.strip()
    if len(clean) > MAX_BODY:
        raise ValidationError(
            f"a reply has at most {MAX_BODY} characters", code=f"{field}_too_long", field=field
        )
    return check_placeholders(check_no_control(clean, field, multiline=True), field)


# ------------------------------------------------------------- repository


class CannedRepository(Protocol):
    def add(self, reply: CannedReply) -> CannedReply:
        """Store ``reply`` (its id is given by the store)."""
        ...

    def get(self, reply_id: int) -> CannedReply | None: ...

    def replace(self, reply: CannedReply) -> bool:
        """Overwrite the reply of that id; False if there is none."""
        ...

    def delete(self, reply_id: int) -> bool: ...

    def listed(self, department: str | None) -> builtins.list[CannedReply]:
        """By title; with a department: those for it and those for every department."""
        ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


RepositoryFactory = Callable[[Session], CannedRepository]


def _store(session: Session) -> CannedRepository:
    from postroom.core.cases.canned_store import CannedStore  # it imports this module

    return CannedStore(session.connection)


# -------------------------------------------------------------- use cases


class CannedReplies:
    """``pr.canned_replies``: the library of canned replies."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        parse_department: Callable[[object], str],
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._repository = repository
        self._parse_department = parse_department

    def _department(self, value: object) -> str | None:
        if value is None or value == "":
            return None
        return self._parse_department(value)

    def list(self, department: str | None = None) -> builtins.list[CannedReply]:
        """Every reply, or those an agent of ``department`` may use."""
        clean = self._department(department)
        return self._db.run(lambda uow: self._repository(uow).listed(clean), readonly=True)

    def get(self, reply_id: int) -> CannedReply:
        found = self._db.run(lambda uow: self._repository(uow).get(reply_id), readonly=True)
        if found is None:
            raise NotFound(f"no canned reply {reply_id}", code="canned_reply_not_found")
        return found

    def add(
        self, title: str, body_en: str, body_fr: str, *, department: str | None = None
    ) -> CannedReply:
        reply = CannedReply(
            id=0,
            title=parse_title(title),
            department=self._department(department),
            body_en=parse_reply_body(body_en, "body_en"),
            body_fr=parse_reply_body(body_fr, "body_fr"),
            updated_at=self._clock.now(),
        )

        def work(uow: Session) -> CannedReply:
            added = self._repository(uow).add(reply)
            uow.commit()
            return added

        return self._db.run(work)

    def update(
        self,
        reply_id: int,
        title: str,
        body_en: str,
        body_fr: str,
        *,
        department: str | None = None,
    ) -> CannedReply:
        reply = CannedReply(
            id=reply_id,
            title=parse_title(title),
            department=self._department(department),
            body_en=parse_reply_body(body_en, "body_en"),
            body_fr=parse_reply_body(body_fr, "body_fr"),
            updated_at=self._clock.now(),
        )

        def work(uow: Session) -> CannedReply:
            if not self._repository(uow).replace(reply):
                raise NotFound(f"no canned reply {reply_id}", code="canned_reply_not_found")
            uow.commit()
            return reply

        return self._db.run(work)

    def delete(self, reply_id: int) -> None:
        def work(uow: Session) -> None:
            if not self._repository(uow).delete(reply_id):
                raise NotFound(f"no canned reply {reply_id}", code="canned_reply_not_found")
            uow.commit()

        self._db.run(work)

    def render(self, reply_id: int, language: str, values: Mapping[str, str]) -> str:
        """The reply in ``language`` with its placeholders filled from ``values``."""
        return fill(self.get(reply_id).body(language), values)
