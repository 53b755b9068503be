"""The ledger's keyed chain (issue 11 item 4): a database administrator without the
ledger key cannot rewrite history quietly, on SQLite and on PostgreSQL.

The administrator here does everything the issue describes: lift the append-only
triggers, add 100,000 USD to the last deposit, recompute every following row's hash
(with the public unkeyed algorithm, or with a guessed key), fix both balances and the
chain head. Only the ledger key, kept outside the database, stops them.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from postroom.core import migrate
from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import ConfigurationError
from postroom.core.ledger.model import ChainKey, Checkpoint, VerifyReport, chain_hash
from postroom.core.ledger.store import ledger_transfers, transfer_from_row
from postroom.core.money import Money
from postroom.frontends.cli import cli

#: 100,000 USD in mills.
STOLEN = 100_000 * 1000
#: A row hash as some writer computes it: (prev_hash, seq, canonical tail) -> hash.
Hasher = Callable[[str, int, bytes], str]


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def _ledger(pr: Postroom, customer: CustomerAccount) -> None:
    """Six rows (registering a meter writes none); the last deposit, dep-2 (row 4), has
    two rows after it."""
    pr.ledger.deposit(customer.number, usd("100"), "dep-1")
    pr.meters.funds.register_meter("M-1", customer.number, "USPS")
    pr.meters.funds.refill("M-1", usd("40"), "refill-1")
    pr.meters.funds.record_usage("M-1", usd("1.5"), 2, "use-1")
    pr.ledger.deposit(customer.number, usd("5"), "dep-2")
    pr.meters.funds.refill("M-1", usd("10"), "refill-2")
    pr.meters.funds.record_usage("M-1", usd("0.5"), 1, "use-2")


def _seq_of(pr: Postroom, transfer_id: str) -> int:
    with pr.db.engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(ledger_transfers.c.seq).where(ledger_transfers.c.id == transfer_id)
            ).scalar_one()
        )


def _without_guards(connection: sa.Connection) -> None:
    """Drop the append-only triggers, as the administrator can."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER ledger_transfers_immutable ON ledger_transfers")
    else:
        connection.exec_driver_sql("DROP TRIGGER ledger_transfers_no_update")
        connection.exec_driver_sql("DROP TRIGGER ledger_transfers_no_delete")


def _restore_guards(connection: sa.Connection) -> None:
    """Put the trigger back (PostgreSQL: the session's database outlives this test)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE"
            " ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()"
        )


def _rechain(connection: sa.Connection, from_seq: int, hasher: Hasher) -> str:
    """Recompute the hash of every row from ``from_seq`` on with ``hasher``, each after
    the previous one, and move the chain head: answer the new head hash."""
    rows = [
        transfer_from_row(row)
        for row in connection.execute(sa.select(ledger_transfers).order_by(ledger_transfers.c.seq))
    ]
    prev_hash = rows[0].prev_hash
    for row in rows:
        if row.seq >= from_seq:
            row_hash = hasher(prev_hash, row.seq, row.canonical_tail())
            connection.execute(
                sa.update(ledger_transfers)
                .where(ledger_transfers.c.seq == row.seq)
                .values(prev_hash=prev_hash, row_hash=row_hash)
            )
            prev_hash = row_hash
        else:
            prev_hash = row.row_hash
    connection.execute(
        sa.text("UPDATE ledger_chain SET head_seq = :seq, head_hash = :hash WHERE id = 1"),
        {"seq": rows[-1].seq, "hash": prev_hash},
    )
    return prev_hash


def _steal(pr: Postroom, transfer_id: str, hasher: Hasher) -> None:
    """Add 100,000 USD to ``transfer_id`` (a deposit), recompute every hash from it on
    with ``hasher``, and fix both accounts' balances and the chain head."""
    seq = _seq_of(pr, transfer_id)
    with pr.db.engine.begin() as connection:
        _without_guards(connection)
        debit, credit = connection.execute(
            sa.text(
                "SELECT debit_account_id, credit_account_id FROM ledger_transfers WHERE id = :id"
            ),
            {"id": transfer_id},
        ).one()
        connection.execute(
            sa.text("UPDATE ledger_transfers SET amount = amount + :x WHERE id = :id"),
            {"x": STOLEN, "id": transfer_id},
        )
        connection.execute(
            sa.text("UPDATE ledger_accounts SET debits_posted = debits_posted + :x WHERE id = :id"),
            {"x": STOLEN, "id": debit},
        )
        connection.execute(
            sa.text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted + :x WHERE id = :id"
            ),
            {"x": STOLEN, "id": credit},
        )
        _rechain(connection, seq, hasher)
        _restore_guards(connection)


