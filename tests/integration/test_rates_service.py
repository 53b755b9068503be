"""pr.rates on a real database: publishing versions, quoting by date and zone, comparing."""

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from postroom.core.app import Postroom
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.rates.service import VERSIONS_FRESH_SECONDS, RatesService
from postroom.core.rates.store import rate_tables, rate_zones
from postroom.core.units import Dimensions, Weight
from postroom.frontends.serialise.rates import quote_json

DATA = Path(__file__).resolve().parents[1] / "data" / "rates"
AUG_1 = date(2025, 8, 1)


def read(name: str) -> str:
    return (DATA / name).read_text("utf-8")


def piece(text: str, **kwargs) -> Piece:
    return Piece(Weight.parse(text), **kwargs)


def count_tables(pr: Postroom) -> int:
    with pr.db.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(rate_tables)).scalar()


def test_the_usps_plugin_tables_are_there_when_first_used(postroom):
    listed = postroom.rates.list_tables(carrier="usps")
    assert {t.service for t in listed} >= {"first-class-letter", "postcard"}
    assert all(t.source_url.startswith("https://") for t in listed)


def test_syncing_the_plugin_tables_twice_changes_nothing(postroom):
    first = postroom.rates.sync_plugin_tables()
    before = count_tables(postroom)
    second = postroom.rates.sync_plugin_tables()
    assert first.failed == ()
    assert second.failed == ()
    assert second.added == ()
    assert count_tables(postroom) == before


def test_a_1_2_oz_metered_letter_on_2025_08_01_costs_1_03_usd(postroom):
    result = postroom.rates.quote(piece("1.2oz"), "usps", "first-class-letter", on=AUG_1)
    assert result.total == Money.of("1.03", "USD")
    assert result.table.effective_from == date(2025, 7, 13)
    assert len(result.table.digest) == 64


def test_certified_and_return_receipt_make_10_73_usd(postroom):
    result = postroom.rates.quote(
        piece("1.2oz"), "usps", "first-class-letter", ["certified", "return-receipt"], on=AUG_1
    )
    assert quote_json(result)["total"] == {"amount": "10.73", "currency": "USD"}


def test_the_quote_uses_today_when_no_date_is_given(postroom, clock):
    # the test clock is 2026-03-02, after 2025-07-13
    result = postroom.rates.quote(piece("1oz"), "usps", "first-class-letter")
    assert result.total.amount == "0.74"


def test_a_date_before_any_table_is_refused(postroom):
    with pytest.raises(NotFound) as error:
        postroom.rates.quote(piece("1oz"), "usps", "first-class-letter", on=date(2024, 1, 1))
    assert error.value.code == "no_rate_table"


def test_unknown_carrier_or_service(postroom):
    with pytest.raises(NotFound) as error:
        postroom.rates.quote(piece("1oz"), "pony-express", "letter", on=AUG_1)
    assert error.value.code == "unknown_carrier"
    with pytest.raises(NotFound) as error:
        postroom.rates.quote(piece("1oz"), "usps", "telegram", on=AUG_1)
    assert error.value.code == "unknown_service"


def test_a_new_version_applies_from_its_date_and_the_old_one_before(postroom):
    postroom.rates.import_file(read("testpost-2025.toml"), "testpost-2025.toml")
    postroom.rates.import_file(read("testpost-2026.toml"), "testpost-2026.toml")
    old = postroom.rates.quote(piece("30 g"), "testpost", "letter", on=date(2025, 12, 31))
    new = postroom.rates.quote(piece("30 g"), "testpost", "letter", on=date(2026, 1, 1))
    assert (old.total.amount, new.total.amount) == ("1.50", "1.65")
    assert old.table.digest != new.table.digest


