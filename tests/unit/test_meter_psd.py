"""The virtual postal security device, driven directly (no transport)."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.clock import FrozenClock
from postroom.core.errors import PostroomError
from postroom.core.meters import tokens
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.hal.meter.psd import (
    LOG_CAPACITY,
    LOG_FILE,
    MAX_LOG_REPLY,
    RATE_TABLES_KEPT,
    STATE_FILE,
    DeviceReset,
    InspectionPolicy,
    Psd,
    canonical,
)
from postroom.hal.meter.store import APPEND_STEPS, STEPS

KEY = b"m" * 32
RATES = b"carrier,service,weight,price\nusps,first-class-letter,1oz,730\n"
DIGEST = hashlib.sha256(RATES).hexdigest()
START = "2026-11-23T12:00:00+00:00"


class Boom(Exception):
    pass


@pytest.fixture
def clock():
    return FrozenClock.at(START)


def open_psd(tmp_path, clock, **kwargs):
    return Psd.open(tmp_path / "psd", "SN1", clock=clock, meter_key=KEY, **kwargs)


def install_rates(psd, data=RATES, digest=DIGEST):
    import base64

    assert psd.handle(
        {"cmd": "install_begin", "kind": "rates", "digest": digest, "size": len(data)}
    )["ok"]
    for at in range(0, len(data), 16):
        chunk = base64.b64encode(data[at : at + 16]).decode()
        assert psd.handle({"cmd": "install_chunk", "offset": at, "data": chunk})["ok"]
    return psd.handle({"cmd": "install_end"})


def refill(psd, clock, mills, sequence, rid=None):
    token = tokens.issue(KEY, "SN1", sequence, Money(mills, "USD"), clock.now() + timedelta(days=1))
    return psd.handle({"cmd": "refill", "rid": rid or f"r{sequence}", "token": token.hex()})


def print_request(rid, mills=730, **extra):
    return {
        "cmd": "print",
        "rid": rid,
        "mills": mills,
        "currency": "USD",
        "rate_digest": DIGEST,
        "service": "first-class-letter",
        "date": "2026-11-23",
        "origin_zip": "12345",
        "cost_center": "legal",
        **extra,
    }


@pytest.fixture
def ready(tmp_path, clock):
    psd = open_psd(tmp_path, clock)
    assert install_rates(psd)["ok"]
    assert refill(psd, clock, 10_000, 1)["ok"]
    return psd


def error(reply):
    assert reply["ok"] is False, reply
    return reply["error"]["code"]


def verify(psd, signature_hex, data):
    psd.key.public_key().verify(bytes.fromhex(signature_hex), data, ec.ECDSA(hashes.SHA256()))


def test_first_start_creates_key_and_state(tmp_path, clock):
    psd = open_psd(tmp_path, clock)
    assert (tmp_path / "psd" / STATE_FILE).exists()
    reply = psd.handle({"cmd": "identify"})
    assert reply["serial"] == "SN1"
    assert reply["model"] == "postroom-vpsd-1"
    again = open_psd(tmp_path, clock)
    assert again.public_key_pem() == psd.public_key_pem()
    assert serialization.load_pem_public_key(psd.public_key_pem().encode())


def test_registers_are_signed(ready):
    reply = ready.handle({"cmd": "registers"})
    assert reply["registers"]["descending"] == 10_000
    body = {k: v for k, v in reply.items() if k != "sig"}
    verify(ready, reply["sig"], canonical(body))


def test_print_debits_signs_and_logs(ready):
    reply = ready.handle(print_request("p1"))
    assert reply["ok"], reply
    registers = ready.registers()
    assert (registers["descending"], registers["ascending"], registers["pieces"]) == (9270, 730, 1)
    record_bytes = base64.b64decode(reply["record"])
    verify(ready, base64.b64decode(reply["signature"]).hex(), record_bytes)
    record = IndiciumRecord.from_bytes(record_bytes)
    assert record.piece == 1
    assert record.postage == Money(730, "USD")
    assert (record.ascending, record.descending) == (730, 9270)
    assert record.rate_digest.hex() == DIGEST
    log = ready.handle({"cmd": "log", "since": 0})
    assert [p["piece"] for p in log["pieces"]] == [1]
    assert log["pieces"][0]["cost_center"] == "legal"


def test_same_request_id_prints_once_even_after_reopen(ready, tmp_path, clock):
    first = ready.handle(print_request("p1"))
    assert ready.handle(print_request("p1")) == first
    reopened = open_psd(tmp_path, clock)
    assert reopened.handle(print_request("p1")) == first
    assert reopened.registers()["pieces"] == 1
    assert error(reopened.handle(print_request("p1", mills=100))) == "request_id_reused"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"mills": 20_000}, "insufficient_funds"),
        ({"rate_digest": "0" * 64}, "rate_table_unknown"),
        ({"currency": "EUR"}, "currency_mismatch"),
        ({"mills": 0}, "invalid_amount"),
        ({"mills": "730"}, "bad_request"),
        ({"date": "2026-11-22"}, "invalid_mailing_date"),
        ({"date": "tomorrow"}, "invalid_mailing_date"),
        ({"rid": ""}, "invalid_request_id"),
    ],
)
def test_print_refusals_change_nothing(ready, change, code):
    before = ready.registers()
    assert error(ready.handle({**print_request("p1"), **change})) == code
    assert ready.registers() == before


def test_locked_meter_refuses_then_prints_after_unlock(ready):
    assert ready.handle({"cmd": "lock", "reason": "audit"})["ok"]
    assert error(ready.handle(print_request("p1"))) == "meter_locked"
    assert ready.handle({"cmd": "unlock"})["ok"]
    assert ready.handle(print_request("p1"))["ok"]


def test_inspection_due_then_overdue_then_sync(ready, clock):
    clock.advance(timedelta(days=90))
    assert ready.inspection()["status"] == "due"
    assert ready.handle(print_request("p1", date="2027-02-21"))["ok"]
    clock.advance(timedelta(days=30))
    assert ready.inspection()["status"] == "overdue"
    assert error(ready.handle(print_request("p2", date="2027-03-23"))) == "inspection_overdue"
    assert refill(ready, clock, 0, 2)["ok"]  # a sync token with no money records the contact
    assert ready.inspection()["status"] == "ok"
    assert ready.handle(print_request("p2", date="2027-03-23"))["ok"]


def test_inspection_policy_is_configurable(tmp_path, clock):
    psd = open_psd(tmp_path, clock, policy=InspectionPolicy(timedelta(days=1), timedelta(days=2)))
    clock.advance(timedelta(days=2))
    assert psd.inspection()["status"] == "overdue"


def test_token_errors(ready, clock):
    assert error(refill(ready, clock, 5, 1, rid="fresh")) == "token_replayed"
    other = tokens.issue(KEY, "SN2", 7, Money(5, "USD"), clock.now() + timedelta(days=1))
    assert error(ready.handle({"cmd": "refill", "rid": "x", "token": other.hex()})) == (
        "token_wrong_meter"
    )
    forged = tokens.issue(b"f" * 32, "SN1", 7, Money(5, "USD"), clock.now() + timedelta(days=1))
    assert error(ready.handle({"cmd": "refill", "rid": "y", "token": forged.hex()})) == (
        "token_forged"
    )
    expired = tokens.issue(KEY, "SN1", 7, Money(5, "USD"), clock.now() - timedelta(seconds=1))
    assert error(ready.handle({"cmd": "refill", "rid": "z", "token": expired.hex()})) == (
        "token_expired"
    )
    assert error(ready.handle({"cmd": "refill", "rid": "w", "token": "zz"})) == "token_malformed"
    assert ready.registers()["control"] == 10_000


def test_refill_retry_with_same_id_applies_once(ready, clock):
    token = tokens.issue(KEY, "SN1", 2, Money(500, "USD"), clock.now() + timedelta(days=1))
    first = ready.handle({"cmd": "refill", "rid": "again", "token": token.hex()})
    assert ready.handle({"cmd": "refill", "rid": "again", "token": token.hex()}) == first
    assert ready.registers()["control"] == 10_500


def test_rate_table_with_wrong_digest_is_refused(tmp_path, clock):
    psd = open_psd(tmp_path, clock)
    assert error(install_rates(psd, digest="1" * 64)) == "digest_mismatch"
    assert psd.state["rate_digest"] is None


def test_a_print_may_name_any_installed_rate_table(ready):
    """One table per carrier service: installing another keeps the first one printable."""
    other = b"usps,priority-mail,1lb,1050\n"
    other_digest = hashlib.sha256(other).hexdigest()
    assert install_rates(ready, other, other_digest)["ok"]
    assert ready.handle(print_request("a"))["ok"]
    assert ready.handle(print_request("b", rate_digest=other_digest, service="priority"))["ok"]
    diagnostics = ready.handle({"cmd": "diagnostics"})["diagnostics"]
    assert diagnostics["rate_digest"] == other_digest
    assert diagnostics["rate_digests"] == [DIGEST, other_digest]
    assert install_rates(ready)["ok"]  # installed again: becomes the latest, kept once
    assert ready.reopen().rate_digests() == [other_digest, DIGEST]


def test_only_the_latest_rate_tables_are_kept(ready):
    for n in range(RATE_TABLES_KEPT):
        data = f"table {n}\n".encode()
        assert install_rates(ready, data, hashlib.sha256(data).hexdigest())["ok"]
    assert DIGEST not in ready.rate_digests()
    assert len(ready.rate_digests()) == RATE_TABLES_KEPT
    assert error(ready.handle(print_request("old"))) == "rate_table_unknown"


def test_firmware_graphics_features_and_diagnostics(ready):
    import base64

    image = b"\x7f" * 100
    assert ready.handle(
        {
            "cmd": "install_begin",
            "kind": "firmware",
            "version": "1.1.0",
            "digest": hashlib.sha256(image).hexdigest(),
            "size": 100,
        }
    )["ok"]
    data = base64.b64encode(image).decode()
    assert ready.handle({"cmd": "install_chunk", "offset": 0, "data": data})["ok"]
    assert ready.handle({"cmd": "install_chunk", "offset": 0, "data": data})["ok"]  # repeat
    assert ready.handle({"cmd": "install_end"})["ok"]
    assert ready.handle({"cmd": "identify"})["firmware"] == "1.1.0"
    assert error(ready.handle({"cmd": "install_chunk", "offset": 0, "data": data})) == (
        "no_transfer"
    )
    assert ready.handle({"cmd": "set_features", "features": {"cost_centers": True}})["ok"]
    diagnostics = ready.handle({"cmd": "diagnostics"})["diagnostics"]
    assert diagnostics["features"] == {"cost_centers": True}
    assert diagnostics["inspection"]["status"] == "ok"


@pytest.mark.parametrize(
    "request_",
    [
        None,
        [],
        {},
        {"cmd": 3},
        {"cmd": "nope"},
        {"cmd": "__init__"},
        {"cmd": "log", "since": "a"},
        {"cmd": "set_features", "features": {"a b": True}},
        {"cmd": "set_features", "features": {"x": "yes"}},
        {"cmd": "set_features", "features": {f"f{n}": True for n in range(65)}},
        {"cmd": "lock", "reason": 3},
        {"cmd": "install_begin", "kind": "graphics", "digest": "0" * 64, "size": 1, "name": "../x"},
        {"cmd": "install_begin", "kind": "rates", "digest": "0" * 64, "size": 0},
        {"cmd": "install_begin", "kind": "firmware", "digest": "0" * 64, "size": 1},
        {"cmd": "install_begin", "kind": "boot", "digest": "0" * 64, "size": 1},
    ],
)
def test_bad_requests(ready, request_):
    assert error(ready.handle(request_)) in {"bad_request", "unknown_command"}


def test_bad_payload_bytes(ready):
    assert json.loads(ready.handle_bytes(b"\xff not json"))["error"]["code"] == "bad_request"


# -- power cuts -------------------------------------------------------------------


@pytest.mark.parametrize("step", APPEND_STEPS)
def test_power_cut_at_each_step_of_a_print(tmp_path, clock, step):
    psd = open_psd(tmp_path, clock)
    install_rates(psd)
    refill(psd, clock, 10_000, 1)

    def cut(at):
        if at == step:
            raise Boom(at)

    psd.fault = cut
    with pytest.raises(Boom):
        psd.handle(print_request("p1"))
    after = open_psd(tmp_path, clock)  # power back: only the disk survives
    after.check_invariant()
    pieces = after.registers()["pieces"]
    # written whole (in the page cache, not yet fsync'd): committed, never answered
    assert pieces == (1 if step == "fsync_log" else 0)
    assert [p.piece for p in after.log] == list(range(1, pieces + 1))
    retried = after.handle(print_request("p1"))  # the host retries with the same id
    assert retried["ok"]
    assert after.registers()["pieces"] == 1
    assert after.registers()["ascending"] == 730
    assert len(after.log) == 1


@pytest.mark.parametrize("step", STEPS)
def test_power_cut_at_each_step_of_a_refill(tmp_path, clock, step):
    psd = open_psd(tmp_path, clock)
    token = tokens.issue(KEY, "SN1", 1, Money(900, "USD"), clock.now() + timedelta(days=1))

    def cut(at):
        if at == step:
            raise Boom(at)

    psd.fault = cut
    with pytest.raises(Boom):
        psd.handle({"cmd": "refill", "rid": "r", "token": token.hex()})
    after = open_psd(tmp_path, clock)
    assert after.handle({"cmd": "refill", "rid": "r", "token": token.hex()})["ok"]
    assert after.registers()["control"] == 900
    # the token itself can never be applied twice, whatever the request id
    assert error(after.handle({"cmd": "refill", "rid": "other", "token": token.hex()})) == (
        "token_replayed"
    )


@pytest.mark.parametrize("when", ["before", "after"])
def test_reset_mid_print(ready, when):
    setattr(ready.faults, f"reset_{when}_commit", 1)
    with pytest.raises(DeviceReset):
        ready.handle(print_request("p1"))
    rebooted = ready.reopen()
    assert rebooted.registers()["pieces"] == (1 if when == "after" else 0)
    assert rebooted.handle(print_request("p1"))["ok"]
    assert rebooted.registers()["pieces"] == 1
    assert rebooted.registers()["descending"] == 9270


def test_state_file_is_never_left_half_written(tmp_path, clock):
    psd = open_psd(tmp_path, clock)
    before = (tmp_path / "psd" / STATE_FILE).read_bytes()

    def cut(at):
        if at == "fsync":
            raise Boom(at)

    psd.fault = cut
    with pytest.raises(Boom):
        psd.handle({"cmd": "lock"})
    assert (tmp_path / "psd" / STATE_FILE).read_bytes() == before
    assert psd.state["locked"] is False


def test_tokens_stay_valid_after_days(ready, clock):
    clock.set(datetime(2026, 11, 23, 18, tzinfo=UTC))
    assert refill(ready, clock, 1, 2)["ok"]


def test_reopen_checks_serial_and_meter_key(tmp_path, clock):
    open_psd(tmp_path, clock)
    assert Psd.open(tmp_path / "psd").serial == "SN1"
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "psd", "OTHER")
    assert info.value.code == "serial_mismatch"
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "psd", meter_key=b"x" * 32)
    assert info.value.code == "meter_key_mismatch"
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "new")
    assert info.value.code == "invalid_serial"
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "bad", "no spaces please")
    assert info.value.code == "invalid_serial"


def test_unreadable_state_is_a_clear_error(tmp_path, clock):
    open_psd(tmp_path, clock)
    (tmp_path / "psd" / STATE_FILE).write_text("{not json")
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "psd")
    assert info.value.code == "device_state_corrupt"


def test_an_old_request_id_is_never_printed_again(ready, monkeypatch):
    import postroom.hal.meter.psd as psd_module

    monkeypatch.setattr(psd_module, "REMEMBERED_REQUESTS", 2)
    for n in range(4):
        assert ready.handle(print_request(f"p{n}", mills=10))["ok"]
    assert "p0" not in ready.state["requests"]
    assert error(ready.handle(print_request("p0", mills=10))) == "request_id_expired"
    assert ready.registers()["pieces"] == 4


# -- the piece log: every piece is kept until the data center acknowledges it ------


def logged(psd, since=0):
    """Every piece number the device hands out from its log, page by page."""
    numbers = []
    while True:
        reply = psd.handle({"cmd": "log", "since": since})
        assert reply["ok"], reply
        numbers += [p["piece"] for p in reply["pieces"]]
        if not reply["more"] or not reply["pieces"]:
            return numbers
        since = reply["pieces"][-1]["piece"]


def ack(psd, up_to, key=KEY, serial="SN1"):
    token = tokens.issue_piece_ack(key, serial, up_to)
    return psd.handle({"cmd": "ack_log", "up_to": up_to, "token": token.hex()})


@pytest.fixture
def small(tmp_path, clock):
    psd = open_psd(tmp_path, clock, log_capacity=25)
    assert install_rates(psd)["ok"]
    assert refill(psd, clock, 100_000, 1)["ok"]
    return psd


def test_a_realistic_capacity_by_default(tmp_path, clock):
    psd = open_psd(tmp_path, clock)
    diagnostics = psd.handle({"cmd": "diagnostics"})["diagnostics"]
    assert diagnostics["log_capacity"] == LOG_CAPACITY == 10_000
    assert (diagnostics["pieces_logged"], diagnostics["log_acknowledged"]) == (0, 0)


def test_a_full_log_refuses_to_print_and_debits_nothing(small):
    for n in range(25):
        assert small.handle(print_request(f"p{n}", mills=10))["ok"]
    before = small.registers()
    refused = small.handle(print_request("one-too-many", mills=10))
    assert error(refused) == "piece_log_full"
    assert "sync with the data center" in refused["error"]["message"]
    assert small.registers() == before
    assert small.reopen().registers() == before
    assert logged(small) == list(range(1, 26))  # across a page boundary, none lost

    assert ack(small, 20) == {"ok": True, "acknowledged": 20, "pieces_logged": 5}
    assert logged(small) == list(range(21, 26))
    assert small.handle(print_request("one-too-many", mills=10))["ok"]
    assert logged(small.reopen()) == list(range(21, 27))
    diagnostics = small.handle({"cmd": "diagnostics"})["diagnostics"]
    assert (diagnostics["pieces_logged"], diagnostics["log_acknowledged"]) == (6, 20)


def test_a_log_page_stays_under_the_frame_limit(small):
    long_name = "x" * 400
    for n in range(MAX_LOG_REPLY):
        assert small.handle(print_request(f"p{n}", mills=10, cost_center=long_name))["ok"]
    first = small.handle({"cmd": "log", "since": 0})
    assert 0 < len(first["pieces"]) < MAX_LOG_REPLY
    assert first["more"] is True
    assert logged(small) == list(range(1, MAX_LOG_REPLY + 1))


def test_an_acknowledgement_is_idempotent_and_authenticated(small):
    for n in range(3):
        assert small.handle(print_request(f"p{n}", mills=10))["ok"]
    assert error(ack(small, 2, key=b"z" * 32)) == "ack_forged"  # not the data center's key
    assert error(ack(small, 2, serial="SN2")) == "ack_forged"  # another meter's
    token = tokens.issue_piece_ack(KEY, "SN1", 1).hex()
    forged = small.handle({"cmd": "ack_log", "up_to": 3, "token": token})
    assert error(forged) == "ack_forged"  # a genuine ack of piece 1 names 3
    assert error(small.handle({"cmd": "ack_log", "up_to": 3, "token": "zz"})) == "ack_malformed"
    bad = small.handle({"cmd": "ack_log", "up_to": 3, "token": token[:-2]})
    assert error(bad) == "ack_malformed"
    assert error(ack(small, 4)) == "ack_beyond_log"  # never printed
    assert logged(small) == [1, 2, 3]  # no refusal dropped anything

    assert ack(small, 2)["acknowledged"] == 2
    assert ack(small, 2)["acknowledged"] == 2  # the rerun of a cut sync
    assert ack(small, 1) == {"ok": True, "acknowledged": 2, "pieces_logged": 1}  # replayed
    assert logged(small.reopen()) == [3]


def test_an_acknowledged_request_id_is_never_printed_again(small, monkeypatch):
    import postroom.hal.meter.psd as psd_module

    monkeypatch.setattr(psd_module, "REMEMBERED_REQUESTS", 2)
    for n in range(4):
        assert small.handle(print_request(f"p{n}", mills=10))["ok"]
    assert ack(small, 4)["ok"]
    assert logged(small) == []
    assert error(small.handle(print_request("p0", mills=10))) == "request_id_expired"
    assert error(small.reopen().handle(print_request("p1", mills=10))) == "request_id_expired"
    assert small.registers()["pieces"] == 4


# -- the append-only piece log on disk ----------------------------------------------


def test_a_print_appends_to_the_log_and_leaves_the_state_file_alone(ready, tmp_path):
    state_file = tmp_path / "psd" / STATE_FILE
    before = state_file.read_bytes()
    log_size = (tmp_path / "psd" / LOG_FILE).stat().st_size
    assert ready.handle(print_request("p1"))["ok"]
    assert state_file.read_bytes() == before  # the checkpoint is not rewritten
    grown = (tmp_path / "psd" / LOG_FILE).stat().st_size - log_size
    assert 0 < grown < 1500  # one record, whatever the size of the log


def test_a_damaged_record_inside_the_log_is_a_clear_error(ready, tmp_path):
    for n in range(3):
        assert ready.handle(print_request(f"p{n}", mills=10))["ok"]
    path = tmp_path / "psd" / LOG_FILE
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the first record, with two after it: not a crash
    path.write_bytes(bytes(data))
    with pytest.raises(PostroomError) as info:
        Psd.open(tmp_path / "psd")
    assert info.value.code == "device_state_corrupt"


def test_a_lost_log_keeps_the_registers_and_leaves_a_hole(ready, tmp_path, clock):
    for n in range(3):
        assert ready.handle(print_request(f"p{n}", mills=10))["ok"]
    assert ready.handle({"cmd": "lock"})["ok"]  # a checkpoint with 3 pieces
    assert ready.handle({"cmd": "unlock"})["ok"]
    (tmp_path / "psd" / LOG_FILE).unlink()
    after = open_psd(tmp_path, clock)
    assert (after.registers()["pieces"], after.registers()["ascending"]) == (3, 30)
    assert after.handle(print_request("p3", mills=10))["ok"]
    assert logged(after) == [4]  # 1-3 are the hole the data center reports


def test_a_state_file_with_the_log_inside_is_moved_over(ready, tmp_path, clock):
    for n in range(3):
        assert ready.handle(print_request(f"p{n}", mills=10))["ok"]
    entries = [p.entry for p in ready.log]
    assert ready.handle({"cmd": "lock"})["ok"]  # a checkpoint with 3 pieces
    state_file = tmp_path / "psd" / STATE_FILE
    old = json.loads(state_file.read_bytes())
    del old["log_acked"], old["retired_rids"]
    old["log"] = entries  # the first format: no pieces.log, the log in the state
    state_file.write_bytes(canonical(old))
    (tmp_path / "psd" / LOG_FILE).unlink()
    after = open_psd(tmp_path, clock)
    assert [p.entry for p in after.log] == entries
    assert "log" not in json.loads(state_file.read_bytes())
    assert after.handle(print_request("p0", mills=10))["ok"]  # the stored reply
    assert after.registers()["pieces"] == 3
    assert logged(open_psd(tmp_path, clock)) == [1, 2, 3]
