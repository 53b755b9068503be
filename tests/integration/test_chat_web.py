"""``/chat`` and ``/console/chats``: a customer chats (without JavaScript: forms), an
agent takes the chat from the console and answers; another account's chat and the
console for anyone but support staff are 404; a second agent taking the chat is told;
the transcript shows in the case."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from served import served
from werkzeug.test import TestResponse

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.frontends.web import create_app

PASSWORD = "quiet harbour lantern 8"
OPEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York, a Monday


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
def desk(shipped_articles: Postroom, clock: FrozenClock) -> Postroom:
    postroom = shipped_articles
    clock.set(OPEN)
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    theirs = postroom.accounts.create("Other Mailroom", "US", "USD").number
    _person(postroom, mine, "owner@acme.example", "owner")
    _person(postroom, theirs, "owner@other.example", "owner")
    _person(postroom, None, "ana@postroom.example", "agent")
    _person(postroom, None, "bo@postroom.example", "agent")
    _person(postroom, None, "manager@postroom.example", "account-manager")
    return postroom


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def post(client: FlaskClient, page: str, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def start_chat(client: FlaskClient) -> str:
    started = post(client, "/chat", "/chat", {})
    assert started.status_code == 302
    return started.headers["Location"].rsplit("/", 1)[-1]


def test_customer_and_agent_chat_and_the_transcript_is_the_case(desk: Postroom, app) -> None:
    customer = app.test_client()
    sign_in(customer, desk, "owner@acme.example")
    token = start_chat(customer)
    page = f"/chat/{token}"
    post(customer, page, f"{page}/say", {"message": "my meter is locked"})
    shown = customer.get(page).get_data(as_text=True)
    assert "/help/articles/meter-locked" in shown
    post(customer, page, f"{page}/say", {"message": "agent please"})
    assert "number 1 in the queue" in customer.get(page).get_data(as_text=True)

    ana, bo = app.test_client(), app.test_client()
    sign_in(ana, desk, "ana@postroom.example")
    sign_in(bo, desk, "bo@postroom.example")
    console = ana.get("/console/chats").get_data(as_text=True)
    assert "Acme Mailroom" not in console or "Owner" in console
    [chat_id] = re.findall(r"/console/chats/(\d+)/take", console)
    bo_console = bo.get("/console/chats").get_data(as_text=True)
    taken = post(ana, "/console/chats", f"/console/chats/{chat_id}/take", {})
    assert taken.status_code == 302
    late = bo.post(f"/console/chats/{chat_id}/take", data={"csrf_token": csrf(bo_console)})
    assert late.status_code == 302
    assert "Another agent took this chat first" in bo.get("/console/chats").get_data(as_text=True)
    assert bo.get(f"/console/chats/{chat_id}").status_code == 404

    agent_page = f"/console/chats/{chat_id}"
    post(ana, agent_page, f"{agent_page}/answer", {"message": "Hello, Ana here."})
    assert "Hello, Ana here." in customer.get(page).get_data(as_text=True)
    polled = customer.get(f"{page}/messages?after=0").get_json()
    assert polled["state"]["status"] == "active"
    assert polled["messages"][-1]["body"] == "Hello, Ana here."
    post(ana, agent_page, f"{agent_page}/end", {})
    closed = customer.get(page).get_data(as_text=True)
    number = re.search(r"case ([A-Z0-9-]+)", closed)
    assert number is not None
    case = desk.cases.get(desk.accounts.list(limit=10)[0].number, number.group(1)).case
    assert "Hello, Ana here." in case.description
    events = customer.get(f"{page}/events")
    assert events.mimetype == "text/event-stream"
    assert '"status": "closed"' in events.get_data(as_text=True)


def test_another_accounts_chat_is_404(desk: Postroom, app) -> None:
    mine, theirs = app.test_client(), app.test_client()
    sign_in(mine, desk, "owner@acme.example")
    sign_in(theirs, desk, "owner@other.example")
    token = start_chat(mine)
    for path in (f"/chat/{token}", f"/chat/{token}/messages", f"/chat/{token}/events"):
        assert theirs.get(path).status_code == 404
    page = csrf(theirs.get("/chat").get_data(as_text=True))
    for action in ("say", "close", "leave-message", "typing"):
        response = theirs.post(f"/chat/{token}/{action}", data={"csrf_token": page, "message": "x"})
        assert response.status_code == 404, action


@pytest.mark.parametrize("who", [None, "owner@acme.example", "manager@postroom.example"])
def test_the_console_is_only_for_support_staff(desk: Postroom, client, who) -> None:
    if who:
        sign_in(client, desk, who)
    assert client.get("/console/chats").status_code in (302, 404)
    assert client.get("/console/chats/1").status_code in (302, 404)
    assert client.post("/console/chats/1/take").status_code in (302, 400, 404)


def test_bad_messages_get_a_clear_answer(desk: Postroom, client) -> None:
    sign_in(client, desk, "owner@acme.example")
    token = start_chat(client)
    page = f"/chat/{token}"
    assert post(client, page, f"{page}/say", {"message": ""}).status_code == 302
    assert "Write a message first." in client.get(page).get_data(as_text=True)
    huge = post(client, page, f"{page}/say", {"message": "x" * 100_000})
    assert huge.status_code in (302, 413)
    post(client, page, f"{page}/say", {"message": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in client.get(page).get_data(as_text=True)
    assert client.post(f"{page}/say", data={"message": "no token"}).status_code == 400


def test_article_paths_become_links_and_nothing_else_does(desk: Postroom, client) -> None:
    sign_in(client, desk, "owner@acme.example")
    token = start_chat(client)
    page = f"/chat/{token}"
    post(client, page, f"{page}/say", {"message": "my meter is locked"})
    post(client, page, f"{page}/say", {"message": '<a href="/x">/help/articles/evil"x</a>'})
    shown = client.get(page).get_data(as_text=True)
    assert '<a href="/help/articles/meter-locked">' in shown
    assert '<a href="/x">' not in shown
    assert "&lt;a href=" in shown


# ------------------------------------------------------------------ event streams


def _start(sock: socket.socket) -> bytes:
    """An event stream's first bytes, up to its ``retry`` (how soon its browser comes back)."""
    seen = b""
    while not re.search(rb"\nretry: \d+\n", seen):
        chunk = sock.recv(65536)
        assert chunk, seen
        seen += chunk
    return seen


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_twenty_four_watchers_of_a_chat_do_not_starve_a_real_server(
    postroom: Postroom, clock: FrozenClock
) -> None:
    """waitress with four threads, two of which may hold a waiting event stream: of 24
    watchers of one chat two wait, 22 are answered at once (their browsers come back
    later), and a page is served while the two still wait."""
    clock.set(OPEN)
    number = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    _person(postroom, number, "owner@acme.example", "owner")
    session = postroom.identity.sign_in("owner@acme.example", PASSWORD, client="127.0.0.1")
    chat = postroom.chat.start(number, "Owner", "en")
    app = create_app(
        {"TESTING": True, "CHAT_WAITING_STREAMS": 2, "CHAT_EVENTS_WAIT": 30}, postroom=postroom
    )
    client = app.test_client()
    client.set_cookie("postroom_session", session.token)
    first = client.get(f"/chat/{chat.token}/events").get_data(as_text=True)
    seen = re.search(r"^id: (\S+)$", first, re.MULTILINE)
    assert seen is not None  # a client without an id gets the state at once

    with served(app, threads=4) as port:
        request = (
            f"GET /chat/{chat.token}/events HTTP/1.0\r\nHost: 127.0.0.1\r\n"
            f"Cookie: postroom_session={session.token}\r\nLast-Event-ID: {seen.group(1)}\r\n\r\n"
        )
        watchers = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(24)]
        try:
            for watcher in watchers:
                watcher.sendall(request.encode())
            starts = {watcher: _start(watcher) for watcher in watchers}
            answered = [w for w in watchers if b"\nretry: 2000\n" in starts[w]]
            assert len(answered) == 22
            for watcher in answered:  # ended at once: no thread held
                assert (starts[watcher] + _read_all(watcher)).endswith(b": nothing new\n\n")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
                other.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                assert _read_all(other).startswith(b"HTTP/1.0 200")
            app.extensions["chat_streams"].stop()  # the two waiting end at once, not in 30 s
            for watcher in set(watchers) - set(answered):
                assert b"\nretry: 500\n" in starts[watcher]
                assert (starts[watcher] + _read_all(watcher)).endswith(b": nothing new\n\n")
        finally:
            for watcher in watchers:
                watcher.close()
