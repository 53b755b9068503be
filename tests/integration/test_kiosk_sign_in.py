"""Nothing prints on the kiosk without a known operator (issue 11, item 3): sign-in with a
PIN, its throttle, idle sign-out, the print form's key and origin, the per-kiosk limit,
and the kiosk kept out of production unless enabled."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import attrs
import pytest

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import PostroomError
from postroom.frontends.web import create_app


def _printed(postroom: Postroom, account: CustomerAccount) -> int:
    return len(postroom.meters.pieces(f"V{account.number}"))


# ------------------------------------------------------------------ who may print


def test_nothing_prints_without_a_signed_in_operator(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    page = kiosk.price()
    assert "Print postage" not in page  # signed out: a way to sign in instead
    assert 'href="/kiosk/sign-in"' in page
    # the form an attacker builds by hand (a fresh CSRF token and an idempotency key)
    data = {
        "csrf_token": kiosk.csrf(page),
        "idempotency_key": "kiosk-forged-1",
        "service": "usps/first-class-letter",
        "weight": "3.5",
        "unit": "oz",
        "extras": ["certified", "return-receipt"],
    }
    for _ in range(3):
        response = kiosk.post("/kiosk/print", data)
        assert response.status_code == 401
        assert "Sign in to print postage." in response.get_data(as_text=True)
    assert _printed(postroom, kiosk_account) == 0
    assert postroom.ledger.balance(kiosk_account.number).balances.debits_posted == 0


def test_each_print_is_booked_to_its_operator(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    assert kiosk.print_piece().status_code == 303
    (entry,) = [e for e in postroom.ledger.report(kiosk_account.number).entries if e.reference]
    assert entry.reference == (
        f"virtual meter V{kiosk_account.number}, kiosk operator {signed_in.id} (Alice Martin)"
    )


def test_the_print_form_needs_its_idempotency_key(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    for key in ("", "   "):
        response = kiosk.print_piece(idempotency_key=key)
        assert response.status_code == 400
        assert "idempotency_key_required" in response.get_data(as_text=True)
    data = kiosk.print_form(kiosk.price())
    del data["idempotency_key"]
    assert kiosk.post("/kiosk/print", data).status_code == 400
    assert _printed(postroom, kiosk_account) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "https://localhost"},  # another scheme is another origin
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Origin": "", "Referer": "https://evil.example/kiosk/price"},
        {"Origin": ""},  # neither header: refused too
    ],
)
def test_a_print_from_another_origin_is_refused(
    kiosk,
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    signed_in: KioskOperator,
    headers: dict[str, str],
) -> None:
    response = kiosk.post("/kiosk/print", kiosk.print_form(kiosk.price()), **headers)
    assert response.status_code == 403
    assert "cross_origin" in response.get_data(as_text=True)
    assert _printed(postroom, kiosk_account) == 0


def test_a_print_with_a_same_host_referer_and_no_origin_is_accepted(
    kiosk, signed_in: KioskOperator
) -> None:
    data = kiosk.print_form(kiosk.price())
    response = kiosk.post("/kiosk/print", data, Origin="", Referer="http://localhost/kiosk/price")
    assert response.status_code == 303


def test_sign_in_and_sign_out_need_the_kiosk_origin_too(kiosk, operator: KioskOperator) -> None:
    assert kiosk.sign_in(operator.id, Origin="https://evil.example").status_code == 403
    assert kiosk.sign_in(operator.id).status_code == 303
    token = kiosk.csrf(kiosk.client.get("/kiosk/price").get_data(as_text=True))
    forged = kiosk.post("/kiosk/sign-out", {"csrf_token": token}, Origin="https://evil.example")
    assert forged.status_code == 403
    assert "Alice Martin" in kiosk.client.get("/kiosk/price").get_data(as_text=True)


def test_prints_are_rate_limited_per_kiosk(
    postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator, kiosk
) -> None:
    postroom.config = attrs.evolve(postroom.config, kiosk_print_rate_limit="2/minute")
    limited = type(kiosk)(create_app({"TESTING": True}, postroom=postroom).test_client())
    assert limited.sign_in(operator.id).status_code == 303
    assert limited.print_piece().status_code == 303
    assert limited.print_piece().status_code == 303
    refused = limited.print_piece()
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61  # the minute's window, rounded up
    assert "rate_limited" in refused.get_data(as_text=True)
    assert _printed(postroom, kiosk_account) == 2
    # pricing is not a print: still answered
    assert "quote-total" in limited.price()


# ------------------------------------------------------------------ signing in


def test_an_unknown_operator_and_a_wrong_pin_get_the_same_answer(
    kiosk, operator: KioskOperator
) -> None:
    wrong = kiosk.sign_in(operator.id, "864209")
    unknown = kiosk.sign_in(operator.id + 999, kiosk.pin)
    garbled = kiosk.sign_in("x' OR 1=1", kiosk.pin)  # type: ignore[arg-type]
    answers = [(r.status_code, _without_token(r.get_data(as_text=True))) for r in (wrong, unknown)]
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert "Unknown operator or wrong PIN." in answers[0][1]
    assert garbled.status_code == 401


def _without_token(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", page)


def test_signing_in_starts_a_new_session(kiosk, operator: KioskOperator) -> None:
    before = kiosk.csrf(kiosk.client.get("/kiosk/sign-in").get_data(as_text=True))
    assert kiosk.sign_in(operator.id).status_code == 303
    page = kiosk.client.get("/kiosk/price").get_data(as_text=True)
    assert kiosk.csrf(page) != before  # a new session: a new CSRF token
    assert 'id="signed-in-operator">Alice Martin</span>' in page


def test_guessing_locks_sign_in_for_a_while_then_lets_the_operator_in(
    kiosk, postroom: Postroom, operator: KioskOperator, clock: FrozenClock
) -> None:
    for _ in range(5):
        assert kiosk.sign_in(operator.id, "864209").status_code == 401
    locked = kiosk.sign_in(operator.id)  # even the right PIN waits now
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "30"
    assert "Too many wrong PINs. Try again in 30 seconds." in locked.get_data(as_text=True)
    clock.advance(timedelta(seconds=31))
    assert kiosk.sign_in(operator.id, "864209").status_code == 401  # the 6th failure
    assert kiosk.sign_in(operator.id).headers["Retry-After"] == "60"  # doubled
    clock.advance(timedelta(minutes=1, seconds=1))
    assert kiosk.sign_in(operator.id).status_code == 303  # never locked out for good
    # a success clears the count: five more tries before the next lock
    kiosk.sign_out()
    for _ in range(4):
        assert kiosk.sign_in(operator.id, "864209").status_code == 401
    assert kiosk.sign_in(operator.id).status_code == 303


def test_guessing_across_operators_locks_the_kiosk(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, clock: FrozenClock
) -> None:
    people = [
        postroom.accounts.add_operator(kiosk_account.number, f"Operator {n}", kiosk.pin)
        for n in range(4)
    ]
    # 3 wrong PINs for each of them: no operator reaches 5, the kiosk reaches 10
    for person in people[:3]:
        for _ in range(3):
            assert kiosk.sign_in(person.id, "864209").status_code == 401
    assert kiosk.sign_in(people[3].id, "864209").status_code == 401
    assert kiosk.sign_in(people[3].id).status_code == 429
    clock.advance(timedelta(seconds=31))
    assert kiosk.sign_in(people[3].id).status_code == 303


def test_an_idle_operator_is_signed_out_by_the_server(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in, clock: FrozenClock
) -> None:
    page = kiosk.price()
    # the page goes back to the sign-in page by itself after the idle time
    assert '<meta http-equiv="refresh" content="61;url=/kiosk/sign-in">' in page
    clock.advance(timedelta(seconds=59))
    kiosk.client.get("/kiosk/price")  # each touch restarts the idle time
    clock.advance(timedelta(seconds=59))
    assert kiosk.post("/kiosk/print", kiosk.print_form(page)).status_code == 303
    clock.advance(timedelta(seconds=61))
    response = kiosk.post("/kiosk/print", kiosk.print_form(page))
    assert response.status_code == 401
    assert _printed(postroom, kiosk_account) == 1
    shown = kiosk.client.get("/kiosk/sign-in").get_data(as_text=True)
    assert 'id="signed-in-operator"' not in shown


def test_the_idle_time_is_a_setting(
    postroom: Postroom, kiosk_account, operator: KioskOperator, kiosk, clock: FrozenClock
) -> None:
    postroom.config = attrs.evolve(postroom.config, kiosk_idle_seconds=300)
    assert kiosk.sign_in(operator.id).status_code == 303
    clock.advance(timedelta(seconds=299))
    assert 'id="signed-in-operator"' in kiosk.client.get("/kiosk/price").get_data(as_text=True)


def test_signing_out_ends_the_sign_in_on_the_server(
    kiosk, app, postroom: Postroom, kiosk_account: CustomerAccount, signed_in
) -> None:
    page = kiosk.price()
    stolen = kiosk.client.get_cookie("session")
    assert stolen is not None
    response = kiosk.sign_out()
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/kiosk/sign-in")
    # the cookie from before the sign-out, replayed by someone else, prints nothing
    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    data = type(kiosk).print_form(page)
    answer = replay.post("/kiosk/print", data=data, headers={"Origin": "http://localhost"})
    assert answer.status_code == 401
    assert _printed(postroom, kiosk_account) == 0


def test_a_new_pin_or_a_removed_operator_signs_them_out(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    data = kiosk.print_form(kiosk.price())
    postroom.accounts.set_operator_pin(kiosk_account.number, signed_in.id, "580327")
    assert kiosk.post("/kiosk/print", data).status_code == 401
    assert kiosk.sign_in(signed_in.id, "580327").status_code == 303
    data = kiosk.print_form(kiosk.price())
    postroom.accounts.remove_operator(kiosk_account.number, signed_in.id)
    assert kiosk.post("/kiosk/print", data).status_code == 401
    assert _printed(postroom, kiosk_account) == 0


def test_an_operator_of_another_account_cannot_sign_in_here(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    other = postroom.accounts.create("Other Mailroom", "US", "USD")
    stranger = postroom.accounts.add_operator(other.number, "Eve", kiosk.pin)
    assert kiosk.sign_in(stranger.id).status_code == 401


def test_the_sign_in_page_lists_the_accounts_operators_in_french(
    kiosk, operator: KioskOperator
) -> None:
    page = kiosk.client.get("/kiosk/sign-in").get_data(as_text=True)
    assert f'name="operator" value="{operator.id}" checked' in page
    assert 'type="password" inputmode="numeric"' in page
    token = kiosk.csrf(page)
    choice = {"lang": "fr", "next": "/kiosk/sign-in", "csrf_token": token}
    kiosk.client.post("/language", data=choice)
    page = kiosk.client.get("/kiosk/sign-in").get_data(as_text=True)
    assert "Se connecter pour imprimer" in page
    wrong = kiosk.sign_in(operator.id, "864209").get_data(as_text=True)
    assert "Opérateur inconnu ou code PIN erroné." in wrong


# ------------------------------------------------------------------ production


def test_production_does_not_serve_the_kiosk_unless_enabled(
    postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    postroom.config = attrs.evolve(postroom.config, env="production", virtual_meter_key="k" * 32)
    client = create_app({"TESTING": True}, postroom=postroom).test_client()
    for path in ("/kiosk/price", "/kiosk/sign-in"):
        assert client.get(path).status_code == 404
    assert client.post("/kiosk/print", headers={"Origin": "https://localhost"}).status_code == 404
    postroom.config = attrs.evolve(postroom.config, kiosk_enabled=True)
    enabled = create_app({"TESTING": True}, postroom=postroom).test_client()
    assert enabled.get("/kiosk/sign-in").status_code == 200


def test_parallel_guesses_cannot_slip_past_the_lock(
    postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    """Twelve wrong PINs at once: each attempt is counted before its PIN is checked, so
    only the five free ones are checked at all."""

    def guess(n: int) -> str:
        try:
            postroom.accounts.sign_in_operator(
                kiosk_account.number, operator.id, "864209", kiosk=f"192.0.2.{n}"
            )
        except PostroomError as error:
            return error.code
        return "signed_in"

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(guess, range(12)))
    assert sorted(answers) == ["sign_in_failed"] * 5 + ["sign_in_locked"] * 7
