"""``postroom rates`` through Click's runner on a real database."""

import json
from pathlib import Path

import pytest

from postroom.frontends.cli import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "rates"
QUOTE = ["rates", "quote", "--carrier", "usps", "--service", "first-class-letter"]


def run_json(runner, *args):
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_quote_json_for_a_certified_letter_with_return_receipt(runner):
    data = run_json(
        runner,
        *QUOTE,
        "--weight",
        "1.2oz",
        "--date",
        "2025-08-01",
        "--extra",
        "certified",
        "--extra",
        "return-receipt",
    )
    assert set(data) == {"total", "lines", "table"}
    assert data["total"] == {"amount": "10.73", "currency": "USD"}
    assert [line["amount"]["amount"] for line in data["lines"]] == ["1.03", "5.30", "4.40"]
    assert all(line["rule"] for line in data["lines"])
    assert data["lines"][0]["charged_weight"] == {"value": "2", "unit": "oz"}
    assert data["table"]["effective_from"] == "2025-07-13"
    assert data["table"]["source"]["url"].startswith("https://")


def test_quote_as_text_shows_each_line_and_the_total(runner):
    result = runner.invoke(cli, [*QUOTE, "--weight", "1.2oz", "--date", "2025-08-01"])
    assert result.exit_code == 0, result.output
    assert "1.2 oz charged as 2 oz" in result.output
    assert "1.03" in result.output.splitlines()[-2]


@pytest.mark.parametrize(
    ("weight", "code"),
    [
        ("0oz", "invalid_weight"),
        ("-1oz", "invalid_weight"),
        ("heavy", "invalid_weight"),
        ("2 stone", "unknown_unit"),
        ("3.6oz", "over_limit"),
    ],
)
def test_bad_weights_are_one_line_and_exit_1(runner, weight, code):
    result = runner.invoke(cli, [*QUOTE, f"--weight={weight}", "--date", "2025-08-01"])
    assert result.exit_code == 1
    assert f"[{code}]" in result.output
    assert "Traceback" not in result.output


def test_over_the_limit_names_the_limit(runner):
    result = runner.invoke(cli, [*QUOTE, "--weight", "4oz", "--date", "2025-08-01"])
    assert "3.5 oz" in result.output


def test_unknown_service_and_early_date_exit_1(runner):
    result = runner.invoke(
        cli, ["rates", "quote", "--carrier", "usps", "--service", "telegram", "--weight", "1oz"]
    )
    assert result.exit_code == 1
    assert "[unknown_service]" in result.output
    result = runner.invoke(cli, [*QUOTE, "--weight", "1oz", "--date", "2020-01-01"])
    assert result.exit_code == 1
    assert "[no_rate_table]" in result.output


def test_a_missing_option_is_a_usage_error(runner):
    result = runner.invoke(cli, ["rates", "quote", "--carrier", "usps", "--weight", "1oz"])
    assert result.exit_code == 2


def test_list_and_show_by_digest(runner):
    tables = run_json(runner, "rates", "list", "--carrier", "usps")
    letter = next(t for t in tables if t["service"] == "first-class-letter")
    shown = run_json(runner, "rates", "show", letter["digest"][:12])
    assert shown["digest"] == letter["digest"]
    assert shown["pricing"]["first"] == "0.74"
    text = runner.invoke(cli, ["rates", "show", "usps/first-class-letter"])
    assert "0.29 USD each additional 1 oz" in text.output


def test_import_then_quote_by_zip_codes(runner):
    report = run_json(runner, "rates", "import", str(DATA / "testpost-2025.toml"))
    assert len(report["added"]) == 2
    zones = run_json(
        runner, "rates", "import-zones", "--carrier", "testpost", str(DATA / "testpost-zones.csv")
    )
    assert zones["pairs"] == 3
    data = run_json(
        runner,
        "rates",
        "quote",
        "--carrier",
        "testpost",
        "--service",
        "parcel",
        "--weight",
        "12oz",
        "--from",
        "10001",
        "--to",
        "20001",
        "--date",
        "2025-08-01",
    )
    assert data["total"]["amount"] == "9.00"
    assert data["lines"][0]["zone"] == "2"


def test_importing_a_malformed_file_names_the_line_and_loads_nothing(runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((DATA / "testpost-2025.toml").read_text().replace('"5.00"', "5.00"))
    result = runner.invoke(cli, ["rates", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml, line " in result.output
    assert "[malformed_rate_file]" in result.output
    tables = run_json(runner, "rates", "list", "--carrier", "testpost")
    assert tables == []


def test_compare_lists_the_cheapest_first(runner):
    data = run_json(
        runner,
        "rates",
        "compare",
        "--weight",
        "0.2oz",
        "--dimensions",
        "6x4x0.01in",
        "--date",
        "2025-08-01",
    )
    usd = [o["table"]["service"] for o in data["options"] if o["total"]["currency"] == "USD"]
    assert usd == ["postcard", "first-class-letter"]
    assert {o["table"]["carrier"] for o in data["options"]} == {"usps", "laposte", "canadapost"}
    assert data["cheapest"]["USD"]["table"]["service"] == "postcard"
    assert sorted(data["cheapest"]) == ["CAD", "EUR", "USD"]


def test_compare_ranks_each_currency_on_its_own(runner):
    args = ["rates", "compare", "--weight", "0.2oz", "--dimensions", "6x4x0.01in"]
    result = runner.invoke(cli, [*args, "--date", "2025-08-01"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    headers = [line for line in lines if line.startswith("in ")]
    assert headers == [f"in {c}, cheapest first:" for c in ("CAD", "EUR", "USD")]
    usd = lines[lines.index("in USD, cheapest first:") + 1 :]
    priced = [line for line in usd if line.startswith("  ") and line.strip()[0].isdigit()]
    assert all(line.split()[1] == "USD" for line in priced)
    assert "usps/postcard" in priced[0]


def test_sync_is_idempotent(runner):
    run_json(runner, "rates", "sync")
    again = run_json(runner, "rates", "sync")
    assert again["added"] == []
    assert again["failed"] == []
