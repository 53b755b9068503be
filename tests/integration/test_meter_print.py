"""``postroom meter print`` and ``verify-indicium`` over a real pty simulator and database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock, SystemClock
from postroom.core.errors import ValidationError
from postroom.core.meters import indicium_image, tokens
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.printing import (
    PrintRequest,
    print_indicium,
    rate_table_bytes,
    verify_indicium,
)
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.units import Weight
from postroom.frontends.cli import cli
from postroom.frontends.serialise.meters import device_registers_json, printed_indicium_json
from postroom.hal.framing import Faults
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator

KEY = b"k" * 32
FUNDS = 10_000  # mills


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeterSimulator]:
    with MeterSimulator(tmp_path / "meter", "PRN1", meter_key=KEY) as simulator:
        yield simulator


@pytest.fixture
def meter(sim: MeterSimulator) -> Iterator[MeterClient]:
    with MeterClient.open(sim.path, timeout=0.3) as client:
        yield client


@pytest.fixture
def funded(postroom: Postroom, meter: MeterClient) -> MeterClient:
    """The meter holds the table in force today and $10 of postage."""
    table = postroom.rates.in_force("usps", "first-class-letter", on=datetime.now(UTC).date())
    assert meter.install_rates(rate_table_bytes(table)) == table.digest
    expires = datetime.now(UTC) + timedelta(days=1)
    meter.refill(tokens.issue(KEY, "PRN1", 1, Money(FUNDS, "USD"), expires))
    return meter


def print_args(sim: MeterSimulator, output: Path, *extra: str) -> list[str]:
    return [
        "meter",
        "print",
        "--port",
        sim.path,
        "--carrier",
        "usps",
        "--service",
        "first-class-letter",
        "--weight",
        "1.2oz",
        "--origin-zip",
        "12345",
        "--output",
        str(output),
        *extra,
    ]


def print_json(runner, sim: MeterSimulator, output: Path, *extra: str) -> dict:
    result = runner.invoke(cli, [*print_args(sim, output, *extra), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def public_key_file(runner, sim: MeterSimulator, tmp_path: Path) -> Path:
    result = runner.invoke(cli, ["meter", "public-key", "--port", sim.path])
    assert result.exit_code == 0, result.output
    path = tmp_path / "meter.pem"
    path.write_text(result.output)
    return path


def verify(runner, image: Path, *how: str):
    return runner.invoke(cli, ["meter", "verify-indicium", str(image), *how, "--json"])


def test_print_png_debits_once_and_verifies(runner, sim, funded, tmp_path):
    output = tmp_path / "letter.png"
    data = print_json(runner, sim, output, "--cost-center", "Legal", "--slogan", "Mail early")
    total = int(data["registers"]["ascending"])
    assert data["total"]["currency"] == "USD"
    assert data["lines"][0]["code"]
    assert data["piece"] == 1
    assert data["serial"] == "PRN1"
    assert data["mailing_date"] == today()
    assert data["cost_center"] == "Legal"
    assert data["file"] == str(output)
    assert data["registers"] == {
        "serial": "PRN1",
        "currency": "USD",
        "descending": FUNDS - total,
        "ascending": total,
        "pieces": 1,
        "control": FUNDS,
    }
    assert Money.from_json(data["total"]).mills == total
    record = IndiciumRecord.from_bytes(bytes.fromhex(data["payload"]))
    assert record.rate_digest.hex() == data["rate_digest"] == data["table"]["digest"]
    # the image's symbol carries exactly the payload and the signature
    symbol = indicium_image.read_symbol(output.read_bytes())
    assert symbol == indicium_image.pack_symbol(
        bytes.fromhex(data["payload"]), bytes.fromhex(data["signature"])
    )
    assert funded.registers().descending == Money(FUNDS - total, "USD")
    (logged,) = funded.piece_log()
    assert (logged.piece, logged.cost_center) == (1, "Legal")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    key = public_key_file(runner, sim, tmp_path)
    result = verify(runner, output, "--public-key", str(key))
    assert result.exit_code == 0, result.output
    checked = json.loads(result.output)
    assert checked["valid"] is True
    assert (checked["serial"], checked["piece"], checked["postage_mills"]) == ("PRN1", 1, total)
    assert checked["control"] == FUNDS
    assert checked["payload"] == data["payload"]
    by_port = verify(runner, output, "--port", sim.path)
    assert by_port.exit_code == 0, by_port.output
    text = runner.invoke(cli, ["meter", "verify-indicium", str(output), "--port", sim.path])
    assert text.exit_code == 0
    assert "valid: the meter's signature verifies" in text.output


def test_print_svg_with_an_escaped_slogan_verifies(runner, sim, funded, tmp_path):
    output = tmp_path / "letter.svg"
    slogan = "R&D <ships> fast"
    result = runner.invoke(cli, print_args(sim, output, "--slogan", slogan))
    assert result.exit_code == 0, result.output
    assert f"indicium written to {output}" in result.output
    svg = output.read_bytes()
    assert b"R&amp;D &lt;ships&gt; fast" in svg
    assert b"US POSTAGE" in svg
    assert verify(runner, output, "--port", sim.path).exit_code == 0


def tampered(image: Path, out: Path, change) -> Path:
    """Re-encode the symbol with one changed byte, as a forger would."""
    record, signature = indicium_image.unpack_symbol(indicium_image.read_symbol(image.read_bytes()))
    record, signature = change(bytearray(record), bytearray(signature))
    parsed = IndiciumRecord.from_bytes(bytes(record))
    block = indicium_image.HumanBlock.of(parsed, "US POSTAGE")
    content = indicium_image.pack_symbol(bytes(record), bytes(signature))
    out.write_bytes(indicium_image.render_png(content, block))
    return out


def test_a_flipped_byte_or_another_key_is_invalid(runner, sim, funded, tmp_path):
    output = tmp_path / "letter.png"
    data = print_json(runner, sim, output)
    key = public_key_file(runner, sim, tmp_path)

    def more_postage(record: bytearray, signature: bytearray):
        at = 1 + 1 + len("PRN1") + 4 + 3  # version, serial, piece: last byte of the postage
        record[at] ^= 0x01
        return record, signature

    forged = tampered(output, tmp_path / "forged.png", more_postage)
    result = verify(runner, forged, "--public-key", str(key))
    assert result.exit_code == 1
    checked = json.loads(result.output)
    assert checked["valid"] is False
    assert checked["error"]["code"] == "signature_invalid"
    assert checked["postage_mills"] != Money.from_json(data["total"]).mills

    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong = verify(runner, output, "--public-key", str(other))
    assert wrong.exit_code == 1
    assert json.loads(wrong.output)["error"]["code"] == "signature_invalid"
    text = runner.invoke(cli, ["meter", "verify-indicium", str(output), "--public-key", str(other)])
    assert text.exit_code == 1
    assert "INVALID: the signature does not verify" in text.output


def test_unreadable_images_and_bad_keys(runner, sim, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    key = public_key_file(runner, sim, tmp_path)
    result = runner.invoke(cli, ["meter", "verify-indicium", str(junk), "--public-key", str(key)])
    assert result.exit_code == 1
    assert "[indicium_unreadable]" in result.output
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    result = runner.invoke(
        cli, ["meter", "verify-indicium", str(junk), "--public-key", str(bad_key)]
    )
    assert result.exit_code == 1
    assert "[invalid_public_key]" in result.output
    both = runner.invoke(
        cli, ["meter", "verify-indicium", str(junk), "--public-key", str(key), "--port", sim.path]
    )
    assert both.exit_code == 2


def registers(meter: MeterClient) -> dict:
    return device_registers_json(meter.registers())


@pytest.mark.parametrize(
    ("prepare", "code"),
    [
        (lambda meter, sim: meter.lock("audit"), "meter_locked"),
        (lambda meter, sim: None, "insufficient_funds"),
    ],
)
def test_refused_prints_write_no_file_and_debit_nothing(
    runner, sim, funded, tmp_path, prepare, code
):
    if code == "insufficient_funds":
        extra = ["--extra", "certified", "--extra", "return-receipt"]  # over the $10 left
    else:
        extra = []
    prepare(funded, sim)
    before = registers(funded)
    output = tmp_path / "letter.png"
    result = runner.invoke(cli, print_args(sim, output, *extra))
    assert result.exit_code == 1, result.output
    assert f"[{code}]" in result.output
    assert list(tmp_path.glob("*letter*")) == []
    assert registers(funded) == before


def test_a_rate_table_the_meter_lacks_is_refused_with_what_to_do(runner, sim, meter, tmp_path):
    expires = datetime.now(UTC) + timedelta(days=1)
    meter.refill(tokens.issue(KEY, "PRN1", 1, Money(FUNDS, "USD"), expires))
    meter.install_rates(b"another table")
    before = registers(meter)
    result = runner.invoke(cli, print_args(sim, tmp_path / "x.png"))
    assert result.exit_code == 1
    assert "connect it to the data center" in result.output
    assert "[rate_table_unknown]" in result.output
    assert registers(meter) == before
    assert list(tmp_path.glob("*x.png*")) == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_reset_mid_print_debits_once(runner, sim, funded, tmp_path, when):
    setattr(sim.psd.faults, f"reset_{when}_commit", 1)
    data = print_json(runner, sim, tmp_path / "letter.png")
    assert sim.dispatcher.resets == 1
    assert data["piece"] == 1
    after = registers(funded)
    assert after["pieces"] == 1
    assert after["descending"] == FUNDS - after["ascending"]
    assert after["ascending"] == Money.from_json(data["total"]).mills
    assert len(funded.piece_log()) == 1


def test_the_same_request_id_renders_the_same_piece_without_a_second_debit(
    runner, sim, funded, tmp_path
):
    first = print_json(runner, sim, tmp_path / "a.png", "--request-id", "job-1")
    again = print_json(runner, sim, tmp_path / "b.svg", "--request-id", "job-1")
    assert (again["payload"], again["signature"]) == (first["payload"], first["signature"])
    assert registers(funded)["pieces"] == 1
    other = print_json(runner, sim, tmp_path / "c.png", "--request-id", "job-2")
    assert other["piece"] == 2


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--output", "letter.pdf"], 2, "FILE.png or FILE.svg"),
        (["--output", "missing/letter.png"], 1, "[output_unwritable]"),
        (["--slogan", "x" * 61], 1, "[invalid_slogan]"),
        (["--cost-center", "a\tb\x07"], 1, "[invalid_cost_center]"),
        (["--origin-zip", "12#45"], 1, "[invalid_zip]"),
        (["--date", "2001-01-01"], 1, "[invalid_mailing_date]"),
        (["--request-id", "no spaces"], 1, "[invalid_request_id]"),
        (["--weight", "40oz"], 1, "[over_limit]"),
        (["--to", "12345"], 2, "--to needs --from"),
    ],
)
def test_bad_input_costs_no_postage(runner, sim, funded, tmp_path, args, exit_code, message):
    before = registers(funded)
    output = tmp_path / "letter.png"
    base = print_args(sim, output)
    if args[0] == "--output":
        base = base[: base.index("--output")]
        args = [args[0], str(tmp_path / args[1])]
    result = runner.invoke(cli, [*base, *args])
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert registers(funded) == before
    assert not output.exists()


def test_from_alone_is_the_origin_zip_of_the_indicium(runner, sim, funded, tmp_path):
    args = print_args(sim, tmp_path / "letter.png")
    at = args.index("--origin-zip")
    args[at : at + 2] = ["--from", "20260"]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["origin_zip"] == "20260"


def test_a_meter_holding_a_rate_package_prints_with_the_table_digest(runner, postroom, sim, meter):
    """A sync installs one document with every service's table of the carrier; the print
    names the quoted table's own digest, the one `postroom rates show` knows."""

    day = datetime.now(UTC).date()
    table = postroom.rates.in_force("usps", "first-class-letter", on=day)
    package = json.dumps({"carrier": "usps", "tables": [table.canonical()]}).encode()
    meter.install_rates(package)
    meter.refill(
        tokens.issue(KEY, "PRN1", 1, Money(FUNDS, "USD"), datetime.now(UTC) + timedelta(days=1))
    )
    assert table.digest in meter.diagnostics()["rate_table_digests"]
    request = PrintRequest("usps", "first-class-letter", Piece(Weight.parse("1oz")), "12345")
    # the device's clock is the system's; no package needed: the device names the table
    printed = print_indicium(postroom.rates, meter, request, clock=SystemClock())
    assert printed.piece.record.rate_digest.hex() == table.digest
    assert (
        printed_indicium_json(printed)["rate_digest"]
        == printed_indicium_json(printed)["table"]["digest"]
    )
    assert verify_indicium(printed.image, meter.public_key_pem(), today=day).valid
    shown = runner.invoke(
        cli, ["rates", "show", printed_indicium_json(printed)["rate_digest"], "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["digest"] == table.digest


def test_a_device_blind_to_the_tables_of_its_package_prints_with_the_package_digest(
    postroom, sim, meter
):
    """A device that reports only the documents it installed (not the tables inside)
    gets the digest of the data center's package for the carrier on that day."""

    day = datetime.now(UTC).date()
    table = postroom.rates.in_force("usps", "first-class-letter", on=day)
    package = json.dumps({"carrier": "usps", "by_service": [table.canonical()]}).encode()
    meter.install_rates(package)
    meter.refill(
        tokens.issue(KEY, "PRN1", 1, Money(FUNDS, "USD"), datetime.now(UTC) + timedelta(days=1))
    )
    assert meter.diagnostics()["rate_table_digests"] == []
    asked = []

    def rate_package(carrier, on):
        asked.append((carrier, on))
        return package

    request = PrintRequest("usps", "first-class-letter", Piece(Weight.parse("1oz")), "12345")
    printed = print_indicium(
        postroom.rates, meter, request, clock=SystemClock(), rate_package=rate_package
    )
    assert asked == [("usps", day)]
    assert printed.piece.record.rate_digest == hashlib.sha256(package).digest()
    assert printed_indicium_json(printed)["table"]["digest"] == table.digest
    # without the package the meter's digest is not the table's: refused, nothing debited
    with pytest.raises(ValidationError, match="connect it to the data center") as refused:
        print_indicium(postroom.rates, meter, request, clock=SystemClock())
    assert refused.value.code == "rate_table_unknown"
    assert registers(meter)["pieces"] == 1


def test_an_overdue_inspection_refuses_the_print(runner, postroom, tmp_path):
    device_clock = FrozenClock(datetime.now(UTC))
    with (
        MeterSimulator(tmp_path / "late", "LATE1", meter_key=KEY, clock=device_clock) as late,
        MeterClient.open(late.path, timeout=0.3) as client,
    ):
        table = postroom.rates.in_force("usps", "first-class-letter", on=device_clock.now().date())
        client.install_rates(rate_table_bytes(table))
        expires = device_clock.now() + timedelta(days=1)
        client.refill(tokens.issue(KEY, "LATE1", 1, Money(FUNDS, "USD"), expires))
        device_clock.advance(timedelta(days=121))  # four months without the data center
        before = registers(client)
        result = runner.invoke(cli, print_args(late, tmp_path / "late.png"))
        assert result.exit_code == 1, result.output
        assert "[inspection_overdue]" in result.output
        assert registers(client) == before
    assert not (tmp_path / "late.png").exists()


def test_an_ad_graphic_is_printed_and_a_bad_one_costs_nothing(runner, sim, funded, tmp_path):
    art = tmp_path / "ad.png"
    Image.new("L", (200, 100), 0).save(art)
    output = tmp_path / "letter.svg"
    data = print_json(runner, sim, output, "--graphic", str(art), "--slogan", "Acme")
    assert data["piece"] == 1
    assert b"<image" in output.read_bytes()
    assert verify(runner, output, "--port", sim.path).exit_code == 0

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    before = registers(funded)
    result = runner.invoke(cli, print_args(sim, tmp_path / "x.png", "--graphic", str(junk)))
    assert result.exit_code == 1
    assert "[invalid_graphic]" in result.output
    assert registers(funded) == before
    assert not (tmp_path / "x.png").exists()


class DropPrintReplies(Faults):
    """Loses the replies to print requests only (the line fails after the device acted)."""

    prints = 0

    def apply(self, wire: bytes) -> bytes:
        if self.prints and b'"record"' in wire:
            self.prints -= 1
            return b""
        return super().apply(wire)


def test_a_print_whose_replies_are_lost_is_recovered_by_its_request_id(runner, postroom, tmp_path):
    faults = DropPrintReplies()
    with (
        MeterSimulator(tmp_path / "m2", "PRN2", meter_key=KEY, faults=faults) as lossy,
        MeterClient.open(lossy.path, timeout=0.3) as client,
    ):
        table = postroom.rates.in_force("usps", "first-class-letter", on=datetime.now(UTC).date())
        client.install_rates(rate_table_bytes(table))
        expires = datetime.now(UTC) + timedelta(days=1)
        client.refill(tokens.issue(KEY, "PRN2", 1, Money(FUNDS, "USD"), expires))
        faults.prints = 4  # the request and its three retries: the host gives up
        output = tmp_path / "lost.png"
        result = runner.invoke(cli, print_args(lossy, output))
        assert result.exit_code == 1
        assert "[device_timeout]" in result.output
        assert not output.exists()
        assert registers(client)["pieces"] == 1  # the meter did print it
        rid = result.output.split("request id ")[1].split()[0]
        data = print_json(runner, lossy, output, "--request-id", rid)
        assert data["piece"] == 1
        assert registers(client)["pieces"] == 1  # recovered, not printed twice
        assert verify(runner, output, "--port", lossy.path).exit_code == 0


def test_verify_checks_the_expected_meter(runner, sim, funded, tmp_path):
    output = tmp_path / "letter.png"
    print_json(runner, sim, output)
    key = str(public_key_file(runner, sim, tmp_path))
    assert verify(runner, output, "--public-key", key, "--serial", "PRN1").exit_code == 0
    other = verify(runner, output, "--public-key", key, "--serial", "OTHER")
    assert other.exit_code == 1
    assert json.loads(other.output)["error"]["code"] == "serial_mismatch"
    wrong_port = verify(runner, output, "--port", sim.path, "--serial", "OTHER")
    assert wrong_port.exit_code == 1
    assert "[serial_mismatch]" in wrong_port.output


def test_verify_with_the_key_the_data_center_pinned(runner, sim, funded, tmp_path):
    output = tmp_path / "letter.png"
    data = print_json(runner, sim, output)
    unknown = runner.invoke(cli, ["meter", "verify-indicium", str(output)])
    assert unknown.exit_code == 1
    assert "[meter_not_found]" in unknown.output  # PRN1 is not registered yet

    made = runner.invoke(
        cli,
        ["accounts", "create", "--name", "Acme", "--country", "US", "--currency", "USD", "--json"],
    )
    assert made.exit_code == 0, made.output
    customer = str(json.loads(made.output)["number"])
    for serial, port in (("PRN1", ["--port", sim.path]), ("PRN2", [])):
        registered = runner.invoke(
            cli,
            [
                "meter",
                "register",
                "--account",
                customer,
                "--product-code",
                "PR-VPSD1",
                "--serial",
                serial,
                *port,
            ],
        )
        assert registered.exit_code == 0, registered.output

    # no key file, no port: the key pinned at registration for the meter the indicium names
    checked = verify(runner, output)
    assert checked.exit_code == 0, checked.output
    result = json.loads(checked.output)
    assert (result["valid"], result["serial"], result["piece"]) == (True, "PRN1", data["piece"])
    assert verify(runner, output, "--serial", "PRN1").exit_code == 0
    text = runner.invoke(cli, ["meter", "verify-indicium", str(output)])
    assert text.exit_code == 0
    assert "valid: the meter's signature verifies" in text.output

    # the registry's key of another meter, named on the command line: not this indicium's
    mismatch = runner.invoke(cli, ["meter", "verify-indicium", str(output), "--serial", "PRN2"])
    assert mismatch.exit_code == 1
    assert "[no_public_key]" in mismatch.output  # PRN2 never presented its key
    missing = runner.invoke(cli, ["meter", "verify-indicium", str(output), "--serial", "PRX-9"])
    assert missing.exit_code == 1
    assert "[meter_not_found]" in missing.output

    def more_postage(record: bytearray, signature: bytearray):
        record[1 + 1 + len("PRN1") + 4 + 3] ^= 0x01
        return record, signature

    forged = verify(runner, tampered(output, tmp_path / "forged.png", more_postage))
    assert forged.exit_code == 1
    assert json.loads(forged.output)["error"]["code"] == "signature_invalid"
