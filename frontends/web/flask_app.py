"""The Flask class of the portal: what every application built in one process shares.

A process builds its application once in production, but many times over in a test
suite or a pre-forking server's parent; two costs of building one are paid again each
time for nothing:

- Jinja compiles each template per application (its cache is the environment's):
  ``PROCESS_TEMPLATES`` keeps the compiled code for the process, checked against the
  template's source, so a second application loads it instead of compiling again.
- Werkzeug writes two Python functions (the URL builders) for every rule when the rule
  is added, about 430 rules a build; ``LazyBuilderRule`` writes them at the first
  ``url_for`` of that rule instead, so rules a process never links to cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing import Rule


class ProcessTemplates(BytecodeCache):
    """Compiled templates in memory, shared by the process's applications."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # a changed source's checksum discards it

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


PROCESS_TEMPLATES = ProcessTemplates()


class LazyBuilderRule(Rule):
    """A URL rule whose builders are written at its first use."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        write = super()._compile_builder
        written: list[Callable[..., tuple[str, str]]] = []

        def build(rule: Rule, *args: Any, **values: Any) -> tuple[str, str]:
            if not written:
                written.append(write(append_unknown).__get__(rule, None))
            return written[0](*args, **values)

        return build


class PortalFlask(Flask):
    url_rule_class = LazyBuilderRule
    jinja_options = {**Flask.jinja_options, "bytecode_cache": PROCESS_TEMPLATES}
