"""The customer's ``/support`` pages and the agent console ``/console`` through the test
client with CSRF on, on the real database: who may see what (another account's case
answers 404 on every route; customers get 404 on every console route), the thread with
its internal notes kept from the customer, canned replies, bulk actions, logging a call,
merging, reports, and bad input that never gives a 500."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

import attrs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.cases.model import Actor

PASSWORD = "quiet harbour lantern 8"


@attrs.frozen
class People:
    mine: str  # Alice's customer account
    theirs: str  # Bob's
    agent_id: int
    supervisor_id: int


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def _person(
    postroom: Postroom, number: str | None, email: str, role: str, language: str = "en"
) -> int:
    if number is None:
        link = postroom.identity.invite_staff(email, role)
    else:
        link = postroom.identity.invite(number, email, role)
    user = postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language=language,
    )
    return user.id


@pytest.fixture
def people(postroom: Postroom) -> People:
    mine = postroom.accounts.create("Acme Mail", "US", "USD").number
    theirs = postroom.accounts.create("Other Co", "FR", "EUR").number
    _person(postroom, mine, "alice@acme.example", "owner")
    _person(postroom, mine, "carl@acme.example", "user")
    _person(postroom, theirs, "bob@other.example", "owner", "fr")
    agent = _person(postroom, None, "agnes@vendor.example", "agent")
    supervisor = _person(postroom, None, "sue@vendor.example", "supervisor")
    return People(mine, theirs, agent, supervisor)


def sign_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    token = csrf(client.get("/account/sign-in").text)
    response = client.post(
        "/account/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 303, response.text[:300]
    return client


def post_form(client: FlaskClient, page: str, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = csrf(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def open_case(client: FlaskClient, **fields: str) -> str:
    data = {
        "department": "equipment",
        "subject": "Meter shows error E42",
        "description": "Since this morning the meter will not print.",
        "meter": "",
        **fields,
    }
    response = post_form(client, "/support/new", "/support/new", data)
    assert response.status_code == 303, response.text[:2000]
    number = response.headers["Location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"C-\d{4}-\d{6}", number)
    return number


# ------------------------------------------------------------------ journey


def test_a_customer_opens_a_case_an_agent_replies_the_customer_reads_and_closes(
    app: Flask, people: People, postroom: Postroom
) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice)
    page = alice.get(f"/support/{number}").text
    assert number in page
    assert "Meter shows error E42" in page

    agent = sign_in(app, "agnes@vendor.example")
    assert agent.get("/dashboard").headers["Location"] == "/console"
    queue = agent.get("/console?view=all").text
    assert number in queue
    case_page = agent.get(f"/console/cases/{number}").text
    assert "Acme Mail" in case_page  # the customer's context beside the case
    response = post_form(
        agent,
        f"/console/cases/{number}",
        f"/console/cases/{number}/reply",
        {"reply-body": "Please restart the meter.", "reply-status": "waiting_on_customer"},
    )
    assert response.status_code == 303
    post_form(
        agent,
        f"/console/cases/{number}",
        f"/console/cases/{number}/note",
        {"note-body": "Customer sounded annoyed; check the firmware."},
    )

    page = alice.get(f"/support/{number}").text
    assert "Please restart the meter." in page
    assert "firmware" not in page  # internal notes never reach the customer
    assert "Waiting on customer" in page
    response = post_form(alice, f"/support/{number}", f"/support/{number}/close", {})
    assert response.status_code == 303
    assert "Closed" in alice.get(f"/support/{number}").text
    detail = postroom.cases.get_for_staff(number, by=Actor.staff(people.agent_id, "Agnes"))
    assert detail.case.status.value == "closed"


def test_the_dashboard_lists_the_accounts_open_cases(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice, subject="Ink cartridge empty")
    board = alice.get("/dashboard").text
    assert number in board
    assert "Ink cartridge empty" in board


def test_a_case_linked_to_a_meter_of_another_account_is_refused(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    response = post_form(
        alice,
        "/support/new",
        "/support/new",
        {"department": "equipment", "subject": "x", "description": "y", "meter": "PR-NOT-MINE"},
    )
    assert response.status_code == 200
    assert "Choose one of your meters." in response.text


# ----------------------------------------------------------------- security


def test_another_accounts_case_answers_404_on_every_customer_route(
    app: Flask, people: People
) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    bob = sign_in(app, "bob@other.example")
    token = csrf(bob.get("/support").text)
    assert bob.get(f"/support/{number}").status_code == 404
    assert (
        bob.post(f"/support/{number}/reply", data={"csrf_token": token, "body": "hi"}).status_code
        == 404
    )
    assert bob.post(f"/support/{number}/close", data={"csrf_token": token}).status_code == 404
    assert bob.get("/support/C-2026-999999").status_code == 404
    assert bob.get("/support/not-a-number").status_code == 404
    assert number not in bob.get("/support").text


CONSOLE_GETS = [
    "/console",
    "/console?view=priority",
    "/console/log",
    "/console/reports",
    "/console/reports/channels.csv",
    "/console/canned",
    "/console/canned/new",
]
CONSOLE_POSTS = [
    "reply",
    "note",
    "take",
    "assign",
    "status",
    "priority",
    "escalate",
    "merge",
    "link",
]


def test_customers_get_404_on_every_console_route(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice)
    token = csrf(alice.get("/support").text)
    for path in [*CONSOLE_GETS, f"/console/cases/{number}"]:
        assert alice.get(path).status_code == 404, path
    for action in CONSOLE_POSTS:
        path = f"/console/cases/{number}/{action}"
        assert alice.post(path, data={"csrf_token": token}).status_code == 404, path
    assert (
        alice.post("/console/bulk", data={"csrf_token": token, "case": number}).status_code == 404
    )
    assert alice.post("/console/log", data={"csrf_token": token}).status_code == 404
    anonymous = app.test_client()
    assert anonymous.get("/console").status_code == 302  # to the sign-in page


def test_staff_have_no_customer_support_pages(app: Flask, people: People) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    assert agent.get("/support").status_code == 404
    assert agent.get("/support/new").status_code == 404
    assert agent.get("/support/trace").status_code == 404
    assert agent.get("/support/claim").status_code == 404


def test_the_priority_queue_and_canned_reply_writing_are_the_supervisors(
    app: Flask, people: People
) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    assert agent.get("/console?view=priority").status_code == 404
    assert agent.get("/console/canned/new").status_code == 404
    supervisor = sign_in(app, "sue@vendor.example")
    assert supervisor.get("/console?view=priority").status_code == 200
    assert supervisor.get("/console/canned/new").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(app: Flask, people: People) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    agent = sign_in(app, "agnes@vendor.example")
    response = agent.post(f"/console/cases/{number}/reply", data={"reply-body": "hi"})
    assert response.status_code == 400


# ------------------------------------------------------------------ console


def test_escalation_puts_the_case_in_the_priority_queue(app: Flask, people: People) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    agent = sign_in(app, "agnes@vendor.example")
    page = f"/console/cases/{number}"
    refused = post_form(agent, page, f"{page}/escalate", {"escalate-reason": ""})
    assert refused.status_code == 422
    assert "Give the reason." in refused.text
    done = post_form(agent, page, f"{page}/escalate", {"escalate-reason": "meter down, deadline"})
    assert done.status_code == 303
    supervisor = sign_in(app, "sue@vendor.example")
    assert number in supervisor.get("/console?view=priority").text


def test_take_assign_and_my_cases(app: Flask, people: People) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    agent = sign_in(app, "agnes@vendor.example")
    page = f"/console/cases/{number}"
    assert post_form(agent, page, f"{page}/take", {}).status_code == 303
    assert number in agent.get("/console?view=mine").text
    assert (
        post_form(
            agent, page, f"{page}/assign", {"assign-assignee": str(people.supervisor_id)}
        ).status_code
        == 303
    )
    assert number not in agent.get("/console?view=mine").text


def test_bulk_close_acts_on_each_ticked_case(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    first, second = open_case(alice), open_case(alice, subject="Second")
    agent = sign_in(app, "agnes@vendor.example")
    response = post_form(
        agent,
        "/console?view=all",
        "/console/bulk",
        {"case": [first, second], "action": "close", "next": "/console?view=all"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/console?view=all"
    queue = agent.get("/console?view=all").text
    assert first not in queue
    assert second not in queue
    assert "2 case(s) updated." in queue


def test_an_agent_logs_a_phone_call_with_the_callers_details(app: Flask, people: People) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    response = post_form(
        agent,
        "/console/log",
        "/console/log",
        {
            "channel": "phone",
            "account": people.mine,
            "contact_name": "Dana Caller",
            "contact_phone": "+1 212 555 0199",
            "contact_email": "",
            "contact_details": "",
            "department": "",
            "priority": "high",
            "subject": "Called about a refund",
            "description": "Wants a refund of unused postage.",
        },
    )
    assert response.status_code == 303
    page = agent.get(response.headers["Location"]).text
    assert "Dana Caller" in page
    assert "+1 212 555 0199" in page
    assert "Phone" in page
    unknown = post_form(
        agent,
        "/console/log",
        "/console/log",
        {"channel": "mail", "account": "9999999999", "subject": "s", "description": "d"},
    )
    assert unknown.status_code == 200
    assert "There is no customer account with this number." in unknown.text


def test_a_canned_reply_is_filled_from_the_case_in_french(
    app: Flask, people: People, postroom: Postroom
) -> None:
    reply = postroom.canned_replies.add(
        "Received",
        "Hello {customer_name}, your case {case_number} is with us.",
        "Bonjour {customer_name}, votre dossier {case_number} est entre nos mains.",
    )
    number = open_case(sign_in(app, "alice@acme.example"))
    agent = sign_in(app, "agnes@vendor.example")
    page = agent.get(f"/console/cases/{number}?canned={reply.id}&lang=fr").text
    assert f"Bonjour Alice, votre dossier {number} est entre nos mains." in page
    # without a language chosen, the customer's own (Alice reads English)
    page = agent.get(f"/console/cases/{number}?canned={reply.id}").text
    assert f"Hello Alice, your case {number} is with us." in page
    bob_case = open_case(sign_in(app, "bob@other.example"))
    page = agent.get(f"/console/cases/{bob_case}?canned={reply.id}").text
    assert f"Bonjour Bob, votre dossier {bob_case} est entre nos mains." in page


def test_a_supervisor_writes_a_canned_reply_and_an_unknown_placeholder_is_refused(
    app: Flask, people: People
) -> None:
    supervisor = sign_in(app, "sue@vendor.example")
    form = {"title": "Hi", "department": "", "body_en": "Hello {nom}", "body_fr": "Bonjour"}
    refused = post_form(supervisor, "/console/canned/new", "/console/canned/new", form)
    assert refused.status_code == 200
    assert "Use only the placeholders" in refused.text
    form["body_en"] = "Hello {customer_name}"
    assert (
        post_form(supervisor, "/console/canned/new", "/console/canned/new", form).status_code == 303
    )
    assert "Hello {customer_name}" in supervisor.get("/console/canned").text


def test_a_merged_case_number_leads_to_the_case_it_joined(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    duplicate, survivor = open_case(alice), open_case(alice, subject="Same problem")
    agent = sign_in(app, "agnes@vendor.example")
    page = f"/console/cases/{duplicate}"
    response = post_form(agent, page, f"{page}/merge", {"merge-into": survivor})
    assert response.status_code == 303
    moved = agent.get(page)
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith(survivor)
    assert alice.get(f"/support/{duplicate}").headers["Location"].endswith(survivor)
    refused = post_form(
        agent,
        f"/console/cases/{survivor}",
        f"/console/cases/{survivor}/merge",
        {"merge-into": survivor},
    )
    assert refused.status_code == 422


def test_reports_show_tables_svg_charts_and_csv(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    open_case(alice)
    open_case(alice, department="billing", subject="Invoice question")
    agent = sign_in(app, "agnes@vendor.example")
    page = agent.get("/console/reports").text
    charts = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(charts) == 5
    for chart in charts:
        ET.fromstring(chart)
    assert "Volume by channel" in page
    download = agent.get("/console/reports/channels.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["Channel", "Opened", "Resolved"]
    assert ["Web form", "2", "0"] in rows
    assert agent.get("/console/reports?since=yesterday").status_code == 200
    assert "Enter dates as YYYY-MM-DD." in agent.get("/console/reports?since=x").text
    assert agent.get("/console/reports/nothing.csv").status_code == 404


# ---------------------------------------------------------------- bad input


def test_html_in_a_subject_or_message_is_shown_as_text(app: Flask, people: People) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice, subject="<script>alert(1)</script>", description="<b>bold</b>")
    agent = sign_in(app, "agnes@vendor.example")
    for page in (
        alice.get(f"/support/{number}").text,
        agent.get(f"/console/cases/{number}").text,
        agent.get("/console?view=all").text,
    ):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "query",
    [
        "view=nope",
        "view=department&department=kitchen",
        "status=bogus",
        "priority=%00",
        "channel=fax",
        "account=%3Cb%3E",
        "page=-1",
        "page=99999999999999",
        "due=whenever",
    ],
)
def test_bad_queue_filters_never_give_a_500(app: Flask, people: People, query: str) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    # a NUL is refused before any page reads it (security.refuse_nul); the rest is read
    expected = (400,) if "%00" in query else (200, 404)
    assert agent.get(f"/console?{query}").status_code in expected


def test_empty_and_oversize_messages_are_refused_next_to_the_field(
    app: Flask, people: People
) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice)
    empty = post_form(alice, f"/support/{number}", f"/support/{number}/reply", {"body": "  "})
    assert empty.status_code == 422
    assert "Write a message." in empty.text
    huge = post_form(
        alice, f"/support/{number}", f"/support/{number}/reply", {"body": "x" * 20_001}
    )
    assert huge.status_code == 422
    missing = post_form(
        alice, "/support/new", "/support/new", {"department": "", "subject": "", "description": ""}
    )
    assert missing.status_code == 200
    assert "Choose a department." in missing.text


def test_the_pages_are_in_french_for_a_french_reader(app: Flask, people: People) -> None:
    bob = sign_in(app, "bob@other.example")  # his profile says French
    number = open_case(bob)
    listing = bob.get("/support").text
    assert "Demandes au support" in listing
    assert number in listing
    page = bob.get(f"/support/{number}").text
    assert f"Citez le numéro de dossier {number}" in page
    assert "Matériel d" in page  # the department, in French
    agent = sign_in(app, "agnes@vendor.example")
    token = csrf(agent.get("/console").text)
    agent.post("/language", data={"csrf_token": token, "lang": "fr", "next": "/console"})
    console = agent.get("/console?view=all").text
    assert "Tous les dossiers ouverts" in console
    assert number in console
    assert "Rapports" in agent.get("/console/reports").text


# -------------------------------------------------------------------- files

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)


def test_a_customer_attaches_a_file_and_only_who_may_see_the_case_downloads_it(
    app: Flask, people: People
) -> None:
    alice = sign_in(app, "alice@acme.example")
    token = csrf(alice.get("/support/new").text)
    response = alice.post(
        "/support/new",
        data={
            "csrf_token": token,
            "department": "equipment",
            "subject": "Photo of the jam",
            "description": "See the photo.",
            "meter": "",
            "files": (io.BytesIO(PNG), "../../jam photo.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.text[:2000]
    number = response.headers["Location"].rsplit("/", 1)[1]
    page = alice.get(f"/support/{number}").text
    link = re.search(rf'href="(/support/{number}/files/[0-9a-f]{{64}})"', page)
    assert link is not None
    assert "../" not in page.split(link.group(1))[1][:200]  # the name lost its path
    download = alice.get(link.group(1))
    assert download.status_code == 200
    assert download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment")
    agent = sign_in(app, "agnes@vendor.example")
    sha = link.group(1).rsplit("/", 1)[1]
    assert agent.get(f"/console/cases/{number}/files/{sha}").data == PNG
    bob = sign_in(app, "bob@other.example")
    assert bob.get(link.group(1)).status_code == 404
    assert bob.get(f"/console/cases/{number}/files/{sha}").status_code == 404
    assert alice.get(f"/support/{number}/files/{'0' * 64}").status_code == 404


def test_a_disguised_file_is_refused_next_to_the_field_and_nothing_is_written(
    app: Flask, people: People
) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice)
    token = csrf(alice.get(f"/support/{number}").text)
    response = alice.post(
        f"/support/{number}/reply",
        data={
            "csrf_token": token,
            "body": "Here is the invoice.",
            "files": (io.BytesIO(b"MZ\x90\x00" + bytes(200)), "invoice.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "That file is not what its name says" in response.text
    assert "Here is the invoice." not in alice.get(f"/support/{number}").text


def test_cases_of_two_accounts_are_not_merged(app: Flask, people: People) -> None:
    mine = open_case(sign_in(app, "alice@acme.example"))
    theirs = open_case(sign_in(app, "bob@other.example"))
    agent = sign_in(app, "agnes@vendor.example")
    page = f"/console/cases/{mine}"
    refused = post_form(agent, page, f"{page}/merge", {"merge-into": theirs})
    assert refused.status_code == 422
    assert "Cases of different customer accounts cannot be merged." in refused.text
    assert agent.get(page).status_code == 200  # still its own case


def test_an_agent_gives_an_unknown_contacts_case_its_account(
    app: Flask, people: People, postroom: Postroom
) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    response = post_form(
        agent,
        "/console/log",
        "/console/log",
        {
            "channel": "mail",
            "account": "",
            "contact_name": "Eve Writer",
            "subject": "Letter",
            "description": "A letter about a meter.",
            "priority": "normal",
            "department": "",
        },
    )
    assert response.status_code == 303
    number = response.headers["Location"].rsplit("/", 1)[1]
    page = f"/console/cases/{number}"
    assert "Not linked to an account" in agent.get(page).text
    refused = post_form(agent, page, f"{page}/account", {"account-account": "0000000000"})
    assert refused.status_code == 422
    assert "There is no customer account with this number." in refused.text
    done = post_form(agent, page, f"{page}/account", {"account-account": people.mine})
    assert done.status_code == 303
    assert "Acme Mail" in agent.get(page).text
    alice = sign_in(app, "alice@acme.example")
    assert alice.get(f"/support/{number}").status_code == 200


def test_a_supervisor_puts_an_agent_on_a_desk_and_new_cases_go_to_them(
    app: Flask, people: People
) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    token = csrf(agent.get("/console").text)
    assert agent.get("/console/desks").status_code == 404
    assert (
        agent.post(f"/console/desks/{people.agent_id}", data={"csrf_token": token}).status_code
        == 404
    )
    supervisor = sign_in(app, "sue@vendor.example")
    assert "Agnes" in supervisor.get("/console/desks").text
    saved = post_form(
        supervisor,
        "/console/desks",
        f"/console/desks/{people.agent_id}",
        {"department": ["billing"], "available": "1"},
    )
    assert saved.status_code == 303
    assert (
        post_form(
            supervisor, "/console/desks", "/console/desks/99999", {"department": ["billing"]}
        ).status_code
        == 404
    )
    number = open_case(sign_in(app, "alice@acme.example"), department="billing")
    assert number in agent.get("/console?view=mine").text  # routed to the billing desk


def test_escalating_twice_is_refused_with_a_message(app: Flask, people: People) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    supervisor = sign_in(app, "sue@vendor.example")
    page = f"/console/cases/{number}"
    assert (
        post_form(supervisor, page, f"{page}/escalate", {"escalate-reason": "deadline"}).status_code
        == 303
    )
    again = post_form(supervisor, page, f"{page}/escalate", {"escalate-reason": "again"})
    assert again.status_code == 422
    assert "The case is escalated already." in again.text


def test_a_supervisor_sets_an_accounts_calendar_and_manager(
    app: Flask, people: People, postroom: Postroom
) -> None:
    agent = sign_in(app, "agnes@vendor.example")
    page = f"/console/accounts/{people.mine}"
    assert "America/New_York" in agent.get(page).text  # the country's default, read only
    token = csrf(agent.get(page).text)
    assert agent.post(page, data={"csrf_token": token, "time_zone": "UTC"}).status_code == 404
    assert agent.get("/console/accounts/0000000000").status_code == 404
    alice = sign_in(app, "alice@acme.example")
    assert alice.get(page).status_code == 404
    supervisor = sign_in(app, "sue@vendor.example")
    bad = post_form(supervisor, page, page, {"time_zone": "Mars/Olympus", "subdivision": ""})
    assert bad.status_code == 200
    assert "Enter an IANA time zone" in bad.text
    done = post_form(
        supervisor,
        page,
        page,
        {
            "time_zone": "America/Chicago",
            "subdivision": "IL",
            "account_manager": str(people.agent_id),
        },
    )
    assert done.status_code == 303
    profile = postroom.cases.account_profile(people.mine, by=Actor.staff(people.agent_id, "A"))
    assert (profile.time_zone, profile.subdivision, profile.account_manager_id) == (
        "America/Chicago",
        "IL",
        people.agent_id,
    )


def test_odd_digits_and_huge_ids_in_links_and_forms_never_give_a_500(
    app: Flask, people: People
) -> None:
    number = open_case(sign_in(app, "alice@acme.example"))
    supervisor = sign_in(app, "sue@vendor.example")
    for path in (
        "/console?view=all&page=%C2%B2",
        f"/console/cases/{number}?canned=%C2%B2",
        f"/console/cases/{number}?canned=999999999999999999999999",
    ):
        assert supervisor.get(path).status_code == 200, path
    assert supervisor.get("/console/canned/99999999999999999999").status_code == 404
    for action in ("assign:\u00b2", "assign:99999999999999999999", "status:bogus", "nothing"):
        response = post_form(
            supervisor,
            "/console?view=all",
            "/console/bulk",
            {"case": [number], "action": action, "next": "/console?view=all"},
        )
        assert response.status_code == 303, action
    page = f"/console/cases/{number}"
    assert (
        post_form(supervisor, page, f"{page}/assign", {"assign-assignee": "\u00b2"}).status_code
        == 303
    )


def test_writing_to_a_closed_case_opens_a_follow_up_linked_to_it(
    app: Flask, people: People
) -> None:
    alice = sign_in(app, "alice@acme.example")
    number = open_case(alice)
    post_form(alice, f"/support/{number}", f"/support/{number}/close", {})
    response = post_form(
        alice, f"/support/{number}", f"/support/{number}/reply", {"body": "It jams again."}
    )
    assert response.status_code == 303
    follow_up = response.headers["Location"].rsplit("/", 1)[1]
    assert follow_up != number
    page = alice.get(f"/support/{follow_up}").text
    assert "It jams again." in page
    assert f"/support/{number}" in page  # linked to the old case
    assert f"opened case {follow_up}" in page


def test_a_customer_sees_the_claims_missing_documents_and_sends_one(
    app: Flask, people: People, postroom: Postroom
) -> None:
    from postroom.core.money import Money

    view = postroom.cases.file_claim(
        by=Actor.customer(people.mine, 1, "Alice"),
        customer_number=people.mine,
        tracking_number="9400100000000000000024",
        kind="lost",
        declared_value=Money.parse("80.00 USD"),
        description="Never arrived.",
    )
    number = view.case.number
    alice = sign_in(app, "alice@acme.example")
    page = alice.get(f"/support/{number}").text
    assert page.count("Still needed:") == 3
    assert "Invoice or proof of value" in page
    token = csrf(page)
    sent = alice.post(
        f"/support/{number}/claim-documents",
        data={
            "csrf_token": token,
            "document": "proof_of_value",
            "file": (io.BytesIO(PNG), "invoice.png"),
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 303
    page = alice.get(f"/support/{number}").text
    assert page.count("Still needed:") == 2
    assert "invoice.png" in page
    agent = sign_in(app, "agnes@vendor.example")
    staff_page = agent.get(f"/console/cases/{number}").text
    assert staff_page.count("Still needed:") == 2
    assert "Lost parcel" in staff_page
    bob = sign_in(app, "bob@other.example")
    token = csrf(bob.get("/support").text)
    response = bob.post(
        f"/support/{number}/claim-documents",
        data={
            "csrf_token": token,
            "document": "proof_of_value",
            "file": (io.BytesIO(PNG), "x.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 404


def test_a_customer_requests_a_trace_and_files_a_claim_from_the_pages(
    app: Flask, people: People
) -> None:
    alice = sign_in(app, "alice@acme.example")
    bad = post_form(
        alice, "/support/trace", "/support/trace", {"tracking_number": "12", "description": "x"}
    )
    assert bad.status_code == 200
    assert "8 to 40 letters and digits" in bad.text
    trace = post_form(
        alice,
        "/support/trace",
        "/support/trace",
        {"tracking_number": "9400 1000 0000 0000 0000 31", "description": "Late by a week."},
    )
    assert trace.status_code == 303
    page = alice.get(trace.headers["Location"]).text
    assert "9400100000000000000031" in page
    assert "Tracking" in page
    form = {
        "kind": "damaged",
        "tracking_number": "9400100000000000000048",
        "description": "Crushed.",
    }
    for value, message in (
        ("-5", "more than zero"),
        ("80 EUR", "Enter the amount in your account"),
        ("abc", "80.00"),
    ):
        refused = post_form(
            alice, "/support/claim", "/support/claim", {**form, "declared_value": value}
        )
        assert refused.status_code == 200, value
        assert message in refused.text, value
    claim = post_form(
        alice, "/support/claim", "/support/claim", {**form, "declared_value": "80.00"}
    )
    assert claim.status_code == 303
    page = alice.get(claim.headers["Location"]).text
    assert page.count("Still needed:") == 4  # a damaged parcel also needs photos
    assert "$80.00" in page


# ------------------------------------------------------------------ deflection


def _deflection_token(page: str) -> str:
    match = re.search(r'name="deflection"[^>]*value="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def test_the_case_form_counts_an_article_read_before_the_case_was_opened(
    app: Flask, people: People, postroom: Postroom
) -> None:
    from postroom.core.knowledge.model import make_draft

    kb = postroom.knowledge
    kb.write(
        make_draft(
            family="meter-locked",
            slug="meter-locked",
            language="en",
            title="My meter is locked",
            body="A meter locks when its inspection is overdue. Connect it to sync.",
            product="meters",
            topic="inspections",
        ),
        "ana@staff",
    )
    kb.publish("meter-locked")
    alice = sign_in(app, "alice@acme.example")

    page = alice.get("/support/new").text
    token = _deflection_token(page)
    assert f"/help/suggestions?token={token}" in page  # the no-script way to the suggestions
    # sent back (no department): the same token, and the articles suggested by the server
    data = {"csrf_token": csrf(page), "deflection": token, "department": ""}
    data |= {"subject": "Meter locked", "description": "It says the inspection is due."}
    page = alice.post("/support/new", data=data).text
    assert _deflection_token(page) == token
    assert f"/help/articles/meter-locked?from={token}" in page
    # read the suggestion, then open the case anyway: read, not deflected
    assert alice.get(f"/help/articles/meter-locked?from={token}").status_code == 200
    assert alice.post("/support/new", data=data | {"department": "equipment"}).status_code == 303
    # another form: an article read, no case: deflected
    other = _deflection_token(alice.get("/support/new").text)
    assert other != token
    alice.get(f"/help/articles/meter-locked?from={other}")

    report = kb.deflection()
    assert (report.read, report.deflected, report.opened_anyway) == (2, 1, 1)
    staff = sign_in(app, "agnes@vendor.example").get("/help/staff").text
    assert "Read an article and still opened a case" in staff
    assert "50 %" in staff
