"""Rate files shipped inside plugin packages, as ``ports.RateTableSource`` objects.

A carrier plugin keeps its price lists in a ``rates/`` folder of its package and returns
``rate_files(__name__)`` from its ``register_rate_tables`` hook.
"""

from __future__ import annotations

from importlib import resources

import attrs


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
    """Every ``*.toml`` file of ``package/folder``, by name."""
    root = resources.files(package).joinpath(folder)
    return [
        PackagedRateFile(package, f"{folder}/{entry.name}")
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    ]
