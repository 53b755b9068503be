"""What every command shares: the lazily opened postroom and error handling."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import click

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.errors import PostroomError

#: Exit codes: 0 ok, 1 domain or environment error, 2 usage error (Click's own).
EXIT_ERROR = 1


class PostroomClickException(click.ClickException):
    exit_code = EXIT_ERROR

    def __init__(self, error: PostroomError) -> None:
        super().__init__(f"{error.message} [{error.code}]")
        self.error = error


class PostroomGroup(click.Group):
    """Turns every PostroomError into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PostroomError as error:
            raise PostroomClickException(error) from error


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

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """Print ``data`` as JSON or through ``human``."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    else:
        click.echo(human(data))
