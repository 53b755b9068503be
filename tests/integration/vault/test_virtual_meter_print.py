"""Printing postage on the data center's virtual meter (PC postage, the kiosk), on the
real store: SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock, SystemClock, today
from postroom.core.config import Config
from postroom.core.errors import Conflict, InsufficientFunds, Locked, NotFound, ValidationError
from postroom.core.meters.printing import verify_indicium
from postroom.core.meters.virtual import PrintedPostage, SigningKeyUnavailable
from postroom.core.meters.virtual_service import PrintFailed, VirtualMeters
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.cli import cli

LETTER = Weight.parse("1oz")


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


@pytest.fixture
def funded(pr: Postroom, customer: CustomerAccount) -> CustomerAccount:
    pr.ledger.deposit(customer.number, usd("20"), "dep-1")
    return customer


def letter(pr: Postroom, customer: CustomerAccount, key: str, **options: object):
    return pr.meters.print_postage(
        customer.number,
        "usps",
        "first-class-letter",
        LETTER,
        idempotency_key=key,
        origin_zip="10001",
        **options,  # type: ignore[arg-type]
    )


def quoted(pr: Postroom) -> Money:
    from postroom.core.rates.model import Piece

    return pr.rates.quote(Piece(LETTER), "usps", "first-class-letter", on=today(pr.clock)).total


def test_a_printed_letter_is_charged_logged_and_verifies_with_the_meter_key(
    pr: Postroom, funded: CustomerAccount
) -> None:
    price = quoted(pr)
    printed = letter(pr, funded, "k-1", cost_center="Legal")

    assert printed.serial == f"V{funded.number}"
    assert (printed.piece, printed.postage, printed.cost_center) == (1, price, "Legal")
    record = printed.record
    assert (record.piece, record.ascending, record.descending) == (
        1,
        price.mills,
        20_000 - price.mills,
    )
    balance = pr.ledger.balance(funded.number)
    assert balance.balances.balance == 20_000 - price.mills
    assert balance.balances.debits_pending == 0

    meter = pr.meters.get(printed.serial)
    assert meter.customer_account == funded.number
    assert meter.public_key_pem
    for fmt in ("png", "svg"):
        check = verify_indicium(
            printed.render(fmt), meter.public_key_pem, today=today(pr.clock), serial=meter.serial
        )
        assert check.valid, check.reason
        assert check.record == record

    logged = pr.meters.pieces(printed.serial)
    assert [(p.piece, p.mills, p.cost_center, p.recorded) for p in logged] == [
        (1, price.mills, "Legal", True)
    ]
    report = pr.ledger.report(funded.number, cost_center="Legal")
    assert [e.amount for e in report.entries] == [-price.mills]
    assert report.by_cost_center == (("Legal", -price.mills, 0),)
    assert pr.ledger.verify().ok


def test_a_retry_answers_the_same_piece_and_charges_once(
    pr: Postroom, funded: CustomerAccount
) -> None:
    first = letter(pr, funded, "k-1")
    again = letter(pr, funded, "k-1")
    assert (again.piece, again.signature, again.created) == (first.piece, first.signature, False)
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - first.postage.mills
    with pytest.raises(Conflict) as caught:
        letter(pr, funded, "k-1", cost_center="Sales")
    assert caught.value.code == "idempotency_key_reused"
    assert letter(pr, funded, "k-2").piece == 2
    assert [p.piece for p in pr.meters.pieces(first.serial)] == [2, 1]


def test_a_signing_failure_voids_the_hold_and_uses_no_piece_number(
    pr: Postroom, funded: CustomerAccount, store_url: str, clock: FrozenClock
) -> None:
    """The seam is real: an installation opened with another key-encryption key cannot
    open the meter's sealed signing key, after the postage was held."""
    first = letter(pr, funded, "k-1")
    config = Config.load(
        {},
        data_dir=pr.config.data_dir,  # the same ledger key: only the meter key differs
        database_url=store_url,
        secret_key="test-secret",
        virtual_meter_key="not-the-key-that-sealed-it",
    )
    with (
        Postroom.open(config=config, clock=clock, immediate_jobs=True) as other,
        pytest.raises(SigningKeyUnavailable) as caught,
    ):
        letter(other, funded, "k-2")
    assert caught.value.code == "signing_key_unavailable"
    balance = pr.ledger.balance(funded.number)
    assert balance.balances.balance == 20_000 - first.postage.mills
    assert balance.balances.debits_pending == 0
    assert [p.piece for p in pr.meters.pieces(first.serial)] == [1]

    retried = letter(pr, funded, "k-2")  # the same key, with the right installation
    assert retried.piece == 2
    assert retried.record.ascending == 2 * first.postage.mills
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - 2 * first.postage.mills
    assert pr.ledger.verify().ok


