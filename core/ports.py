"""The ports: Protocols that plugins and drivers implement for the core.

Each area refines the value types it exchanges through these ports; the core
only ever talks to a carrier, payment source, notifier, meter or scale through them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import attrs

from postroom.core.meters.device import LoggedPiece, MeterRegisters, PrintedPiece, PrintJob


@attrs.frozen
class Attachment:
    """A file an email carries (an invoice's PDF): its name, media type and bytes."""

    filename: str
    content_type: str
    content: bytes = attrs.field(repr=False)


@attrs.frozen
class Translation:
    """A notification's text in another language: what an addressee who reads that
    language gets instead of the message's own text."""

    subject: str
    body: str
    html: str | None = None


@attrs.frozen
class Notification:
    """A message for a person, independent of how it travels.

    ``recipient`` is an email address (used as is), ``customer:<number>`` (every
    addressee the ``AddressBook`` knows for that customer account, resolved at delivery
    time) or a name a notifier knows (``data-center``). ``body`` is plain text;
    ``html`` its HTML rendering when the sender has one (an email notifier otherwise
    makes one from the text). ``language`` is the language of the text (``en``,
    ``fr``...); ``translations`` maps other languages to the same message in them, so
    each addressee of a customer gets the message in their own language when it is there.

    ``id`` is the message's stable id in postroom's outbox: delivery is at least once,
    so a notifier that must not repeat itself dedupes on it (None for a message that
    was never stored).
    """

    recipient: str
    subject: str
    body: str
    channel: str = "email"
    kind: str = "general"
    data: Mapping[str, str] = attrs.field(factory=dict)
    id: str | None = None
    language: str = "en"
    html: str | None = None
    translations: Mapping[str, Translation] = attrs.field(factory=dict)
    #: files an email carries (other channels leave them out)
    attachments: tuple[Attachment, ...] = ()

    def in_language(self, language: str) -> Notification:
        """This message as read in ``language``: its translation into it when it has
        one, else itself."""
        translation = self.translations.get(language)
        if language == self.language or translation is None:
            return self
        return attrs.evolve(
            self,
            subject=translation.subject,
            body=translation.body,
            html=translation.html,
            language=language,
        )


@attrs.frozen
class Addressee:
    """A person who receives a customer account's email, in their language."""

    email: str
    name: str
    language: str = "en"


@runtime_checkable
class AddressBook(Protocol):
    """Who reads a customer account's email: the people the outbox sends a
    ``customer:<number>`` message to (the identity area knows them)."""

    def addresses(self, customer_number: str) -> Sequence[Addressee]:
        """The addressees of the customer account ``customer_number`` (none when it has
        nobody with an email address, or is unknown)."""
        ...


@runtime_checkable
class Notifier(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def channels(self) -> Sequence[str]: ...

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` or raise; postroom retries failed deliveries with
        backoff, so the same ``notification.id`` may come again (dedupe on it)."""
        ...


@runtime_checkable
class BatchNotifier(Protocol):
    """A notifier that can send many messages over one connection (the email notifier:
    one SMTP session). Optional: the outbox's background sender wraps each batch of
    ``send`` calls in ``batch()`` when the notifier has it."""

    def batch(self) -> AbstractContextManager[None]:
        """A block whose ``send`` calls share one connection, closed at its end."""
        ...


class PaymentStatus(StrEnum):
    """Where a payment stands. Bank debits are asynchronous: ``pending`` once submitted,
    ``settled`` when the bank confirms, ``returned`` when the debtor's bank sends the
    money back later (SEPA R-transaction, ACH return); a card or credit-line charge
    settles at once or fails."""

    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"
    RETURNED = "returned"
    REFUNDED = "refunded"


@attrs.frozen
class PaymentResult:
    """What a payment source answers to ``authorize``, ``charge`` or ``refund``.

    ``status`` is ``pending`` (submitted, may still fail or be returned), ``settled`` or
    ``failed``; a failure carries the source's stable ``failure_code``
    (``card_declined``, ``insufficient_funds``, ``expired_card``...) and a message
    for the customer. ``reference`` is the source's own id of the operation: the same
    idempotency key always answers the same reference.
    """

    reference: str
    status: PaymentStatus
    failure_code: str | None = None
    message: str = ""


@runtime_checkable
class PaymentSource(Protocol):
    """A way money reaches a customer's postage account: a bank debit, a card gateway,
    the postage line of credit.

    Attributes: ``code`` (``sepa-debit``, ``ach-debit``...), ``name``, ``kind``
    (``bank_debit``, ``card`` or ``credit_line``: a credit-line draw is booked against
    the customer's credit-line ledger account instead of payment clearing),
    ``currencies`` (ISO 4217 codes it collects; empty means any), ``self_service``
    (whether customers may add such an instrument themselves; a credit line is granted
    by the data center), ``return_codes`` (the reason codes a returned debit may
    carry, code -> description; empty when payments cannot be returned) and
    ``settlement_days`` (days after submission when the worker takes a ``pending``
    payment as settled unless the bank reported it failed or returned first; a settled
    payment can still be returned later; 0 for sources that answer at once) and
    ``sandbox`` (True when no real money moves: a test gateway that approves its test
    numbers; with ``POSTROOM_ENV=production`` postroom neither offers nor uses a
    sandbox source unless ``POSTROOM_ALLOW_SANDBOX_PAYMENTS`` is set).

    Instruments travel as flat ``str -> str`` mappings. ``validate_instrument`` receives
    what the customer typed plus ``currency`` (the customer account's) and returns what
    postroom stores: never a full card number, a gateway token instead. Every other
    call receives that stored mapping. Every money call carries an idempotency key: the
    same key again must never move money twice and answers the first result.
    """

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def currencies(self) -> Sequence[str]: ...
    @property
    def self_service(self) -> bool: ...
    @property
    def return_codes(self) -> Mapping[str, str]: ...
    @property
    def settlement_days(self) -> int: ...
    @property
    def sandbox(self) -> bool: ...

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        """Check and normalise an instrument (IBAN and mandate, routing number, card...).

        ``now`` is postroom's clock (card expiry, mandate dates). Raise ValidationError
        with one stable code per failure (``invalid_iban``, ``bic_mismatch``,
        ``invalid_routing_number``, ``luhn_check_failed``, ``card_expired``...).
        """
        ...

    def describe(self, instrument: Mapping[str, str]) -> str:
        """A short label of a stored instrument for people (``Visa ...4242``)."""
        ...

    def authorize(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        """Reserve ``amount_mills`` without collecting it."""
        ...

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        """Collect ``amount_mills``: ``settled`` or ``pending`` (a submitted debit), or
        ``failed`` with a code. Raise only when the source cannot be reached."""
        ...

    def refund(
        self,
        instrument: Mapping[str, str],
        payment_reference: str,
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        """Give back ``amount_mills`` of the earlier charge ``payment_reference`` (the
        reference its ``charge`` answered) to ``instrument``: a card refund against the
        charge, a credit transfer to the debited bank account. ``settled``, ``pending``
        (a submitted transfer) or ``failed`` with a code (``charge_not_found``...);
        postroom never asks back more than the charge less what it refunded before."""
        ...


@runtime_checkable
class MeterDevice(Protocol):
    """An open connection to one postage meter (its postal security device).

    Money replies (registers, refill, print) are signed by the device; a driver checks
    the signature before returning them. Refusals raise PostroomError subclasses with
    the device's stable code (``insufficient_funds``, ``meter_locked``,
    ``inspection_overdue``, ``rate_table_unknown``, ``token_forged``...).
    """

    def identify(self) -> Mapping[str, str]:
        """Model, serial number and firmware version of the device."""
        ...

    def public_key_pem(self) -> str:
        """The device's ECDSA P-256 public key (PEM) that verifies its indicia."""
        ...

    def registers(self) -> MeterRegisters:
        """The signed registers: descending, ascending, piece count, control sum."""
        ...

    def refill(self, token: bytes, *, request_id: str | None = None) -> MeterRegisters:
        """Apply a reset token from the vault (at most once); the registers after."""
        ...

    def print_postage(self, job: PrintJob, *, request_id: str | None = None) -> PrintedPiece:
        """Debit the postage and return the signed indicium (executed at most once per id)."""
        ...

    def install_rates(self, table: bytes) -> str:
        """Send a rate table; the device checks and puts in force its SHA-256 (returned)."""
        ...

    def diagnostics(self) -> Mapping[str, Any]: ...

    def piece_log(self, since: int = 0) -> Sequence[LoggedPiece]:
        """The pieces printed after piece number ``since``, oldest first."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class MeterDriver(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def models(self) -> Sequence[str]: ...

    def open(self, url: str) -> MeterDevice:
        """Connect to the meter at ``url`` (device path, pty, socket://, loop://)."""
        ...


@runtime_checkable
class Scale(Protocol):
    """A scale driver for one serial protocol (``nci``, ``sics``...)."""

    @property
    def protocol(self) -> str: ...

    def read(self, url: str, *, stable: bool = True) -> Mapping[str, Any]:
        """One weight reading from the scale at ``url``.

        Returns ``{"weight": {"value": "<decimal>", "unit": "oz"|"lb"|"g"|"kg"},
        "stable": bool}``. With ``stable`` true, waits for the scale to settle.
        Raises DeviceError with codes such as ``scale_in_motion``, ``scale_overload``,
        ``scale_underload``, ``scale_timeout``.
        """
        ...

    def zero(self, url: str) -> None:
        """Zero the scale at ``url``; raises DeviceError when it cannot."""
        ...


@runtime_checkable
class RateTableSource(Protocol):
    """One rate file a plugin ships (format in docs/rates.md): ``name`` identifies it in
    reports and errors (``package:rates/usps-2025-07-13.toml``), ``format`` is ``"toml"``."""

    @property
    def name(self) -> str: ...
    @property
    def format(self) -> str: ...

    def read_text(self) -> str:
        """The text of the rate table file."""
        ...


@runtime_checkable
class VirusScanner(Protocol):
    """Scans a file before a case keeps it (ClamAV through a plugin; the default scans
    nothing). ``scan`` answers the threat's name when the content is infected, None
    when it is clean; it raises when it cannot tell (the file is then not kept)."""

    name: str

    def scan(self, content: bytes) -> str | None: ...


class ShipmentStatus(StrEnum):
    """The normalized status of a shipment, whatever its carrier (each carrier plugin
    maps its own event codes to these; docs/tracking.md has every mapping)."""

    PENDING = "pending"
    INFO_RECEIVED = "info_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    DELIVERED = "delivered"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    LOST = "lost"
    EXPIRED = "expired"


@attrs.frozen
class ScanEvent:
    """One scan of a parcel as its carrier reports it. ``occurred_at`` is
    timezone-aware, in the offset of the place of the scan when the carrier gives it;
    ``code`` is the carrier's own event code and ``status`` the normalized status it
    maps to."""

    occurred_at: datetime
    code: str
    description: str
    location: str
    status: ShipmentStatus

    def __attrs_post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("a scan event's time needs its time zone")


@attrs.frozen
class DeliveryProof:
    """The carrier's proof of delivery: when, who signed, and the carrier's reference
    of the signature image or photo (empty when it has none)."""

    delivered_at: datetime
    signed_by: str
    reference: str = ""


@attrs.frozen
class ParcelTracking:
    """What a carrier knows of one number: its scans (any order) and, once delivered,
    the proof of delivery when the carrier supplies one."""

    number: str
    events: tuple[ScanEvent, ...]
    proof: DeliveryProof | None = None
    service: str = ""


@attrs.frozen
class TrackingFailure:
    """Why a carrier could not answer for one number: a stable ``code``
    (``not_found``, ``carrier_unavailable``, ``carrier_timeout``, ``carrier_rate_limited``,
    ``carrier_bad_answer``, ``not_configured``...) and a message for people."""

    number: str
    code: str
    message: str


@runtime_checkable
class Carrier(Protocol):
    """A carrier's tracking service (USPS, UPS, Canada Post, La Poste, the sandbox).

    ``code`` names it in shipments (``usps``); ``name`` is for people; ``number_carriers``
    lists the number families (``tracking.numbers``: ``usps``, ``ups``, ``fedex``,
    ``dhl``, ``upu``) whose numbers it tracks, or ``upu:CC`` for the UPU S10 numbers of
    one country (``upu:FR``), so postroom can pick a carrier for a number; ``sandbox``
    is True for a carrier that invents its journeys.
    """

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def number_carriers(self) -> Sequence[str]: ...
    @property
    def sandbox(self) -> bool: ...

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        """What the carrier knows of each of ``numbers`` (normalised), one entry per
        number: its tracking or why it failed. One number's failure never stops the
        others; raise only for a programming error. ``now`` is postroom's clock."""
        ...
