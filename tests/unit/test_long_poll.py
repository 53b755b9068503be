"""The live chat's event streams: only a few responses of a process wait for news at
once (the others answer at once and their browsers come back later), a stopping server
ends the waiting ones, and the event id carries what the client has seen."""

from __future__ import annotations

import contextlib

from postroom.frontends.web.long_poll import WaitGate, event_id, mark, parse_event_id


def test_twenty_four_watchers_of_a_gate_of_two_wait_two_and_answer_the_rest_at_once() -> None:
    gate = WaitGate(2)
    with contextlib.ExitStack() as open_streams:
        waiting = [open_streams.enter_context(gate.slot()) for _ in range(24)]
        assert waiting.count(True) == 2
    with gate.slot() as may_wait:  # the slots came back when the responses ended
        assert may_wait


def test_a_slot_comes_back_when_the_client_goes_away() -> None:
    gate = WaitGate(1)

    def stream():  # as the view's generator: the server closes it when the client leaves
        with gate.slot() as may_wait:
            yield may_wait
            yield "never sent"

    first = stream()
    assert next(first) is True
    assert next(stream()) is False
    first.close()
    assert next(stream()) is True


def test_no_thread_waits_on_a_gate_of_none_and_a_stopping_server_ends_the_waits() -> None:
    with WaitGate(0).slot() as may_wait:
        assert not may_wait
    gate = WaitGate(1)
    gate.stop()
    assert gate.pause(30) is False  # at once, not in 30 s


def test_the_event_id_carries_the_last_message_and_a_mark_of_the_state() -> None:
    state = {"status": "waiting", "position": 2, "agent_typing": False}
    assert parse_event_id(event_id(41, state)) == (41, mark(state))
    assert mark(state) != mark(state | {"position": 1})
    assert parse_event_id("7") == (7, "")
    for bad in (None, "", "x", "1.zz", "1." + "f" * 40, "9" * 20):
        assert parse_event_id(bad) is None
