"""``postroom track``: identify numbers (the issue's JSON shape), follow a shipment,
show its journey, refresh it from the sandbox carrier, report; bad input exits 1 with
its code and another account's shipment is not found."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from postroom.frontends.cli import cli


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def customer(runner: CliRunner, name: str) -> str:
    created = run(
        runner, "accounts", "create", "--name", name, "--country", "US", "--currency", "USD",
        "--json",
    )  # fmt: skip
    return str(created["number"])


def test_identify_prints_one_object_per_number_in_the_documented_shape() -> None:
    runner = CliRunner()
    found = run(
        runner,
        "track", "identify", "9400 1112 0108 0805 4830 16", "1z5r8939-0357567127",
        "RB123456785XX", "3318810010", "986578788855", "hello", "--json",
    )  # fmt: skip
    assert found == [
        {"number": "9400111201080805483016", "valid": True, "carrier": "usps",
         "format": "usps_impb_22"},
        {"number": "1Z5R89390357567127", "valid": True, "carrier": "ups", "format": "ups_1z"},
        {"number": "RB123456785XX", "valid": False, "carrier": "upu", "format": "upu_s10"},
        {"number": "3318810010", "valid": False, "carrier": "dhl", "format": "dhl_express_10"},
        {"number": "986578788855", "valid": True, "carrier": "fedex",
         "format": "fedex_express_12"},
        {"number": "HELLO", "valid": False, "carrier": None, "format": None},
    ]  # fmt: skip
    assert "INVALID" in run(runner, "track", "identify", "3318810010")


def test_staff_follow_show_refresh_and_report_a_shipment(runner: CliRunner) -> None:
    mine = customer(runner, "Acme")
    other = customer(runner, "Other")
    added = run(
        runner,
        "track", "add", "--account", mine, "RB123456785FR", "--service", "International",
        "--recipient", "Ann Smith", "--reference", "PO-77", "--contents", "Books",
        "--hs-code", "4901.99", "--value", "45.00 USD", "--json",
    )  # fmt: skip
    assert (added["carrier"], added["status"]["code"]) == ("sandbox", "pending")
    assert added["customs"] == {
        "contents": "Books",
        "hs_codes": ["490199"],
        "value": {"amount": "45.00", "currency": "USD"},
    }
    shipment = str(added["id"])
    refreshed = run(runner, "track", "refresh", "--account", mine, shipment, "--json")
    assert refreshed["checked_at"] is not None
    shown = run(runner, "track", "show", "--account", mine, shipment, "--json")
    assert shown["status"]["meaning"]
    assert all("time" in event for event in shown["events"])
    assert [s["id"] for s in run(runner, "track", "list", "--account", mine, "--json")] == [
        added["id"]
    ]
    report = run(runner, "track", "report", "--account", mine, "--json")
    assert sum(report["counts"].values()) == 1
    assert run(runner, "track", "refresh", "--json")["failures"] == []
    denied = run(runner, "track", "show", "--account", other, shipment, code=1)
    assert "shipment_not_found" in denied


def test_bad_input_exits_1_with_its_code_and_writes_nothing(runner: CliRunner) -> None:
    mine = customer(runner, "Acme")
    assert "bad_check_digit" in run(runner, "track", "add", "--account", mine, "3318810010", code=1)
    assert "unknown_format" in run(runner, "track", "add", "--account", mine, "x" * 5000, code=1)
    assert "invalid_hs_code" in run(
        runner,
        "track", "add", "--account", mine, "RB123456785FR", "--contents", "Books",
        "--hs-code", "12", "--value", "1.00 USD",
        code=1,
    )  # fmt: skip
    assert "invalid_status" in run(
        runner, "track", "list", "--account", mine, "--status", "x", code=1
    )
    assert run(runner, "track", "list", "--account", mine, "--json") == []


def test_a_csv_import_adds_valid_rows_lists_bad_ones_and_adds_nothing_twice(
    runner: CliRunner, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    mine = customer(runner, "Acme")
    rows = ["number,reference,recipient,mailed_on,contents,hs_codes,value"]
    rows += [f"RR{n:08d}{s10(n)}US,ORD-{n},Customer {n},2026-03-01,,," for n in range(1, 1201)]
    rows += [
        "3318810010,BAD-1,,,,,",  # wrong check digit
        "hello,BAD-2,,,,,",
        "RB123456785GB,BAD-3,,yesterday,,,",
        'RB123456785FR,BAD-4,"two, fields",2026-03-01,Books,4901.99,1.0.0 USD',
        "RB123456785CA,ONLY,,,",  # too few fields
        "",
    ]
    path = tmp_path / "shipments.csv"
    path.write_text("\n".join(rows) + "\n", "utf-8")
    first = runner.invoke(cli, ["track", "import", "--account", mine, str(path), "--json"])
    assert first.exit_code == 1
    report = json.loads(first.stdout)
    assert (report["added"], report["already"]) == (1200, 0)
    assert [(e["line"], e["code"]) for e in report["invalid"]] == [
        (1202, "bad_check_digit"),
        (1203, "unknown_format"),
        (1204, "invalid_mailed_on"),
        (1205, "invalid_amount"),
        (1206, "csv_wrong_field_count"),
    ]
    again = json.loads(
        runner.invoke(cli, ["track", "import", "--account", mine, str(path), "--json"]).stdout
    )
    assert (again["added"], again["already"]) == (0, 1200)
    listed = run(runner, "track", "list", "--account", mine, "--json")
    assert len(listed) == 1000  # the list's page; the account follows 1,200


def test_a_file_that_is_no_shipment_csv_is_refused_whole(runner: CliRunner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = customer(runner, "Acme")
    for name, content, code in [
        ("empty.csv", b"", "csv_empty"),
        ("nonumber.csv", b"reference\nx\n", "csv_missing_column"),
        ("odd.csv", b"number,colour\n1,2\n", "csv_unknown_column"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        assert code in run(runner, "track", "import", "--account", mine, str(path), code=1)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"number\n\xff\xfe\x00junk\n")
    assert "not UTF-8" in run(runner, "track", "import", "--account", mine, str(binary), code=2)
    assert run(runner, "track", "list", "--account", mine, "--json") == []


def s10(serial: int) -> str:
    from postroom.core.tracking.numbers import s10_check_digit

    return s10_check_digit(f"{serial:08d}")


def test_the_report_as_csv_has_its_header_and_defuses_formulas(runner: CliRunner) -> None:
    from postroom.frontends.cli.track import _cell

    mine = customer(runner, "Acme")
    run(runner, "track", "add", "--account", mine, "3318810025", "--reference", "PO-1")
    out = run(runner, "track", "report", "--account", mine, "--csv")
    assert out.splitlines() == ["list,id,number,carrier,reference,status,last_scan_at"]
    assert [_cell(t) for t in ("=HYPERLINK(1)", "+1", "PO-1")] == ["'=HYPERLINK(1)", "'+1", "PO-1"]


def test_a_webhook_to_a_private_address_is_refused_on_the_command_line(runner: CliRunner) -> None:
    mine = customer(runner, "Acme")
    out = run(runner, "track", "subscribe", "--account", mine, "http://127.0.0.1:9/hook", code=1)
    assert "webhook_address_refused" in out
    args = ["track", "subscribe", "--account", mine, "https://hooks.example.com/x"]
    assert "invalid_status" in run(runner, *args, "--event", "shipped", code=1)
    assert run(runner, "track", "webhooks", "--account", mine, "--json") == {
        "subscriptions": [],
        "deliveries": [],
    }
