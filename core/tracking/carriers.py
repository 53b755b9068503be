"""The carriers tracking asks (plugins' ``register_carriers``), found once, and how a
carrier is chosen for a number."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from postroom.core.config import Config
from postroom.core.errors import NotFound, ValidationError
from postroom.core.plugins import PluginManager
from postroom.core.ports import Carrier
from postroom.core.tracking.numbers import Identification

log = logging.getLogger(__name__)


class Carriers:
    """The registered carriers by code. A sandbox carrier is used only where
    ``sandbox_allowed`` (never in production unless explicitly allowed)."""

    def __init__(
        self, find: Callable[[], Iterable[Carrier]], *, sandbox_allowed: bool = True
    ) -> None:
        self._find = find
        self._sandbox_allowed = sandbox_allowed
        self._carriers: dict[str, Carrier] | None = None

    @classmethod
    def from_plugins(
        cls, plugins: PluginManager, config: Config, *, sandbox_allowed: bool
    ) -> Carriers:
        def find() -> Iterable[Carrier]:
            for provided in plugins.hook.register_carriers(config=config):
                for carrier in provided or ():
                    if isinstance(carrier, Carrier):
                        yield carrier
                    else:
                        log.error("%r is not a Carrier; skipped", carrier)

        return cls(find, sandbox_allowed=sandbox_allowed)

    def all(self) -> dict[str, Carrier]:
        if self._carriers is None:
            found: dict[str, Carrier] = {}
            for carrier in self._find():
                if carrier.sandbox and not self._sandbox_allowed:
                    continue
                if not isinstance(carrier.code, str) or carrier.code in found:
                    log.error("carrier code %r is invalid or taken; skipped", carrier.code)
                    continue
                found[carrier.code] = carrier
            self._carriers = found
        return self._carriers

    def get(self, code: str) -> Carrier:
        found = self.all().get(code)
        if found is None:
            known = ", ".join(sorted(self.all())) or "none installed"
            raise NotFound(f"no carrier {code!r} (known: {known})", code="unknown_carrier")
        return found

    def for_number(self, identification: Identification, code: str | None = None) -> Carrier:
        """The carrier ``code``, or the one that tracks the number's family: a real
        carrier before the sandbox."""
        if code is not None:
            carrier = self.get(code)
            if not tracks(carrier, identification):
                raise ValidationError(
                    f"{carrier.name} does not track {identification.format} numbers",
                    code="carrier_mismatch",
                )
            return carrier
        candidates = [carrier for carrier in self.all().values() if tracks(carrier, identification)]
        candidates.sort(key=lambda carrier: (carrier.sandbox, carrier.code))
        if not candidates:
            raise ValidationError(
                f"no installed carrier tracks {identification.format} numbers",
                code="no_carrier_for_number",
            )
        return candidates[0]


def tracks(carrier: Carrier, identification: Identification) -> bool:
    """Whether ``carrier`` tracks numbers like ``identification``: its family, or for a
    UPU S10 number, ``upu:`` and the number's country."""
    families = carrier.number_carriers
    if identification.carrier in families:
        return True
    return identification.carrier == "upu" and f"upu:{identification.number[-2:]}" in families
