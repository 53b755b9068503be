"""Request bodies checked against the OpenAPI document: the one place their shape is written.

Every operation's ``requestBody`` schema in ``openapi/*.json`` is compiled once (with
jsonschema-rs, JSON Schema 2020-12 as OpenAPI 3.1 uses) and checked before the view runs,
so a view receives a body whose types, required fields, enums, lengths and patterns hold;
what the body *means* (an amount's decimals, a weight's unit, the account's currency, who
owns what) stays with the domain. A violation answers the code integrators already rely on:

- a missing required field at the top of the body, or one sent as ``null``:
  ``missing_field`` (with ``field``);
- a field the document does not list where it says ``additionalProperties: false``:
  ``unknown_field`` (with ``fields``);
- otherwise the code written beside the schema: ``x-error-codes`` maps a keyword
  (``"type"``) or a keyword and the JSON type the caller sent (``"type:number"`` for a
  fraction, ``"type:integer"`` for a whole number) to a code,
  and ``x-error-code`` names the code of anything else wrong below it (the deepest wins).

When a body breaks several rules, the one reported is about the first field in the
document's order, so the same body always answers the same code.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

import attrs
import jsonschema_rs
from flask import request

from postroom.core.errors import ValidationError
from postroom.frontends.web.apidoc import HTTP_METHODS, openapi_document
from postroom.frontends.web.jsonbody import json_object

#: The prefix Flask's rules carry and the document's paths do not (its ``servers`` entry).
API_ROOT: Final = "/api/v1"
#: The code of a violation under a schema that names none (a test keeps every documented
#: body property coded, so this is only a safety net).
FALLBACK_CODE: Final = "invalid_request"

#: The longest message a violation answers (the validator's quote the value sent).
MAX_MESSAGE: Final = 300

_RULE_ARGUMENT: Final = re.compile(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


@attrs.frozen
class BodySchema:
    """One operation's request body: its schema with every ``$ref`` inlined (so an error's
    schema path walks to the codes written at the referring site) and its validator."""

    schema: Mapping[str, Any]
    validator: Any = attrs.field(repr=False)
    #: Top-level properties in the document's order: which error is reported first.
    order: Mapping[str, int]
    required: frozenset[str]
    #: A whole request body (False: a part, whose missing fields are its own code's).
    is_body: bool = True

    @classmethod
    def compile(cls, schema: dict[str, Any], *, is_body: bool = True) -> BodySchema:
        properties = list(schema.get("properties", {}))
        return cls(
            schema=schema,
            validator=jsonschema_rs.Draft202012Validator(schema, validate_formats=True),
            order={name: index for index, name in enumerate(properties)},
            required=frozenset(schema.get("required", ())),
            is_body=is_body,
        )

    def check(self, data: Any) -> None:
        """Nothing when ``data`` satisfies the schema; the first violation's ValidationError."""
        try:
            if self.validator.is_valid(data):  # the common case: one pass, no error objects
                return
        except UnicodeEncodeError:
            # A lone surrogate (JSON allows "\ud800") cannot reach the validator: check the
            # shape with U+FFFD in its place, and leave the text rules (control_character)
            # to the domain, which sees the original.
            data = _without_surrogates(data)
            if self.validator.is_valid(data):
                return
        errors = sorted(self.validator.iter_errors(data), key=self._rank)
        raise self._error(errors[0], data)

    def _field(self, error: Any) -> str | None:
        """The top-level field an error is about (a missing one names itself)."""
        if error.instance_path:
            return str(error.instance_path[0])
        if error.schema_path and error.schema_path[0] in ("required", "dependentRequired"):
            return str(error.kind.property)
        return None

    def _rank(self, error: Any) -> int:
        if not error.instance_path and error.schema_path[:1] == ["additionalProperties"]:
            return -1  # an unknown field is refused before the known ones are read
        field = self._field(error)
        return self.order.get(field, len(self.order)) if field else len(self.order)

    def _error(self, error: Any, data: Any, inherited: str | None = None) -> ValidationError:
        path = list(error.schema_path)
        keyword = str(path[-1]) if path else ""
        nodes = list(_nodes(self.schema, path))
        owner = nodes[-1]  # the schema holding the failed keyword
        instance = _at(data, error.instance_path)
        where = ".".join(str(part) for part in error.instance_path) or "the body"
        field = self._field(error)
        named = _keyword_code(owner, keyword, instance)
        if named is None and self.is_body:
            if instance is None and len(error.instance_path) == 1 and field in self.required:
                # a required field sent as null is as missing as one left out
                return ValidationError(f"{field!r} is required", code="missing_field", field=field)
            if len(nodes) == 1 and path[0] == "required":
                return ValidationError(f"{field!r} is required", code="missing_field", field=field)
            if len(nodes) == 1 and path[0] == "additionalProperties":
                unknown = sorted(set(data) - set(self.order))
                return ValidationError(
                    f"unknown field(s): {', '.join(unknown)}", code="unknown_field", fields=unknown
                )
        found = next(
            (node["x-error-code"] for node in reversed(nodes) if "x-error-code" in node), None
        )
        if named is None and keyword in ("oneOf", "anyOf"):
            # No branch matched: the caller meant the branch of the type it sent, so its
            # first violation says best what is wrong (a number where an amount is text).
            branch = _branch_error(owner[keyword], instance, found or inherited)
            if branch is not None:
                return branch
        code = named or found or inherited or FALLBACK_CODE
        details = {"field": field} if field else {}
        return ValidationError(_shortened(f"{where}: {error.message}"), code=code, **details)