def _codes(report: VerifyReport) -> set[str]:
    return {problem.code for problem in report.problems}


def _first(report: VerifyReport) -> tuple[str, int | None, str | None]:
    first = report.first_broken
    assert first is not None, "verify found nothing"
    return first.code, first.seq, first.transfer_id


def _key_of(pr: Postroom) -> ChainKey:
    return ChainKey.from_text(pr.config.resolved_ledger_key())


GUESSED = ChainKey.from_text("postroom-ledger-key-guessed-by-the-dba-0001")
FORGERS: dict[str, Hasher] = {"public sha256": chain_hash, "guessed key": GUESSED.row_hash}


@pytest.mark.parametrize("forger", FORGERS)
def test_a_dba_without_the_key_cannot_rewrite_the_last_deposit(
    pr: Postroom, customer: CustomerAccount, forger: str
) -> None:
    _ledger(pr, customer)
    assert pr.ledger.verify().ok
    _steal(pr, "dep-2", FORGERS[forger])
    assert pr.ledger.balance(customer.number).balances.balance > STOLEN  # the money is "there"

    report = pr.ledger.verify()
    assert not report.ok
    assert _first(report) == ("row_altered", 4, "dep-2")
    # Balances and head were fixed: the hashes alone give the rewrite away.
    assert _codes(report) == {"row_altered"}


def test_the_same_rewrite_with_the_key_verifies(pr: Postroom, customer: CustomerAccount) -> None:
    """The control: the rewrite above is complete; only the key was missing."""
    _ledger(pr, customer)
    _steal(pr, "dep-2", _key_of(pr).row_hash)
    assert pr.ledger.verify().ok


def test_another_key_fails_verify_and_names_the_first_row(
    pr: Postroom, customer: CustomerAccount, store_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    _ledger(pr, customer)
    config = Config.load(
        {},
        data_dir=pr.config.data_dir,
        database_url=store_url,
        secret_key="test-secret",
        ledger_key="not the key this ledger was written with, though long enough",
    )
    with Postroom.open(config=config, clock=clock) as other:
        report = other.ledger.verify()
    assert _first(report) == ("row_altered", 1, "dep-1")


# ------------------------------------------------- a ledger from before the keyed chain


@pytest.fixture
def old_ledger(pr: Postroom, customer: CustomerAccount) -> Iterator[Postroom]:
    """``pr`` holding a ledger as the release before the keyed chain left it: every row
    hashed with the unkeyed algorithm, schema at ``vault_0008`` (no seal). The schema is
    brought back to the heads afterwards (PostgreSQL's test database is shared)."""
    _ledger(pr, customer)
    with pr.db.engine.begin() as connection:
        _without_guards(connection)
        _rechain(connection, 1, chain_hash)
        _restore_guards(connection)
    with pr.db.engine.begin() as connection:
        if pr.db.dialect == "sqlite":  # the trigger a fresh migration would have made
            connection.exec_driver_sql(
                "CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers"
                " BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers"
                " BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END"
            )
    _downgrade_to_0008(pr)
    try:
        yield pr
    finally:
        migrate.upgrade(pr.db)


def _downgrade_to_0008(pr: Postroom) -> None:
    config = migrate._alembic_config()
    with pr.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "vault_0008")


