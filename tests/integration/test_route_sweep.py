"""Every page and form of the portal and the console, as the demo's people reach them,
and every route with a garbage argument: no answer is a 500, and no page shows a
traceback. The pages are found the way a person finds them, by following the links and
the forms from the dashboard and the console; the forms are sent with hostile values
(markup, control characters, thousands of digits, empty fields) and then as they stand.
The CSRF check is off here so that the sent forms reach their routes' own checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from postroom.core.app import Postroom
from postroom.core.demo import load_demo
from postroom.frontends.web import create_app

#: what a hostile person types into a field
HOSTILE = (
    "",
    "<script>alert(1)</script>\"'",
    "9" * 5000,
    "-1",
    "\x00\x1b[2J",
    "../../etc/passwd",
    "C-9999-999999",
    "²" * 12,  # digits to str.isdigit, not to int()
)
#: a path argument no object has
GARBAGE_ARGUMENTS = {"int": "999999999", "path": "../../etc/passwd", "uuid": "0" * 32}
GARBAGE = "zz<\"'>%00"
#: forms that end the session the sweep goes on with
LEAVES = re.compile(r"sign-out|/sessions/|/password|/delete|/leave|/close-account")


class _Links(HTMLParser):
    """The links and the forms of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, str, dict[str, list[str]]]] = []
        self._form: tuple[str, str, dict[str, list[str]]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self._form = (a.get("action", ""), a.get("method", "get").lower(), {})
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            fields = self._form[2]
            kind = a.get("type", "text").lower()
            if tag == "select":
                self._select = name
                fields.setdefault(name, [])
            elif kind in ("checkbox", "radio") and "checked" not in a:
                fields.setdefault(name, [])
            elif kind == "file":
                return
            else:
                fields.setdefault(name, []).append(a.get("value", ""))
        elif tag == "option" and self._form is not None and self._select is not None:
            options = self._form[2][self._select]
            if not options or "selected" in a:
                options[:] = [a.get("value", "")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _local(base: str, href: str) -> str | None:
    url = urljoin(base, href)
    parts = urlsplit(url)
    if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
        return None
    if parts.path.startswith("/static/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _broken(response) -> bool:
    # 503 is a state the page declares (a kiosk not bound to an account), not a fault
    if response.status_code >= 500 and response.status_code != 503:
        return True
    if not response.mimetype.startswith("text/"):
        return False
    return "Traceback (most recent call last)" in response.get_data(as_text=True)


class Sweep:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.failures: list[str] = []
        self.pages: dict[str, _Links] = {}

    def check(self, what: str, response) -> None:
        if _broken(response):
            self.failures.append(f"{what} -> {response.status_code}")

    def crawl(self, starts: list[str], limit: int) -> None:
        queue = list(starts)
        while queue and len(self.pages) < limit:
            path = queue.pop(0)
            if path in self.pages:
                continue
            response = self.client.get(path)
            self.check(f"GET {path}", response)
            found = _Links()
            if response.mimetype == "text/html":
                found.feed(response.get_data(as_text=True))
            self.pages[path] = found
            for href in found.links:
                local = _local(path, href)
                if local is not None and local not in self.pages and not LEAVES.search(local):
                    queue.append(local)

    def forms(self) -> Iterator[tuple[str, str, dict[str, list[str]]]]:
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        for page, found in self.pages.items():
            for action, method, fields in found.forms:
                target = _local(page, action or page)
                if target is None or LEAVES.search(target):
                    continue
                key = (target, method, tuple(sorted(fields)))
                if key not in seen:
                    seen.add(key)
                    yield target, method, fields

    def send(self, target: str, method: str, data: dict[str, list[str]]) -> None:
        if method == "post":
            response = self.client.post(target, data=data)
        else:
            response = self.client.get(target, query_string=data)
        self.check(f"{method.upper()} {target} {sorted(data)}", response)

    def send_forms(self) -> None:
        forms = list(self.forms())
        for hostile in HOSTILE:
            for target, method, fields in forms:
                self.send(target, method, {name: [hostile] for name in fields})
        for target, method, fields in forms:  # as they stand: the actions themselves
            self.send(target, method, fields)


@pytest.fixture
def demo(postroom: Postroom) -> tuple[Flask, dict[str, str]]:
    facts: dict[str, str] = {}
    load_demo(postroom, facts=facts)
    app = create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}, postroom=postroom)
    return app, facts


def _sign_in(app: Flask, line: str) -> FlaskClient:
    email, password = re.match(r"(\S+), password (\S+)", line).groups()  # type: ignore[union-attr]
    client = app.test_client()
    answer = client.post("/account/sign-in", data={"email": email, "password": password})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


@pytest.mark.parametrize(
    ("who", "starts"),
    [
        ("demo portal owner", ["/dashboard", "/"]),
        ("demo staff supervisor", ["/console", "/"]),
    ],
)
def test_no_page_or_form_answers_a_server_error(demo, who: str, starts: list[str]) -> None:
    app, facts = demo
    sweep = Sweep(_sign_in(app, facts[who]))
    sweep.crawl(starts, limit=400)
    assert len(sweep.pages) > 40  # the sweep went through the site, not only its door
    sweep.send_forms()
    assert sweep.failures == []


def _garbage_path(rule: Rule) -> str:
    """The rule's path with each argument a value no object has: a number for a number,
    markup and a NUL for a string."""

    def argument(match: re.Match[str]) -> str:
        converter = match.group(1) or "string"
        return quote(GARBAGE_ARGUMENTS.get(converter, GARBAGE), safe="/")

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", argument, rule.rule)


@pytest.mark.parametrize("who", [None, "demo portal owner", "demo staff supervisor"])
def test_every_route_answers_a_garbage_argument_without_a_server_error(demo, who) -> None:
    app, facts = demo
    client = app.test_client() if who is None else _sign_in(app, facts[who])
    sweep = Sweep(client)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or LEAVES.search(rule.rule):
            continue
        path = _garbage_path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(path)
            else:
                response = client.open(path, method=method, data={"x": GARBAGE})
            sweep.check(f"{method} {path}", response)
    assert sweep.failures == []
