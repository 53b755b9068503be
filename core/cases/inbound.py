"""The email channel's use cases: ``pr.case_mail``.

``receive`` takes one inbound email (from ``postroom mail serve`` or ``mail import``)
and keeps it, always, with what became of it:

- a robot's email (auto-reply, bounce, list) is kept and nothing else: no case, no
  answer, so two robots never talk to each other through postroom;
- an email without a usable sender is kept as rejected, for staff;
- the same Message-Id again (a server retrying after a lost answer) is kept as a
  duplicate and changes nothing;
- past ``cases_mail_per_hour`` emails from one sender in an hour, further ones are kept
  without opening cases, and the sender is told so once an hour;
- a reply whose subject carries a case tag, or whose In-Reply-To / References name one
  of a case's emails, is added to that case, but only when its sender is the case's
  contact or a user of the case's customer account; anyone else's email (a guessed or
  forged tag) opens a new case of its own, and learns nothing of the other;
- anything else opens a case (the sender matched to a user of a customer account,
  else an unknown contact that staff can link) and is acknowledged by an email that
  carries the case number and threads with the sender's message.

Emails that arrive together (``postroom mail serve``'s threads) are kept in one
transaction (``group_commit.GroupCommit``), each answered once that transaction
committed; when it fails, each of its emails is taken again alone, so only the email
at fault fails (docs/cases-email.md).

Attachments are checked by content (``attachments``), stored by their sha256
(``attachment_files``) and handed to the case; a refused one is named in the case's
message with the reason, and stays in the kept original.

Outgoing email about a case (``reply_email``) carries the case tag in its subject, a
Message-Id postroom remembers for the case, and In-Reply-To / References to the
thread, so the customer's mail program threads it and a reply finds its case.
"""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import attrs
from sqlalchemy.engine import Connection

from postroom.core.cases import mail_messages
from postroom.core.cases.attachments import (
    AttachmentLimits,
    CheckedFile,
    NoVirusScanner,
    check_file,
)
from postroom.core.cases.email_in import (
    InboundEmail,
    UnreadableEmail,
    parse_email,
    without_tags,
)
from postroom.core.cases.group_commit import GroupCommit
from postroom.core.cases.mail_model import (
    COUNTED,
    FLOOD_WINDOW,
    Direction,
    KeptEmail,
    Outcome,
    Received,
    Sender,
    may_write_to,
    over_limit,
    parse_outcome,
    references,
)
from postroom.core.cases.mail_store import MailRepository, MailStore
from postroom.core.cases.model import (
    MAX_BODY,
    MAX_NAME,
    MAX_SUBJECT,
    ActorKind,
    Case,
    Message,
    MessageKind,
)
from postroom.core.clock import Clock
from postroom.core.errors import NotFound, PostroomError, StorageUnavailable, ValidationError
from postroom.core.outbox import CUSTOMER_PREFIX, new_message_id
from postroom.core.ports import Notification, Translation, VirusScanner

T = TypeVar("T")
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- ports


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


@attrs.frozen
class CaseFacts:
    """What the email channel needs to know of a case (the cases area's ``Case``,
    narrowed): its number (after any merge), account and contact."""

    number: str
    customer_number: str | None
    contact_email: str
    subject: str


@attrs.frozen
class EmailToCase:
    """An inbound email as the cases area takes it."""

    sender: Sender
    subject: str
    body: str
    message_id: str | None
    in_reply_to: str | None
    attachments: tuple[CheckedFile, ...]


class CaseDesk(Protocol):
    """The cases area as the email channel calls it (``pr.cases``, adapted in
    mail_desk.py), on the channel's transaction ``connection``: the case commits or
    rolls back with the email's keeping and its acknowledgement."""

    def find_in(self, connection: Connection, number: str) -> CaseFacts | None:
        """The case ``number`` (followed to the case it was merged into), None if none."""
        ...

    def open_in(self, connection: Connection, email: EmailToCase) -> str:
        """Open a case on the email channel; its number."""
        ...

    def open_all_in(self, connection: Connection, emails: Sequence[EmailToCase]) -> list[str]:
        """``open_in`` of each of ``emails``, in their order, as one piece of work: their
        numbers. Refused as a whole when one is refused."""
        ...

    def add_in(self, connection: Connection, case: CaseFacts, email: EmailToCase) -> str:
        """Add the customer's email to ``case`` (reopening it, or opening a follow-up
        that links it, by the cases area's rules); the number of the case it went to."""
        ...


