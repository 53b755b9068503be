"""The plugin manager: loads built-in and third-party plugins from entry points.

Built-in plugins are declared in postroom's own ``postroom`` entry-point group,
exactly as a third-party package declares its own, so they go through the same
loading, allowlist and error reporting. A plugin that fails to load is logged
and listed with its error; postroom keeps running without it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs
import pluggy

from postroom.core import __version__, hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "postroom"

#: postroom's own hook implementations (its jobs): registered through the same hooks as a
#: plugin's, always, whatever the allowlist says.
BUILTIN_PLUGINS = (
    "postroom.core.housekeeping",
    "postroom.core.ledger.jobs",
    "postroom.core.funding.jobs",
    "postroom.core.payouts.jobs",
    "postroom.core.meters.jobs",
    "postroom.core.contracts.jobs",
    "postroom.core.identity.jobs",
    "postroom.core.tracking.jobs",
    "postroom.core.cases.jobs",
    "postroom.core.knowledge.jobs",
    "postroom.core.billing.jobs",
    "postroom.core.shop.jobs",
)


@attrs.frozen
class PluginInfo:
    name: str
    version: str | None
    hooks: tuple[str, ...]
    module: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "hooks": list(self.hooks),
            "module": self.module,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


@functools.cache
def installed_entry_points() -> tuple[EntryPoint, ...]:
    """The ``postroom`` entry points of the installed distributions, read once a process:
    reading them scans every distribution's metadata (tens of milliseconds), and a
    plugin installed later needs a restart anyway, like any change of code."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


@functools.cache
def _version(point: EntryPoint) -> str | None:
    """The version of the distribution that declares ``point``, read once a process
    (each read parses its metadata file again: a tenth of a plugin manager's making)."""
    return point.dist.version if point.dist is not None else None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus a record of what was loaded and what failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.failures: dict[str, PluginInfo] = {}
        self._versions: dict[str, str | None] = {}

    def load_entry_points(
        self, allowlist: Sequence[str] | None = None, points: Iterable[EntryPoint] | None = None
    ) -> None:
        """Register every plugin of the entry-point group (only those in ``allowlist``)."""
        candidates = installed_entry_points() if points is None else points
        for point in candidates:
            if allowlist is not None and point.name not in allowlist:
                continue
            if self.get_plugin(point.name) is not None or point.name in self.failures:
                continue
            version = _version(point)
            try:
                plugin = point.load()
                self.register(plugin, name=point.name)
                self._versions[point.name] = version
            except Exception as error:  # a broken plugin must not stop postroom
                self.record_failure(point.name, version, point.value, error)

    def register_checked(self, plugin: object, name: str, version: str | None = None) -> None:
        """Register ``plugin`` and validate its hooks against the specs right away."""
        try:
            self.register(plugin, name=name)
            self._versions[name] = version
        except Exception as error:
            self.record_failure(name, version, getattr(plugin, "__name__", None), error)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        try:
            self.check_pending()
        except pluggy.PluginValidationError:
            self.unregister(plugin)
            raise
        return registered

    def record_failure(
        self, name: str, version: str | None, module: str | None, error: BaseException
    ) -> None:
        message = f"{type(error).__name__}: {error}"
        log.error("plugin %s failed to load and is disabled: %s", name, message)
        self.failures[name] = PluginInfo(name, version, (), module, message)

    def plugin_infos(self, *, builtin: bool = False) -> list[PluginInfo]:
        """Every plugin, loaded or failed, sorted by name; postroom's own hook
        implementations (``BUILTIN_PLUGINS``) too when ``builtin``."""
        infos: list[PluginInfo] = list(self.failures.values())
        for name, plugin in self.list_name_plugin():
            if name in BUILTIN_PLUGINS and not builtin:
                continue
            hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or []))
            module = getattr(plugin, "__name__", type(plugin).__module__)
            infos.append(PluginInfo(name, self._versions.get(name), hooks, module))
        return sorted(infos, key=lambda info: info.name)


def make_plugin_manager(
    allowlist: Sequence[str] | None = None,
    *,
    load_entry_points: bool = True,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> PluginManager:
    manager = PluginManager()
    for name in BUILTIN_PLUGINS:
        manager.register_checked(importlib.import_module(name), name, __version__)
    if load_entry_points:
        manager.load_entry_points(allowlist)
    for name, plugin in extra_plugins:
        manager.register_checked(plugin, name)
    return manager
