"""A sweep of a web app as a person goes through it: the pages found by following the
links from where they start, then the forms found on them, sent with hostile values
(markup, control characters, thousands of digits, digits Python reads and ``int`` does
not, empty fields; for a file input, hostile files) and then as they stand. A failure is
a 500 (a 503 is a state the page declares) or a traceback on a page."""

from __future__ import annotations

import io
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import attrs
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


def _png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` and one row of data: a decompression
    bomb to a reader that believes the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    rows = zlib.compress(b"\x00" + b"\xff" * 3 * min(width, 64))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


#: what a hostile person uploads: (file name, content)
HOSTILE_FILES = (
    ("empty.png", b""),
    ("../../etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    ("invoice.pdf\x00.exe", b"MZ\x90\x00" + bytes(100)),
    ("logo.png", b"MZ\x90\x00" + bytes(100)),  # a program named as an image
    (
        "logo.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script/></svg>",
    ),
    ("huge.png", _png(100_000, 100_000)),
    ("cut.png", _png(10, 10)[:40]),
    ("x" * 1000 + ".png", _png(10, 10)),
)
#: how many forms of one route are sent as they stand (a few objects in their states,
#: not each of the eighty articles' votes)
AS_THEY_STAND = 3
#: forms that end the session the sweep goes on with
LEAVES = re.compile(r"sign-out|/sessions/|/password|/delete|/leave|/close-account")


@attrs.define
class Form:
    action: str
    method: str
    #: each field's values as the page fills them
    fields: dict[str, list[str]] = attrs.field(factory=dict)
    #: the names of its file inputs
    files: list[str] = attrs.field(factory=list)


class _Links(HTMLParser):
    """The links and the forms of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            fields = self._form.fields
            kind = a.get("type", "text").lower()
            if tag == "select":
                self._select = name
                fields.setdefault(name, [])
            elif kind in ("checkbox", "radio") and "checked" not in a:
                fields.setdefault(name, [])
            elif kind == "file":
                self._form.files.append(name)
            else:
                fields.setdefault(name, []).append(a.get("value", ""))
        elif tag == "option" and self._form is not None and self._select is not None:
            options = self._form.fields[self._select]
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

    def forms(self) -> Iterator[tuple[str, Form]]:
        """Each form once (its target and fields), with the path it is sent to."""
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        for page, found in self.pages.items():
            for form in found.forms:
                target = _local(page, form.action or page)
                if target is None or LEAVES.search(target):
                    continue
                key = (target, form.method, tuple(sorted(form.fields)))
                if key not in seen:
                    seen.add(key)
                    yield target, form

    def send(
        self,
        target: str,
        method: str,
        data: dict[str, list[str]],
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> None:
        if method == "post":
            body: dict[str, object] = dict(data)
            for name, (filename, content) in (files or {}).items():
                body[name] = (io.BytesIO(content), filename)
            response = self.client.post(target, data=body)
        else:
            response = self.client.get(target, query_string=data)
        uploaded = [name for name, _content in (files or {}).values()]
        self.check(f"{method.upper()} {target} {sorted(data)} {uploaded}", response)

    def _routed(self) -> list[tuple[str, str, Form]]:
        """Each form with the endpoint it goes to (one vote form stands for the eighty
        articles') and its target."""
        adapter = self.client.application.url_map.bind("localhost")
        routed = []
        for target, form in self.forms():
            try:
                endpoint, _arguments = adapter.match(
                    urlsplit(target).path, method=form.method.upper()
                )
            except HTTPException:  # no route matches (or a redirect): sent as it is
                endpoint = target
            routed.append((str(endpoint), target, form))
        return routed

    def send_forms(self) -> None:
        routed = self._routed()
        routes: dict[tuple[str, str, tuple[str, ...]], tuple[str, Form]] = {}
        for route, target, form in routed:
            routes.setdefault((route, form.method, tuple(sorted(form.fields))), (target, form))
        for hostile in HOSTILE:  # once a route: the values are the same whatever the object
            for target, form in routes.values():
                self.send(target, form.method, {name: [hostile] for name in form.fields})
        for target, form in routes.values():  # hostile files, the other fields as they stand
            if form.method == "post" and form.files:
                for upload in HOSTILE_FILES:
                    self.send(target, "post", form.fields, dict.fromkeys(form.files, upload))
        sent: Counter[str] = Counter()
        for route, target, form in routed:  # as they stand: the actions themselves
            sent[route] += 1
            if sent[route] <= AS_THEY_STAND:
                self.send(target, form.method, form.fields)
