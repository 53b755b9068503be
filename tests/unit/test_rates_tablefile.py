"""Rate files: validated whole before use, errors name the line; digests are stable."""

import json
from pathlib import Path

import pytest

from postroom.core.rates.model import MalformedRateFile, RateTable
from postroom.core.rates.tablefile import parse_rate_file, parse_zone_chart
from postroom.plugins.usps import rate_files

DATA = Path(__file__).resolve().parents[1] / "data" / "rates"
ZONED = (DATA / "testpost-2025.toml").read_text("utf-8")
ZONES_CSV = (DATA / "testpost-zones.csv").read_text("utf-8")


def usps_text() -> str:
    return rate_files("postroom.plugins.usps")[0].read_text()


@pytest.mark.parametrize(
    "package", ["postroom.plugins.usps", "postroom.plugins.laposte", "postroom.plugins.canadapost"]
)
def test_every_shipped_rate_file_parses_and_cites_its_source(package):
    sources = rate_files(package)
    assert sources
    for source in sources:
        for table in parse_rate_file(source.read_text(), source.name):
            assert table.source.document
            assert table.source.url.startswith("https://")


def test_the_usps_file_offers_the_services_and_extras_of_the_issue():
    tables = {t.service: t for t in parse_rate_file(usps_text())}
    assert {"first-class-letter", "postcard"} <= set(tables)
    extras = {e.code for e in tables["first-class-letter"].extras}
    assert extras == {"certified", "return-receipt", "return-receipt-electronic"}


def test_the_digest_is_stable_and_survives_the_canonical_round_trip():
    table = parse_rate_file(usps_text())[0]
    again = parse_rate_file(usps_text())[0]
    assert table.digest == again.digest
    assert len(table.digest) == 64
    restored = RateTable.from_canonical(json.loads(table.canonical_json()))
    assert restored == table
    assert restored.digest == table.digest


def test_the_digest_changes_when_a_price_changes():
    table = parse_rate_file(usps_text())[0]
    changed = parse_rate_file(usps_text().replace('first = "0.74"', 'first = "0.75"'))[0]
    assert table.digest != changed.digest


def _error(text: str):
    with pytest.raises(MalformedRateFile) as error:
        parse_rate_file(text, "bad.toml")
    return error.value


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('first = "0.74"', "first = 0.74", "quoted decimals"),
        ('additional = "0.29"', 'additional = "0.2x9"', "additional"),
        ('max_weight = "3.5 oz"', 'max_weight = "3.5 stone"', "unknown weight unit"),
        ('shape = "postcard"', 'shape = "blob"', "shape"),
        ('requires = ["certified"]', 'requires = ["registered"]', "registered"),
        ("effective_from = 2025-07-13", 'effective_from = "2025-07-13"', "date"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_line(old, new, words):
    text = usps_text()
    assert old in text
    bad = text.replace(old, new, 1)
    line = next(n for n, text in enumerate(bad.splitlines(), start=1) if new in text)
    error = _error(bad)
    assert error.code == "malformed_rate_file"
    assert words in error.message
    assert f"line {line}:" in error.message, error.message
    assert error.details["line"] == line


def test_invalid_toml_is_refused_with_its_line():
    error = _error('format = "postroom-rates/1"\ncarrier = \n')
    assert error.code == "malformed_rate_file"
    assert "line 2" in error.message


def test_a_file_without_a_source_is_refused():
    text = usps_text()
    start = text.index("[source]")
    end = text.index("[[services]]")
    error = _error(text[:start] + text[end:])
    assert "source" in error.message


def test_an_unknown_key_is_refused_rather_than_ignored():
    error = _error(usps_text().replace('delivery = "1-5 business days"', 'delivry = "x"', 1))
    assert "unknown key 'delivry'" in error.message


def test_bracket_rows_must_increase():
    error = _error(ZONED.replace('["1 lb", "8.00"', '["4 oz", "8.00"'))
    assert "weights must increase" in error.message


def test_a_zone_chart_reads_zip3_pairs():
    chart = parse_zone_chart(ZONES_CSV)
    assert chart[("100", "300")] == "3"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("origin,destination,zone\n100,200,2\n10,200,2\n", 3),
        ("origin,destination,zone\n100,200\n", 2),
        ("from,to,zone\n100,200,2\n", 1),
        ("origin,destination,zone\n100,200,2\n100,200,3\n", 3),
    ],
)
def test_a_malformed_zone_chart_names_the_line(text, line):
    with pytest.raises(MalformedRateFile, match=f"line {line}:") as error:
        parse_zone_chart(text, "zones.csv")
    assert error.value.code == "malformed_rate_file"


# -- names in other languages ---------------------------------------------------------------


