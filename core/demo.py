"""Demo data for ``postroom serve --demo``: each area adds a step.

A step runs once per database (its name is remembered in the instance
settings), so restarting the demo keeps what the visitor did, and a step added
by a newer version still runs on an older demo database.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from postroom.core.cases.model import Actor, Contact, Link, LinkKind
from postroom.core.clock import today
from postroom.core.contracts.model import add_months, parse_address
from postroom.core.errors import Conflict, ValidationError
from postroom.core.instance import InstanceSettings
from postroom.core.money import Money
from postroom.core.tracking.model import Customs, Parties

if TYPE_CHECKING:
    from postroom.core.app import Postroom
    from postroom.core.db import UnitOfWork


#: What a step may hand back: facts to show the person starting the demo, once
#: (``{"demo API key": "prk_..."}``); they are printed, never stored.
DemoFacts = Mapping[str, str]


@attrs.frozen
class DemoStep:
    name: str
    load: Callable[[Postroom], DemoFacts | None]


def _mark_demo_instance(postroom: Postroom) -> None:
    def work(uow: UnitOfWork) -> None:
        InstanceSettings(uow.connection).set("instance_name", "postroom demo", postroom.clock.now())
        uow.commit()

    postroom.db.run(work)


def _load_rate_tables(postroom: Postroom) -> None:
    postroom.rates.sync_plugin_tables()


DEMO_CUSTOMER = "Demo Mailroom Inc."
#: Where the demo's kiosk mails from (New York, NY), unless the configuration says.
DEMO_ORIGIN_ZIP = "10001"
DEMO_METER = "PR-DEMO-0001"


def _fund_vault(postroom: Postroom) -> DemoFacts:
    """A demo customer with a funded postage account and a refilled meter, and its API key.

    The refill's reset token stays pending: the simulated meter receives it at its first
    sync, as a real one would. Fixed transfer ids make a rerun move no money twice.
    """
    customer = next(
        (a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER), None
    ) or postroom.accounts.create(DEMO_CUSTOMER, "US", "USD")
    funds = postroom.meters.funds
    # Money enters by payment or by a person, with a reason: the demo is that person.
    postroom.funding.manual_deposit(
        customer.number,
        Money.parse("500.00 USD"),
        "demo-deposit-1",
        staff="postroom demo",
        reason="opening balance of the demo customer (serve --demo)",
    )
    with contextlib.suppress(Conflict):  # a rerun: registered before
        funds.register_meter(DEMO_METER, customer.number, "USPS")
    funds.refill(DEMO_METER, Money.parse("100.00 USD"), "demo-refill-1")
    issued = postroom.accounts.create_api_key(customer.number, "demo")
    return {"demo API key": issued.token}


def _register_demo_meter(postroom: Postroom) -> DemoFacts:
    """The demo customer's meter in the registry (the vault step opened its account),
    with cost centres and an ad slogan, and how to run it as a simulated device."""
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    meters = postroom.meters
    facts: dict[str, str] = {}
    try:
        registered = meters.register(customer.number, product_code="PR-VPSD1", serial=DEMO_METER)
        facts["demo meter API key"] = registered.api_key
    except Conflict:  # a rerun: registered before
        pass
    meters.set_cost_centers(DEMO_METER, ["Mailroom", "Legal", "Sales"])
    meters.set_ad_slogan(DEMO_METER, "Demo Mailroom: every letter counts")
    key = meters.device_reset_key(DEMO_METER).hex()
    facts["demo meter"] = (
        f"postroom meter simulate --serial {DEMO_METER} --pty --reset-key {key}"
        " (then: postroom meter connect --port <the pty>)"
    )
    return facts


def _funding(postroom: Postroom) -> None:
    """The demo customer pays by (sandbox) card and tops up automatically below 100.00."""
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    funding = postroom.funding
    if "sandbox-card" not in funding.offered_sources():
        return  # the allowlist left the card gateway out, or production refuses it
    card = next(
        (i for i in funding.instruments(customer.number) if i.source == "sandbox-card"), None
    ) or funding.add_instrument(
        customer.number,
        "sandbox-card",
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
    )
    funding.set_auto_refill(
        customer.number,
        Money.parse("100.00 USD"),
        amount=Money.parse("200.00 USD"),
        daily_cap=Money.parse("600.00 USD"),
        instrument_id=card.id,
    )


def _contracts(postroom: Postroom) -> None:
    """Where the demo meter stands, and its lease (three years, renewing) and
    maintenance contract (one year, ending), started a year and a half and eleven months
    ago, so the portal shows a running contract and one close to its end."""
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    postroom.equipment.set_installation_address(
        customer.number,
        DEMO_METER,
        parse_address("350 Fifth Avenue", "Mailroom, floor 2", "10118", "New York", "US"),
    )
    first_of_month = today(postroom.clock).replace(day=1)
    postroom.contracts.add(
        customer.number,
        DEMO_METER,
        kind="lease",
        start=add_months(first_of_month, -18),
        term_months=36,
        billing_period="quarterly",
        amount=Money.parse("149.70 USD"),
        notice_days=90,
        auto_renew=True,
    )
    postroom.contracts.add(
        customer.number,
        DEMO_METER,
        kind="maintenance",
        start=add_months(first_of_month, -11) + timedelta(days=14),
        term_months=12,
        billing_period="yearly",
        amount=Money.parse("240.00 USD"),
        notice_days=30,
        auto_renew=False,
    )


DEMO_OPERATOR = "Demo Operator"


def _kiosk_operator(postroom: Postroom) -> DemoFacts:
    """An operator who may print on the demo's kiosk, with a random PIN shown once at
    start (a fixed, published PIN would open every demo left reachable)."""
    from postroom.core.accounts.model import parse_pin

    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    while True:
        pin = f"{secrets.randbelow(10**6):06d}"
        with contextlib.suppress(ValidationError):  # a weak PIN such as 111111: draw again
            parse_pin(pin)
            break
    operator = postroom.accounts.add_operator(customer.number, DEMO_OPERATOR, pin)
    return {"demo kiosk operator": f"{operator.name}, PIN {pin} (sign in at /kiosk/sign-in)"}


#: The demo customer's portal users: (role, email, name, language). The owner manages
#: the account; the operator (role ``user``) runs the mailroom, in French.
DEMO_PORTAL_USERS = (
    ("owner", "owner@demo-mailroom.example", "Olivia Owner", "en"),
    ("user", "operator@demo-mailroom.example", "Odile Opératrice", "fr"),
)


def _portal_users(postroom: Postroom) -> DemoFacts:
    """The demo customer's owner and operator, verified, each with a random password
    shown once at start (a password in the repository would open every demo left
    reachable); a person who already has a login is left as they are."""
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    facts: dict[str, str] = {}
    for role, email, name, language in DEMO_PORTAL_USERS:
        password = secrets.token_urlsafe(15)  # 20 characters, 120 random bits
        try:
            link = postroom.identity.invite(customer.number, email, role)
        except Conflict:  # a rerun after the person was added by hand
            continue
        postroom.identity.accept_invitation(
            link.token,
            name=name,
            password=password,
            security_question="Demo security question: which mailroom?",
            security_answer=secrets.token_urlsafe(12),
            phone="+1 212 555 0100",
            language=language,
        )
        facts[f"demo portal {'owner' if role == 'owner' else 'operator'}"] = (
            f"{email}, password {password} (sign in at /account/sign-in)"
        )
    return facts


#: The demo customer's parcels: numbers whose sandbox journeys are, in order, delivered,
#: delayed, stopped by an address exception, misrouted, waiting at a pickup point,
#: returned and lost, then two international parcels through customs (the sandbox
#: carrier picks a journey from each number's digest: plugins/sandbox_carrier.py).
DEMO_SHIPMENTS = (
    ("9400111201080805010021", "Priority Mail", "ORD-1041", "Harbor Books, Boston MA"),
    ("9400111201080805010052", "Priority Mail", "ORD-1042", "Lakeside Dental, Chicago IL"),
    ("9400111201080805010014", "Ground Advantage", "ORD-1043", "R. Alvarez, Denver CO"),
    ("9400111201080805010045", "Ground Advantage", "ORD-1044", "Summit Legal, Memphis TN"),
    ("9400111201080805010038", "Priority Mail", "ORD-1045", "K. Nguyen, Indianapolis IN"),
    ("9400111201080805010069", "First-Class Package", "ORD-1046", "Old Mill Cafe, Boston MA"),
    ("9400111201080805010007", "Ground Advantage", "ORD-1047", "Northwind Clinic, Denver CO"),
    ("CP100000003FR", "International", "ORD-1048", "Librairie Dubois, Paris"),
    ("CP100000255CA", "International", "ORD-1049", "Maple Print, Toronto ON"),
)


def _shipments(postroom: Postroom) -> None:
    """The demo customer's parcels, asked of the sandbox carrier once and judged by the
    rules, so the portal shows delivered, moving, stuck and lost ones."""
    if "sandbox" not in postroom.tracking.carriers.all():
        return  # the allowlist left the sandbox carrier out, or production refuses it
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    for number, service, reference, recipient in DEMO_SHIPMENTS:
        international = not number.isdigit()
        postroom.tracking.add(
            customer.number,
            number,
            carrier="sandbox",
            service=service,
            reference=reference,
            parties=Parties("Demo Mailroom Inc., New York NY", recipient, "New York NY", recipient),
            customs=Customs("Printed books", ("490199",), Money.parse("45.00 USD"))
            if international
            else None,
            auto_trace=True,
        )
    postroom.tracking.refresh_due()
    postroom.tracking.apply_rules()


#: The support desk of the demo: an agent on the equipment and billing desks and a
#: supervisor, each with a random password shown once at start.
DEMO_STAFF = (
    ("agent", "agent@postroom-demo.example", "Andrea Agent", ("equipment", "billing", "software")),
    ("supervisor", "supervisor@postroom-demo.example", "Sam Supervisor", ("shipping", "tracking")),
)


def _support_cases(postroom: Postroom) -> DemoFacts:
    """The support desk and cases of the demo customer across channels, departments and
    SLA states: new, answered, waiting on the customer (its clock paused), escalated,
    resolved, a logged call and letter, a trace and a lost-parcel claim with documents
    still missing."""
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    facts: dict[str, str] = {}
    staff: dict[str, Actor] = {}
    for role, email, name, departments in DEMO_STAFF:
        password = secrets.token_urlsafe(15)
        try:
            link = postroom.identity.invite_staff(email, role)
            user = postroom.identity.accept_invitation(
                link.token,
                name=name,
                password=password,
                security_question="Demo security question: which desk?",
                security_answer=secrets.token_urlsafe(12),
                phone="+1 212 555 0199",
                language="en",
            )
            facts[f"demo staff {role}"] = f"{email}, password {password}"
        except Conflict:  # a rerun after the person was added by hand
            user = postroom.identity.by_email(email)
        staff[role] = Actor.staff(user.id, user.name, role=role)
        postroom.cases.set_agent(user.id, departments=departments, by=staff[role])
    agent, supervisor = staff["agent"], staff["supervisor"]
    owner = Actor.customer(customer.number, "", "Olivia Owner")
    cases = postroom.cases

    cases.open(
        by=owner,
        subject="Meter shows error 41 after the last refill",
        description="Our meter stops after printing ten pieces and shows error 41.",
        channel="web",
        links=[Link(LinkKind.METER, DEMO_METER)],
    )
    answered = cases.open(
        by=agent,
        customer_number=customer.number,
        subject="Caller asks about a double charge on the November invoice",
        description="Olivia called: the November invoice shows the rental twice.",
        channel="phone",
        contact=Contact(name="Olivia Owner", phone="+1 212 555 0100"),
        links=[Link(LinkKind.INVOICE, "INV-2026-0112")],
    )
    cases.reply(answered.number, "We are checking the invoice with billing.", by=agent)
    waiting = cases.open(
        by=agent,
        customer_number=customer.number,
        subject="Cannot sign in to the portal from the mailroom PC",
        description="Message on our social page: the sign-in page keeps loading.",
        channel="social",
        contact=Contact(name="Odile Opératrice", details="@demo_mailroom"),
    )
    cases.reply(
        waiting.number,
        "Which browser and version does the mailroom PC use?",
        by=agent,
        status="waiting_on_customer",
    )
    urgent = cases.open(
        by=owner,
        subject="Label orders not shipped before our mailing deadline",
        description="We need the labels for Friday's mailing.",
        channel="chat",
        priority="urgent",
        department="shipping",
    )
    cases.escalate(urgent.number, "customer's mailing deadline on Friday", by=agent)
    letter = cases.open(
        by=agent,
        customer_number=customer.number,
        subject="Letter: cheque for the postage account",
        description="A cheque arrived by post for the postage account.",
        channel="mail",
        contact=Contact(name="Demo Mailroom Inc.", details="1 Main Street, New York, NY 10001"),
    )
    cases.reply(letter.number, "The cheque was credited. Thank you.", by=agent, status="resolved")
    cases.request_trace(
        by=owner,
        tracking_number="9400 1000 0000 0000 0000 17",
        description="The parcel to our Boston office has not moved for a week.",
    )
    cases.file_claim(
        by=owner,
        tracking_number="9400 1000 0000 0000 0000 24",
        kind="lost",
        declared_value=Money.parse("120.00 USD"),
        description="The parcel never arrived; we shipped it three weeks ago.",
    )
    cases.add_note(urgent.number, "Warehouse says the printer was down Tuesday.", by=supervisor)
    return facts


def _billing(postroom: Postroom) -> None:
    """A year of the demo customer's invoices: its contracts billed on schedule month by
    month, supplies every other month, one corrected by a credit note; the past ones
    paid by the sandbox card, this month's open; paperless billing on.

    Each past month is billed by the billing service as of that day (a frozen clock),
    so its numbers, dates and payments read as they would have then."""
    from postroom.core.app import MeterInstallationNumbers
    from postroom.core.billing.model import LineItem
    from postroom.core.billing.service import BillingService
    from postroom.core.clock import FrozenClock

    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    postroom.billing.set_profile(
        customer.number,
        region="NY",
        billing_address=["350 Fifth Avenue", "New York, NY 10118", "United States"],
    )
    card = next(
        (i for i in postroom.funding.instruments(customer.number) if i.source == "sandbox-card"),
        None,
    )
    now = postroom.clock.now()
    for months_ago in range(12, -1, -1):
        moment = datetime.combine(
            add_months(now.date().replace(day=1), -months_ago) + timedelta(days=1),
            now.timetz(),
        )
        if moment > now:
            continue
        then = BillingService(
            postroom.db,
            FrozenClock(moment),
            postroom.billing.settings,
            accounts=postroom.accounts,
            messages=postroom.outbox,
            payments=postroom.funding,
            contracts=postroom.contracts,
            meters=MeterInstallationNumbers(postroom.meters),
            statements=postroom.funding,
        )
        then.run_contracts(moment.date())
        if months_ago % 2 == 0:
            order = then.issue_invoice(
                customer.number,
                [
                    LineItem("Ink cartridge PR-INK-1 (red)", 2, Money.parse("42.50 USD")),
                    LineItem("Postage labels, roll of 300", 3, Money.parse("11.90 USD")),
                ],
                kind="supplies",
                reference=f"demo-order:{moment.date().isoformat()}",
            )
            if months_ago == 8:  # the labels were damaged in transit: corrected
                then.credit(customer.number, order.number, "Labels damaged in transit")
        if months_ago >= 1 and card is not None:
            for invoice in then.list(customer.number, status="open", limit=100):
                if invoice.due_on < now.date():
                    then.pay(customer.number, invoice.number, card.id, f"demo-{invoice.number}")
    postroom.billing.set_profile(customer.number, paperless=True)


def _shop(postroom: Postroom) -> None:
    """The supplies catalogue, and the demo customer's past orders: delivered ones a
    year and three months ago, one shipped last week (paid by the demo's card)."""
    from postroom.core.clock import FrozenClock
    from postroom.core.meters.model import PRODUCTS
    from postroom.core.shop.catalogue import demo_items

    for item in demo_items(PRODUCTS):
        postroom.shop.save_item(item)
    customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
    if postroom.billing.profile(customer.number).region is None:
        # orders on account and add-ons are invoiced with New York's sales tax
        postroom.billing.set_profile(customer.number, region="NY")
    card = next(
        (i for i in postroom.funding.instruments(customer.number) if i.source == "sandbox-card"),
        None,
    )
    if card is None:
        return  # no card to have paid with: the catalogue alone
    ink = f"INK-{next(iter(sorted(PRODUCTS))).removeprefix('PR-')}"
    history = [
        (timedelta(days=365), [(ink, 2), ("SEAL-1L", 1)], "delivered"),
        (timedelta(days=90), [("ENV-DL-500", 1), ("LBL-TAPE-300", 2)], "delivered"),
        (timedelta(days=7), [(ink, 1)], "shipped"),
    ]
    now = postroom.clock.now()
    for number, (ago, lines, last) in enumerate(history):
        then = postroom.shop.as_of(FrozenClock(now - ago))
        for sku, quantity in lines:
            then.add_to_cart(customer.number, sku, quantity)
        order = then.checkout(
            customer.number, f"demo-order-{number}", method="source", instrument_id=card.id
        )
        for status in ("picking", "shipped", "delivered"):
            then.set_status(
                order.number,
                status,
                staff="postroom demo",
                tracking_number=f"1Z DEMO {number:04d}" if status == "shipped" else None,
            )
            if status == last:
                break


#: In order: later steps may use what earlier ones created.
def _knowledge_base(postroom: Postroom) -> None:
    """The help centre's articles, in English and French (docs/knowledge.md)."""
    postroom.knowledge.load_shipped_articles()


DEMO_STEPS: list[DemoStep] = [
    DemoStep("instance", _mark_demo_instance),
    DemoStep("rates", _load_rate_tables),
    DemoStep("vault", _fund_vault),
    DemoStep("meters", _register_demo_meter),
    DemoStep("contracts", _contracts),
    DemoStep("funding", _funding),
    DemoStep("kiosk-operator", _kiosk_operator),
    DemoStep("portal-users", _portal_users),
    DemoStep("knowledge-base", _knowledge_base),
    DemoStep("shipments", _shipments),
    DemoStep("support-cases", _support_cases),
    DemoStep("billing", _billing),
    DemoStep("shop", _shop),
]


def demo_kiosk(postroom: Postroom) -> None:
    """Bind the kiosk to the demo customer, so that the demo's kiosk prints postage as a
    mailroom's would; a kiosk account set in the configuration is left as it is."""
    config = postroom.config
    if config.kiosk_account:
        return
    customer = next((a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER), None)
    if customer is not None:
        postroom.config = attrs.evolve(
            config,
            kiosk_account=customer.number,
            kiosk_origin_zip=config.kiosk_origin_zip or DEMO_ORIGIN_ZIP,
        )


def load_demo(
    postroom: Postroom,
    steps: list[DemoStep] | None = None,
    *,
    facts: dict[str, str] | None = None,
) -> list[str]:
    """Run the demo steps not yet run on this database; return the names run now.

    What the steps run now hand back is added to ``facts`` (shown once, never stored).
    """
    ran: list[str] = []
    for step in DEMO_STEPS if steps is None else steps:
        key = f"demo:{step.name}"

        def pending(uow: UnitOfWork, key: str = key) -> bool:
            return InstanceSettings(uow.connection).get(key) is None

        if not postroom.db.run(pending, readonly=True):
            continue
        found = step.load(postroom)
        if found and facts is not None:
            facts.update(found)

        def mark(uow: UnitOfWork, key: str = key) -> None:
            InstanceSettings(uow.connection).add_if_absent(key, "done", postroom.clock.now())
            uow.commit()

        postroom.db.run(mark)
        ran.append(step.name)
    return ran