def test_an_old_ledger_upgrades_sealed_and_verifies(old_ledger: Postroom) -> None:
    pr = old_ledger
    assert "vault_0009_seal" not in migrate.applied_revisions(pr.db)
    migrate.upgrade(pr.db, seal_ledger=_key_of(pr).seal)  # as `postroom db upgrade` does
    assert pr.ledger.verify().ok
    customer = pr.accounts.list()[0]
    pr.ledger.deposit(customer.number, usd("7"), "dep-3")  # row 7: keyed
    pr.meters.funds.record_usage("M-1", usd("2"), 1, "use-3")
    assert pr.ledger.verify().ok
    with pr.db.engine.connect() as connection:
        rows = {
            r.id: r for r in map(transfer_from_row, connection.execute(sa.select(ledger_transfers)))
        }
    assert rows["dep-2"].row_hash == rows["dep-2"].computed_hash(None)  # unkeyed, kept
    assert rows["dep-3"].row_hash == rows["dep-3"].computed_hash(_key_of(pr))


def test_a_rewrite_before_the_seal_is_caught(old_ledger: Postroom) -> None:
    pr = old_ledger
    migrate.upgrade(pr.db, seal_ledger=_key_of(pr).seal)
    customer = pr.accounts.list()[0]
    pr.ledger.deposit(customer.number, usd("7"), "dep-3")
    # Rows 1-6 are unkeyed: the administrator recomputes them with the public algorithm
    # and moves the boundary's recorded hash too, but cannot redo its seal.
    _steal(pr, "dep-1", chain_hash)
    with pr.db.engine.begin() as connection:
        head = connection.execute(sa.text("SELECT row_hash FROM ledger_transfers WHERE seq = 6"))
        connection.execute(sa.text("UPDATE ledger_seal SET row_hash = :h"), {"h": head.scalar()})
    report = pr.ledger.verify()
    assert _first(report) == ("seal_broken", 6, "use-2")
    assert "balance_mismatch" not in _codes(report)


def test_a_rewrite_before_the_seal_without_a_new_hash_is_named(old_ledger: Postroom) -> None:
    pr = old_ledger
    migrate.upgrade(pr.db, seal_ledger=_key_of(pr).seal)
    with pr.db.engine.begin() as connection:
        _without_guards(connection)
        connection.execute(sa.text("UPDATE ledger_transfers SET amount = 1 WHERE id = 'dep-1'"))
        _restore_guards(connection)
    assert _first(pr.ledger.verify()) == ("row_altered", 1, "dep-1")


def test_a_boundary_recorded_without_the_key_is_refused_until_sealed(
    old_ledger: Postroom,
) -> None:
    pr = old_ledger
    migrate.upgrade(pr.db)  # no key: the boundary is recorded, not sealed
    assert _first(pr.ledger.verify()) == ("ledger_unsealed", 6, "use-2")
    sealed = pr.ledger.seal()
    assert sealed is not None
    assert sealed.seq == 6
    assert pr.ledger.verify().ok
    assert pr.ledger.seal() == sealed  # once


def test_sealing_refuses_an_altered_ledger(old_ledger: Postroom) -> None:
    pr = old_ledger
    migrate.upgrade(pr.db)
    with pr.db.engine.begin() as connection:
        _without_guards(connection)
        connection.execute(sa.text("UPDATE ledger_transfers SET amount = 1 WHERE id = 'use-1'"))
        _restore_guards(connection)
    with pytest.raises(Exception, match="not sealing an altered ledger") as caught:
        pr.ledger.seal()
    assert getattr(caught.value, "code", None) == "ledger_altered"


# ------------------------------------------------------------------------ checkpoints


