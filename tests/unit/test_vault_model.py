"""The vault's pure rules: no database."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.accounts.model import (
    is_valid_account_number,
    luhn_check_digit,
    new_account_number,
    new_key_material,
    parse_country,
    secret_matches,
    split_token,
)
from postroom.core.errors import ConfigurationError, Unauthenticated, ValidationError
from postroom.core.idempotency import fingerprint
from postroom.core.ledger.model import (
    GENESIS_HASH,
    AccountKind,
    Balances,
    ChainKey,
    Checkpoint,
    LedgerAccount,
    MeterRegisters,
    Phase,
    Transfer,
    TransferCode,
    TransferRequest,
    chain_hash,
    check_amount,
    effects,
)
from postroom.frontends.serialise.ledger import checkpoint_from_json, checkpoint_json

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def funds(credit_limit: int = 0) -> LedgerAccount:
    return LedgerAccount(1, "postage:1", AccountKind.POSTAGE, "USD", 1, credit_limit, True, False,
                         Balances(), NOW)  # fmt: skip


def row(phase: Phase = Phase.POSTED, amount: int = 500, **changes: object) -> Transfer:
    base = Transfer(1, "t1", 1, 2, amount, "USD", phase, TransferCode.TRANSFER, None, None, None,
                    0, "", "h", NOW, GENESIS_HASH, "")  # fmt: skip
    return attrs.evolve(base, **changes)


def test_luhn_known_value() -> None:
    assert luhn_check_digit("7992739871") == "3"  # the textbook example


def test_new_account_numbers_are_valid() -> None:
    for _ in range(200):
        number = new_account_number()
        assert is_valid_account_number(number)
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not is_valid_account_number(wrong)


@given(st.from_regex(r"[1-9][0-9]{8}", fullmatch=True), st.integers(0, 8), st.integers(1, 9))
def test_luhn_catches_every_single_digit_error(body: str, position: int, shift: int) -> None:
    number = body + luhn_check_digit(body)
    changed = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    assert not is_valid_account_number(changed) or changed == number


def test_country_codes() -> None:
    assert parse_country(" fr ") == "FR"
    with pytest.raises(ValidationError):
        parse_country("ZZ")


def test_key_material_round_trip() -> None:
    material = new_key_material()
    prefix, secret = split_token(material.token)
    assert prefix == material.prefix
    assert secret_matches(secret, material.secret_hash)
    assert not secret_matches(secret + "x", material.secret_hash)
    with pytest.raises(Unauthenticated):
        split_token("prk_short_x")


@pytest.mark.parametrize("bad", [0, -1, 1.0, True, "5", None, 10**16])
def test_amounts_are_positive_integers(bad: object) -> None:
    with pytest.raises(ValidationError) as error:
        check_amount(bad)
    assert error.value.code == "invalid_amount"


def test_funds_account_never_below_its_limit() -> None:
    assert funds().violation(Balances(debits_posted=1)) == "exceeds_credits"
    assert funds().violation(Balances(debits_pending=5, credits_posted=5)) is None
    assert funds().violation(Balances(debits_pending=6, credits_posted=5)) == "exceeds_credits"
    assert funds(credit_limit=10).violation(Balances(debits_posted=10)) is None


def test_effects_of_each_phase() -> None:
    pending = row(Phase.PENDING, 500)
    assert effects(row(), None) == [
        (1, Balances(debits_posted=500)),
        (2, Balances(credits_posted=500)),
    ]
    assert effects(pending, None)[0] == (1, Balances(debits_pending=500))
    post = row(Phase.POST, 300, pending_id="t1")
    assert effects(post, pending)[0] == (1, Balances(debits_pending=-500, debits_posted=300))
    void = row(Phase.VOID, 500, pending_id="t1")
    assert effects(void, pending)[1] == (2, Balances(credits_pending=-500))


KEY = ChainKey.from_text("a test ledger key, 32 characters or more")


def test_hash_chain_seals_every_field() -> None:
    sealed = row().sealed(KEY, 1, GENESIS_HASH)
    assert sealed.computed_hash(KEY) == sealed.row_hash
    for change in ({"amount": 501}, {"debit_account_id": 3}, {"currency": "EUR"}, {"seq": 2}):
        assert attrs.evolve(sealed, **change).computed_hash(KEY) != sealed.row_hash
    assert sealed.computed_hash(KEY, "1" * 64) != sealed.row_hash


def test_request_validation_and_fingerprint() -> None:
    good = TransferRequest(id="a", debit=1, credit=2, amount=5, currency="USD")
    good.validate()
    assert good.fingerprint() == attrs.evolve(good).fingerprint()
    assert good.fingerprint() != attrs.evolve(good, amount=6).fingerprint()
    for bad in (
        attrs.evolve(good, debit=2),
        attrs.evolve(good, timeout_seconds=5),
        attrs.evolve(good, phase=Phase.VOID),
        attrs.evolve(good, phase=Phase.EXPIRE, pending_id="x"),
        attrs.evolve(good, pieces=-1),
    ):
        with pytest.raises(ValidationError):
            bad.validate()


def test_meter_registers_follow_the_account() -> None:
    regs = MeterRegisters(7, "M", 1, "USPS", "USD")
    refill = row(Phase.POSTED, 1000, credit_account_id=7)
    usage = row(Phase.POSTED, 300, debit_account_id=7, credit_account_id=9, pieces=2)
    after = regs.after(refill).after(usage).after(row(Phase.PENDING, 50, debit_account_id=7))
    assert (after.descending, after.ascending, after.control_sum, after.pieces) == (
        700,
        300,
        1000,
        2,
    )
    assert after.consistent
    assert not attrs.evolve(after, ascending=301).consistent


def test_a_withdrawal_takes_back_what_was_never_printed() -> None:
    regs = MeterRegisters(7, "M", 1, "USPS", "USD", descending=700, ascending=300, control_sum=1000)
    out = row(Phase.POSTED, 700, debit_account_id=7, code=TransferCode.WITHDRAWAL)
    after = regs.after(out)
    assert (after.descending, after.ascending, after.control_sum) == (0, 300, 300)
    assert after.consistent


def test_an_unset_cost_center_leaves_the_fingerprint_unchanged() -> None:
    # Ledgers written before cost centres existed must still verify: an unset cost
    # centre leaves a request's fingerprint unchanged.
    plain = TransferRequest(id="t", debit=1, credit=2, amount=5, currency="USD")
    named = TransferRequest(
        id="t", debit=1, credit=2, amount=5, currency="USD", cost_center="Legal"
    )
    assert plain.fingerprint() != named.fingerprint()
    assert (
        plain.fingerprint()
        == TransferRequest(
            id="t", debit=1, credit=2, amount=5, currency="USD", cost_center=None
        ).fingerprint()
    )


def _row(**changes: object) -> Transfer:
    row = Transfer(
        seq=41,
        id="t-1",
        debit_account_id=3,
        credit_account_id=7,
        amount=1500,
        currency="USD",
        phase=Phase.PENDING,
        code=TransferCode.PRINT,
        pending_id=None,
        timeout_at=datetime(2026, 3, 2, 9, 40, tzinfo=UTC),
        batch="b-1",
        pieces=2,
        reference='réf "x"',
        body_hash="ab" * 32,
        created_at=datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC),
        prev_hash="cd" * 32,
        row_hash="",
    )
    return attrs.evolve(row, **changes)


def test_row_hashes_are_those_ledgers_already_hold() -> None:
    # Values computed by the first release's sealing code: stored chains verify unchanged.
    plain, centred = _row(), _row(cost_center="Ventes Île")
    assert plain.computed_hash(None) == (
        "7b1a8d9979b2b9616d9eccbbc6787aa0ffed18b6f925c8f49a9a102cbf379551"
    )
    assert centred.computed_hash(None) == (
        "14e98288569a5291bbba78369d3e9a9152d8f945f6c9a84c7120b4fb65eba275"
    )
    assert plain.sealed(KEY, 41, "cd" * 32).row_hash == plain.computed_hash(KEY)


@given(seq=st.integers(1, 10**15), reference=st.text(max_size=40))
def test_the_canonical_row_is_its_seq_then_its_tail(seq: int, reference: str) -> None:
    row = _row(seq=seq, reference=reference)
    assert row.canonical() == b"[%d," % seq + row.canonical_tail()
    expected = []
    for name in Transfer.HASHED:
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expected.append(value)
    assert json.loads(row.canonical()) == expected


@pytest.mark.parametrize(
    ("request_", "stored"),
    [
        (
            TransferRequest(id="order-42", debit="postage:1000017", credit="fees:USD",
                            amount=1250, currency="USD", code=TransferCode.FEE, pieces=3,
                            reference='Café "north" desk'),
            "14fb3d0f7bf794106338de9f216f867a574be87f11feadc92402edfb85af57c1",
        ),
        (
            TransferRequest(id="r", debit=7, credit=9, amount=40, currency="EUR",
                            phase=Phase.PENDING, code=TransferCode.PRINT, timeout_seconds=600,
                            cost_center="Ventes"),
            "5d4f1efae7563549acd64a3134a5d9b286b7ee1ee20dcbeaf144af88f2e13816",
        ),
        (
            TransferRequest(id="p", phase=Phase.POST, pending_id="r", amount=30, currency="EUR"),
            "3632f83dd06d75152ca068fc0e645dde090ef253af30ddbb31bc8d40e549283f",
        ),
    ],
)  # fmt: skip
def test_a_request_hashes_to_the_fingerprint_stored_with_its_first_answer(
    request_: TransferRequest, stored: str
) -> None:
    # Hashes stored by the ledger's own hasher, before it moved onto the idempotency
    # kernel: a replay of such a request must still match, not conflict.
    assert request_.fingerprint() == stored
    assert fingerprint(request_.body()) == stored


def test_a_row_placed_in_the_chain_keeps_every_other_field() -> None:
    row = _row(cost_center="Ventes")
    placed = row.with_place(7, "e" * 64, "f" * 64)
    assert placed == attrs.evolve(row, seq=7, prev_hash="e" * 64, row_hash="f" * 64)


def test_the_chain_key_is_standard_hmac_sha256_under_a_derived_key() -> None:
    text = "a test ledger key, 32 characters or more"
    derived = hmac.new(text.encode(), b"postroom ledger chain v1", hashlib.sha256).digest()
    message = b"%s\n[7,%s" % (b"ab" * 32, b'"x"]')
    assert KEY.row_hash("ab" * 32, 7, b'"x"]') == (
        hmac.new(derived, message, hashlib.sha256).hexdigest()
    )
    # What PostgreSQL computes from the pads with plain sha256 is that same HMAC.
    inner, outer = KEY.pads
    assert hashlib.sha256(outer + hashlib.sha256(inner + message).digest()).hexdigest() == (
        KEY.row_hash("ab" * 32, 7, b'"x"]')
    )
    # Unkeyed, another key, a seal and a checkpoint never give the same value.
    other = ChainKey.from_text(text + "!")
    values = {
        KEY.row_hash("ab" * 32, 7, b'"x"]'),
        other.row_hash("ab" * 32, 7, b'"x"]'),
        chain_hash("ab" * 32, 7, b'"x"]'),
        KEY.seal(7, "ab" * 32),
        KEY.checkpoint(7, "ab" * 32),
    }
    assert len(values) == 5
    assert "secret" not in repr(KEY)


def test_a_short_ledger_key_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ChainKey.from_text("too short")
    assert caught.value.code == "ledger_key_too_short"


def test_a_checkpoint_round_trips() -> None:
    taken = Checkpoint(12, "ab" * 32, KEY.checkpoint(12, "ab" * 32))
    assert checkpoint_from_json(json.loads(json.dumps(checkpoint_json(taken)))) == taken
    written = checkpoint_json(taken)
    for bad in ({**written, "seq": -1}, {**written, "seq": True}, [], None):
        with pytest.raises(ValidationError) as caught:
            checkpoint_from_json(bad)
        assert caught.value.code == "invalid_checkpoint"