def test_a_version_another_process_publishes_is_used_once_the_cache_is_a_minute_old(
    postroom, config, clock
):
    postroom.rates.import_file(read("testpost-2025.toml"), "testpost-2025.toml")
    seconds = [1000.0]
    here = RatesService(postroom.db, postroom.plugins, clock, monotonic=lambda: seconds[0])
    new_year = date(2026, 1, 1)
    assert here.quote(piece("30 g"), "testpost", "letter", on=new_year).total.amount == "1.50"
    with Postroom.open(config=config, clock=clock) as elsewhere:
        elsewhere.rates.import_file(read("testpost-2026.toml"), "testpost-2026.toml")
    # quotes read nothing from the database while the versions are fresh...
    seconds[0] += VERSIONS_FRESH_SECONDS
    assert here.quote(piece("30 g"), "testpost", "letter", on=new_year).total.amount == "1.50"
    # ...and read them again once they are older than that
    seconds[0] += 1
    assert here.quote(piece("30 g"), "testpost", "letter", on=new_year).total.amount == "1.65"


def test_importing_the_same_file_again_is_a_no_op(postroom):
    first = postroom.rates.import_file(read("testpost-2025.toml"), "a.toml")
    again = postroom.rates.import_file(read("testpost-2025.toml"), "a.toml")
    assert len(first.added) == 2
    assert again.added == ()
    assert len(again.unchanged) == 2


def test_a_published_table_never_changes(postroom):
    postroom.rates.import_file(read("testpost-2025.toml"), "a.toml")
    changed = read("testpost-2025.toml").replace('"1.00"', '"0.90"')
    with pytest.raises(Conflict) as error:
        postroom.rates.import_file(changed, "b.toml")
    assert error.value.code == "rate_table_conflict"
    result = postroom.rates.quote(piece("10 g"), "testpost", "letter", on=AUG_1)
    assert result.total.amount == "1.00"


def test_a_malformed_file_loads_nothing(postroom):
    before = count_tables(postroom)
    broken = read("testpost-2025.toml").replace('"12.00"', '"twelve"')
    with pytest.raises(ValidationError, match=r"line \d+") as error:
        postroom.rates.import_file(broken, "broken.toml")
    assert error.value.code == "malformed_rate_file"
    assert count_tables(postroom) == before


def test_a_conflict_in_the_second_table_loads_not_even_the_first(postroom):
    postroom.rates.import_file(read("testpost-2026.toml"), "2026.toml")
    before = count_tables(postroom)
    both = read("testpost-2025.toml").replace(
        "effective_from = 2025-01-01", "effective_from = 2026-01-01"
    )
    with pytest.raises(Conflict):
        postroom.rates.import_file(both, "both.toml")
    assert count_tables(postroom) == before


def test_quotes_by_zip_code_use_the_zone_chart(postroom):
    postroom.rates.import_file(read("testpost-2025.toml"), "a.toml")
    assert postroom.rates.import_zones("testpost", read("testpost-zones.csv")) == 3
    result = postroom.rates.quote(
        piece("1 lb"), "testpost", "parcel", on=AUG_1, origin="10001", destination="30012-1234"
    )
    assert (result.zone, result.total.amount) == ("3", "10.00")


def test_a_missing_zone_is_a_clear_error(postroom):
    postroom.rates.import_file(read("testpost-2025.toml"), "a.toml")
    postroom.rates.import_zones("testpost", read("testpost-zones.csv"))
    with pytest.raises(NotFound) as error:
        postroom.rates.quote(
            piece("1 lb"), "testpost", "parcel", on=AUG_1, origin="10001", destination="99501"
        )
    assert error.value.code == "zone_not_found"
    with pytest.raises(ValidationError) as error:
        postroom.rates.quote(piece("1 lb"), "testpost", "parcel", on=AUG_1)
    assert error.value.code == "zone_required"
    with pytest.raises(ValidationError) as error:
        postroom.rates.quote(
            piece("1 lb"), "testpost", "parcel", on=AUG_1, origin="1000", destination="30301"
        )
    assert error.value.code == "invalid_zip"


