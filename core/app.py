"""The composition root: ``Postroom.open`` wires settings, clock, plugins, storage
and background jobs, and exposes each area's services. Frontends and tests start here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

import attrs
import pluggy
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from postroom.core import __version__, migrate
from postroom.core.accounts.service import AccountsService
from postroom.core.billing.model import LineItem, LineText, Party, price_lines
from postroom.core.billing.service import BillingService
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.taxes import TaxTable
from postroom.core.cases.attachment_files import FOLDER as ATTACHMENTS_FOLDER
from postroom.core.cases.attachment_files import AttachmentFiles
from postroom.core.cases.attachments import (
    AttachmentLimits,
    UnavailableScanner,
    first_scanner,
)
from postroom.core.cases.canned import CannedReplies
from postroom.core.cases.case_files import CaseFiles
from postroom.core.cases.claims import Shipment as CaseShipment
from postroom.core.cases.inbound import CaseMail, MailSettings
from postroom.core.cases.mail_desk import ServiceDesk
from postroom.core.cases.mail_model import Sender
from postroom.core.cases.model import (
    Actor,
    InstallationMove,
    Link,
    LinkKind,
    StaffMember,
    parse_department,
    sla_targets,
)
from postroom.core.cases.service import CasesService
from postroom.core.clock import Clock, SystemClock
from postroom.core.config import Config
from postroom.core.contracts.model import AddressChange, AddressRequest, AddressRequestStatus
from postroom.core.contracts.service import ContractsService, EquipmentService
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    PostroomError,
    StorageUnavailable,
    ValidationError,
)
from postroom.core.funding.model import Instrument
from postroom.core.funding.service import FundingService
from postroom.core.identity.mail import Mailer
from postroom.core.identity.model import SessionRules, User
from postroom.core.identity.service import IdentityService
from postroom.core.instance import InstanceSettings
from postroom.core.jobs import JobRegistry, Jobs, make_huey
from postroom.core.kiosks.meter_piece_service import MeterPieceLog
from postroom.core.kiosks.service import KiosksService
from postroom.core.knowledge.assistant import Assistant, MeterInspection
from postroom.core.knowledge.chat import ChatService
from postroom.core.knowledge.service import KnowledgeService
from postroom.core.ledger.model import ChainKey
from postroom.core.ledger.service import LedgerService
from postroom.core.mail import MAILDIR_NAME, LocalMailbox, sender_address
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import InspectionRules, MeterStatus
from postroom.core.meters.printing import Printer
from postroom.core.meters.service import MetersService
from postroom.core.meters.token_states import MeterTokens
from postroom.core.meters.views import MeterViews
from postroom.core.money import Money
from postroom.core.outbox import NoAddressBook, Outbox
from postroom.core.payouts.service import PayoutService
from postroom.core.plugins import PluginManager, make_plugin_manager
from postroom.core.ports import AddressBook, Notification, ShipmentStatus, VirusScanner
from postroom.core.rates.service import RatesService
from postroom.core.refunds.service import RefundService, policy_from_settings
from postroom.core.shop.ports import Charged, ChargeLine, PurchasePayment, Session, TaxRule
from postroom.core.shop.service import ShopService
from postroom.core.tracking.carriers import Carriers
from postroom.core.tracking.model import Shipment, SupportRequestKind, TraceRequest
from postroom.core.tracking.service import TrackingService
from postroom.core.tracking.webhook_http import HttpWebhooks

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "worker_heartbeat"
#: A worker that has not beaten for this long is reported as down.
HEARTBEAT_STALE = timedelta(minutes=3)


class Postroom:
    """One open postroom installation."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        plugins: PluginManager,
        db: Database,
        job_registry: JobRegistry,
        *,
        immediate_jobs: bool = False,
        ledger_key: ChainKey | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.plugins = plugins
        self.db = db
        self.accounts = AccountsService(db, clock, badge_secret=config.resolved_secret_key)
        # the embedded default's sent email (no SMTP host): `postroom mail outbox`
        self.mailbox = LocalMailbox(config.data_dir / MAILDIR_NAME)
        # Who reads a customer account's email (``customer:<number>`` messages): the
        # identity area's owners and admins; it sends through the outbox itself, so the
        # address book is set once it exists (below).
        self.outbox = Outbox(db, clock, plugins, config, address_book=NoAddressBook())
        self.ledger = LedgerService(
            db,
            clock,
            self.accounts,
            ledger_key=ledger_key or ChainKey.from_text(config.resolved_ledger_key()),
        )
        self.rates = RatesService(db, plugins, clock)
        self.funding = FundingService.on_database(
            db,
            clock,
            plugins,
            self.ledger,
            self.accounts,
            self.outbox,
            sandbox_allowed=config.sandbox_payments_allowed,
        )
        self.meters = MetersService(
            db,
            clock,
            self.accounts,
            self.ledger,
            MeterFunds(
                db,
                clock,
                self.ledger,
                self.accounts,
                # the meters' RefillLock port: funding knows of returned payments
                refills_locked=self.funding.refills_locked_in,
                secret=config.resolved_secret_key,
            ),
            self.rates,
            InspectionRules(
                config.meter_inspection_due_days,
                config.meter_inspection_lock_days,
                config.meter_inspection_warning_days,
            ),
            virtual_key=config.resolved_virtual_meter_key,
            outbox=self.outbox,
            secret=config.resolved_secret_key,
        )
        self.refunds = RefundService(
            db,
            clock,
            self.ledger,
            self.accounts,
            self.meters,
            policy_from_settings(
                config.refund_window_days,
                config.refund_fee_percent,
                config.refund_fee_threshold,
                config.refund_fixed_fee,
            ),
        )
        self.payouts = PayoutService.on_database(
            db, clock, self.ledger, self.accounts, self.funding, self.outbox
        )
        self.meter_tokens = MeterTokens(self.meters.funds, clock)
        self.meter_views = MeterViews(db, self.meters, self.ledger)
        self.printer = Printer(self.rates, clock, self.meters.rate_package)
        self.jobs = Jobs(
            job_registry,
            make_huey(config.redis_url, config.data_dir, immediate=immediate_jobs),
            self,
        )
        self.contracts = ContractsService(
            db, clock, meters=self.meters, accounts=self.accounts, messages=self.outbox
        )
        self.equipment = EquipmentService(
            db,
            clock,
            meters=self.meters,
            accounts=self.accounts,
            messages=self.outbox,
        )
        self.identity = IdentityService.on_database(
            db,
            self.outbox,
            self.accounts.open_in,
            clock,
            Mailer(config.public_url),
            _MeterRegistry(self.meters),
            self.accounts,
            SessionRules(
                idle=timedelta(minutes=config.session_idle_minutes),
                absolute=timedelta(hours=config.session_absolute_hours),
            ),
        )
        self.address_book = self.identity
        self.kiosk_pieces = MeterPieceLog(db, clock, meters=self.meters, refunds=self.refunds)
        self.knowledge = KnowledgeService(db, clock, reader=KnowledgeService.search_reader(db))
        self.assistant = Assistant(self.knowledge, _CustomerFacts(self.ledger, self.meters))
        self.billing = BillingService(
            db,
            clock,
            _billing_settings(config),
            accounts=self.accounts,
            messages=self.outbox,
            payments=self.funding,
            contracts=self.contracts,
            meters=MeterInstallationNumbers(self.meters),
            statements=self.funding,
            bank_accounts=_BillingBankAccounts(self.funding),
        )
        # a settled, failed or returned invoice payment reaches its invoice
        self.funding.add_payment_listener(self.billing.payment_changed)
        self.shop = ShopService(
            db,
            clock,
            accounts=self.accounts,
            meters=_ShopMeters(self.meters),
            purchases=_ShopPurchases(self.funding),
            charges=_ShopCharges(self.billing, self.accounts),
            assets=_ShopMeterAssets(self.meters),
        )
        self.ledger.add_debit_listener(self._after_debit)
        self.tracking = TrackingService(
            db,
            clock,
            Carriers.from_plugins(plugins, config, sandbox_allowed=not config.production),
            accounts=self.accounts,
            messages=self.outbox,
            status_changed=_ShipmentStatusChanges(plugins, self.shop),
            webhooks=HttpWebhooks(
                allow_private=config.webhooks_allow_private, timeout=config.carrier_timeout
            ),
            production=config.production,
            statuses=TrackingService.status_reader(db),
        )
        # a shop order shipped with a tracking number follows its parcel
        self.shop.use_shipments(_ShopShipments(self.tracking))
        self.cases = CasesService(
            db,
            clock,
            accounts=self.accounts,
            staff=_StaffDirectory(self.identity),
            mail=_StaffMail(self.outbox),
            refunds=_ClaimRefunds(self.funding),
            # the meters, invoices, orders and shipments a case may link
            links=_CaseLinkTargets(self.meters, self.billing, self.shop, self.tracking),
            targets=sla_targets(config.case_first_response_hours, config.case_resolution_hours),
            reopen_days=config.case_reopen_days,
            warning_minutes=config.case_warning_minutes,
            # what tracking knows of a shipment a trace or claim names
            shipments=_TrackedShipments(self.tracking),
        )
        self.cases.add_escalation_listener(lambda case: plugins.hook.case_escalated(case=case))
        self.kiosks = KiosksService(
            db,
            clock,
            accounts=self.accounts,
            prices=self.rates,
            operators=self.accounts,
            facts=_KioskFacts(self.meters, self.ledger, self.funding, self.cases),
        )
        self.chat = ChatService(
            db, clock, self.assistant, _ChatCases(self.cases), _ChatCases(self.cases)
        )
        self.canned_replies = CannedReplies(db, clock, lambda value: parse_department(value).value)
        # the contracts area's InstallationAddressRequests: an address change is a case
        address_cases = _AddressChangesAsCases(self.cases, self.equipment.kept_requests)
        self.equipment.use_address_requests(address_cases, kept_too=True)
        self.equipment.add_resolved_listener(address_cases.resolved)
        # support's email channel (`postroom mail serve` / `mail import`): inbound email
        # opens and continues cases; agents' replies on email cases go out by email
        self.case_mail = CaseMail(
            db,
            clock,
            desk=ServiceDesk(self.cases),
            senders=_MailSenders(self.identity),
            messages=self.outbox,
            files=AttachmentFiles(config.data_dir / ATTACHMENTS_FOLDER),
            settings=MailSettings(
                domain=sender_address(config.mail_from).rpartition("@")[2],
                per_hour=config.cases_mail_per_hour,
                max_bytes=config.cases_mail_max_bytes,
                attachments=AttachmentLimits(max_bytes=config.cases_attachment_max_bytes),
                language=config.default_locale,
            ),
            scanner=self._virus_scanner,
        )
        self.cases.add_message_listener(self.case_mail.on_case_message)
        # files attached to cases (email, uploads), served back only to who sees the case
        self.case_files = CaseFiles(
            self.cases,
            AttachmentFiles(config.data_dir / ATTACHMENTS_FOLDER),
            AttachmentLimits(max_bytes=config.cases_attachment_max_bytes),
            self._virus_scanner,
        )
        # the tracking area's TraceRequests: a trace, a lost parcel, a reroute or a
        # redelivery opens a tracking case linked to the shipment
        self.tracking.use_trace_requests(_TracesAsCases(self.cases))

    @classmethod
    def open(
        cls,
        database_url: str | None = None,
        *,
        config: Config | None = None,
        clock: Clock | None = None,
        plugins: Iterable[str] | None = None,
        extra_plugins: Iterable[tuple[str, object]] = (),
        load_entry_points: bool = True,
        migrate_schema: bool | None = None,
        immediate_jobs: bool = False,
    ) -> Postroom:
        """Open postroom on ``database_url`` (default: the configured store).

        The embedded SQLite store is created and migrated as needed; a PostgreSQL
        store must be migrated with ``postroom db upgrade`` first (or pass
        ``migrate_schema=True``).
        """
        if config is None:
            config = Config.load(database_url=database_url)
        elif database_url is not None:
            config = Config.load({}, **{**_config_values(config), "database_url": database_url})
        clock = clock or SystemClock()
        allowlist = tuple(plugins) if plugins is not None else config.plugins
        manager = make_plugin_manager(
            allowlist, load_entry_points=load_entry_points, extra_plugins=extra_plugins
        )
        if config.database_url is None or config.redis_url is None:
            config.ensure_data_dir()
        # Before the database: production refuses to open without its ledger key.
        ledger_key = ChainKey.from_text(config.resolved_ledger_key())
        db = Database(config.resolved_database_url)
        try:
            _prepare_schema(db, migrate_schema, ledger_key)
        except BaseException:
            db.dispose()
            raise
        registry = JobRegistry()
        manager.hook.register_jobs(registry=registry)
        postroom = cls(
            config,
            clock,
            manager,
            db,
            registry,
            immediate_jobs=immediate_jobs,
            ledger_key=ledger_key,
        )
        postroom._ensure_instance_id()
        postroom._warn_of_sandbox_payments()
        manager.hook.postroom_opened.call_historic(kwargs={"postroom": postroom})
        return postroom

    def close(self) -> None:
        self.db.dispose()

    def _warn_of_sandbox_payments(self) -> None:
        """Production that explicitly allows sandbox payment sources says so at every start."""
        sandboxes = self.funding.sandbox_sources()
        if self.config.production and self.config.allow_sandbox_payments and sandboxes:
            log.warning(
                "POSTROOM_ALLOW_SANDBOX_PAYMENTS is set in production: sandbox payment "
                "source(s) %s approve payments without moving real money",
                ", ".join(sandboxes),
            )

    def _after_debit(self, account_id: int) -> None:
        """A postage account was debited: check its auto-refill rule and alert (a job)."""
        if self.funding.wants_check(account_id):
            self.jobs.enqueue("vault.check-postage-account", account_id)

    def _virus_scanner(self) -> VirusScanner:
        """The scanner of files attached to cases: the first a plugin provides."""
        try:
            provided = self.plugins.hook.register_virus_scanners()
        except Exception:
            log.exception("a plugin failed in register_virus_scanners: files are refused")
            return UnavailableScanner()
        return first_scanner(
            [s for group in provided for s in group or () if isinstance(s, VirusScanner)]
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def address_book(self) -> AddressBook:
        """Who reads each customer account's email: the outbox resolves
        ``customer:<number>`` messages through it at delivery time."""
        return self.outbox.address_book

    @address_book.setter
    def address_book(self, book: AddressBook) -> None:
        self.outbox.address_book = book

    @property
    def version(self) -> str:
        return __version__

    @property
    def instance_id(self) -> str:
        def read(uow: UnitOfWork) -> str | None:
            return InstanceSettings(uow.connection).get("instance_id")

        value = self.db.run(read, readonly=True)
        if value is None:
            raise StorageUnavailable("the instance record is missing; run `postroom db upgrade`")
        return value

    def _ensure_instance_id(self) -> None:
        def work(uow: UnitOfWork) -> None:
            settings = InstanceSettings(uow.connection)
            if settings.add_if_absent("instance_id", str(uuid.uuid4()), self.clock.now()):
                uow.commit()

        self.db.run(work)

    def health(self) -> dict[str, Any]:
        """The state of the database, the worker and the plugins, for /healthz."""
        report: dict[str, Any] = {"version": self.version, "database": {"dialect": self.db.dialect}}
        try:
            self.db.check()
            heartbeat = self.db.run(
                lambda uow: InstanceSettings(uow.connection).get_with_time(HEARTBEAT_KEY),
                readonly=True,
            )
        except StorageUnavailable as error:
            report["status"] = "fail"
            report["database"]["status"] = "fail"
            report["database"]["error"] = error.message
            return report
        report["database"]["status"] = "ok"
        if heartbeat is None:
            report["worker"] = {"status": "never_seen"}
        else:
            seen = heartbeat[1]
            age = self.clock.now() - seen
            fresh = age <= HEARTBEAT_STALE
            report["worker"] = {"status": "ok" if fresh else "stale", "last_seen": seen.isoformat()}
        report["plugins"] = {
            "loaded": len(self.plugins.list_name_plugin()),
            "failed": sorted(self.plugins.failures),
        }
        report["status"] = "ok"
        return report

    def record_worker_heartbeat(self) -> None:
        def work(uow: UnitOfWork) -> None:
            InstanceSettings(uow.connection).set(HEARTBEAT_KEY, "alive", self.clock.now())
            uow.commit()

        self.db.run(work)


class _MeterRegistry:
    """The meters area as registration asks it (``identity.service.MeterRegistry``)."""

    def __init__(self, meters: MetersService) -> None:
        self._meters = meters

    def registered_to(self, customer_number: str, serial: str) -> bool:
        try:
            self._meters.customer_meter(customer_number, serial)
        except (NotFound, ValidationError):
            return False
        return True


class _CustomerFacts:
    """What the assistant reads of a customer's own account (``assistant.CustomerFacts``):
    the ledger's postage balance and the meters' inspection dates. Parcels are not
    tracked by postroom yet: their status is unknown here."""

    def __init__(self, ledger: LedgerService, meters: MetersService) -> None:
        self._ledger = ledger
        self._meters = meters

    def postage_balance(self, customer_number: str) -> Money | None:
        account = self._ledger.balance(customer_number)
        return Money(account.balances.available, account.currency)

    def inspections(self, customer_number: str) -> list[MeterInspection]:
        return [
            MeterInspection(meter.serial, meter.inspection_due_at, meter.inspection_lock_at)
            for meter in self._meters.list(customer_number)
            if meter.status == MeterStatus.ACTIVE
        ]

    def parcel_status(self, customer_number: str, tracking_number: str) -> str | None:
        return None


class _KioskFacts:
    """What the kiosks read of an account (``kiosks.ports.AccountFacts``): the virtual
    meter's cost centres, the postage funds and the alert threshold of the auto-refill
    rule, the meters' inspection dates; and a support case opened from a terminal."""

    def __init__(
        self,
        meters: MetersService,
        ledger: LedgerService,
        funding: FundingService,
        cases: CasesService,
    ) -> None:
        self._meters = meters
        self._ledger = ledger
        self._funding = funding
        self._cases = cases

    def cost_centers(self, customer_number: str) -> tuple[str, ...]:
        return self._meters.print_cost_centers(customer_number)

    def funds(self, customer_number: str) -> tuple[Money, Money | None]:
        account = self._ledger.balance(customer_number)
        rule = self._funding.overview(customer_number).auto_refill
        return Money(account.balances.available, account.currency), (
            None if rule is None else rule.threshold
        )

    def inspections(
        self, customer_number: str
    ) -> list[tuple[str, datetime | None, datetime | None]]:
        return [
            (meter.serial, meter.inspection_due_at, meter.inspection_lock_at)
            for meter in self._meters.list(customer_number)
            if meter.status == MeterStatus.ACTIVE
        ]

    def open_case_in(
        self, uow: Session, customer_number: str, name: str, subject: str, description: str
    ) -> str:
        case = self._cases.open_in(
            uow.connection,
            by=Actor.customer(customer_number, name=name),
            subject=subject,
            description=description,
            channel="kiosk",
            customer_number=customer_number,
        )
        return case.number


class _ChatCases:
    """The cases area as the live chat needs it (``chat.CaseDesk``, ``chat.SupportHours``):
    a closed chat opens a case on the chat channel, its transcript the first message;
    support answers live within the customer's business hours."""

    def __init__(self, cases: CasesService) -> None:
        self._cases = cases

    def open_chat_case(
        self, customer_number: str, name: str, subject: str, transcript: str, department: str
    ) -> str:
        case = self._cases.open(
            by=Actor.customer(customer_number, name=name),
            subject=subject,
            description=transcript,
            channel="chat",
            customer_number=customer_number,
            department=department,
        )
        return case.number

    def open_at(self, customer_number: str, moment: datetime) -> bool:
        calendar = self._cases.calendar(customer_number)
        return calendar.between(moment, moment + timedelta(seconds=1)) > 0


class KeptRequests(Protocol):
    """The contracts area's own keeping of address changes for staff."""

    def hand_over(
        self, connection: Any, change: AddressChange, reference: str | None = None
    ) -> str: ...


class _AddressChangesAsCases:
    """The contracts area's ``InstallationAddressRequests``: an installation address
    change opens an equipment case, linked to the meter, in the caller's transaction;
    its number is the reference the customer quotes, and the request staff apply
    (``postroom equipment address-requests``) is kept under that number."""

    def __init__(self, cases: CasesService, kept: KeptRequests) -> None:
        self._cases = cases
        self._kept = kept

    def hand_over(self, connection: Any, change: AddressChange) -> str:
        move = InstallationMove(
            serial=change.serial,
            lines=tuple(
                line
                for line in (
                    change.address.line1,
                    change.address.line2,
                    f"{change.address.postal_code} {change.address.city}",
                    change.address.country,
                )
                if line
            ),
            move_on=change.move_on,
        )
        case = self._cases.open_in(
            connection,
            by=Actor.customer(change.customer_number, name=change.requested_by),
            customer_number=change.customer_number,
            subject=move.subject,
            description=move.description,
            channel="web",
            department="equipment",
            links=[move.link],
        )
        # staff apply the move from the contracts area's list, under the case's number
        return self._kept.hand_over(connection, change, reference=case.number)

    def resolved(self, connection: Any, request: AddressRequest) -> None:
        """The address change was applied or refused: its case is resolved with it (the
        contracts area tells the customer, quoting the case's number)."""
        done = request.status is AddressRequestStatus.DONE
        self._cases.resolve_in(
            connection,
            request.reference,
            by=Actor.system(f"equipment: {request.resolved_by or 'staff'}"),
            reason="address change applied" if done else "address change refused",
        )


class _TracesAsCases:
    """The tracking area's ``TraceRequests``: a trace, a lost-parcel report, a reroute or
    a redelivery opens a tracking case linked to the shipment, in the caller's
    transaction; the case's number is the reference the customer quotes. The rules'
    automatic trace opens it as postroom itself."""

    SUBJECTS = {
        SupportRequestKind.TRACE: "Trace request",
        SupportRequestKind.LOST: "Lost parcel",
        SupportRequestKind.REROUTE: "Reroute request",
        SupportRequestKind.REDELIVERY: "Redelivery request",
    }

    def __init__(self, cases: CasesService) -> None:
        self._cases = cases

    def hand_over(self, connection: Any, request: TraceRequest) -> str:
        shipment = request.shipment
        by = (
            Actor.system("tracking rules")
            if request.requested_by == "rules"
            else Actor.customer(shipment.customer_number, name=request.requested_by)
        )
        last_scan = shipment.last_scan_at.isoformat() if shipment.last_scan_at else "none"
        description = request.note or (
            f"{self.SUBJECTS[request.kind]} for {shipment.number} ({shipment.carrier}): "
            f"status {shipment.status.value}, last scan {last_scan}."
        )
        case = self._cases.open_in(
            connection,
            by=by,
            customer_number=shipment.customer_number,
            subject=f"{self.SUBJECTS[request.kind]}: {shipment.number}",
            description=description,
            channel="web",
            department="tracking",
            links=[Link(LinkKind.SHIPMENT, shipment.number)],
        )
        return case.number


class _CaseLinkTargets:
    """The cases area's ``LinkTargets``: a meter, invoice, order or shipment is an
    account's when its own area says so (each asked through its service)."""

    def __init__(
        self,
        meters: MetersService,
        billing: BillingService,
        shop: ShopService,
        tracking: TrackingService,
    ) -> None:
        self._meters = meters
        self._billing = billing
        self._shop = shop
        self._tracking = tracking

    def belongs(self, customer_number: str, link: Link) -> bool:
        reference = link.reference
        try:
            if link.kind is LinkKind.METER:
                return self._meters.get(reference).customer_account == customer_number
            if link.kind is LinkKind.INVOICE:
                self._billing.get(customer_number, reference)
                return True
            if link.kind is LinkKind.ORDER:
                self._shop.order(customer_number, reference)
                return True
            if link.kind is LinkKind.SHIPMENT:
                return self._tracking.follows(customer_number, reference)
        except (NotFound, ValidationError):
            return False
        return False


class _TrackedShipments:
    """The cases area's ``ShipmentLookup``: what tracking knows of a number (its carrier
    and status); a number postroom does not follow is taken as given."""

    def __init__(self, tracking: TrackingService) -> None:
        self._tracking = tracking

    def shipment(self, tracking_number: str) -> CaseShipment:
        try:
            found = self._tracking.lookup(tracking_number)
        except (NotFound, ValidationError):
            return CaseShipment(tracking_number)
        return CaseShipment(found.number, found.carrier, found.status.value)


class _StaffDirectory:
    """The identity area's staff users as the cases area asks for them."""

    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    def staff(self) -> list[StaffMember]:
        return [
            StaffMember(id=user.id, name=user.name, email=user.email, role=user.role)
            for user in self._identity.staff()
        ]


class _StaffMail:
    """Support's emails to staff (SLA warnings, escalations), through the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def send(
        self, connection: Any, to: str, subject: str, body: str, kind: str, data: dict[str, str]
    ) -> None:
        self._outbox.add(
            connection, Notification(recipient=to, subject=subject, body=body, kind=kind, data=data)
        )


class _ClaimRefunds:
    """A claim's refund is a staff credit of funding (``manual_deposit``): the one way
    besides a settled payment that money enters a postage account."""

    def __init__(self, funding: FundingService) -> None:
        self._funding = funding

    def credit(
        self,
        customer_number: str,
        amount: Money,
        transfer_id: str,
        *,
        staff: str,
        reason: str,
        reference: str,
    ) -> None:
        self._funding.manual_deposit(
            customer_number, amount, transfer_id, staff=staff, reason=reason, reference=reference
        )


class _MailSenders:
    """The identity area as the email channel asks it (``cases.inbound.Senders``): a
    verified user of a customer account, else an unknown contact (staff, unverified
    registrations and strangers alike)."""

    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    def find_in(self, connection: Connection, address: str) -> Sender:
        try:
            user = self._identity.by_email_in(connection, address)
        except ValidationError:
            return Sender(address)
        return _sender(address, user)

    def find_all_in(self, connection: Connection, addresses: Sequence[str]) -> dict[str, Sender]:
        users = self._identity.by_emails_in(connection, addresses)
        return {address: _sender(address, users.get(address)) for address in addresses}


def _sender(address: str, user: User | None) -> Sender:
    if user is None or user.staff or user.account_number is None or user.verified_at is None:
        return Sender(address)
    return Sender(address, user.name, user.account_number, user.id, user.language)


class MeterInstallationNumbers:
    """The meters' installation account numbers as billing asks for them
    (``billing.ports.InstallationNumbers``)."""

    def __init__(self, meters: MetersService) -> None:
        self._meters = meters

    def installation_numbers(self, customer_number: str | None = None) -> dict[str, str]:
        return {
            m.serial: m.installation_number
            for m in self._meters.list(customer_number)
            if m.installation_number
        }


class _ShopMeters:
    """The meters area as the shop asks it (``shop.ports.CustomerMeters``)."""

    def __init__(self, meters: MetersService) -> None:
        self._meters = meters

    def product_codes(self, customer_number: str) -> list[str]:
        return sorted(
            {m.product_code for m in self._meters.list(customer_number) if m.status == "active"}
        )

    def customer_meter_serial(self, customer_number: str, serial: str) -> str:
        meter = self._meters.customer_meter(customer_number, serial)
        if meter.status != "active":
            raise NotFound(f"no meter {serial!r} in service", code="meter_not_found")
        return meter.serial


class _ShopMeterAssets:
    """The meters' sync assets as the shop hands add-ons and slogans to them
    (``shop.ports.MeterAssets``)."""

    def __init__(self, meters: MetersService) -> None:
        self._meters = meters

    def queue_feature(self, serial: str, feature: str) -> None:
        self._meters.set_features(serial, {feature: True})

    def queue_graphic(self, serial: str, name: str, data: bytes) -> None:
        self._meters.set_graphic(serial, name, data)

    def queue_slogan_text(self, serial: str, text: str) -> None:
        self._meters.set_ad_slogan(serial, text)


class _ShopShipments:
    """The tracking area as the shop hands it a shipped order's parcel
    (``shop.ports.Shipments``): followed for the account in the order's transaction, its
    reference the order's number."""

    #: a number no installed carrier knows: the order ships untracked
    UNTRACKED = frozenset({"unknown_format", "no_carrier_for_number"})

    def __init__(self, tracking: TrackingService) -> None:
        self._tracking = tracking

    def follow_in(
        self, session: Session, customer_number: str, tracking_number: str, order_number: str
    ) -> bool:
        try:
            self._tracking.follow_in(
                session, customer_number, tracking_number, reference=order_number
            )
        except ValidationError as error:
            if error.code in self.UNTRACKED:
                return False
            raise
        return True


class _ShipmentStatusChanges:
    """Who hears a shipment's committed status change: the shop (a delivered parcel
    delivers the order it was shipped for) and plugins (``shipment_status_changed``)."""

    def __init__(self, plugins: pluggy.PluginManager, shop: ShopService) -> None:
        self._plugins = plugins
        self._shop = shop

    def __call__(self, shipment: Shipment, old: ShipmentStatus, new: ShipmentStatus) -> None:
        if new is ShipmentStatus.DELIVERED and shipment.reference:
            try:
                self._shop.delivered_by_carrier(
                    shipment.customer_number, shipment.reference, shipment.number
                )
            except PostroomError:  # the order stays shipped; staff can still move it
                log.exception("the order of shipment %s was not marked delivered", shipment.id)
        self._plugins.hook.shipment_status_changed(shipment=shipment, old=old, new=new)


class _BillingBankAccounts:
    """The vault as billing's mandates store bank accounts (``billing.ports.BankAccounts``),
    in billing's unit of work (a ``UnitOfWork`` of the one database both areas share)."""

    def __init__(self, funding: FundingService) -> None:
        self._funding = funding

    def add_instrument_in(
        self, session: Any, customer_number: str, source_code: str, fields: Mapping[str, str]
    ) -> Instrument:
        return self._funding.add_instrument_in(
            _unit_of_work(session), customer_number, source_code, fields
        )

    def remove_instrument_in(
        self, session: Any, customer_number: str, instrument_id: str
    ) -> Instrument:
        return self._funding.remove_instrument_in(
            _unit_of_work(session), customer_number, instrument_id
        )


def _unit_of_work(session: object) -> UnitOfWork:
    if not isinstance(session, UnitOfWork):
        raise TypeError(f"expected the database's unit of work, got {session!r}")
    return session


class _ShopPurchases:
    """Funding's collection path as the shop pays with it (``shop.ports.Purchases``)."""

    def __init__(self, funding: FundingService) -> None:
        self._funding = funding

    def purchase(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> PurchasePayment:
        payment = self._funding.purchase(customer_number, instrument_id, amount, idempotency_key)
        return PurchasePayment(payment.id)

    def refund(self, customer_number: str, payment_id: str, idempotency_key: str) -> None:
        self._funding.refund_purchase(customer_number, payment_id, idempotency_key)


class _ShopCharges:
    """Billing as the shop charges the account (``shop.ports.AccountCharges``)."""

    def __init__(self, billing: BillingService, accounts: AccountsService) -> None:
        self._billing = billing
        self._accounts = accounts

    def charge_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
    ) -> Charged:
        try:
            invoice = self._billing.issue_invoice_in(
                session,
                customer_number,
                [_line_item(line) for line in lines],
                kind=kind,
                reference=reference,
            )
        except ValidationError as error:
            if error.code not in ("billing_region_required", "unknown_region"):
                raise
            raise Conflict(error.message, code=error.code) from None  # the account's profile
        return Charged(invoice.number, invoice.tax)

    def paid_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
        payment_id: str,
        paid: Money,
    ) -> Charged:
        invoice = self._billing.issue_paid_invoice_in(
            session,
            customer_number,
            [_line_item(line) for line in lines],
            kind=kind,
            reference=reference,
            payment_id=payment_id,
            paid=paid,
        )
        return Charged(invoice.number, invoice.tax)

    def tax_rule(self, customer_number: str) -> TaxRule:
        account = self._accounts.get(customer_number)
        region = self._billing.profile(customer_number).region
        try:
            rates = self._billing.settings.taxes.rates_for(account.country, region)
        except ValidationError as error:  # the request is fine; the account lacks its region
            raise Conflict(error.message, code=error.code) from None

        def tax_of(lines: Sequence[ChargeLine]) -> Money:
            priced = price_lines(
                [_line_item(line) for line in lines],
                rates,
            )
            return Money(sum(line.tax.mills for line in priced), account.currency)

        return tax_of

    def credit(self, customer_number: str, invoice_number: str, reason: str) -> None:
        try:
            self._billing.credit(customer_number, invoice_number, reason)
        except Conflict as error:
            if error.code != "invoice_not_creditable":  # credited already: done
                raise


