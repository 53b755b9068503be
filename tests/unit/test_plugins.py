"""The plugin manager: registration for one test, allowlist, and broken plugins."""

from importlib.metadata import EntryPoint

from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry
from postroom.core.plugins import make_plugin_manager
from postroom.core.ports import Notification, Notifier


class RecordingNotifier:
    name = "recording"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


class NotifierPlugin:
    def __init__(self) -> None:
        self.notifier = RecordingNotifier()

    @hookimpl
    def register_notifiers(self) -> list[Notifier]:
        return [self.notifier]


class MisspeltPlugin:
    @hookimpl
    def register_notifier(self):  # the hook is register_notifiers
        return []


CONFIG = Config.load({})
CLOCK = FrozenClock.at("2026-03-02T09:30:00+00:00")


def point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="postroom")


def test_a_plugin_registered_for_one_test_has_its_hooks_called():
    manager = make_plugin_manager(load_entry_points=False)
    plugin = NotifierPlugin()
    manager.register(plugin, name="recording")
    try:
        [notifiers] = manager.hook.register_notifiers(config=CONFIG, clock=CLOCK)
        assert notifiers == [plugin.notifier]
        assert isinstance(notifiers[0], Notifier)
    finally:
        manager.unregister(plugin)
    assert manager.hook.register_notifiers(config=CONFIG, clock=CLOCK) == []


def test_a_misspelt_hook_disables_the_plugin_and_is_listed_with_its_error():
    manager = make_plugin_manager(
        load_entry_points=False, extra_plugins=[("typo", MisspeltPlugin())]
    )
    assert manager.get_plugin("typo") is None
    [info] = manager.plugin_infos()
    assert info.name == "typo"
    assert "register_notifier" in (info.error or "")


def test_a_plugin_that_fails_to_import_is_reported_and_others_still_load():
    manager = make_plugin_manager(load_entry_points=False)
    manager.load_entry_points(
        points=[
            point("broken", "postroom_plugin_that_does_not_exist"),
            point("log_notifier", "postroom.plugins.log_notifier"),
        ]
    )
    infos = {info.name: info for info in manager.plugin_infos()}
    assert "ModuleNotFoundError" in (infos["broken"].error or "")
    assert infos["log_notifier"].error is None
    assert infos["log_notifier"].hooks == ("register_notifiers",)


def test_the_allowlist_loads_only_the_named_plugins():
    points = [
        point("log_notifier", "postroom.plugins.log_notifier"),
        point("broken", "postroom_plugin_that_does_not_exist"),
    ]
    manager = make_plugin_manager(load_entry_points=False)
    manager.load_entry_points(allowlist=["log_notifier"], points=points)
    assert [info.name for info in manager.plugin_infos()] == ["log_notifier"]


def test_postroom_s_own_jobs_come_through_the_register_jobs_hook_whatever_the_allowlist():
    manager = make_plugin_manager(allowlist=[], load_entry_points=True)
    registry = JobRegistry()
    manager.hook.register_jobs(registry=registry)
    assert {"worker.heartbeat", "vault.expire-pending", "meters.inspection-reminders"} <= set(
        registry.periodic
    )
    assert manager.plugin_infos() == []
    builtin = {info.name: info.hooks for info in manager.plugin_infos(builtin=True)}
    for area in ("ledger", "funding", "payouts", "meters"):
        assert builtin[f"postroom.core.{area}.jobs"] == ("register_jobs",)


def test_a_plugin_registered_after_opening_still_hears_postroom_opened():
    manager = make_plugin_manager(load_entry_points=False)
    opened = object()  # stands for the open Postroom
    manager.hook.postroom_opened.call_historic(kwargs={"postroom": opened})
    heard: list[object] = []

    class Late:
        @hookimpl
        def postroom_opened(self, postroom: object) -> None:
            heard.append(postroom)

    manager.register(Late(), name="late")
    assert heard == [opened]