def test_a_rendering_failure_voids_the_hold(pr: Postroom, funded: CustomerAccount) -> None:
    """The renderer is the service's seam: a print head that cannot render stops the
    piece before it is numbered or charged."""

    def broken(printed: PrintedPostage) -> bytes:
        raise OSError("print head unavailable")

    failing = VirtualMeters(
        pr.db,
        pr.clock,
        pr.accounts,
        pr.ledger,
        pr.meters.funds,
        pr.rates,
        pr.config.resolved_virtual_meter_key,
        renderer=broken,
    )
    with pytest.raises(PrintFailed):
        failing.print_postage(
            funded.number,
            "usps",
            "first-class-letter",
            LETTER,
            idempotency_key="k-1",
            origin_zip="10001",
        )
    assert pr.ledger.balance(funded.number).balances.debits_pending == 0
    assert pr.ledger.balance(funded.number).balances.balance == 20_000
    assert letter(pr, funded, "k-1").piece == 1


def test_without_funds_nothing_is_printed_and_a_retry_after_a_deposit_prints(
    pr: Postroom, customer: CustomerAccount
) -> None:
    with pytest.raises(InsufficientFunds):
        letter(pr, customer, "k-1")
    serial = f"V{customer.number}"
    assert pr.meters.pieces(serial) == []
    pr.ledger.deposit(customer.number, usd("5"), "dep-1")
    assert letter(pr, customer, "k-1").piece == 1


def test_cost_centres_are_the_accounts_when_set(pr: Postroom, funded: CustomerAccount) -> None:
    serial = pr.meters.virtual_meter(funded.number).serial
    pr.meters.set_cost_centers(serial, ["Legal", "Sales"])
    assert pr.meters.print_cost_centers(funded.number) == ("Legal", "Sales")
    with pytest.raises(ValidationError) as caught:
        letter(pr, funded, "k-1", cost_center="Marketing")
    assert caught.value.code == "cost_center_not_allowed"
    assert letter(pr, funded, "k-1", cost_center="Sales").cost_center == "Sales"


def test_bad_input_is_refused_before_anything_is_held(
    pr: Postroom, funded: CustomerAccount
) -> None:
    cases = [
        ({"idempotency_key": "no spaces allowed"}, "invalid_idempotency_key"),
        ({"origin_zip": "!"}, "invalid_zip"),
        ({"service": "no-such-service"}, "unknown_service"),
    ]
    for change, code in cases:
        options: dict[str, object] = {
            "customer_number": funded.number,
            "carrier": "usps",
            "service": "first-class-letter",
            "weight": LETTER,
            "idempotency_key": "k-1",
            "origin_zip": "10001",
            **change,
        }
        with pytest.raises((ValidationError, NotFound)) as caught:
            pr.meters.print_postage(**options)  # type: ignore[arg-type]
        assert caught.value.code == code, change
    assert pr.ledger.balance(funded.number).balances.balance == 20_000


def test_another_accounts_piece_is_not_found(pr: Postroom, funded: CustomerAccount) -> None:
    printed = letter(pr, funded, "k-1")
    other = pr.accounts.create("Other Co", "US", "USD")
    with pytest.raises(NotFound):
        pr.meters.printed_postage(other.number, printed.serial, printed.piece)
    assert pr.meters.printed_postage(funded.number, printed.serial, 1).signature == (
        printed.signature
    )


@pytest.fixture
def installations(
    pr: Postroom, store_url: str, data_dir: Path, clock: FrozenClock
) -> Iterator[list[Postroom]]:
    """Four more installations on the same store: four web processes."""
    config = Config.load({}, data_dir=data_dir, database_url=store_url, secret_key="test-secret")
    opened = [Postroom.open(config=config, clock=clock, immediate_jobs=True) for _ in range(4)]
    yield opened
    for installation in opened:
        installation.close()