class Senders(Protocol):
    def find_in(self, connection: Connection, address: str) -> Sender:
        """Who ``address`` is, read on the caller's transaction ``connection``: a user of
        a customer account, else an unknown contact."""
        ...

    def find_all_in(self, connection: Connection, addresses: Sequence[str]) -> dict[str, Sender]:
        """``find_in`` of each of ``addresses``, in one read."""
        ...


class Messages(Protocol):
    """The outbox: messages written in the caller's transaction, delivered after
    (``claimed``: handed over by the caller after its commit, else by the worker)."""

    def add(
        self, connection: Connection, notification: Notification, *, claimed: bool = False
    ) -> Notification: ...

    def add_all(
        self, connection: Connection, notifications: Sequence[tuple[Notification, bool]]
    ) -> None:
        """``add`` each ``(notification, claimed)``, in one statement."""
        ...

    def hand_over(self, messages: Sequence[Notification]) -> None:
        """Deliver these claimed messages (as written, with their ids, by the
        transaction that has just committed) now, or have the background sender do it."""
        ...


class Files(Protocol):
    """Where attachments' content goes (``attachment_files.AttachmentFiles``)."""

    def put(self, content: bytes) -> str:
        """Keep ``content`` once; its sha256."""
        ...


@attrs.frozen
class MailSettings:
    #: the domain of postroom's Message-Ids (``POSTROOM_MAIL_FROM``'s)
    domain: str
    per_hour: int = 20
    max_bytes: int = 25 * 1024 * 1024
    attachments: AttachmentLimits = attrs.field(factory=AttachmentLimits)
    language: str = "en"
    #: the most emails of concurrent callers kept in one transaction
    max_batch: int = 64
    #: how long a batch waits for the emails whose sending has begun (an SMTP client's
    #: MAIL FROM) to join it: their batch's round trips and commit are shared
    gather: float = 0.005


RepositoryFactory = Callable[[Connection], MailRepository]
MAX_PAGE = 1000


def _store(connection: Connection) -> MailRepository:
    return MailStore(connection)


# ---------------------------------------------------------------------- service


