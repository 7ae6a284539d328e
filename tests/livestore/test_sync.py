from __future__ import annotations

import itertools

import pytest

from runt_action.errors import SyncProtocolError
from runt_action.livestore.events import Event
from runt_action.livestore.protocol import (
    Error,
    PullReq,
    PullRes,
    PushAck,
    PushReq,
    dumps,
    encode,
    frame_bytes,
)
from runt_action.livestore.sync import Actions, SyncMachine


def machine(head: int = 0) -> SyncMachine:
    ids = (f"req{i}" for i in itertools.count())
    return SyncMachine("me", "sess", head=head, request_id=lambda: next(ids))


def other(seq: int, name: str = "v1.Other") -> Event:
    return Event(name, {"n": seq}, seq, seq - 1, "them", "x", "2026-01-01T00:00:00.000Z")


def live(m: SyncMachine, events: tuple[Event, ...] = ()) -> Actions:
    pull = m.connected().send[0]
    assert isinstance(pull, PullReq)
    return m.receive(PullRes(events, pull.request_id, "pull", 0))


def only_push(actions: Actions) -> PushReq:
    assert len(actions.send) == 1
    push = actions.send[0]
    assert isinstance(push, PushReq)
    return push


def echo(push: PushReq) -> PullRes:
    stamped = tuple(
        Event(e.name, e.args, e.seq_num, e.parent_seq_num, e.client_id, e.session_id, "t")
        for e in push.batch
    )
    return PullRes(stamped, push.request_id, "push", 0)


def test_fresh_client_pulls_without_cursor_then_pushes_and_confirms_on_echo() -> None:
    m = machine()
    first = m.connected()
    assert first.send == [PullReq("req0", None)]
    token, actions = m.commit("v1.A", {"x": 1})
    assert actions.send == []  # nothing is pushed before the pull reached the head
    done = m.receive(PullRes((), "req0", "pull", 0))
    assert done.synced
    push = only_push(done)
    assert [(e.seq_num, e.parent_seq_num) for e in push.batch] == [(1, 0)]
    assert m.receive(PushAck(push.request_id)).confirmed == []  # the echo confirms
    confirmed = m.receive(echo(push))
    assert [e.seq_num for e in confirmed.confirmed] == [1]
    assert confirmed.resolved == [(token, confirmed.confirmed[0])]
    assert m.head == 1 and m.unconfirmed == 0 and not m.awaiting_response


def test_reconnect_pulls_from_the_head() -> None:
    m = machine(head=7)
    assert m.connected().send == [PullReq("req0", 7)]


def test_chunked_pull_is_synced_only_at_remaining_zero() -> None:
    m = machine()
    m.connected()
    a = m.receive(PullRes(tuple(other(i) for i in range(1, 101)), "req0", "pull", 50))
    assert not a.synced and len(a.confirmed) == 100 and m.phase == "pulling"
    b = m.receive(PullRes(tuple(other(i) for i in range(101, 151)), "req0", "pull", 0))
    assert b.synced and m.head == 150
    assert str(m.phase) == "live"


def test_broadcasts_during_the_initial_pull_are_stashed_and_deduplicated() -> None:
    m = machine()
    m.connected()
    assert m.receive(PullRes((other(3),), "p", "push", 0)).confirmed == []
    assert m.receive(PullRes((other(4),), "p", "push", 0)).confirmed == []
    out = m.receive(PullRes((other(1), other(2), other(3)), "req0", "pull", 0))
    assert [e.seq_num for e in out.confirmed] == [1, 2, 3, 4]
    assert m.head == 4


def test_rejected_push_rebases_after_pulling_with_a_new_request_id() -> None:
    m = machine()
    live(m)
    token, actions = m.commit("v1.Mine", {"k": "v"})
    push = only_push(actions)
    assert push.batch[0].seq_num == 1
    rej = m.receive(
        Error(push.request_id, "Invalid parent event number. Received e0 but expected e4")
    )
    assert rej.send == [PullReq("req2", None)]  # we are behind: pull first, then rebase
    out = m.receive(PullRes(tuple(other(i) for i in range(1, 5)), "req2", "pull", 0))
    repush = only_push(out)
    assert repush.request_id != push.request_id
    assert [(e.seq_num, e.parent_seq_num) for e in repush.batch] == [(5, 4)]
    assert repush.batch[0].args == {"k": "v"}
    final = m.receive(echo(repush))
    assert final.resolved[0][0] == token and final.resolved[0][1].seq_num == 5


