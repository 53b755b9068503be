"""What every command shares: the lazily opened postroom and error handling."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import click

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.errors import PostroomError
from postroom.core.plugins import make_plugin_manager

T = TypeVar("T")

#: Exit codes: 0 ok, 1 domain or environment error, 2 usage error (Click's own).
EXIT_ERROR = 1


class PostroomClickException(click.ClickException):
    exit_code = EXIT_ERROR

    def __init__(self, error: PostroomError) -> None:
        super().__init__(f"{error.message} [{error.code}]")
        self.error = error


class PostroomGroup(click.Group):
    """Turns every PostroomError into one clear line and exit code 1, and so an error of
    the operating system (a file, a folder, a device) that a command did not name."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PostroomError as error:
            raise PostroomClickException(error) from error
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            failed = PostroomError(f"{where}{error.strerror or error}", code="os_error")
            raise PostroomClickException(failed) from error


@attrs.define
class CliState:
    config_file: str | None = None
    database_url: str | None = None
    _postroom: Postroom | None = None

    def config(self) -> Config:
        return Config.load(config_file=self.config_file, database_url=self.database_url)

    def postroom(self, **options: Any) -> Postroom:
        if self._postroom is None:
            self._postroom = Postroom.open(config=self.config(), **options)
        return self._postroom

    def close(self) -> None:
        if self._postroom is not None:
            self._postroom.close()
            self._postroom = None


pass_state = click.make_pass_decorator(CliState)


def registered(state: CliState, hook: str) -> list[Any]:
    """Every provider the loaded plugins return from the registration ``hook``."""
    manager = make_plugin_manager(state.config().plugins)
    groups: list[list[Any]] = getattr(manager.hook, hook)()
    return [provider for group in groups for provider in group]


def choose(providers: Mapping[str, T], name: str, *, what: str, option: str) -> T:
    """The provider called ``name``; a usage error (exit 2) naming the known ones otherwise."""
    if name not in providers:
        known = ", ".join(sorted(providers)) or "none installed"
        raise click.BadParameter(f"unknown {what} {name!r} (known: {known})", param_hint=option)
    return providers[name]


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """Print ``data`` as JSON or through ``human``."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    else:
        click.echo(human(data))
