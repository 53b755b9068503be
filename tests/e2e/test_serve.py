"""`postroom serve --demo` as a real process on a real port."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.fixture
def demo_server(tmp_path):
    port = _free_port()
    env = {**os.environ, "POSTROOM_DATA_DIR": str(tmp_path / "data")}
    env.pop("POSTROOM_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "postroom.frontends.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            if _get(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("server did not answer within 30 s")
    yield base, process, tmp_path / "data"
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_the_demo_creates_its_database_and_serves_the_portal(demo_server):
    base, _process, data_dir = demo_server
    assert (data_dir / "postroom.db").exists()
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


def test_the_server_stops_cleanly_on_sigterm(demo_server):
    _base, process, _data = demo_server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    output = process.stdout.read() if process.stdout else ""
    assert "serving on http://127.0.0.1:" in output
    assert "Traceback" not in output