def test_rejection_after_the_missing_broadcast_arrived_re_pushes_at_once() -> None:
    m = machine()
    live(m)
    _, actions = m.commit("v1.Mine")
    push = only_push(actions)
    assert m.receive(PullRes((other(1),), "theirs", "push", 0)).send == []  # push in flight
    rej = m.receive(
        Error(push.request_id, "Invalid parent event number. Received e0 but expected e1")
    )
    repush = only_push(rej)
    assert [(e.seq_num, e.parent_seq_num) for e in repush.batch] == [(2, 1)]


def test_gap_in_broadcasts_triggers_a_re_pull_and_stashes_meanwhile() -> None:
    m = machine()
    live(m, (other(1), other(2)))
    gap = m.receive(PullRes((other(5),), "x", "push", 0))
    assert gap.confirmed == [] and gap.send == [PullReq("req1", 2)]
    assert m.receive(PullRes((other(6),), "y", "push", 0)).confirmed == []
    out = m.receive(PullRes((other(3), other(4), other(5)), "req1", "pull", 0))
    assert [e.seq_num for e in out.confirmed] == [3, 4, 5, 6]


def test_own_echo_and_duplicate_broadcasts_are_dropped() -> None:
    m = machine()
    live(m, (other(1), other(2)))
    assert m.receive(PullRes((other(1), other(2)), "x", "push", 0)).confirmed == []
    assert m.head == 2


def test_answers_to_abandoned_pulls_are_ignored() -> None:
    m = machine()
    m.connected()
    m.disconnected()
    m.connected()  # req1
    assert m.receive(PullRes((other(1),), "req0", "pull", 0)).confirmed == []
    assert m.receive(PullRes((other(1),), "req1", "pull", 0)).confirmed == [other(1)]


def test_unacked_push_is_not_resent_when_the_pull_shows_it_was_accepted() -> None:
    m = machine()
    live(m)
    tokens = [m.commit("v1.Mine", {"i": i})[0] for i in range(3)]
    # The first commit went out alone; the others wait for its confirmation.
    m.disconnected()
    pull = m.connected().send
    assert pull == [PullReq("req2", None)]
    accepted = Event("v1.Mine", {"i": 0}, 1, 0, "me", "sess", "t")
    out = m.receive(PullRes((accepted,), "req2", "pull", 0))
    assert out.resolved == [(tokens[0], accepted)]
    repush = only_push(out)  # only what the server did not have, renumbered on the head
    assert [(e.args, e.seq_num) for e in repush.batch] == [({"i": 1}, 2), ({"i": 2}, 3)]


def test_unacked_push_is_resent_after_the_pull_when_it_was_lost() -> None:
    m = machine()
    live(m)
    _, actions = m.commit("v1.Mine")
    lost = only_push(actions)
    m.disconnected()
    assert m.connected().send == [PullReq("req2", None)]  # never a push before the pull
    again = only_push(m.receive(PullRes((other(1),), "req2", "pull", 0)))
    assert again.request_id != lost.request_id
    assert [(e.seq_num, e.parent_seq_num) for e in again.batch] == [(2, 1)]


def test_identical_commits_are_confirmed_one_by_one_in_order() -> None:
    m = machine()
    live(m)
    t1, a1 = m.commit("v1.Same", {"v": 1})
    t2, _ = m.commit("v1.Same", {"v": 1})
    first = only_push(a1)
    out = m.receive(echo(first))
    assert [t for t, _ in out.resolved] == [t1]
    second = only_push(out)
    assert [t for t, _ in m.receive(echo(second)).resolved] == [t2]


