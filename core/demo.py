"""Demo data for ``postroom serve --demo``: each area adds a step.

A step runs once per database (its name is remembered in the instance
settings), so restarting the demo keeps what the visitor did, and a step added
by a newer version still runs on an older demo database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from postroom.core.instance import InstanceSettings

if TYPE_CHECKING:
    from postroom.core.app import Postroom
    from postroom.core.db import UnitOfWork


@attrs.frozen
class DemoStep:
    name: str
    load: Callable[[Postroom], None]


def _mark_demo_instance(postroom: Postroom) -> None:
    def work(uow: UnitOfWork) -> None:
        InstanceSettings(uow.connection).set("instance_name", "postroom demo", postroom.clock.now())
        uow.commit()

    postroom.db.run(work)


def _load_rate_tables(postroom: Postroom) -> None:
    postroom.rates.sync_plugin_tables()


#: In order: later steps may use what earlier ones created.
DEMO_STEPS: list[DemoStep] = [
    DemoStep("instance", _mark_demo_instance),
    DemoStep("rates", _load_rate_tables),
]


def load_demo(postroom: Postroom, steps: list[DemoStep] | None = None) -> list[str]:
    """Run the demo steps not yet run on this database; return the names run now."""
    ran: list[str] = []
    for step in DEMO_STEPS if steps is None else steps:
        key = f"demo:{step.name}"

        def pending(uow: UnitOfWork, key: str = key) -> bool:
            return InstanceSettings(uow.connection).get(key) is None

        if not postroom.db.run(pending, readonly=True):
            continue
        step.load(postroom)

        def mark(uow: UnitOfWork, key: str = key) -> None:
            InstanceSettings(uow.connection).add_if_absent(key, "done", postroom.clock.now())
            uow.commit()

        postroom.db.run(mark)
        ran.append(step.name)
    return ran