class CaseMail:
    """``pr.case_mail``: support's email channel."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        desk: CaseDesk,
        senders: Senders,
        messages: Messages,
        files: Files,
        settings: MailSettings,
        scanner: Callable[[], VirusScanner] = NoVirusScanner,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._desk = desk
        self._senders = senders
        self._messages = messages
        self._files = files
        self.settings = settings
        self._scanner = scanner
        self._repository = repository
        #: emails of concurrent callers (the SMTP server's threads) kept together
        self.batches: GroupCommit[_Arrival, Received] = GroupCommit(
            self._keep_all, max_batch=settings.max_batch, gather=settings.gather
        )

    # ------------------------------------------------------------------ inbound

    def expect(self, sender: object) -> None:
        """An email is on its way from ``sender`` (an SMTP session that sent MAIL FROM,
        which ``receive``s it with ``token=sender``, or ``forget``s it): the batch about
        to start waits briefly for it (``MailSettings.gather``)."""
        self.batches.expect(sender)

    def forget(self, sender: object) -> None:
        """No email is on its way from ``sender`` after all (RSET, a refused email)."""
        self.batches.forget(sender)

    def receive(
        self,
        raw: bytes,
        *,
        envelope_sender: str | None = None,
        source: str = "smtp",
        token: object | None = None,
    ) -> Received:
        """Take one inbound email (its bytes as they came); what became of it, once it
        is committed. Raises ``ValidationError`` (``mail_too_large``) only for an email
        over the size limit, which is then not kept: the SMTP server refuses it, so the
        sender is told.

        The email is read (parsed, its attachments checked and stored by content) in
        the caller's thread; it is then kept, with its case and acknowledgement, in one
        transaction with the emails other threads are taking at the same moment
        (``GroupCommit``). If that transaction fails, each of its emails is taken again
        in a transaction of its own, so that only the email at fault fails."""
        return self.batches.submit(self._read(raw, envelope_sender, source), token)

    def _read(self, raw: bytes, envelope_sender: str | None, source: str) -> _Arrival:
        """What can be known of an email before the store is asked anything."""
        if len(raw) > self.settings.max_bytes:
            raise ValidationError(
                f"the email is {len(raw)} bytes; the limit is {self.settings.max_bytes}",
                code="mail_too_large",
            )
        keep = _Keeper(raw, envelope_sender, source, self._clock)
        try:
            email = parse_email(raw, envelope_sender=envelope_sender)
        except UnreadableEmail as error:
            return _Arrival(keep, settled=(Outcome.REJECTED, error.code))
        keep.sender, keep.subject, keep.message_id = email.sender, email.subject, email.message_id
        if email.automatic is not None:
            return _Arrival(keep, email, settled=(Outcome.AUTOMATIC, email.automatic))
        # checked (a virus scanner may take its time) and stored by content out of the
        # batch: the same file again is stored once, so a retried email adds nothing
        files, refused = self._attachments(email)
        return _Arrival(
            keep,
            email,
            files=files,
            refused=tuple(refused),
            # a Message-Id for every email (one is made for an email without), so that
            # the case's thread and a retry of the same email recognise it
            message_id=email.message_id or self._new_message_id("inbound"),
        )

    def _keep_all(self, arrivals: Sequence[_Arrival]) -> list[Received | BaseException]:
        """Keep ``arrivals`` in one transaction; if it fails, each in one of its own (an
        error in an email's place is that email's alone)."""
        if len(arrivals) > 1:
            try:
                return list(self._keep_together(arrivals))
            except Exception as error:
                log.info(
                    "a batch of %d inbound emails failed (%s): each is taken alone",
                    len(arrivals),
                    type(error).__name__,
                )
        return [self._keep_alone(arrival) for arrival in arrivals]

    def _keep_together(self, arrivals: Sequence[_Arrival]) -> list[Received]:
        def work(session: Session) -> tuple[list[_Taken], dict[str, Notification]]:
            store = _BatchStore(session.connection, self._repository, self._messages)
            # in one read: the Message-Ids every email of the batch names, and its
            # senders' emails of the last hour (the flood limit); who they are in another
            reading = [a.email for a in arrivals if a.email is not None and a.settled is None]
            addresses = [email.sender for email in reading]
            store.screen(
                [
                    message_id
                    for email in reading
                    for message_id in (
                        *([email.message_id] if email.message_id else []),
                        *email.thread_ids,
                    )
                ],
                addresses,
                self._clock.now() - FLOOD_WINDOW,
            )
            if addresses:
                store.people = self._senders.find_all_in(
                    session.connection, list(dict.fromkeys(addresses))
                )
            openings: list[_Opening] = []
            taken = [
                self._take(session.connection, store, arrival, openings) for arrival in arrivals
            ]
            self._open_all(session.connection, store, openings)
            written = store.flush()
            session.commit()
            return [t.done() if isinstance(t, _Opening) else t for t in taken], written

        taken, written = self._db.run(work)
        claimed = [written[message_id] for t in taken for message_id in t.claimed]
        if claimed:  # acknowledgements and notices go after the commit, never before
            try:
                self._messages.hand_over(claimed)
            except Exception:  # committed: taking the emails again would double them
                log.exception(
                    "%d messages not handed over: the worker sends them once their claim runs out",
                    len(claimed),
                )
        return [attrs.evolve(t.received, kept_id=t.keep.id) for t in taken]

    def _keep_alone(self, arrival: _Arrival) -> Received | BaseException:
        try:
            try:
                return self._keep_together([arrival])[0]
            except _Refused as refused:
                # the cases area refused it: kept for staff rather than lost or retried
                return self._keep_only(arrival.keep, Outcome.REJECTED, refused.code)
        except Exception as error:  # its caller answers for it (451: tried again later)
            return error

    def _take(
        self,
        connection: Connection,
        repository: _BatchStore,
        arrival: _Arrival,
        openings: list[_Opening],
    ) -> _Taken | _Opening:
        """Keep one email on the batch's ``connection``, with what it does: a case
        opened or added to, its acknowledgement written (claimed) to the outbox. Its
        ``Received`` gets its kept id once the batch's ``repository`` is flushed.

        An email that opens a case joins ``openings``: the batch's new cases are opened
        together (``_open_all``) before an email that names a case or a Message-Id, and
        at the batch's end, so each email still sees the cases of those before it."""
        keep, email = arrival.keep, arrival.email
        if email is None or arrival.settled is not None:
            outcome, reason = arrival.settled or (Outcome.REJECTED, "mail_unreadable")
            keep.store(repository, outcome, reason, None)
            return _Taken(keep, Received(kept_id=0, outcome=outcome, reason=reason))
        if openings and (
            email.case_tag
            or email.thread_ids
            or any(o.message_id == email.message_id for o in openings)
        ):
            self._open_all(connection, repository, openings)
        now = self._clock.now()
        own = [email.message_id] if email.message_id else []
        cases = repository.cases_of([*own, *email.thread_ids])
        duplicate_of = cases.get(email.message_id) if email.message_id else None
        if duplicate_of is not None:
            keep.store(repository, Outcome.DUPLICATE, "mail_duplicate", duplicate_of)
            return _Taken(
                keep,
                Received(
                    kept_id=0,
                    outcome=Outcome.DUPLICATE,
                    case_number=duplicate_of,
                    reason="mail_duplicate",
                ),
            )
        sender = repository.people.get(email.sender) or self._senders.find_in(
            connection, email.sender
        )
        # the flood window as of the batch's start (the same for all its emails)
        sent, told = repository.sent_since(email.sender, repository.since or now - FLOOD_WINDOW)
        if over_limit(sent, self.settings.per_hour):
            return self._flooded(connection, repository, keep, sender, notify=not told)
        threaded = list(dict.fromkeys(cases[i] for i in email.thread_ids if i in cases))
        target = self._target(connection, email, sender, threaded)
        to_case = EmailToCase(
            sender=attrs.evolve(sender, name=(sender.name or email.sender_name)[:MAX_NAME]),
            subject=_subject(email.subject if target else without_tags(email.subject)),
            body=_body(email, arrival.refused),
            message_id=arrival.message_id,
            in_reply_to=email.in_reply_to[0] if email.in_reply_to else None,
            attachments=arrival.files,
        )
        if target is None:  # opened with the batch's other new cases
            kept = keep.store(repository, Outcome.OPENED, "", None)
            opening = _Opening(keep, kept, email, to_case, arrival.message_id, arrival.refused, now)
            openings.append(opening)
            return opening
        try:
            number = self._desk.add_in(connection, target, to_case)
        except StorageUnavailable:
            raise  # the sending server tries again later
        except PostroomError as error:
            raise _Refused(error.code) from error
        # a reply to a long-resolved case opens a follow-up: a new case, acknowledged
        opened = number != target.number
        outcome = Outcome.OPENED if opened else Outcome.APPENDED
        keep.store(repository, outcome, "", number)
        repository.remember(arrival.message_id, number, Direction.IN, now)
        acknowledgement = (
            self._acknowledge(connection, repository, number, email, to_case) if opened else None
        )
        return _Taken(
            keep,
            Received(
                kept_id=0,
                outcome=outcome,
                case_number=number,
                refused_files=tuple(f"{name}: {reason}" for name, reason in arrival.refused),
            ),
            () if acknowledgement is None else (acknowledgement,),
        )

    def _open_all(
        self, connection: Connection, repository: _BatchStore, openings: list[_Opening]
    ) -> None:
        """Open the cases of the emails waiting in ``openings`` (in one go: the year's
        numbers taken together, the cases and their messages written together), each
        remembered and acknowledged; empties ``openings``."""
        if not openings:
            return
        waiting = list(openings)
        openings.clear()
        try:
            numbers = self._desk.open_all_in(connection, [o.to_case for o in waiting])
        except StorageUnavailable:
            raise  # the sending server tries again later
        except PostroomError as error:  # taken alone, the email at fault is rejected
            raise _Refused(error.code) from error
        for opening, number in zip(waiting, numbers, strict=True):
            opening.kept["case_number"] = number
            repository.remember(opening.message_id, number, Direction.IN, opening.at)
            acknowledgement = self._acknowledge(
                connection, repository, number, opening.email, opening.to_case
            )
            opening.taken = _Taken(
                opening.keep,
                Received(
                    kept_id=0,
                    outcome=Outcome.OPENED,
                    case_number=number,
                    refused_files=tuple(f"{name}: {reason}" for name, reason in opening.refused),
                ),
                (acknowledgement,),
            )

    def _new_message_id(self, kind: str) -> str:
        return f"<{kind}.{secrets.token_hex(12)}@{self.settings.domain}>"

    def _target(
        self, connection: Connection, email: InboundEmail, sender: Sender, threaded: list[str]
    ) -> CaseFacts | None:
        """The case this email continues, if its sender may write to it: the tag first,
        then the cases its In-Reply-To / References name."""
        candidates = ([email.case_tag] if email.case_tag else []) + threaded
        for number in dict.fromkeys(candidates):
            case = self._desk.find_in(connection, number)
            if case is not None and may_write_to(sender, case.contact_email, case.customer_number):
                return case
        return None

    def _attachments(
        self, email: InboundEmail
    ) -> tuple[tuple[CheckedFile, ...], list[tuple[str, str]]]:
        limits = self.settings.attachments
        kept: list[CheckedFile] = []
        refused: list[tuple[str, str]] = []
        scanner = self._scanner() if email.attachments else None
        for index, attachment in enumerate(email.attachments):
            if index >= limits.max_files:
                refused.append((attachment.name, f"more than {limits.max_files} files"))
                continue
            try:
                checked = check_file(attachment.name, attachment.content, limits, scanner)
            except ValidationError as error:
                refused.append((attachment.name, error.message))
                continue
            self._files.put(attachment.content)
            kept.append(checked)
        return tuple(kept), refused

    def _acknowledge(
        self,
        connection: Connection,
        repository: _BatchStore,
        number: str,
        email: InboundEmail,
        to_case: EmailToCase,
    ) -> str:
        sender = to_case.sender
        texts = mail_messages.acknowledgement(number, without_tags(to_case.subject), sender.name)
        thread = [*email.references, *([email.message_id] if email.message_id else [])]
        return self._thread_email(
            connection,
            repository,
            repository,
            number,
            to=email.sender,
            language=sender.language or self.settings.language,
            texts=texts,
            kind="cases.acknowledgement",
            answered=email.message_id,
            previous=thread,
            claimed=True,
        )

    def _flooded(
        self,
        connection: Connection,
        repository: _BatchStore,
        keep: _Keeper,
        sender: Sender,
        *,
        notify: bool,
    ) -> _Taken:
        keep.store(repository, Outcome.RATE_LIMITED, "mail_rate_limited", None, notify)
        told: tuple[str, ...] = ()
        if notify:
            texts = mail_messages.flood_notice(self.settings.per_hour)
            language = _language(sender.language or self.settings.language, texts)
            subject, body = texts[language]
            notice = repository.add(
                connection,
                Notification(
                    recipient=sender.address,
                    subject=subject,
                    body=body,
                    kind="cases.mail_rate_limited",
                    language=language,
                ),
                claimed=True,
            )
            assert notice.id is not None
            told = (notice.id,)
        received = Received(kept_id=0, outcome=Outcome.RATE_LIMITED, reason="mail_rate_limited")
        return _Taken(keep, received, told)

    def _keep_only(
        self, keep: _Keeper, outcome: Outcome, reason: str, case_number: str | None = None
    ) -> Received:
        def work(session: Session) -> None:
            store = _BatchStore(session.connection, self._repository, self._messages)
            keep.store(store, outcome, reason, case_number)
            store.flush()
            session.commit()

        self._db.run(work)
        return Received(kept_id=keep.id, outcome=outcome, case_number=case_number, reason=reason)

    # ----------------------------------------------------------------- outbound

    def reply_email(
        self,
        connection: Connection,
        case_number: str,
        *,
        to: str,
        language: str,
        subject: str,
        body: str,
    ) -> str:
        """Write an agent's reply on case ``case_number`` to ``to`` into the outbox, in
        the caller's transaction: the subject tagged, threaded under the case's emails.
        Its outbox id; the worker delivers it after the commit."""
        repository = self._repository(connection)
        thread = repository.thread(case_number)
        # it answers the customer's latest email (else postroom's latest)
        theirs = [m for m, direction in thread if direction is Direction.IN]
        answered = theirs[-1] if theirs else (thread[-1][0] if thread else None)
        return self._thread_email(
            connection,
            repository,
            self._messages,
            case_number,
            to=to,
            language=language,
            texts=mail_messages.agent_reply(case_number, subject, body),
            kind="cases.reply",
            answered=answered,
            previous=[m for m, _direction in thread if m != answered],
            claimed=False,
        )

    def _thread_email(
        self,
        connection: Connection,
        repository: MailRepository | _BatchStore,
        outbox: Messages | _BatchStore,
        number: str,
        *,
        to: str,
        language: str,
        texts: mail_messages.Texts,
        kind: str,
        answered: str | None,
        previous: Sequence[str],
        claimed: bool,
    ) -> str:
        """Write a threaded email about case ``number`` to the outbox; ``claimed`` when
        this process delivers it right after the commit."""
        language = _language(language, texts)
        subject, body = texts[language]
        message_id = self._new_message_id(f"case.{number}")
        data = {"case_number": number, "message_id": message_id}
        if answered:
            data["in_reply_to"] = answered
            data["references"] = references(previous, answered)
        added = outbox.add(
            connection,
            Notification(
                recipient=to,
                subject=subject,
                body=body,
                kind=kind,
                language=language,
                data=data,
                translations={
                    other: Translation(subject=s, body=b)
                    for other, (s, b) in texts.items()
                    if other != language
                },
            ),
            claimed=claimed,
        )
        repository.remember(message_id, number, Direction.OUT, self._clock.now())
        assert added.id is not None
        return added.id

    def on_case_message(self, session: Session, case: Case, message: Message) -> None:
        """The cases area's message listener: an agent's reply goes to the customer by
        email in the reply's own transaction (the outbox delivers it after the commit),
        whatever channel the case came by (email, phone, portal, chat, letter). It goes
        to the case's contact when the case has their address, in their language;
        else to the people of the case's account (the outbox's address book), each in
        theirs. Its tag and Message-Id bring their answer back into the case."""
        if message.kind is not MessageKind.AGENT or message.author.kind is ActorKind.SYSTEM:
            return  # notes stay inside; an area that acts for a case tells people itself
        if case.contact.email:
            to = case.contact.email
            found = self._senders.find_in(session.connection, to)
            language = found.language or self.settings.language
        elif case.customer_number is not None:
            to, language = f"{CUSTOMER_PREFIX}{case.customer_number}", self.settings.language
        else:
            return  # nobody to write to: the caller left no address and no account
        self.reply_email(
            session.connection,
            case.number,
            to=to,
            language=language,
            subject=without_tags(case.subject),
            body=message.body,
        )

    # ------------------------------------------------------------------- staff

    def kept(self, *, outcome: str | None = None, limit: int = 50) -> builtins.list[KeptEmail]:
        """Inbound email as kept, newest first; only one outcome's when given."""
        wanted = None if outcome is None else parse_outcome(outcome)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit is 1 to {MAX_PAGE}", code="invalid_limit")
        return self._db.run(
            lambda session: self._repository(session.connection).listed(wanted, limit),
            readonly=True,
        )

    def original(self, kept_id: int) -> bytes:
        """The bytes of a kept email, as they came."""
        found = self._db.run(
            lambda session: self._repository(session.connection).raw(kept_id), readonly=True
        )
        if found is None:
            raise NotFound(f"no kept email {kept_id}", code="mail_not_found")
        return found