def test_pushes_are_batched_fifty_at_a_time() -> None:
    m = machine()
    live(m)
    first: PushReq | None = None
    for i in range(120):
        _, actions = m.commit("v1.N", {"i": i})
        if actions.send:
            first = only_push(actions)
    assert first is not None and len(first.batch) == 1  # went out at once
    sizes = []
    push = first
    while True:
        out = m.receive(echo(push))
        if not out.send:
            break
        push = only_push(out)
        sizes.append(len(push.batch))
    assert sizes == [50, 50, 19]
    assert m.head == 120 and m.unconfirmed == 0


def test_args_are_normalised_through_json_so_echo_equality_holds() -> None:
    m = machine()
    live(m)
    token, actions = m.commit("v1.T", {"t": (1, 2)})
    push = only_push(actions)
    assert push.batch[0].args == {"t": [1, 2]}
    assert m.receive(echo(push)).resolved[0][0] == token


def test_non_json_args_are_refused() -> None:
    with pytest.raises(TypeError):
        machine().commit("v1.X", {"x": object()})


def test_server_going_back_in_time_is_fatal() -> None:
    m = machine()
    live(m, (other(1), other(2)))
    _, actions = m.commit("v1.Mine")
    push = only_push(actions)
    out = m.receive(
        Error(push.request_id, "Invalid parent event number. Received e2 but expected e0")
    )
    assert isinstance(out.fatal, SyncProtocolError)
    assert "e2 to e0" in str(out.fatal)


def test_other_push_errors_and_pull_errors_are_fatal() -> None:
    m = machine()
    live(m)
    _, actions = m.commit("v1.Mine")
    out = m.receive(Error(only_push(actions).request_id, "LiveStore.UnexpectedError: boom"))
    assert isinstance(out.fatal, SyncProtocolError) and "boom" in str(out.fatal)
    m2 = machine()
    pull = m2.connected().send[0]
    assert isinstance(pull, PullReq)
    assert m2.receive(Error(pull.request_id, "D1 down")).fatal is not None


def test_errors_for_unknown_requests_are_ignored() -> None:
    m = machine()
    live(m)
    assert m.receive(Error("long-gone", "late D1 error")) == Actions()


def test_pushed_events_carry_the_args_encoded_once_at_commit() -> None:
    m = machine()
    live(m)
    _, actions = m.commit("v1.T", {"t": (1, 2), "é": 1.5})
    event = only_push(actions).batch[0]
    assert event.args_json == '{"t":[1,2],"é":1.5}' == dumps(event.args)
    assert encode(only_push(actions)).count('{"t":[1,2],"é":1.5}') == 1


def test_pushes_near_the_frame_limit_are_split_by_exact_bytes() -> None:
    # Small frames force the exact sizing path; seqNum crosses 99 -> 100 (one more digit).
    limit = 2_000
    ids = (f"r{i}" for i in itertools.count())
    m = SyncMachine("me", "sess", head=95, max_frame_bytes=limit, request_id=lambda: next(ids))
    for i in range(40):
        m.commit("v1.N", {"blob": "é" * (50 + 17 * (i % 5))})
    push = only_push(live(m))
    pushes: list[PushReq] = []
    while True:
        pushes.append(push)
        assert frame_bytes(encode(push)) <= limit
        out = m.receive(echo(push))
        if not out.send:
            break
        push = only_push(out)
    assert len(pushes) > 3 and sum(len(p.batch) for p in pushes) == 40
    assert [e.seq_num for p in pushes for e in p.batch] == list(range(96, 136))
    assert m.head == 135 and m.unconfirmed == 0


def test_an_event_that_can_never_fit_is_refused_at_commit() -> None:
    m = SyncMachine("me", "sess", max_frame_bytes=2_000)
    with pytest.raises(ValueError, match="more than a push frame"):
        m.commit("v1.Big", {"blob": "x" * 1_900})
    assert m.unconfirmed == 0
    m.commit("v1.Ok", {"blob": "x" * 1_500})
    assert m.unconfirmed == 1
