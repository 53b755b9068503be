"""A sweep of a web app as a person goes through it: the pages found by following the
links from where they start, then the forms found on them, sent with hostile values
(markup, control characters, thousands of digits, digits Python reads and ``int`` does
not, empty fields) and then as they stand. A failure is a 500 (a 503 is a state the page
declares) or a traceback on a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

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

    def take(self, path: str, page: str) -> None:
        """A page reached by a form (the sweep itself follows links only): its forms
        are sent with the others."""
        found = _Links()
        found.feed(page)
        self.pages[path] = found

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

    def _route(self, target: str, method: str) -> str:
        """The endpoint a form goes to: one vote form stands for the eighty articles'."""
        adapter = self.client.application.url_map.bind("localhost")
        try:
            endpoint, _arguments = adapter.match(urlsplit(target).path, method=method.upper())
        except HTTPException:  # no route matches (or a redirect): sent as it is
            return target
        return str(endpoint)

    def send_forms(self) -> None:
        forms = list(self.forms())
        routes: dict[tuple[str, str, tuple[str, ...]], tuple[str, str, dict[str, list[str]]]]
        routes = {}
        for target, method, fields in forms:
            routes.setdefault(
                (self._route(target, method), method, tuple(sorted(fields))),
                (target, method, fields),
            )
        for hostile in HOSTILE:  # once a route: the values are the same whatever the object
            for target, method, fields in routes.values():
                self.send(target, method, {name: [hostile] for name in fields})
        for target, method, fields in forms:  # as they stand: the actions themselves
            self.send(target, method, fields)
