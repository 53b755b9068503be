"""The web shell through Flask's test client on a real database."""

import re

import pytest
from flask import Blueprint

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.errors import NotFound
from postroom.core.hookspecs import hookimpl
from postroom.frontends.web import create_app


def test_healthz_reports_the_database_and_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["worker"] == {"status": "never_seen"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_when_the_database_is_broken(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr:
        client = create_app({"TESTING": True}, postroom=pr).test_client()
        pr.db.dispose()
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"postroom.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "postroom.db").write_bytes(b"garbage" * 1000)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["status"] == "fail"


def test_unknown_api_routes_answer_json_errors(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {"code": "not_found", "message": response.get_json()["error"]["message"]}
    }
    response = client.post("/api/v1/version")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_pages_answer_an_html_error_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.text
    assert "not_found" in response.text


def test_every_response_carries_security_headers(client):
    for path in ("/", "/healthz", "/api/v1/version", "/missing"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_the_session_cookie_is_http_only_and_same_site(app):
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_the_home_page_shows_the_system_state_to_operators_only(client):
    page = client.get("/").text  # the test client comes from 127.0.0.1
    assert "System status" in page
    assert "log_notifier" in page
    world = client.get("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}).text
    assert "System status" not in world
    assert "log_notifier" not in world
    assert "Price a letter, a flat or a parcel" in world


def test_the_portal_speaks_french_when_the_browser_asks_for_it(client):
    page = client.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}).text
    assert '<html lang="fr">' in page
    assert "Bienvenue sur postroom" in page
    assert "État du système" in page


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def test_the_users_language_choice_wins_over_the_browser(client):
    token = _csrf_token(client.get("/").text)
    response = client.post("/language", data={"lang": "fr", "next": "/", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/", headers={"Accept-Language": "en"}).text
    assert "Bienvenue sur postroom" in page


def test_a_form_without_its_csrf_token_is_refused(client):
    response = client.post("/language", data={"lang": "fr"})
    assert response.status_code == 400
    assert "csrf_failed" in response.text
    assert "Bienvenue" not in client.get("/").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_the_language_switch_never_redirects_off_site(client, target):
    token = _csrf_token(client.get("/").text)
    response = client.post("/language", data={"lang": "en", "next": target, "csrf_token": token})
    assert response.headers["Location"] == "/"


class FailingRoutes:
    @hookimpl
    def register_routes(self, app):
        bp = Blueprint("test_failing", __name__, url_prefix="/api/v1/test")

        @bp.get("/missing")
        def missing():
            raise NotFound("no such parcel", code="parcel_not_found")

        @bp.get("/bug")
        def bug():
            raise RuntimeError("secret internals")

        app.register_blueprint(bp)


def test_plugin_routes_turn_domain_errors_into_json_and_bugs_into_opaque_500s(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    plugin = FailingRoutes()
    with Postroom.open(config=config, clock=clock, extra_plugins=[("failing", plugin)]) as pr:
        client = create_app({}, postroom=pr).test_client()
        assert client.get("/api/v1/test/missing").status_code == 401  # plugin routes need a key
        account = pr.accounts.create("Plugin Test Co", "US", "USD")
        key = pr.accounts.create_api_key(account.number).token
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        missing = client.get("/api/v1/test/missing")
        assert missing.status_code == 404
        assert missing.get_json() == {
            "error": {"code": "parcel_not_found", "message": "no such parcel"}
        }
        bug = client.get("/api/v1/test/bug")
        assert bug.status_code == 500
        assert bug.get_json()["error"]["code"] == "internal_error"
        assert "secret internals" not in bug.text
