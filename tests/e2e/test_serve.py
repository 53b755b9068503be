"""`postroom serve --demo` as a real process on a real port."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_the_demo_creates_its_database_and_serves_the_portal(demo_server):
    base = demo_server.base
    assert (demo_server.data_dir / "postroom.db").exists()
    status, body, headers = _get(f"{base}/")
    assert status == 200
    assert b"System status" in body
    assert headers["Server"].startswith("waitress")  # never the Flask development server
    status, body, _ = _get(f"{base}/api/v1/openapi.json")
    assert status == 200
    assert json.loads(body)["openapi"].startswith("3.1")
    status, body, _ = _get(f"{base}/api/v1/nothing-here")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


def test_the_server_stops_cleanly_on_sigterm(demo_site):
    process = demo_site.process
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    output = demo_site.log_path.read_text()
    assert "serving on http://127.0.0.1:" in output
    assert "Traceback" not in output


def test_the_demo_prints_its_api_key_once_and_the_key_reads_the_funded_account(demo_server):
    output = demo_server.log_path.read_text()
    lines = [line for line in output.splitlines() if line.startswith("demo API key: ")]
    assert len(lines) == 1
    token = lines[0].removeprefix("demo API key: ").strip()
    assert token.startswith("prk_")
    request = urllib.request.Request(
        f"{demo_server.base}/api/v1/vault/balance", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        balance = json.loads(response.read())
    assert balance["balance"] == {"amount": "400.00", "currency": "USD"}
    request = urllib.request.Request(
        f"{demo_server.base}/api/v1/vault/meters/PR-DEMO-0001",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        meter = json.loads(response.read())
    assert meter["descending"] == {"amount": "100.00", "currency": "USD"}
    stored = b"".join(path.read_bytes() for path in demo_server.data_dir.glob("postroom.db*"))
    assert token.encode() not in stored  # only the key's hash is kept


def _children_of(parent: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def _started(server, role: str) -> set[int]:
    """The processes of ``role`` the parent said it started (its log)."""
    said = re.findall(rf"{role} process (\d+) started", server.log_path.read_text())
    return {int(pid) for pid in said}


def _wait_for(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds  # a deadline, not a wait: a busy machine is slow
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="--processes needs fork (POSIX)")
def test_several_processes_share_the_port_and_one_that_dies_is_replaced(two_process_server):
    server = two_process_server
    parent = server.process.pid
    workers = _started(server, "worker")  # the demo's background worker, a process too
    servers = _children_of(parent) - workers
    assert len(servers) == 2
    assert len(workers) == 1
    assert servers == _started(server, "server")
    os.kill(min(servers), signal.SIGKILL)  # a server process crashes
    _wait_for(lambda: len(_children_of(parent) - servers - workers) >= 1)
    replaced = _children_of(parent) - workers
    assert len(replaced) == 2
    assert min(servers) not in replaced
    for _ in range(20):  # every request answered, whichever process takes it
        assert _get(f"{server.base}/healthz")[0] == 200
    os.kill(min(workers), signal.SIGKILL)  # and the worker
    _wait_for(lambda: len(_started(server, "worker")) == 2)
    assert len(_children_of(parent) - replaced) == 1
    assert _get(f"{server.base}/healthz")[0] == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    assert not _children_of(parent)
    output = server.log_path.read_text()
    assert "with 2 processes" in output
    assert "Traceback" not in output