def test_a_malformed_zone_chart_loads_nothing(postroom):
    with pytest.raises(ValidationError, match="line 3"):
        postroom.rates.import_zones("testpost", "origin,destination,zone\n100,200,2\n1x0,200,2\n")
    with postroom.db.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(rate_zones)).scalar() == 0


def test_a_mail_run_of_letters_is_priced_piece_by_piece(postroom):
    weights = [Weight.parse(w) for w in ("0.5oz", "1.2oz", "3.5oz")]
    batch = postroom.rates.quote_batch(weights, "usps", "first-class-letter", on=AUG_1)
    assert [p.amount for p in batch.prices()] == ["0.74", "1.03", "1.61"]
    assert batch.total == Money.of("3.38", "USD")
    certified = postroom.rates.quote_batch(
        weights, "usps", "first-class-letter", ["certified"], on=AUG_1
    )
    assert certified.total == Money.of("19.28", "USD")  # 3.38 + 3 x 5.30


def test_the_cheapest_service_comes_first(postroom):
    card = piece("0.2oz", dimensions=Dimensions.parse("6 x 4.25 x 0.01 in"))
    compared = postroom.rates.compare(card, on=AUG_1, carriers=["usps"])
    assert [(q.table.service, q.total.amount) for q in compared.options] == [
        ("postcard", "0.61"),
        ("first-class-letter", "0.74"),
    ]
    assert compared.options[0].table.delivery


def test_compare_explains_why_a_service_cannot_carry_the_piece(postroom):
    letter = piece("3 oz", dimensions=Dimensions.parse("9.5 x 4.125 x 0.1 in"))
    compared = postroom.rates.compare(letter, on=AUG_1, carriers=["usps"])
    assert [q.table.service for q in compared.options] == ["first-class-letter"]
    assert [(r.service, r.code) for r in compared.refused] == [("postcard", "over_limit")]
    assert "6 in" in compared.refused[0].message


def test_compare_offers_no_postcard_price_for_an_unmeasured_piece(postroom):
    compared = postroom.rates.compare(piece("0.5 oz"), on=AUG_1, carriers=["usps"])
    assert [q.table.service for q in compared.options] == ["first-class-letter"]
    assert [(r.service, r.code) for r in compared.refused] == [("postcard", "dimensions_required")]


def test_the_demo_loads_the_usps_tables(postroom):
    from postroom.core.demo import load_demo

    assert "rates" in load_demo(postroom)
    assert count_tables(postroom) >= 2


class _Source:
    def __init__(self, name, text, format="toml"):
        self.name, self.text, self.format = name, text, format

    def read_text(self):
        return self.text


class _BrokenRatesPlugin:
    @hookimpl
    def register_rate_tables(self):
        good = (DATA / "testpost-2025.toml").read_text("utf-8")
        return [
            _Source("broken.toml", good.replace('"5.00"', "5.00")),
            _Source("rates.csv", "a,b", format="csv"),
            _Source("good.toml", good),
        ]


def test_a_broken_plugin_rate_file_is_reported_and_the_others_load(config, clock):
    with Postroom.open(
        config=config, clock=clock, extra_plugins=[("broken_rates", _BrokenRatesPlugin())]
    ) as pr:
        report = pr.rates.sync_plugin_tables()
        failed = dict(report.failed)
        assert "line" in failed["broken.toml"]
        assert "csv" in failed["rates.csv"]
        assert "testpost/letter@2025-01-01" in report.added
        assert pr.rates.quote(piece("10 g"), "testpost", "letter", on=AUG_1).total.amount == "1.00"


def test_compare_on_an_unknown_carrier_says_so(postroom):
    with pytest.raises(NotFound) as error:
        postroom.rates.compare(piece("1 oz"), on=AUG_1, carriers=["pony-express"])
    assert error.value.code == "unknown_carrier"
