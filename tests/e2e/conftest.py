"""A real `postroom serve --demo` process for end-to-end tests."""

import os
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


def serve_demo(tmp_path: Path, *arguments: str, **settings: str):
    """Start ``postroom serve --demo`` on a free port (``arguments``: more options,
    ``settings``: more environment)."""
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
    deadline = time.monotonic() + 30
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
        pytest.fail("server did not answer within 30 s")
    try:
        yield DemoServer(base, process, tmp_path / "data", log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def demo_server(tmp_path):
    yield from serve_demo(tmp_path)


@pytest.fixture
def two_process_server(tmp_path):
    """``postroom serve --demo --processes 2``: two server processes on one port."""
    yield from serve_demo(tmp_path, "--processes", "2", "--threads", "2")


#: The kiosk operator of ``kiosk_server`` and her PIN.
KIOSK_OPERATOR = ("Alice Martin", "482915")


@pytest.fixture
def kiosk_operator() -> tuple[str, str]:
    """The name and PIN of ``kiosk_server``'s operator."""
    return KIOSK_OPERATOR


@pytest.fixture
def kiosk_server(tmp_path):
    """``postroom serve --demo`` with the kiosk bound to a funded customer account that
    has two cost centres on its virtual meter and one operator (``KIOSK_OPERATOR``)."""
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


@pytest.fixture
def page(tmp_path):
    """A Chromium page (Debian's browser, driven by Playwright) that records console errors."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
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
        browser.close()


@attrs.frozen
class PortalOwner:
    """A server and the owner of its demo customer, who signs in with these."""

    server: DemoServer
    email: str
    password: str


def demo_portal_people(tmp_path) -> dict[str, tuple[str, str]]:
    """Load the demo into ``tmp_path``'s data directory as `serve --demo` would and
    return the (email, password) it prints for ``owner`` and ``operator``."""
    from postroom.core.demo import load_demo

    facts: dict[str, str] = {}
    config = Config.load({}, data_dir=tmp_path / "data")
    with Postroom.open(config=config, migrate_schema=True) as postroom:
        load_demo(postroom, facts=facts)
    people = {}
    for who in ("owner", "operator"):
        email, rest = facts[f"demo portal {who}"].split(", password ", 1)
        people[who] = (email, rest.split(" ", 1)[0])
    return people


@pytest.fixture
def demo_owner(tmp_path):
    """``postroom serve --demo`` and the owner of its demo customer (its meter, address
    and contracts come from the demo), with the password the demo printed."""
    email, password = demo_portal_people(tmp_path)["owner"]
    for server in serve_demo(tmp_path):
        yield PortalOwner(server, email, password)
