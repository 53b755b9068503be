"""Use cases of meter add-ons and ad slogans (``pr.shop.addons``); each runs in one unit
of work.

An add-on is invoiced to the account and its purchase recorded in one transaction (one
per meter and add-on: a second click answers the first purchase); the feature is then
handed to the meters area, which installs it at the meter's next sync. A library slogan
goes to the meter at once; an upload is checked by content (``graphics``) and waits for
staff, who approve it (it goes to the meter as the ad-slogan graphic) or reject it with
a reason.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

import attrs

from postroom.core.clock import Clock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.shop import addons as rules
from postroom.core.shop import graphics, model
from postroom.core.shop.addons import (
    Addon,
    AddonPurchase,
    PurchaseStatus,
    SloganKind,
    SloganOrder,
    SloganStatus,
)
from postroom.core.shop.ports import (
    AccountCharges,
    ChargeLine,
    CustomerAccounts,
    CustomerMeters,
    MeterAssets,
    Session,
    Transactions,
)
from postroom.core.shop.store import AddonRepository, ShopStore

#: The graphic an approved slogan is installed as (meters.model.SLOGAN_GRAPHIC).
SLOGAN_GRAPHIC = "ad-slogan"

RepositoryFactory = Callable[[Session], AddonRepository]


def store(session: Session) -> AddonRepository:
    return ShopStore(session.connection)


@attrs.frozen
class AddonOffer:
    addon: Addon
    price: Money | None
    #: serials of the customer's meters that have it
    owned_on: tuple[str, ...]


class AddonsService:
    """``pr.shop.addons``: meter features and ad slogans."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        accounts: CustomerAccounts,
        meters: CustomerMeters,
        charges: AccountCharges,
        assets: MeterAssets,
        repository: RepositoryFactory = store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._meters = meters
        self._charges = charges
        self._assets = assets
        self._repository = repository

    # ---------------------------------------------------------------- add-ons

    def offer(self, customer_number: str) -> builtins.list[AddonOffer]:
        """Every add-on with its price in the account's currency and the meters that
        have it."""
        account = self._accounts.get(customer_number)
        bought = self.purchases(account.number)
        return [
            AddonOffer(
                addon,
                addon.price(account.currency),
                tuple(p.serial for p in bought if p.code == addon.code),
            )
            for addon in rules.ADDONS
        ]

    def purchases(self, customer_number: str) -> builtins.list[AddonPurchase]:
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).addon_purchases(account.number), readonly=True
        )

    def buy(self, customer_number: str, serial: str, code: str) -> AddonPurchase:
        """Buy add-on ``code`` for the customer's meter ``serial``: invoiced, then queued
        for the meter's next sync. Bought already: the first purchase (``replayed``)."""
        addon = rules.addon(code)
        account = self._accounts.get(customer_number)
        meter = self._meters.customer_meter_serial(account.number, serial)
        price = addon.price(account.currency)
        if price is None:
            raise ValidationError(
                f"{addon.code} is not sold in {account.currency}", code="unknown_addon"
            )
        now = self._clock.now()

        def work(uow: Session) -> AddonPurchase:
            repository = self._repository(uow)
            first = repository.addon_purchase(meter, addon.code)
            if first is not None:
                return attrs.evolve(first, replayed=True)
            invoice = self._charges.charge_in(
                uow,
                account.number,
                [
                    ChargeLine(
                        f"{addon.name('en')} ({meter})",
                        1,
                        price,
                        "addon",
                        (
                            ("meter", meter),
                            ("name_en", addon.name("en")),
                            ("name_fr", addon.name("fr")),
                        ),
                    )
                ],
                kind="addon",
                reference=f"addon:{meter}:{addon.code}",
            ).invoice_number
            purchase = AddonPurchase(
                number=rules.new_number("AO", now.date()),
                customer_number=account.number,
                serial=meter,
                code=addon.code,
                price=price,
                invoice_number=invoice,
                status=PurchaseStatus.INVOICED,
                bought_at=now,
            )
            if not repository.add_addon_purchase(purchase):  # a concurrent click won
                raise Conflict(f"{meter} has {addon.code} already", code="addon_owned")
            uow.commit()
            return purchase

        purchase = self._db.run(work)
        if purchase.customer_number != account.number:  # bought with the meter's last owner
            raise Conflict(f"{meter} has {addon.code} already", code="addon_owned")
        if purchase.status is PurchaseStatus.INVOICED:
            self._assets.queue_feature(meter, addon.feature)

            def queued(uow: Session) -> None:
                self._repository(uow).set_addon_status(purchase.number, PurchaseStatus.QUEUED)
                uow.commit()

            self._db.run(queued)
            purchase = attrs.evolve(purchase, status=PurchaseStatus.QUEUED)
        return purchase

    # ------------------------------------------------------------- ad slogans

    def choose_slogan(
        self, customer_number: str, serial: str, code: str, language: str
    ) -> SloganOrder:
        """A slogan of the library, in ``language``: queued for the meter at once."""
        text = rules.library_slogan(code, language)
        account = self._accounts.get(customer_number)
        meter = self._meters.customer_meter_serial(account.number, serial)
        order = self._add_slogan(
            account.number, meter, SloganKind.LIBRARY, text, None, text.encode("utf-8"),
            SloganStatus.QUEUED,
        )  # fmt: skip
        self._assets.queue_slogan_text(meter, text)
        return order

    def upload_slogan(
        self,
        customer_number: str,
        serial: str,
        file_name: str,
        data: bytes,
        declared_type: str | None = None,
    ) -> SloganOrder:
        """An uploaded PNG or SVG, checked by content (an SVG rebuilt from the
        allow-list): it waits for staff approval."""
        graphic = graphics.check_upload(data, declared_type)
        account = self._accounts.get(customer_number)
        meter = self._meters.customer_meter_serial(account.number, serial)
        return self._add_slogan(
            account.number, meter, SloganKind.UPLOAD, rules.parse_file_name(file_name),
            graphic.content_type, graphic.data, SloganStatus.PENDING,
        )  # fmt: skip

    def _add_slogan(
        self,
        customer_number: str,
        serial: str,
        kind: SloganKind,
        label: str,
        content_type: graphics.GraphicType | None,
        data: bytes,
        status: SloganStatus,
    ) -> SloganOrder:
        now = self._clock.now()
        order = SloganOrder(
            number=rules.new_number("AD", now.date()),
            customer_number=customer_number,
            serial=serial,
            kind=kind,
            label=label,
            content_type=content_type,
            status=status,
            created_at=now,
        )

        def work(uow: Session) -> None:
            self._repository(uow).add_slogan(order, data)
            uow.commit()

        self._db.run(work)
        return order

    def slogans(self, customer_number: str) -> builtins.list[SloganOrder]:
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).slogans(customer_number=account.number),
            readonly=True,
        )

    def slogan(self, customer_number: str, number: str) -> SloganOrder:
        """The customer's slogan order; another account's is ``slogan_not_found``."""
        account = self._accounts.get(customer_number)
        found = self._find(number)
        if found[0].customer_number != account.number:
            raise NotFound(f"no slogan {number!r}", code="slogan_not_found")
        return found[0]

    # ------------------------------------------------------------------ staff

    def pending_slogans(self) -> builtins.list[SloganOrder]:
        """Uploads waiting for staff, newest first."""
        return self._db.run(
            lambda uow: self._repository(uow).slogans(status=SloganStatus.PENDING),
            readonly=True,
        )

    def all_slogans(self) -> builtins.list[SloganOrder]:
        """Every account's slogan orders, newest first (staff)."""
        return self._db.run(lambda uow: self._repository(uow).slogans(), readonly=True)

    def slogan_graphic(self, number: str) -> tuple[SloganOrder, bytes]:
        """A slogan order and its checked graphic (staff review it)."""
        return self._find(number)

    def approve_slogan(self, number: str, *, staff: str) -> SloganOrder:
        """Approve an upload: it goes to the meter as its ad-slogan graphic."""
        who = model.parse_staff(staff)
        order, data = self._pending(number)
        self._assets.queue_graphic(order.serial, SLOGAN_GRAPHIC, data)
        return self._decide(order, SloganStatus.QUEUED, who, "")

    def reject_slogan(self, number: str, *, staff: str, reason: str) -> SloganOrder:
        """Reject an upload, saying why (the customer reads it on the slogan's order)."""
        who = model.parse_staff(staff)
        why = model.parse_note(reason, required=True)
        order, _ = self._pending(number)
        return self._decide(order, SloganStatus.REJECTED, who, why)

    def _pending(self, number: str) -> tuple[SloganOrder, bytes]:
        order, data = self._find(number)
        if order.status is not SloganStatus.PENDING:
            raise Conflict(f"slogan {order.number} is {order.status.value}", code="slogan_decided")
        return order, data

    def _decide(self, order: SloganOrder, status: SloganStatus, who: str, why: str) -> SloganOrder:
        now = self._clock.now()

        def work(uow: Session) -> None:
            if not self._repository(uow).decide_slogan(order.number, status, now, who, why):
                raise Conflict(
                    f"slogan {order.number} was decided meanwhile", code="slogan_decided"
                )
            uow.commit()

        self._db.run(work)
        return attrs.evolve(order, status=status, decided_at=now, decided_by=who, reason=why)

    def _find(self, number: str) -> tuple[SloganOrder, bytes]:
        clean = rules.parse_number(number)
        found = None
        if clean is not None:
            found = self._db.run(lambda uow: self._repository(uow).slogan(clean), readonly=True)
        if found is None:
            raise NotFound(f"no slogan {number!r}", code="slogan_not_found")
        return found