def test_concurrent_prints_number_pieces_exactly(
    pr: Postroom, funded: CustomerAccount, installations: list[Postroom]
) -> None:
    pr.meters.virtual_meter(funded.number)
    keys = [f"k-{n}" for n in range(24)]

    def one(n: int):
        return letter(installations[n % len(installations)], funded, keys[n])

    with ThreadPoolExecutor(max_workers=4) as pool:
        printed = list(pool.map(one, range(len(keys))))
    price = printed[0].postage.mills
    assert sorted(p.piece for p in printed) == list(range(1, 25))
    assert sorted(p.record.ascending for p in printed) == [price * n for n in range(1, 25)]
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - 24 * price
    assert pr.ledger.verify().ok


def test_the_cli_shows_the_virtual_meters_key_and_verifies_its_indicium(
    pr: Postroom, funded: CustomerAccount, store_url: str, data_dir: Path, tmp_path: Path
) -> None:
    printed = letter(pr, funded, "k-1")
    image = tmp_path / "letter.png"
    image.write_bytes(printed.render("png"))
    runner = CliRunner(
        env={
            "POSTROOM_DATABASE_URL": store_url,
            "POSTROOM_DATA_DIR": str(data_dir),
            "POSTROOM_SECRET_KEY": "test-secret",
        }
    )
    shown = runner.invoke(cli, ["meter", "public-key", printed.serial])
    assert shown.exit_code == 0, shown.output
    key = tmp_path / "key.pem"
    key.write_text(shown.output)
    checked = runner.invoke(
        cli, ["meter", "verify-indicium", str(image), "--public-key", str(key), "--json"]
    )
    assert checked.exit_code == 0, checked.output
    assert f'"serial": "{printed.serial}"' in checked.output


def test_a_misprinted_virtual_piece_is_refunded_to_its_cost_centre(
    pr: Postroom, funded: CustomerAccount
) -> None:
    kept = letter(pr, funded, "k-1", cost_center="Legal")
    spoiled = letter(pr, funded, "k-2", cost_center="Legal")
    refund = pr.refunds.request_logged(
        funded.number, "r-1", spoiled.serial, [spoiled.piece], "misprinted"
    )
    assert refund.face == spoiled.postage.mills
    with pytest.raises(Conflict) as caught:
        pr.refunds.request_logged(funded.number, "r-2", spoiled.serial, [2], "misprinted")
    assert caught.value.code == "piece_already_refunded"
    pr.refunds.approve(funded.number, "r-1", "agent smith")
    balance = pr.ledger.balance(funded.number).balances.balance
    assert balance == 20_000 - kept.postage.mills - refund.fee
    legal = pr.ledger.report(funded.number, cost_center="Legal")
    assert sum(e.amount for e in legal.entries) == -kept.postage.mills - refund.fee
    with pytest.raises(NotFound) as missing:
        pr.refunds.request_logged(funded.number, "r-3", spoiled.serial, [3], "misprinted")
    assert missing.value.code == "piece_not_logged"
    assert pr.ledger.verify().ok