def test_a_checkpoint_catches_a_cut_tail(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    pr.ledger.deposit(customer.number, usd("9"), "dep-3")
    checkpoint = pr.ledger.checkpoint()
    assert checkpoint.seq == 7
    assert pr.ledger.verify(checkpoint).ok
    pr.ledger.deposit(customer.number, usd("1"), "dep-4")
    assert pr.ledger.verify(checkpoint).ok  # the ledger grew: the checkpoint still holds

    # The administrator removes the last two deposits and fixes balances and head: the
    # rows that remain are intact, so only the checkpoint can tell.
    with pr.db.engine.begin() as connection:
        _without_guards(connection)
        connection.exec_driver_sql("DELETE FROM ledger_transfers WHERE seq >= 7")
        connection.execute(
            sa.text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted - 10000"
                " WHERE code = :code"
            ),
            {"code": f"postage:{customer.number}"},
        )
        connection.exec_driver_sql(
            "UPDATE ledger_accounts SET debits_posted = debits_posted - 10000"
            " WHERE code = 'payment_clearing:USD'"
        )
        connection.exec_driver_sql(
            "UPDATE ledger_chain SET head_seq = 6,"
            " head_hash = (SELECT row_hash FROM ledger_transfers WHERE seq = 6)"
        )
        _restore_guards(connection)
    assert pr.ledger.verify().ok
    report = pr.ledger.verify(checkpoint)
    assert _first(report)[0] == "checkpoint_missing"


def test_a_checkpoint_is_signed(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    taken = pr.ledger.checkpoint()
    forged = Checkpoint(taken.seq, taken.row_hash, GUESSED.checkpoint(taken.seq, taken.row_hash))
    assert _first(pr.ledger.verify(forged))[0] == "checkpoint_invalid"
    # A checkpoint signed with another key says nothing, even of a row that differs.
    wrong = Checkpoint(2, "ab" * 32, GUESSED.checkpoint(2, "ab" * 32))
    assert [p.code for p in pr.ledger.verify(wrong).problems] == ["checkpoint_invalid"]
    other = Checkpoint(2, taken.row_hash, _key_of(pr).checkpoint(2, taken.row_hash))
    assert _first(pr.ledger.verify(other)) == ("checkpoint_mismatch", 2, "refill-1")


# ------------------------------------------------------------- the key and the CLI


def test_production_refuses_to_open_without_a_ledger_key(store_url: str, tmp_path: Path) -> None:
    config = Config.load(
        {}, env="production", data_dir=tmp_path, database_url=store_url, secret_key="s"
    )
    with pytest.raises(ConfigurationError) as caught:
        Postroom.open(config=config, migrate_schema=False)
    assert caught.value.code == "ledger_key_missing"


def test_the_generated_ledger_key_is_private_and_kept(tmp_path: Path) -> None:
    config = Config.load({}, data_dir=tmp_path / "data")
    key = config.resolved_ledger_key()
    path = tmp_path / "data" / "ledger_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert Config.load({}, data_dir=tmp_path / "data").resolved_ledger_key() == key


def test_the_cli_verify_names_the_rewritten_row_and_checks_a_checkpoint(
    pr: Postroom, customer: CustomerAccount, store_url: str, tmp_path: Path
) -> None:
    _ledger(pr, customer)
    runner = CliRunner(
        env={
            "POSTROOM_DATABASE_URL": store_url,
            "POSTROOM_DATA_DIR": str(pr.config.data_dir),
            "POSTROOM_SECRET_KEY": "test-secret",
        }
    )
    saved = tmp_path / "head.json"
    result = runner.invoke(cli, ["vault", "checkpoint", "--output", str(saved)])
    assert result.exit_code == 0, result.output
    assert json.loads(saved.read_text())["seq"] == 6
    result = runner.invoke(cli, ["vault", "verify", "--checkpoint", str(saved)])
    assert (result.exit_code, "checkpoint of row 6 held" in result.output) == (0, True)

    _steal(pr, "dep-2", chain_hash)
    result = runner.invoke(cli, ["vault", "verify", "--json"])
    assert result.exit_code == 1
    first = json.loads(result.output)["problems"][0]
    assert (first["code"], first["seq"], first["transfer_id"]) == ("row_altered", 4, "dep-2")
    result = runner.invoke(cli, ["vault", "verify", "--checkpoint", str(saved)])
    assert result.exit_code == 1
    assert "checkpoint_mismatch" in result.output

    saved.write_text("[[[")
    result = runner.invoke(cli, ["vault", "verify", "--checkpoint", str(saved)])
    assert result.exit_code == 1
    assert "invalid_checkpoint" in result.output
    assert "Traceback" not in result.output
