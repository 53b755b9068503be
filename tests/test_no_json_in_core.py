"""Domain objects do not carry the API's JSON: serialisers live in frontends/serialise.

A ``to_json`` (or another ``*_json`` writer) under core/ fails this test. The few left are
listed with the reason they are still there; each is a format core itself writes (a
protocol, a stored record, an outbox message) and the list only shrinks: removing one
means removing it here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"

#: Parsers and hashes, not JSON views: ``from_json`` reads input, ``canonical_json`` is
#: the byte form an idempotency fingerprint or a table digest is taken of.
NOT_WRITERS = frozenset({"from_json", "canonical_json", "claims_from_json"})

STILL_IN_CORE = {
    # The kernel's value: the remaining writers below use it.
    "money.py:Money.to_json": "the kernel value's canonical form",
    # The meter sync protocol: the same messages are sent and read by hal (the meter's
    # side), which may not import the frontends, and the plan and summary are stored.
    "meters/sync.py:SyncReport.to_json": "meter protocol",
    "meters/sync.py:TokenStep.to_json": "meter protocol",
    "meters/sync.py:InstallStep.to_json": "meter protocol",
    "meters/sync.py:SyncPlan.to_json": "meter protocol",
    "meters/sync.py:TokenOutcome.to_json": "meter protocol",
    "meters/sync.py:InstallOutcome.to_json": "meter protocol",
    "meters/sync.py:SyncResults.to_json": "meter protocol",
    "meters/sync.py:SyncSummary.to_json": "meter protocol",
    # Written by the meters service itself (its meter views, an alert's data, an outbox
    # message's data) until those views move out with the meters' split.
    "meters/model.py:Meter.to_json": "MetersService.details/summary",
    "meters/model.py:StoredPiece.to_json": "MetersService.details",
    "meters/model.py:Alert.to_json": "MetersService.details",
    "ledger/model.py:MeterRegisters.to_json": "MetersService.details/summary",
    "meters/refills.py:CancelledToken.to_json": "the refill_returned message's data",
    # The statement mail's text is built from it by the funding service.
    "funding/model.py:Statement.to_json": "FundingService's statement message",
}


def json_writers() -> set[str]:
    found = set()
    for path in sorted(CORE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        where = path.relative_to(CORE).as_posix()
        scopes: list[tuple[str, ast.AST]] = [("", tree)]
        while scopes:
            prefix, node = scopes.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    scopes.append((f"{prefix}{child.name}.", child))
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = child.name
                    if (name == "to_json" or name.endswith("_json")) and name not in NOT_WRITERS:
                        found.add(f"{where}:{prefix}{name}")
                elif isinstance(child, ast.Assign):
                    for target in child.targets:  # to_json = json
                        if isinstance(target, ast.Name) and target.id == "to_json":
                            found.add(f"{where}:{prefix}to_json")
    return found


def test_core_writes_no_new_json():
    new = json_writers() - set(STILL_IN_CORE)
    assert not new, f"serialise in frontends/serialise, not in core: {sorted(new)}"


def test_the_list_of_json_left_in_core_only_shrinks():
    gone = set(STILL_IN_CORE) - json_writers()
    assert not gone, f"no longer in core, take them off STILL_IN_CORE: {sorted(gone)}"
