"""The OpenAPI document describes every /api/v1 route, and the routes keep to it."""

import re

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.frontends.web import create_app

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(PREFIX) :])


def test_every_api_route_is_in_the_openapi_document(app: Flask, client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == [], f"routes missing from the OpenAPI document: {missing}"


def test_every_documented_operation_exists(app: Flask, client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    routes = {_openapi_path(rule.rule) for rule in app.url_map.iter_rules()}
    assert set(document["paths"]) <= routes


@pytest.fixture(scope="module")
def served_app(tmp_path_factory) -> Flask:
    data = tmp_path_factory.mktemp("openapi")
    # thousands of generated requests from one key: limits far above them (the 429s
    # themselves are proven in test_rate_limits.py)
    config = Config.load(
        {},
        data_dir=data,
        secret_key="x",
        api_rate_limit_per_key="100000/minute",
        api_rate_limit_per_address="100000/minute",
    )
    postroom = Postroom.open(
        config=config, clock=FrozenClock.at("2026-03-02T09:30:00+00:00"), immediate_jobs=True
    )
    app = create_app({"TESTING": True}, postroom=postroom)
    account = postroom.accounts.create("Schema Test Mailroom", "US", "USD")
    app.config["TEST_API_KEY"] = postroom.accounts.create_api_key(account.number).token
    return app


#: Schema-valid bodies these operations may still refuse with a documented 422: carriers,
#: services, extras, zones and weight limits live in rate tables loaded at run time, which
#: JSON Schema cannot state. Every other operation must accept what its document allows.
RUNTIME_RULES = {
    "POST /rates/quote",
    "POST /rates/compare",
    "POST /postage",
    # a tracking number's check digit, and the HS codes and amount of its customs
    "POST /shipments",
    # a webhook URL's host must resolve to addresses webhooks may reach (DNS at run time)
    "POST /webhooks",
}
#: Bounded and derandomized so CI is fast and repeatable; run `schemathesis run -c all`
#: against `postroom serve` for a deeper search (docs/security.md).
EXAMPLES = 25


def test_the_api_keeps_to_its_openapi_document(served_app: Flask):
    """schemathesis generates requests from the document and runs every check on them."""
    schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", served_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    calls: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            calls.append(case.operation.label)
            headers = {"Authorization": f"Bearer {served_app.config['TEST_API_KEY']}"}
            skip = [positive_data_acceptance] if case.operation.label in RUNTIME_RULES else []
            case.call_and_validate(headers=headers, excluded_checks=skip)

        check()
    assert {operation.label for operation in operations} <= set(calls)


def test_an_undocumented_method_is_a_405_that_names_the_allowed_ones(served_app: Flask):
    """What schemathesis's unsupported_method check asks (RFC 9110): 405 with Allow."""
    client = served_app.test_client()
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    headers = {"Authorization": f"Bearer {served_app.config['TEST_API_KEY']}"}
    for path, item in document["paths"].items():
        url = PREFIX + re.sub(r"{[^}]+}", "1", path)
        documented = {method.upper() for method in item if method != "parameters"}
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"} - documented:
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 405, (method, path)
            assert documented <= set(response.headers["Allow"].split(", ")), (method, path)
