"""``/api/reference``: the API's reference for people, drawn from the OpenAPI document.

One source: the page reads the same document ``/api/v1/openapi.json`` serves, so it can
not drift from it. Server-rendered, no script and nothing fetched from elsewhere.
"""

from __future__ import annotations

from typing import Any

import attrs
from flask import Blueprint, render_template

from postroom.frontends.web.apidoc import openapi_document
from postroom.frontends.web.context import current_postroom

bp = Blueprint("apiref", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@attrs.frozen
class Field:
    name: str
    type: str
    required: bool
    description: str


@attrs.frozen
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    public: bool
    parameters: tuple[Field, ...]
    body: str | None  # the request body's schema name, when it has one
    body_fields: tuple[Field, ...]  # the fields of a body described in place
    responses: tuple[tuple[str, str, str | None], ...]  # status, description, schema


@attrs.frozen
class Schema:
    name: str
    description: str
    fields: tuple[Field, ...]


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    """A schema's type in a few words: ``Money``, ``string (date)``, ``list of Transfer``."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for combiner in ("oneOf", "anyOf"):
        if combiner in schema:
            return " or ".join(_type(part) for part in schema[combiner])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(str(k) for k in kind)
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return f"{kind}: " + " | ".join(str(v) for v in schema["enum"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _fields(schema: dict[str, Any]) -> tuple[Field, ...]:
    required = set(schema.get("required", ()))
    return tuple(
        Field(name, _type(prop), name in required, str(prop.get("description", "")))
        for name, prop in schema.get("properties", {}).items()
    )


def _schema_of(part: dict[str, Any]) -> dict[str, Any] | None:
    for media in part.get("content", {}).values():
        if "schema" in media:
            schema: dict[str, Any] = media["schema"]
            return schema
    return None


def _content_schema(part: dict[str, Any]) -> str | None:
    schema = _schema_of(part)
    return None if schema is None else _type(schema)


def _operations(document: dict[str, Any]) -> dict[str, list[Operation]]:
    responses = document.get("components", {}).get("responses", {})
    by_tag: dict[str, list[Operation]] = {}
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = tuple(
                Field(
                    f"{p['name']} ({p['in']})",
                    _type(p.get("schema", {})),
                    bool(p.get("required")),
                    str(p.get("description", "")),
                )
                for p in [*shared, *operation.get("parameters", [])]
                if "name" in p
            )
            answers = []
            for status, answer in operation.get("responses", {}).items():
                if "$ref" in answer:
                    answer = responses.get(_ref_name(answer["$ref"]), {})
                answers.append(
                    (status, str(answer.get("description", "")), _content_schema(answer))
                )
            body = _schema_of(operation.get("requestBody") or {})
            entry = Operation(
                method=method.upper(),
                path=path,
                anchor=f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                summary=str(operation.get("summary", "")),
                description=str(operation.get("description", "")),
                public=operation.get("security") == [],
                parameters=parameters,
                body=_type(body) if body and "$ref" in body else None,
                body_fields=_fields(body) if body and "$ref" not in body else (),
                responses=tuple(answers),
            )
            for tag in operation.get("tags", ["other"]):
                by_tag.setdefault(tag, []).append(entry)
    return by_tag


@bp.get("/api/reference")
def reference() -> str:
    """Anyone may read it: it says what the public OpenAPI document says."""
    document = openapi_document(current_postroom().version)
    tags = {tag["name"]: tag.get("description", "") for tag in document.get("tags", [])}
    schemas = [
        Schema(name, str(schema.get("description", "")), _fields(schema))
        for name, schema in sorted(document.get("components", {}).get("schemas", {}).items())
    ]
    return render_template(
        "api/reference.html",
        info=document["info"],
        servers=document.get("servers", []),
        tags=tags,
        operations=_operations(document),
        schemas=schemas,
        schema_names={schema.name for schema in schemas},
    )
