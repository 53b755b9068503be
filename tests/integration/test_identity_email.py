"""The identity area's email through a real SMTP server on loopback: a registration's
verification link arrives in the person's language as text and HTML, and messages to
a customer account reach its verified owners and admins (the identity address book)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import UnitOfWork
from postroom.core.ports import Notification, Translation
from postroom.frontends.web import create_app

PASSWORD = "correct horse battery staple"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())


def register(client: FlaskClient, email: str, language: str = "en") -> None:
    headers = {"Accept-Language": language}
    token = csrf(client.get("/account/register", headers=headers).text)
    data = {
        "csrf_token": token,
        "email": email,
        "password": PASSWORD,
        "security_question": "Ville natale ?",
        "security_answer": "Saint-Étienne",
        "name": "Anne <Archer>",
        "company": "Acme Courrier",
        "phone": "+33 1 42 68 53 00",
    }
    assert client.post("/account/register", data=data, headers=headers).status_code == 303


def open_postroom(database_url: str, data_dir: Path, clock: FrozenClock, smtp: Any) -> Postroom:
    config = Config.load(
        {},
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret",
        public_url="https://portal.acme.example",
        **smtp.settings,
    )
    return Postroom.open(config=config, clock=clock, immediate_jobs=True)


def test_the_verification_link_arrives_in_french_as_text_and_html(
    database_url: str, data_dir: Path, clock: FrozenClock, smtp_server: Any
) -> None:
    with open_postroom(database_url, data_dir, clock, smtp_server) as pr:
        client = create_app({"TESTING": True}, postroom=pr).test_client()
        register(client, "anne@acme.example", "fr")
        assert smtp_server.received == []  # not during the request: the worker sends it
        assert pr.outbox.deliver_due() == 1
        [arrived] = smtp_server.wait_for(1)
        assert arrived["To"].addresses[0].addr_spec == "anne@acme.example"
        assert arrived["Subject"] == "Confirmez votre adresse e-mail"
        text = part(arrived, "plain")
        html = part(arrived, "html")
        assert "Bonjour Anne <Archer>" in text
        assert "Anne &lt;Archer&gt;" in html  # the name is escaped in the HTML
        link = re.search(r"https://portal\.acme\.example(/account/verify/\S+)", text).group(1)
        assert f'href="https://portal.acme.example{link}"' in html
        verified = client.post(link, data={"csrf_token": csrf(client.get(link).text)})
        assert verified.status_code == 303
        assert pr.identity.by_email("anne@acme.example").verified


def test_customer_messages_reach_the_verified_owners_and_admins_only(
    database_url: str, data_dir: Path, clock: FrozenClock, smtp_server: Any
) -> None:
    with open_postroom(database_url, data_dir, clock, smtp_server) as pr:
        client = create_app({"TESTING": True}, postroom=pr).test_client()
        register(client, "anne@acme.example", "fr")
        pr.outbox.deliver_due()
        [verification] = smtp_server.wait_for(1)
        link = re.search(r"(/account/verify/\S+)", part(verification, "plain")).group(1)
        client.post(link, data={"csrf_token": csrf(client.get(link).text)})
        owner = pr.identity.by_email("anne@acme.example")
        number = owner.account_number
        admin = pr.identity.invite(number, "adam@acme.example", "admin")
        pr.identity.accept_invitation(
            admin.token,
            name="Adam Admin",
            password="adam's long password",
            security_question="Q?",
            security_answer="A",
            phone="+1 202 555 0143",
            language="en",
        )
        pr.identity.invite(number, "otto@acme.example", "user")  # an operator: not told
        pr.identity.invite(number, "ivy@acme.example", "admin")  # invited, not accepted
        pr.outbox.deliver_due()
        before = len(smtp_server.wait_for(4))

        def work(uow: UnitOfWork) -> str:
            message = pr.outbox.add(
                uow.connection,
                Notification(
                    recipient=f"customer:{number}",
                    subject="Your meter is due for inspection",
                    body="Connect it to the data center within 14 days.",
                    translations={
                        "fr": Translation(
                            subject="Votre machine doit être inspectée",
                            body="Connectez-la au centre de données sous 14 jours.",
                        )
                    },
                ),
            )
            uow.commit()
            return str(message.id)

        pr.outbox.deliver([pr.db.run(work)])
        arrived = smtp_server.wait_for(before + 2)[before:]
        subjects = {m["To"].addresses[0].addr_spec: str(m["Subject"]) for m in arrived}
        assert subjects == {
            "anne@acme.example": "Votre machine doit être inspectée",
            "adam@acme.example": "Your meter is due for inspection",
        }
