"""The payouts' pure rules: what each payment can still give back."""

from postroom.core.payouts.model import match_refunds, refundable_room


def test_a_payment_gives_back_its_amount_less_what_live_parts_took() -> None:
    payments = [("pm_new", 5_000), ("pm_old", 8_000)]
    assert refundable_room(payments, {"pm_old": 3_000}, set()) == [
        ("pm_new", 5_000),
        ("pm_old", 5_000),
    ]


def test_a_refused_or_returned_payment_and_a_used_up_one_are_left_out() -> None:
    payments = [("pm_refused", 5_000), ("pm_spent", 2_000), ("pm_ok", 1_000)]
    room = refundable_room(payments, {"pm_spent": 2_000}, {"pm_refused"})
    assert room == [("pm_ok", 1_000)]


def test_the_room_feeds_the_newest_first_split() -> None:
    room = refundable_room([("pm_b", 4_000), ("pm_a", 4_000)], {"pm_b": 1_000}, set())
    assert match_refunds(5_000, room) == ([("pm_b", 3_000), ("pm_a", 2_000)], 0)
