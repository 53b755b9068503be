"""``/help`` and ``/api/v1/articles``: readers search and read without signing in and vote
once each; staff writers (agent, supervisor, admin) write, edit, publish and archive;
everyone else gets 404 from the staff pages; drafts and archived articles are 404 to
readers; script in an article never reaches a page."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from postroom.core.app import Postroom

PASSWORD = "quiet harbour lantern 8"


def _person(postroom: Postroom, number: str | None, email: str, role: str) -> None:
    if number is None:
        link = postroom.identity.invite_staff(email, role)
    else:
        link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )


@pytest.fixture
def people(shipped_articles: Postroom) -> Postroom:
    postroom = shipped_articles
    number = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    _person(postroom, number, "owner@acme.example", "owner")
    _person(postroom, None, "agent@postroom.example", "agent")
    _person(postroom, None, "manager@postroom.example", "account-manager")
    return postroom


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def post_form(client: FlaskClient, page: str, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def french(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"


def test_the_help_centre_is_readable_without_signing_in(people: Postroom, client) -> None:
    home = client.get("/help").get_data(as_text=True)
    assert "Help centre" in home
    assert "Postage meters" in home
    assert "The meter is locked and will not print" in home
    found = client.get("/help?q=meter+locked").get_data(as_text=True)
    assert "/help/articles/meter-locked" in found
    assert "<mark>" in found
    page = client.get("/help/articles/meter-locked")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Related articles" in text
    assert "/help/articles/machine-bloquee" in text  # the translation
    assert client.get("/help?product=meters&topic=refunds").status_code == 200


def test_the_help_centre_speaks_french(people: Postroom, client) -> None:
    french(client)
    home = client.get("/help").get_data(as_text=True)
    assert "Centre d\u2019aide" in home
    assert "La machine est bloquée et n&#39;imprime plus" in home
    found = client.get("/help?q=machine+bloquee").get_data(as_text=True)
    assert "/help/articles/machine-bloquee" in found
    page = client.get("/help/articles/machine-bloquee").get_data(as_text=True)
    assert "Cet article vous a-t-il aidé ?" in page


@pytest.mark.parametrize("query", ["", "   ", "x" * 100_000])
def test_an_empty_or_huge_search_gets_a_clear_answer(people: Postroom, client, query) -> None:
    response = client.get("/help", query_string={"q": query})
    assert response.status_code in (200, 414)
    api = client.get("/api/v1/articles", query_string={"q": query or " "})
    assert api.status_code in (422, 414)
    if api.status_code == 422:
        assert api.get_json()["error"]["code"] in ("empty_query", "query_too_long")


def test_drafts_and_archived_articles_are_404_to_readers(people: Postroom, client) -> None:
    people.knowledge.archive("order-ink")
    assert client.get("/help/articles/order-ink").status_code == 404
    assert client.get("/api/v1/articles/order-ink").status_code == 404
    assert client.get("/help/articles/no-such-thing").status_code == 404
    assert client.get("/help/articles/..%2F..%2Fetc").status_code == 404


def test_a_reader_votes_once_and_can_change_the_vote(people: Postroom, client) -> None:
    page = "/help/articles/meter-locked"
    path = f"{page}/vote"
    assert post_form(client, page, path, {"helpful": "yes"}).status_code == 302
    assert post_form(client, page, path, {"helpful": "no"}).status_code == 302
    [count] = people.knowledge.votes()
    assert (count.helpful, count.not_helpful) == (0, 1)
    assert client.post(path, data={"helpful": "yes"}).status_code == 400  # no CSRF token
    assert post_form(client, page, path, {"helpful": "maybe"}).status_code == 400


def test_suggestions_count_a_read_article_as_deflection(people: Postroom, client) -> None:
    answer = client.get(
        "/api/v1/articles/suggestions",
        query_string={"subject": "meter is locked", "description": "it will not print"},
    ).get_json()
    assert answer["results"]
    url = answer["results"][0]["url"]
    assert answer["token"] in url
    assert client.get(url).status_code == 200
    report = people.knowledge.deflection()
    assert (report.read, report.deflected) == (1, 1)
    fallback = client.get(
        "/help/suggestions", query_string={"subject": "password reset", "token": answer["token"]}
    ).get_data(as_text=True)
    assert f"from={answer['token']}" in fallback
    assert people.knowledge.missed_searches() == []


def test_the_api_searches_and_reads_without_a_key(people: Postroom, client) -> None:
    found = client.get("/api/v1/articles?q=control+sum&language=en").get_json()
    assert found["results"][0]["slug"] == "registers-explained"
    french_list = client.get("/api/v1/articles?language=fr").get_json()["articles"]
    assert len(french_list) >= 40
    article = client.get("/api/v1/articles/registres-expliques").get_json()
    assert article["language"] == "fr"
    assert "<table>" in article["html"]
    bad = client.get("/api/v1/articles?q=meter&language=de")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_language"
    assert client.get("/api/v1/articles?q=meter&limit=0").status_code == 422


@pytest.mark.parametrize("who", [None, "owner@acme.example", "manager@postroom.example"])
def test_staff_pages_are_404_to_everyone_but_writers(people: Postroom, client, who) -> None:
    if who:
        sign_in(client, people, who)
    for path in ("/help/staff", "/help/staff/new", "/help/staff/articles/meter-locked"):
        response = client.get(path)
        assert response.status_code in (302, 404), path
        if response.status_code == 302:
            assert "/account/sign-in" in response.headers["Location"]
    assert client.post("/help/staff/articles/meter-locked/status").status_code in (302, 400, 404)
    assert people.knowledge.get("meter-locked").version == 1


def test_an_agent_writes_publishes_edits_and_archives(people: Postroom, client) -> None:
    sign_in(client, people, "agent@postroom.example")
    assert "Deflection rate" in client.get("/help/staff").get_data(as_text=True)
    form = {
        "title": "Weighing a parcel on the scale",
        "slug": "weigh-parcel",
        "family": "weigh-parcel",
        "language": "en",
        "product": "shipping",
        "topic": "scales",
        "related": "tracking-statuses",
        "body": "Put the parcel **in the middle**. <script>alert('x')</script>",
    }
    created = post_form(client, "/help/staff/new", "/help/staff/new", form)
    assert created.status_code == 302
    assert client.get("/help/articles/weigh-parcel").status_code == 404  # a draft
    page = "/help/staff/articles/weigh-parcel"
    post_form(client, page, f"{page}/status", {"status": "published"})
    shown = client.get("/help/articles/weigh-parcel").get_data(as_text=True)
    assert "<strong>in the middle</strong>" in shown
    assert "<script>alert" not in shown
    edited = post_form(client, page, page, {**form, "title": "Weighing a parcel"})
    assert edited.status_code == 302
    assert people.knowledge.get("weigh-parcel").version == 2
    assert "Earlier versions" in client.get(page).get_data(as_text=True)
    taken = post_form(client, page, page, {**form, "slug": "meter-locked"})
    assert taken.status_code == 200
    assert "Another article has this address." in taken.get_data(as_text=True)
    post_form(client, page, f"{page}/status", {"status": "archived"})
    assert client.get("/help/articles/weigh-parcel").status_code == 404


def test_the_assistant_page_answers_without_signing_in(people: Postroom, client) -> None:
    answer = post_form(client, "/help/ask", "/help/ask", {"question": "my meter is locked"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "/help/articles/meter-locked" in text
    french(client)
    answer = post_form(client, "/help/ask", "/help/ask", {"question": "ma machine est bloquée"})
    assert "/help/articles/machine-bloquee" in answer.get_data(as_text=True)


def test_the_assistant_reads_only_the_signed_in_customers_balance(people: Postroom, client) -> None:
    anonymous = post_form(client, "/help/ask", "/help/ask", {"question": "what is my balance?"})
    assert "Sign in and ask again" in anonymous.get_data(as_text=True)
    sign_in(client, people, "owner@acme.example")
    mine = post_form(client, "/help/ask", "/help/ask", {"question": "what is my balance?"})
    text = mine.get_data(as_text=True)
    assert "$0.00" in text or "no postage account" in text
    # the account is the session's: a customer number in the form is not read
    other = people.accounts.create("Other Mailroom", "US", "USD").number
    forged = post_form(
        client, "/help/ask", "/help/ask", {"question": "what is my balance?", "account": other}
    )
    assert other not in forged.get_data(as_text=True)


def test_the_assistant_page_hands_off_and_refuses_bad_questions(people: Postroom, client) -> None:
    handoff = post_form(client, "/help/ask", "/help/ask", {"question": "agent please"})
    assert "This needs a person from our support team." in handoff.get_data(as_text=True)
    first = post_form(client, "/help/ask", "/help/ask", {"question": "xyzzy frobnicate"})
    assert 'name="misses" value="1"' in first.get_data(as_text=True)
    second = post_form(client, "/help/ask", "/help/ask", {"question": "quux wibble", "misses": "1"})
    assert "This needs a person from our support team." in second.get_data(as_text=True)
    huge = post_form(client, "/help/ask", "/help/ask", {"question": "x" * 100_000})
    assert huge.status_code in (200, 413)
    if huge.status_code == 200:
        assert "That is too long" in huge.get_data(as_text=True)
    script = post_form(
        client, "/help/ask", "/help/ask", {"question": "<script>alert(1)</script> meter"}
    )
    assert "<script>alert(1)" not in script.get_data(as_text=True)
    assert client.post("/help/ask", data={"question": "hi"}).status_code == 400  # no CSRF


def test_a_flood_of_questions_to_the_assistant_is_rate_limited(people: Postroom, client) -> None:
    token = csrf(client.get("/help/ask").get_data(as_text=True))
    answers = [
        client.post("/help/ask", data={"csrf_token": token, "question": "meter"}).status_code
        for _ in range(31)
    ]
    assert answers[:30] == [200] * 30
    assert answers[30] == 429
