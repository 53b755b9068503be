"""A real `postroom serve --demo` process for end-to-end tests."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import attrs
import pytest

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.money import Money


@attrs.frozen
class DemoServer:
    base: str
    process: subprocess.Popen[str]
    data_dir: Path
    log_path: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class DemoTemplate:
    """A data directory where the demo is loaded already, and what its loading printed
    once (the demo people's passwords, keys)."""

    data_dir: Path
    facts: dict[str, str]

    def copy_to(self, tmp_path: Path) -> None:
        """Give ``tmp_path`` a data directory of its own with the demo loaded: `serve
        --demo` finds every step done and starts at once."""
        shutil.copytree(self.data_dir, tmp_path / "data")

    def person(self, who: str) -> tuple[str, str]:
        """The (email, password) the demo printed for ``who``: "portal owner", "portal
        operator", "staff agent"..."""
        email, rest = self.facts[f"demo {who}"].split(", password ", 1)
        return email, rest.split(" ", 1)[0]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory, _migrated_sqlite: Path) -> DemoTemplate:
    """The demo loaded once per test process, from the suite's migrated template: each
    browser test copies it instead of migrating and loading the demo again (seconds)."""
    from postroom.core.demo import load_demo

    data = tmp_path_factory.mktemp("demo-template") / "data"
    data.mkdir()
    shutil.copyfile(_migrated_sqlite, data / "postroom.db")
    facts: dict[str, str] = {}
    with Postroom.open(config=Config.load({}, data_dir=data), migrate_schema=True) as postroom:
        load_demo(postroom, facts=facts)
    return DemoTemplate(data, facts)


def serve_demo(tmp_path: Path, *arguments: str, **settings: str):
    """Start ``postroom serve --demo`` on a free port (``arguments``: more options,
    ``settings``: more environment) on ``tmp_path``'s data directory (made by the server
    when there is none, or a copy of ``demo_template``)."""
    port = _free_port()
    env = {**os.environ, "POSTROOM_DATA_DIR": str(tmp_path / "data"), **settings}
    env.pop("POSTROOM_DATABASE_URL", None)
    log_path = tmp_path / "server.log"
    log = log_path.open("w")  # a file, not a pipe: a chatty server must never block on it
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "postroom.frontends.cli", "serve", "--demo"),
            *("--port", str(port), *arguments),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a deadline, not a wait: a busy machine starts slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                if response.status == 200:
                    break
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("server did not answer within 60 s")
    try:
        yield DemoServer(base, process, tmp_path / "data", log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """``postroom serve --demo`` on a new data directory: it migrates, loads the demo and
    prints its facts (passwords, keys) in its log. One per module: loading the demo is
    most of a server's start, and what these tests read of it (the log, the database made,
    the funded account) no test changes."""
    yield from serve_demo(tmp_path_factory.mktemp("demo-server"))


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory, demo_template):
    """``postroom serve --demo`` on a copy of the loaded demo (nothing printed), shared by
    a module's tests: each signs in as a visitor or person of its own."""
    folder = tmp_path_factory.mktemp("demo-site")
    demo_template.copy_to(folder)
    yield from serve_demo(folder)


@pytest.fixture
def two_process_server(tmp_path, demo_template):
    """``postroom serve --demo --processes 2``: two server processes on one port (on a copy
    of the loaded demo)."""
    demo_template.copy_to(tmp_path)
    yield from serve_demo(tmp_path, "--processes", "2", "--threads", "2")


#: The kiosk operator of ``kiosk_server`` and her PIN.
KIOSK_OPERATOR = ("Alice Martin", "482915")


@pytest.fixture
def kiosk_operator() -> tuple[str, str]:
    """The name and PIN of ``kiosk_server``'s operator."""
    return KIOSK_OPERATOR


@pytest.fixture(scope="module")
def kiosk_server(tmp_path_factory, demo_template):
    """``postroom serve --demo`` with the kiosk bound to a funded customer account that
    has two cost centres on its virtual meter and one operator (``KIOSK_OPERATOR``); one
    per module (a test that prints reads its own piece back)."""
    tmp_path = tmp_path_factory.mktemp("kiosk-server")
    demo_template.copy_to(tmp_path)
    config = Config.load({}, data_dir=tmp_path / "data")
    with Postroom.open(config=config, migrate_schema=True) as postroom:
        account = postroom.accounts.create("Kiosk Mailroom", "US", "USD")
        postroom.ledger.deposit(account.number, Money.parse("20 USD"), "kiosk-deposit")
        serial = postroom.meters.virtual_meter(account.number).serial
        postroom.meters.set_cost_centers(serial, ["Legal", "Sales"])
        postroom.accounts.add_operator(account.number, *KIOSK_OPERATOR)
    yield from serve_demo(
        tmp_path, POSTROOM_KIOSK_ACCOUNT=account.number, POSTROOM_KIOSK_ORIGIN_ZIP="10001"
    )


CHROMIUM = Path(os.environ.get("POSTROOM_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One Chromium per test process (Debian's browser, driven by Playwright): each test
    gets contexts of its own, as separate as two browsers' profiles."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A page in a new browser context that records console errors."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda message: (
            page.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    yield page
    context.close()


def wait_signed_in(page) -> None:
    """After the sign-in form's button: wait until the portal has answered it (a page
    opened before then races the sign-in and finds the visitor signed out)."""
    page.wait_for_url(lambda url: "/account/sign-in" not in url)


@attrs.frozen
class PortalOwner:
    """A server and the owner of its demo customer, who signs in with these."""

    server: DemoServer
    email: str
    password: str


@pytest.fixture
def demo_owner(tmp_path, demo_template):
    """``postroom serve --demo`` and the owner of its demo customer (its meter, address
    and contracts come from the demo), with the password the demo printed."""
    demo_template.copy_to(tmp_path)
    email, password = demo_template.person("portal owner")
    for server in serve_demo(tmp_path):
        yield PortalOwner(server, email, password)