def _shortened(message: str) -> str:
    """The validator's message, which quotes the value: a megabyte string is not echoed."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _branch_error(
    branches: list[Mapping[str, Any]], instance: Any, inherited: str | None
) -> ValidationError | None:
    fitting = [b for b in branches if "type" not in b or _type_accepts(b["type"], instance)]
    # none of the sent type: the first that is not merely "or null" says what was expected
    for branch in fitting or [b for b in branches if b.get("type") != "null"][:1]:
        schema = _compiled_branch(json.dumps(branch, sort_keys=True))
        errors = list(schema.validator.iter_errors(instance))
        if errors:
            return schema._error(errors[0], instance, inherited)
    return None


def _type_accepts(allowed: str | list[str], instance: Any) -> bool:
    sent = _json_type(instance)
    names = {allowed} if isinstance(allowed, str) else set(allowed)
    return sent in names or (sent == "integer" and "number" in names)


@cache
def _compiled_branch(text: str) -> BodySchema:
    return BodySchema.compile(json.loads(text), is_body=False)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


def _keyword_code(schema: Mapping[str, Any], keyword: str, instance: Any) -> str | None:
    codes: Mapping[str, str] = schema.get("x-error-codes", {})
    return codes.get(f"{keyword}:{_json_type(instance)}", codes.get(keyword))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _at(data: Any, path: Any) -> Any:
    for part in path:
        data = data[part]
    return data


#: Keywords whose value maps names to subschemas, and those holding a list of subschemas.
_NAMED: Final = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_LISTED: Final = frozenset({"oneOf", "anyOf", "allOf", "prefixItems"})


def _nodes(schema: Mapping[str, Any], path: list[Any]) -> Iterator[Mapping[str, Any]]:
    """The schemas an error's schema path passes through, from the body's down to the one
    holding the failed keyword."""
    node: Any = schema
    yield node
    steps = iter(path[:-1])
    for part in steps:
        node = node[part]
        if part in _NAMED or part in _LISTED:
            node = node[next(steps)]
        if isinstance(node, Mapping):
            yield node


def _inline(value: Any, document: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``value`` with every local ``$ref`` replaced by a copy of its target."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                raise ValueError(f"recursive $ref {ref} in a request body")
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part]
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return _inline({**copy.deepcopy(target), **rest}, document, (*seen, ref))
        return {key: _inline(item, document, seen) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline(item, document, seen) for item in value]
    return value


@cache
def body_schemas() -> Mapping[tuple[str, str], BodySchema]:
    """Every documented request body by (document path, lower-case method)."""
    document = openapi_document("")
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS or "requestBody" not in operation:
                continue
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            found[(path, method)] = BodySchema.compile(_inline(schema, document))
    return found


@cache
def document_path(rule: str) -> str:
    """The document's path of a Flask rule: ``/api/v1/vault/reservations/<pending_id>/post``
    is ``/vault/reservations/{pending_id}/post``."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule.removeprefix(API_ROOT)) or "/"


def check_body(data: Any) -> None:
    """Check ``data`` against the current operation's documented request body."""
    assert request.url_rule is not None
    key = (document_path(request.url_rule.rule), request.method.lower())
    schema = body_schemas().get(key)
    if schema is None:
        raise LookupError(f"{key[1].upper()} {key[0]} documents no request body")
    schema.check(data)


def request_object() -> dict[str, Any]:
    """The request's JSON object (within jsonbody's limits), checked against the document."""
    data = json_object()
    check_body(data)
    return data
