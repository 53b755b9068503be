"""The payment sources funding collects through (plugins' ``register_payment_sources``),
and the errors a source's answer becomes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from postroom.core.errors import NotFound, PermissionDenied, PostroomError
from postroom.core.plugins import PluginManager
from postroom.core.ports import PaymentSource

log = logging.getLogger(__name__)

#: The kind of the source the data center grants: the postage line of credit.
CREDIT_LINE_KIND = "credit_line"


class PaymentDeclined(PostroomError):
    """The payment source refused the payment; ``code`` is the source's reason."""

    code = "payment_declined"
    http_status = 402


class SandboxRefused(PermissionDenied):
    """A sandbox payment source in production, where it is not explicitly allowed."""

    code = "sandbox_source_refused"


class PaymentSourceUnavailable(PostroomError):
    """The payment source could not be reached; retry with the same key."""

    code = "payment_source_unavailable"
    http_status = 503


class PaymentSources:
    """The registered sources by code, found once (plugins are fixed once opened)."""

    def __init__(
        self, find: Callable[[], Iterable[PaymentSource]], *, sandbox_allowed: bool = True
    ) -> None:
        self._find = find
        self._sandbox_allowed = sandbox_allowed
        self._sources: dict[str, PaymentSource] | None = None

    @classmethod
    def from_plugins(cls, plugins: PluginManager, *, sandbox_allowed: bool) -> PaymentSources:
        return cls(
            lambda: _providers(plugins.hook.register_payment_sources, PaymentSource),
            sandbox_allowed=sandbox_allowed,
        )

    def all(self) -> dict[str, PaymentSource]:
        if self._sources is None:
            found: dict[str, PaymentSource] = {}
            for source in self._find():
                if not isinstance(source.code, str) or source.code in found:
                    log.error("payment source code %r is invalid or taken; skipped", source.code)
                    continue
                found[source.code] = source
            self._sources = found
        return self._sources

    def get(self, code: str) -> PaymentSource:
        """The source ``code``: ``unknown_payment_source`` when none is installed."""
        found = self.all().get(code) if isinstance(code, str) else None
        if found is None:
            known = ", ".join(sorted(self.all())) or "none installed"
            raise NotFound(
                f"no payment source {code!r} (known: {known})", code="unknown_payment_source"
            )
        return found

    def is_credit_line(self, code: str) -> bool:
        found = self.all().get(code)
        return found is not None and found.kind == CREDIT_LINE_KIND

    @property
    def sandbox_allowed(self) -> bool:
        """Whether sandbox sources may serve: outside production, or explicitly allowed."""
        return self._sandbox_allowed

    def sandbox_codes(self) -> list[str]:
        return sorted(code for code, s in self.all().items() if s.sandbox)

    def offered(self) -> dict[str, PaymentSource]:
        """The sources customers may pick from: a refused sandbox is not offered."""
        return {code: s for code, s in self.all().items() if self._sandbox_allowed or not s.sandbox}

    def usable(self, code: str) -> PaymentSource:
        """The source ``code`` for moving money: a sandbox one only where it may serve,
        so a test card approves nothing in production, whatever path reaches it."""
        source = self.get(code)
        if source.sandbox and not self._sandbox_allowed:
            raise SandboxRefused(
                f"{source.name} is a sandbox: it moves no real money and is refused in "
                "production (POSTROOM_ALLOW_SANDBOX_PAYMENTS)"
            )
        return source


def sandbox_source_codes(plugins: PluginManager) -> list[str]:
    """The codes of the sandbox payment sources the plugins register (``postroom plugins``)."""
    found = _providers(plugins.hook.register_payment_sources, PaymentSource)
    return sorted(s.code for s in found if s.sandbox)


def _providers(hook: Any, protocol: Any) -> list[Any]:
    """What every plugin returns from registration ``hook``, one plugin at a time: a
    plugin whose hook raises, or whose objects do not implement ``protocol``, is logged
    and left out (a broken plugin is reported, not fatal)."""
    found: list[Any] = []
    for impl in hook.get_hookimpls():
        try:
            provided = impl.function() or []
        except Exception:
            log.exception("plugin %s failed in %s", impl.plugin_name, hook.name)
            continue
        for item in provided:
            if isinstance(item, protocol):
                found.append(item)
            else:
                log.error("plugin %s returned %r, not a %s", impl.plugin_name, item, protocol)
    return found