@attrs.define
class _Arrival:
    """An inbound email read in its caller's thread, waiting for its batch."""

    keep: _Keeper
    email: InboundEmail | None = None
    #: what became of it already (an unreadable email, a robot's): kept, nothing more
    settled: tuple[Outcome, str] | None = None
    files: tuple[CheckedFile, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    #: its Message-Id, or the one made for an email without
    message_id: str = ""


@attrs.frozen
class _Taken:
    """What keeping an email did: its answer (without its kept id until the batch is
    flushed: ``keep`` has it then), and the outbox messages it wrote claimed (handed to
    the sender once the batch committed)."""

    keep: _Keeper
    received: Received
    claimed: tuple[str, ...] = ()


@attrs.define
class _Opening:
    """An email that opens a case, waiting for the batch's new cases to be opened
    together; ``taken`` once they are."""

    keep: _Keeper
    #: its values as kept: the case's number goes in once it has one
    kept: dict[str, Any]
    email: InboundEmail
    to_case: EmailToCase
    message_id: str
    refused: tuple[tuple[str, str], ...]
    at: datetime
    taken: _Taken | None = None

    def done(self) -> _Taken:
        assert self.taken is not None, "the batch's new cases are opened before its end"
        return self.taken


class _Refused(Exception):
    """The cases area refused an email (its error's ``code``): taken alone, the email
    is kept as rejected, for staff."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@attrs.define
class _Keeper:
    """One inbound email on its way to the store: what is known of it so far."""

    raw: bytes
    envelope_sender: str | None
    source: str
    clock: Clock
    sender: str = ""
    subject: str = ""
    message_id: str | None = None
    id: int = 0

    def store(
        self,
        repository: _BatchStore,
        outcome: Outcome,
        reason: str,
        case_number: str | None,
        notified: bool = False,
    ) -> dict[str, Any]:
        """Have the email kept with its outcome; ``id`` is its once ``repository`` is
        flushed. The values it is kept with (they can still change until then)."""
        return repository.keep(
            self,
            received_at=self.clock.now(),
            source=self.source,
            envelope_sender=self.envelope_sender,
            sender=self.sender,
            subject=self.subject,
            message_id=self.message_id,
            outcome=outcome,
            reason=reason,
            case_number=case_number,
            notified=notified,
            raw=self.raw,
        )


class _BatchStore:
    """The channel's repository and outbox for one batch of emails. What the batch
    writes and nothing but the batch reads back (the kept emails, the Message-Ids
    remembered, the acknowledgements and notices written to the outbox) waits for
    ``flush``, at the batch's end, and goes together (one round trip on PostgreSQL);
    the Message-Ids the batch's emails name, and what their senders sent in the flood
    window, are read in one statement (``screen``). The batch's own reads see its
    waiting writes, so it decides as if each write had gone at once: on PostgreSQL
    every statement is a round trip (issue 14)."""

    def __init__(
        self, connection: Connection, repository: RepositoryFactory, outbox: Messages
    ) -> None:
        self._connection = connection
        self._repository = repository(connection)
        self._outbox = outbox
        self._writing: list[tuple[Notification, bool]] = []
        self._keeping: list[tuple[_Keeper, dict[str, Any]]] = []
        self._remembering: dict[str, tuple[str, str, Direction, datetime]] = {}
        #: the case of each Message-Id looked up (None: none), before the batch's writes
        self._known: dict[str, str | None] = {}
        #: the flood window's start for the senders looked up, and what each sent since
        self.since: datetime | None = None
        self._sent: dict[str, tuple[int, bool]] = {}
        #: who the batch's senders are (read once a batch)
        self.people: dict[str, Sender] = {}

    def screen(self, message_ids: Sequence[str], senders: Sequence[str], since: datetime) -> None:
        """The batch's first read: the cases of ``message_ids``, and what each of
        ``senders`` sent since ``since``."""
        wanted = [i for i in dict.fromkeys(message_ids) if i not in self._known]
        people = list(dict.fromkeys(senders))
        found, sent = self._repository.screening(wanted, people, since)
        self._known.update({i: found.get(i) for i in wanted})
        if people:
            self.since = since
            self._sent = {sender: sent.get(sender, (0, False)) for sender in people}

    def look_up(self, message_ids: Sequence[str]) -> None:
        wanted = [i for i in dict.fromkeys(message_ids) if i not in self._known]
        if wanted:
            found = self._repository.cases_of(wanted)
            self._known.update({i: found.get(i) for i in wanted})

    def cases_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        self.look_up([i for i in message_ids if i not in self._remembering])
        cases: dict[str, str] = {}
        for message_id in message_ids:
            waiting = self._remembering.get(message_id)
            number = waiting[1] if waiting is not None else self._known.get(message_id)
            if number is not None:
                cases[message_id] = number
        return cases

    def remember(
        self, message_id: str, case_number: str, direction: Direction, at: datetime
    ) -> bool:
        if message_id in self._remembering or self._known.get(message_id) is not None:
            return False
        self._remembering[message_id] = (message_id, case_number, direction, at)
        return True

    def add(
        self, connection: Connection, notification: Notification, *, claimed: bool = False
    ) -> Notification:
        """An outbox message, written at ``flush`` (on the batch's connection: the
        same as ``connection``): its id is known at once."""
        added = attrs.evolve(notification, id=notification.id or new_message_id())
        self._writing.append((added, claimed))
        return added

    def keep(self, keeper: _Keeper, **values: Any) -> dict[str, Any]:
        self._keeping.append((keeper, values))
        return values

    def sent_since(self, sender: str, since: datetime) -> tuple[int, bool]:
        if since == self.since and sender in self._sent:
            sent, told = self._sent[sender]  # the batch's writes are added below
        else:
            sent, told = self._repository.sent_since(sender, since)
        for _keeper, kept in self._keeping:
            # compared as the store compares (it keeps an address cut to its column)
            if kept["sender"][:320] == sender and kept["received_at"] > since:
                sent += kept["outcome"] in COUNTED
                told = told or kept["notified"]
        return sent, told

    def flush(self) -> dict[str, Notification]:
        """Write what waits, together (one round trip on PostgreSQL: the emails kept
        go last, as theirs is the only write whose answer is needed); each keeper learns
        its email's id. The outbox messages written, by id."""
        written = {}
        with self._repository.writing_together():
            if self._remembering:
                self._repository.remember_all(list(self._remembering.values()))
                self._known.update({i: r[1] for i, r in self._remembering.items()})
                self._remembering.clear()
            if self._writing:
                self._outbox.add_all(self._connection, self._writing)
                written = {str(n.id): n for n, _claimed in self._writing}
                self._writing = []
            if self._keeping:
                ids = self._repository.keep_all([values for _keeper, values in self._keeping])
                for (keeper, _values), kept_id in zip(self._keeping, ids, strict=True):
                    keeper.id = kept_id
                self._keeping.clear()
        return written


def _language(wanted: str, texts: mail_messages.Texts) -> str:
    return wanted if wanted in texts else "en"


def _subject(subject: str) -> str:
    if len(subject) > MAX_SUBJECT:
        return subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject or "(no subject)"


def _body(email: InboundEmail, refused: Sequence[tuple[str, str]]) -> str:
    """The case's message: the email's text (cut to what a message holds: the whole
    email stays kept), and the attachments that were refused, with why."""
    notes = ""
    if refused:
        notes = "\n\n[attachments not kept]\n" + "\n".join(
            f"- {name}: {reason}" for name, reason in refused
        )
    text = email.text or "(no text)"
    room = MAX_BODY - len(notes)
    if len(text) > room:
        cut = "\n\n[cut here: the whole email is kept for staff]"
        text = text[: max(0, room - len(cut))].rstrip() + cut
    return (text + notes)[:MAX_BODY]
