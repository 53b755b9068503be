"""The OpenAPI 3.1 document of /api/v1, assembled from one JSON file per area.

Each area adds ``openapi/<area>.json`` with its ``paths``, ``components`` and
``tags``; a test checks that every /api/v1 route appears in the document and
schemathesis checks the implementation against it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "postroom API",
        "summary": "Postage funds, rates, meters, cases and tracking.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "servers": [{"url": "/api/v1"}],
    # Every operation needs an account's API key, or a portal session with its CSRF
    # token (a page's own script), unless it says "security": [].
    "security": [{"apiKey": []}, {"portalSession": [], "csrfToken": []}],
    "paths": {},
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "description": "stable error code"},
                            "message": {"type": "string"},
                            "details": {"type": "object"},
                        },
                    }
                },
            }
        },
        "responses": {
            "Unauthenticated": {
                "description": "no API key, or an unknown or revoked one",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "NotFound": {
                "description": "no such object for this account",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "ValidationFailed": {
                "description": "the request is malformed; the code says why",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "RateLimited": {
                "description": "too many requests from this API key or client address "
                "(code `rate_limited`); try again after `Retry-After` seconds",
                "headers": {
                    "Retry-After": {
                        "description": "seconds to wait before the next request",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
        "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "an account API key"},
            "portalSession": {
                "type": "apiKey",
                "in": "cookie",
                "name": "postroom_session",
                "description": "a signed-in portal user's session (`__Host-postroom_session` "
                "in production); needs csrfToken too",
            },
            "csrfToken": {
                "type": "apiKey",
                "in": "header",
                "name": "X-CSRFToken",
                "description": "the CSRF token of the portal page the call comes from",
            },
        },
    },
    "tags": [],
}

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@cache
def _fragments() -> tuple[dict[str, Any], ...]:
    folder = resources.files(__package__).joinpath("openapi")
    names = sorted(item.name for item in folder.iterdir() if item.name.endswith(".json"))
    return tuple(json.loads(folder.joinpath(name).read_text("utf-8")) for name in names)


def openapi_document(version: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(BASE))
    document["info"]["version"] = version
    for fragment in _fragments():
        document["paths"].update(fragment.get("paths", {}))
        for section, entries in fragment.get("components", {}).items():
            document["components"].setdefault(section, {}).update(entries)
        document["tags"].extend(fragment.get("tags", []))
    # every operation is rate-limited per client address, so any may answer 429
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                operation.setdefault("responses", {}).setdefault(
                    "429", {"$ref": "#/components/responses/RateLimited"}
                )
    return document
