"""Every /api/v1 endpoint needs an account's API key; public ones are marked as such."""

import pytest
from flask import Blueprint, jsonify

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.frontends.web import create_app
from postroom.frontends.web.auth import current_account


class WhoAmI:
    @hookimpl
    def register_routes(self, app):
        bp = Blueprint("whoami", __name__, url_prefix="/api/v1/whoami")

        @bp.get("")
        def whoami():
            return jsonify({"account": current_account().number})

        app.register_blueprint(bp)


@pytest.fixture
def api(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock, extra_plugins=[("whoami", WhoAmI())]) as pr:
        yield pr, create_app({}, postroom=pr).test_client()


def test_a_valid_key_identifies_its_account(api):
    postroom, client = api
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    token = postroom.accounts.create_api_key(account.number).token
    response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"account": account.number}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("Basic dXNlcjpwYXNz", "missing_api_key"),
        ("Bearer ", "missing_api_key"),
        ("Bearer prk_000000000000_nope", "invalid_api_key"),
        ("Bearer garbage", "invalid_api_key"),
    ],
)
def test_requests_without_a_valid_key_get_401_and_a_stable_code(api, header, code):
    _postroom, client = api
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_stops_working_at_once(api):
    postroom, client = api
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    issued = postroom.accounts.create_api_key(account.number)
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/v1/whoami", headers=headers).status_code == 200
    postroom.accounts.revoke_api_key(issued.key.prefix)
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "api_key_revoked"


def test_the_openapi_document_and_version_are_public(api):
    _postroom, client = api
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/version").status_code == 200