def test_the_cli_prints_pc_postage_once_per_key(
    pr: Postroom, funded: CustomerAccount, store_url: str, data_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner(
        env={
            "POSTROOM_DATABASE_URL": store_url,
            "POSTROOM_DATA_DIR": str(data_dir),
            "POSTROOM_SECRET_KEY": "test-secret",
        }
    )
    command = [
        "meter",
        "print-postage",
        "--account",
        funded.number,
        "--carrier",
        "usps",
        "--service",
        "first-class-letter",
        "--weight",
        "1oz",
        "--origin-zip",
        "10001",
        "--cost-center",
        "Legal",
        "--idempotency-key",
        "cli-1",
    ]
    image = tmp_path / "letter.svg"
    first = runner.invoke(cli, [*command, "--output", str(image), "--json"])
    assert first.exit_code == 0, first.output
    assert '"piece": 1' in first.output
    assert '"created": true' in first.output
    key = pr.meters.get(f"V{funded.number}").public_key_pem
    assert key is not None
    # the command ran on the system clock, not the test's frozen one
    check = verify_indicium(image.read_bytes(), key, today=today(SystemClock()))
    assert check.valid
    again = runner.invoke(cli, [*command, "--output", str(tmp_path / "again.png")])
    assert again.exit_code == 0, again.output
    assert "nothing charged" in again.output
    price = json.loads(first.output)["postage_mills"]
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - price

    bad = runner.invoke(cli, [*command, "--output", str(tmp_path / "letter.gif")])
    assert bad.exit_code == 2
    other = pr.accounts.create("Empty Co", "US", "USD")
    broke = runner.invoke(
        cli, [*command[:3], other.number, *command[4:], "--output", str(tmp_path / "x.png")]
    )
    assert broke.exit_code == 1
    assert "insufficient_funds" in broke.output
    assert not (tmp_path / "x.png").exists()


def test_a_retry_answers_the_piece_even_after_the_cost_centres_changed(
    pr: Postroom, funded: CustomerAccount
) -> None:
    first = letter(pr, funded, "k-1", cost_center="Marketing")
    pr.meters.set_cost_centers(first.serial, ["Legal"])
    assert letter(pr, funded, "k-1", cost_center="Marketing").piece == first.piece


def test_a_withdrawn_virtual_meter_prints_nothing(pr: Postroom, funded: CustomerAccount) -> None:
    serial = pr.meters.virtual_meter(funded.number).serial
    pr.meters.withdraw(serial)
    with pytest.raises(Locked) as caught:
        letter(pr, funded, "k-1")
    assert caught.value.code == "meter_withdrawn"
    assert pr.ledger.balance(funded.number).balances.balance == 20_000


def test_a_print_cut_after_signing_is_charged_by_the_worker(
    pr: Postroom, funded: CustomerAccount, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    price = quoted(pr)

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies between signing and posting

    with monkeypatch.context() as patched:
        patched.setattr(pr.ledger, "post_postage", crash)
        with pytest.raises(KeyboardInterrupt):
            letter(pr, funded, "k-cut")
    held = pr.ledger.balance(funded.number).balances
    assert (held.debits_pending, held.balance) == (price.mills, 20_000)
    assert pr.jobs.run_now("meters.finish-virtual-prints") == 0  # it may still be running
    clock.advance(timedelta(minutes=11))
    assert pr.jobs.run_now("meters.finish-virtual-prints") == 1
    assert pr.jobs.run_now("meters.finish-virtual-prints") == 0
    charged = pr.ledger.balance(funded.number).balances
    assert (charged.debits_pending, charged.balance) == (0, 20_000 - price.mills)
    again = letter(pr, funded, "k-cut")  # the client's retry answers the signed piece
    assert (again.piece, again.postage) == (1, price)
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - price.mills
    assert pr.ledger.verify().ok


def test_a_print_cut_before_signing_has_its_hold_released_by_the_worker(
    pr: Postroom, funded: CustomerAccount, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies after the hold, before signing

    with monkeypatch.context() as patched:
        patched.setattr(pr.meters.virtual, "_sign", crash)
        with pytest.raises(KeyboardInterrupt):
            letter(pr, funded, "k-early")
    assert pr.ledger.balance(funded.number).balances.debits_pending > 0
    clock.advance(timedelta(minutes=11))
    assert pr.jobs.run_now("meters.finish-virtual-prints") == 1
    released = pr.ledger.balance(funded.number).balances
    assert (released.debits_pending, released.balance) == (0, 20_000)
    printed = letter(pr, funded, "k-early")  # the retry prints afresh, once
    assert printed.piece == 1
    assert pr.ledger.balance(funded.number).balances.balance == 20_000 - quoted(pr).mills
    assert pr.ledger.verify().ok


def test_meter_show_and_list_give_a_virtual_meter_its_registers_and_pieces(
    pr: Postroom, funded: CustomerAccount, store_url: str, data_dir: Path
) -> None:
    first = letter(pr, funded, "k-1", cost_center="Legal")
    second = letter(pr, funded, "k-2")
    printed = first.postage.mills + second.postage.mills
    runner = CliRunner(
        env={
            "POSTROOM_DATABASE_URL": store_url,
            "POSTROOM_DATA_DIR": str(data_dir),
            "POSTROOM_SECRET_KEY": "test-secret",
        }
    )
    shown = runner.invoke(cli, ["meter", "show", first.serial, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["registers"]["pieces"] == 2
    assert data["registers"]["ascending_mills"] == printed
    # it prints from the postage account: what is left there is what it can still print
    assert data["registers"]["descending_mills"] == 20_000 - printed
    assert data["registers"]["virtual"] is True
    assert [p["piece"] for p in data["pieces"]] == [2, 1]

    text = runner.invoke(cli, ["meter", "show", first.serial]).output
    assert "pieces      2" in text
    assert "cost centre Legal" in text
    listed = runner.invoke(cli, ["meter", "list", "--account", funded.number, "--json"])
    (row,) = json.loads(listed.output)
    assert row["registers"] == data["registers"]
    assert "2 pieces  (virtual)" in runner.invoke(cli, ["meter", "list"]).output
