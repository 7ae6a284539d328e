"""Model check of the sync state machine: random interleavings, drops and reconnects.

A few-line in-memory sync-cf (parent check, ack, broadcast to all, chunked pull) stands in
for the network so hypothesis can explore orderings no socket test would hit.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runt_action.livestore.events import Event
from runt_action.livestore.protocol import (
    ClientMessage,
    Error,
    PullReq,
    PullRes,
    PushAck,
    PushReq,
    ServerMessage,
)
from runt_action.livestore.sync import Actions, SyncMachine

CHUNK = 3


@dataclass
class Peer:
    machine: SyncMachine
    up: deque[ClientMessage] = field(default_factory=deque)
    down: deque[ServerMessage] = field(default_factory=deque)
    online: bool = False
    log: list[Event] = field(default_factory=list)
    resolved: dict[int, Event] = field(default_factory=dict)
    committed: list[int] = field(default_factory=list)  # tokens, commit order

    def act(self, actions: Actions) -> None:
        assert actions.fatal is None, actions.fatal
        if self.online:
            self.up.extend(actions.send)
        self.log.extend(actions.confirmed)
        for token, event in actions.resolved:
            assert token not in self.resolved, "resolved twice"
            self.resolved[token] = event


class World:
    def __init__(self, n: int) -> None:
        ids = (f"r{i}" for i in itertools.count())
        self.log: list[Event] = []
        self.peers = [
            Peer(SyncMachine(f"c{i}", "s", max_batch_events=4, request_id=lambda: next(ids)))
            for i in range(n)
        ]

    def connect(self, p: Peer) -> None:
        p.online = True
        p.act(p.machine.connected())

    def drop(self, p: Peer) -> None:
        p.online = False
        p.up.clear()
        p.down.clear()
        p.machine.disconnected()

    def server_step(self, p: Peer) -> None:
        msg = p.up.popleft()
        if isinstance(msg, PullReq):
            rest = [e for e in self.log if e.seq_num > (msg.cursor or 0)]
            chunks = [rest[i : i + CHUNK] for i in range(0, len(rest), CHUNK)] or [[]]
            for i, chunk in enumerate(chunks):
                remaining = max(0, len(rest) - (i + 1) * CHUNK)
                p.down.append(PullRes(tuple(chunk), msg.request_id, "pull", remaining))
        elif isinstance(msg, PushReq):
            head = self.log[-1].seq_num if self.log else 0
            if msg.batch and msg.batch[0].parent_seq_num != head:
                p.down.append(
                    Error(
                        msg.request_id,
                        "Invalid parent event number. "
                        f"Received e{msg.batch[0].parent_seq_num} but expected e{head}",
                    )
                )
                return
            for i, e in enumerate(msg.batch):
                assert e.seq_num == head + 1 + i and e.parent_seq_num == e.seq_num - 1
            self.log.extend(msg.batch)
            p.down.append(PushAck(msg.request_id))
            for other in self.peers:
                if other.online:
                    other.down.append(PullRes(msg.batch, msg.request_id, "push", 0))

    def client_step(self, p: Peer) -> None:
        p.act(p.machine.receive(p.down.popleft()))

    def quiesce(self) -> None:
        for p in self.peers:
            if not p.online:
                self.connect(p)
        while any(p.up or p.down for p in self.peers):
            for p in self.peers:
                if p.up:
                    self.server_step(p)
                if p.down:
                    self.client_step(p)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_random_schedules_converge_exactly_once(data: st.DataObject) -> None:
    world = World(data.draw(st.integers(2, 3)))
    for p in world.peers:
        world.connect(p)
    for _ in range(data.draw(st.integers(10, 120))):
        p = data.draw(st.sampled_from(world.peers))
        op = data.draw(st.sampled_from(["commit", "commit", "up", "down", "down", "drop"]))
        if op == "commit":
            token, actions = p.machine.commit(
                "v1.N", {"by": p.machine.client_id, "n": len(p.committed)}
            )
            p.committed.append(token)
            p.act(actions)
        elif op == "up" and p.up:
            world.server_step(p)
        elif op == "down" and p.down:
            world.client_step(p)
        elif op == "drop":
            if p.online:
                world.drop(p)
            else:
                world.connect(p)
    world.quiesce()

    assert [e.seq_num for e in world.log] == list(range(1, len(world.log) + 1))
    total = sum(len(p.committed) for p in world.peers)
    assert len(world.log) == total  # nothing lost, nothing doubled
    for p in world.peers:
        assert p.log == world.log
        assert p.machine.head == len(world.log) and p.machine.unconfirmed == 0
        assert sorted(p.resolved) == sorted(p.committed)
        mine = [e.args["n"] for e in world.log if e.client_id == p.machine.client_id]
        assert mine == list(range(len(p.committed)))  # commit order kept
        assert [p.resolved[t].args["n"] for t in p.committed] == mine