def test_french_names_come_with_the_file_and_leave_every_digest_as_it_was():
    from postroom.core.rates.tablefile import read_rate_file

    text = usps_text()
    tables, names = read_rate_file(text)
    assert "[names.fr.services]" in text
    without = text[: text.index("[names.fr.services]")]
    assert [t.digest for t in parse_rate_file(without)] == [t.digest for t in tables]
    assert (
        names.name("fr", "usps", "services", "first-class-letter", "?")
        == "Lettre First-Class Mail (affranchissement machine)"
    )
    assert names.name("fr", "usps", "extras", "return-receipt", "?") == "Avis de réception (papier)"
    # no translation: the table's own name
    assert names.name("de", "usps", "services", "postcard", "First-Class") == "First-Class"
    assert names.languages() == ["fr"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[names.fr.services]\nno-such-service = "x"\n', "unknown code 'no-such-service'"),
        ('[names.fr.extras]\nfirst-class-letter = "x"\n', "unknown code 'first-class-letter'"),
        ('[names.french.services]\npostcard = "x"\n', "two-letter language code"),
        ('[names.fr.options]\npostcard = "x"\n', "expected one of services, extras"),
        ('[names.fr.services]\npostcard = ""\n', "must be a non-empty string"),
    ],
)
def test_a_bad_names_section_refuses_the_whole_file_naming_its_line(section, message):
    text = usps_text()
    text = text[: text.index("[names.fr.services]")] + section
    with pytest.raises(MalformedRateFile, match=message) as caught:
        parse_rate_file(text, "bad.toml")
    assert caught.value.details["line"] > text.count("\n") - 3


# A published table never changes: the shipped tables' digests are pinned. Changing a
# price means a new file with a later effective_from (docs/rates.md), never an edit here;
# comments and [names.*] may change, since they are not part of any table.
PUBLISHED = {
    (
        "usps",
        "first-class-letter",
        "2025-07-13",
    ): "e8151a66a56f80e95c65f2368ec78364785fe8d938e05e5f1ce8ab82d6dba75c",
    (
        "usps",
        "postcard",
        "2025-07-13",
    ): "2a3311868377359981697ced16ab71ec78ba691dc8123f9d3c90684fab7f662b",
    (
        "laposte",
        "lettre-services-plus",
        "2025-01-01",
    ): "f7b3e36f8e1f4ecdd0951611cfcdbebdfbdf07178d3eb82f9a914fe9163478ee",
    (
        "laposte",
        "lettre-internationale",
        "2025-01-01",
    ): "cd98656fdb247392d62f0ada4c37f41766026ef2b01a07a3aba55ccb6216fc89",
    (
        "laposte",
        "lettre-verte",
        "2025-01-01",
    ): "dd7035392e59067d66047b2d9c30e574003d1552648e14aaf984dfb14c0a1c7d",
    (
        "laposte",
        "lettre-recommandee",
        "2025-01-01",
    ): "ac694efc394e4c865f99a2b8ef01b5ed8f9924aafb6998b04ae8fec27fef15ce",
    (
        "canadapost",
        "lettermail-single-stamp",
        "2025-01-13",
    ): "4ff1bef8c7a70af9169a0a115753d0cb96cd64316429db7e56bae9e3dc7db9f3",
    (
        "canadapost",
        "lettermail-booklet-stamp",
        "2025-01-13",
    ): "674087ea4c25f5fbeb34c48aaccd973cad8a5636825689e2b948385aa196a6c0",
}


def test_every_published_table_keeps_its_digest():
    shipped = {}
    for package in (
        "postroom.plugins.usps",
        "postroom.plugins.laposte",
        "postroom.plugins.canadapost",
    ):
        for source in rate_files(package):
            for table in parse_rate_file(source.read_text(), source.name):
                key = (table.carrier, table.service, table.effective_from.isoformat())
                shipped[key] = table.digest
    for key, digest in PUBLISHED.items():
        assert shipped.get(key) == digest, f"{key} changed: publish a new version instead"


@pytest.mark.parametrize(
    ("carrier", "service", "weight", "amount"),
    [
        ("laposte", "lettre-services-plus", "20 g", "3.15"),
        ("laposte", "lettre-internationale", "20 g", "2.10"),
        ("laposte", "lettre-internationale", "1 g", "2.10"),
    ],
)
def test_the_cited_la_poste_prices(carrier, service, weight, amount):
    from datetime import date

    from postroom.core.rates.model import OverLimit, Piece, RateBook, quote
    from postroom.core.units import Weight

    tables = []
    for source in rate_files("postroom.plugins.laposte"):
        tables += parse_rate_file(source.read_text(), source.name)
    table = RateBook.of(tables).in_force(carrier, service, date(2025, 6, 1))
    assert quote(table, Piece(Weight.parse(weight))).total.amount == amount
    with pytest.raises(OverLimit, match="at most 20 g"):
        quote(table, Piece(Weight.parse("21 g")))