def _line_item(line: ChargeLine) -> LineItem:
    """A shop or add-on line as billing invoices it, with its code for the languages."""
    text = LineText(line.code, tuple(sorted(line.params))) if line.code else None
    return LineItem(line.description, line.quantity, line.unit_price, text)


def _billing_settings(config: Config) -> BillingSettings:
    """The seller printed on invoices and the tax table, from the settings."""
    address = tuple(
        line.strip() for line in config.billing_seller_address.split("|") if line.strip()
    )
    return BillingSettings(
        seller=Party(config.billing_seller_name, address, config.billing_seller_tax_id),
        taxes=(
            TaxTable.default()
            if config.billing_tax_file is None
            else TaxTable.from_file(config.billing_tax_file)
        ),
        portal_url=config.public_url,
        creditor_id=config.billing_creditor_id,
    )


def _config_values(config: Config) -> dict[str, Any]:
    return attrs.asdict(config, recurse=False)


def _prepare_schema(db: Database, migrate_schema: bool | None, ledger_key: ChainKey) -> None:
    if migrate_schema is None:
        migrate_schema = db.dialect == "sqlite"
    try:
        if migrate_schema:
            migrate.upgrade(db, seal_ledger=ledger_key.seal)
        elif not migrate.is_current(db):
            raise ConfigurationError(
                f"the schema of {db.display_url} is not current: run `postroom db upgrade`",
                code="schema_outdated",
            )
    except DBAPIError as error:
        raise db.unavailable(error) from error
