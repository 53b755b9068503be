"""`postroom serve --demo` as a real process on a real port."""

import json
import signal
import urllib.error
import urllib.request


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


def test_the_server_stops_cleanly_on_sigterm(demo_server):
    process = demo_server.process
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    output = demo_server.log_path.read_text()
    assert "serving on http://127.0.0.1:" in output
    assert "Traceback" not in output
