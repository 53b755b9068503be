"""The USPS carrier plugin: United States Postal Service price lists as rate tables.

Each file in ``rates/`` is one price list (TOML, format in docs/rates.md) citing the
document its prices come from; postroom loads them through ``register_rate_tables``.
"""

from __future__ import annotations

from importlib import resources

import attrs

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import RateTableSource


@attrs.frozen
class PackagedRateFile:
    """A rate file shipped inside a plugin package."""

    package: str
    filename: str
    format: str = "toml"

    @property
    def name(self) -> str:
        return f"{self.package}:{self.filename}"

    def read_text(self) -> str:
        return resources.files(self.package).joinpath(self.filename).read_text("utf-8")


def rate_files(package: str, folder: str = "rates") -> list[PackagedRateFile]:
    root = resources.files(package).joinpath(folder)
    return [
        PackagedRateFile(package, f"{folder}/{entry.name}")
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    ]


@hookimpl
def register_rate_tables() -> list[RateTableSource]:
    return list(rate_files(__name__))
