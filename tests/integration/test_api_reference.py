"""The API reference page: drawn from the OpenAPI document, so it lists what the API does."""

from __future__ import annotations

import html
import re


def test_the_reference_lists_every_operation_and_schema_of_the_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/reference")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    for path, item in document["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                assert f"{method.upper()} {path}" in text, (method, path)
                assert item[method]["summary"] in text
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in text


def test_the_reference_needs_no_key_and_fetches_nothing_from_elsewhere(client):
    page = client.get("/api/reference").get_data(as_text=True)
    # the menu's own script is the only one: from this server, and nothing inline
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert all(re.search(r'src="/static/', tag) and not body.strip() for tag, body in scripts)
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_the_reference_speaks_french(client):
    page = client.get("/api/reference", headers={"Accept-Language": "fr"})
    assert "Référence de l\u2019API" in page.get_data(as_text=True)
