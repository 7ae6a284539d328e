"""Concurrent clients push random valid and invalid batches at one store; whatever the mix,
the log ends contiguous and holds exactly the events that were acknowledged (issue #20)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livestore_helpers import ws_url

from runt_action.livestore import SyncServer
from runt_action.livestore.protocol import MAX_ARGS_DEPTH, PING_TEXT, PONG_TEXT, dumps

SEED = 20
CLIENTS = 4
ROUNDS = 60
STORE = "fuzz"
SURROGATE = "\ud800"

# What the server does with each kind of batch.
ACCEPTED = "accepted"  # acked when its parent is the head by then, else an Error
REFUSED = "refused"  # always an Error
DROPPED = "dropped"  # the frame does not decode: no answer at all


def valid_args(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 12 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**62), 2**62)
    if choice == 3:
        return rng.choice([0.1, -2.5e-300, 1.7976931348623157e308, 3.0])
    if choice in (4, 5):
        alphabet = 'aé\u2028"\\/\n😀\u0000z'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
    if choice in (6, 7):
        return {
            f"k{i}{rng.choice('é😀')}": valid_args(rng, depth + 1) for i in range(rng.randrange(4))
        }
    return [valid_args(rng, depth + 1) for _ in range(rng.randrange(4))]


@dataclass
class Client:
    index: int
    rng: random.Random
    head: int = 0  # what this client believes the head is
    acked: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    last_batch: list[dict[str, Any]] = field(default_factory=list)

    def event(self, seq: int, parent: int | None = None, args: Any = "random") -> dict[str, Any]:
        event: dict[str, Any] = {"name": f"v1.Fuzz{self.rng.randrange(3)}"}
        value = valid_args(self.rng) if args == "random" else args
        if value is not None:
            event["args"] = value
        event.update(
            seqNum=seq,
            parentSeqNum=seq - 1 if parent is None else parent,
            clientId=f"client-{self.index}",
            sessionId=f"session-{self.index}",
        )
        return event

    def chain(self, count: int) -> list[dict[str, Any]]:
        return [self.event(self.head + 1 + i) for i in range(count)]

    def batch(self) -> tuple[str, list[dict[str, Any]], str | None]:
        """A kind, a batch, and raw JSON text to put in place of the ``"@RAW@"`` args."""
        rng = self.rng
        kind = rng.choice(
            [
                "valid",
                "valid",
                "valid",
                "stale",
                "ahead",
                "gap",
                "duplicate",
                "repeat",
                "surrogate-args",
                "surrogate-name",
                "surrogate-later",
                "nan",
                "1e400",
                "too-deep",
                "100k-deep",
                "big-seq",
                "float-seq",
                "negative",
            ]
        )
        n = rng.randrange(1, 6)
        raw: str | None = None
        if kind == "valid":
            batch = self.chain(n)
        elif kind == "stale":  # a chain one behind the head
            batch = [self.event(self.head + i) for i in range(n)]
        elif kind == "ahead":
            batch = [self.event(self.head + 3 + i) for i in range(n)]
        elif kind == "gap":
            batch = self.chain(n + 1)
            batch[-1]["seqNum"] += 1
            batch[-1]["parentSeqNum"] += 1
        elif kind == "duplicate":
            batch = self.chain(n)
            batch.append(dict(batch[-1]))
        elif kind == "repeat":
            batch = self.last_batch or self.chain(n)
            kind = "valid" if not self.last_batch else kind
        elif kind == "surrogate-args":
            batch = self.chain(n)
            batch[rng.randrange(n)]["args"] = {"t": "ok" + SURROGATE}
        elif kind == "surrogate-name":
            batch = self.chain(n)
            batch[rng.randrange(n)][rng.choice(["name", "clientId", "sessionId"])] = SURROGATE
        elif kind == "surrogate-later":
            batch = self.chain(n + 1)
            batch[-1]["args"] = [SURROGATE]
        elif kind == "nan":
            batch = self.chain(n)
            batch[-1]["args"] = {"x": rng.choice([float("nan"), float("inf"), float("-inf")])}
        elif kind == "1e400":
            batch = self.chain(n)
            batch[0]["args"] = "@RAW@"
            raw = "[1e400]"
        elif kind == "too-deep":
            batch = self.chain(n)
            batch[0]["args"] = "@RAW@"
            depth = MAX_ARGS_DEPTH + 1 + rng.randrange(200)
            raw = "[" * depth + "]" * depth
        elif kind == "100k-deep":
            batch = self.chain(n)
            batch[0]["args"] = "@RAW@"
            raw = "{" + '"a":{' * 100_000 + "}" * 100_001
        elif kind == "big-seq":
            batch = [self.event(2**63 + i, 2**63 - 1 + i) for i in range(n)]
        elif kind == "float-seq":
            batch = self.chain(n)
            batch[0]["seqNum"] = float(batch[0]["seqNum"])
        else:  # negative
            batch = [self.event(-1 - i, -2 - i) for i in range(n)]
        return kind, batch, raw


def expectation(kind: str) -> str:
    # "ahead" is only ahead of what its client has heard: the others may have got there.
    if kind in ("valid", "ahead"):
        return ACCEPTED
    if kind in ("nan", "100k-deep", "float-seq"):
        return DROPPED
    return REFUSED


async def run_client(client: Client, ws: aiohttp.ClientWebSocketResponse) -> None:
    for round_ in range(ROUNDS):
        kind, batch, raw = client.batch()
        rid = f"c{client.index}-r{round_}"
        # ASCII-escaped, so lone surrogates travel as \ud800 and NaN as a bare literal.
        frame = json.dumps(
            {"_tag": "WSMessage.PushReq", "requestId": rid, "batch": batch}, allow_nan=True
        )
        if raw is not None:
            frame = frame.replace('"@RAW@"', raw, 1)
        await ws.send_str(frame)
        await ws.send_str(PING_TEXT)
        answer: str | None = None
        while True:  # every answer to our push comes before the Pong to our ping
            msg = await ws.receive(timeout=10)
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            if msg.data == PONG_TEXT:
                break
            data = json.loads(msg.data)
            if data["_tag"] == "WSMessage.PullRes":
                client.head = max(client.head, data["batch"][-1]["eventEncoded"]["seqNum"])
            elif data["requestId"] == rid:
                assert answer is None, (kind, data)
                answer = data["_tag"]
        expected = expectation(kind)
        if expected == DROPPED:
            assert answer is None, (kind, answer)
        elif expected == REFUSED:
            assert answer == "WSMessage.Error", (kind, answer)
        else:
            assert answer in ("WSMessage.PushAck", "WSMessage.Error"), (kind, answer)
        if answer == "WSMessage.PushAck":
            client.acked.extend(batch)
            client.last_batch = batch
        outcome = f"{kind}:{answer}"
        client.outcomes[outcome] = client.outcomes.get(outcome, 0) + 1


async def test_random_concurrent_pushes_leave_a_contiguous_log_of_what_was_acked(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    seeds = random.Random(SEED)
    clients = [Client(i, random.Random(seeds.getrandbits(64))) for i in range(CLIENTS)]
    db = tmp_path / "fuzz.db"
    server = SyncServer(db)
    await server.start()
    try:
        sockets = [await http.ws_connect(ws_url(server, STORE)) for _ in clients]
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(
                    *(run_client(c, ws) for c, ws in zip(clients, sockets, strict=True))
                )
        finally:
            for ws in sockets:
                await ws.close()
        replayed = [e.to_wire() for e in server.events_of(STORE)]
    finally:
        await server.stop()

    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            f"SELECT seqNum, parentSeqNum, name, args, clientId, sessionId FROM eventlog_7_{STORE} "
            "ORDER BY seqNum"
        ).fetchall()
    finally:
        con.close()
    head = len(rows)
    assert [r[0] for r in rows] == list(range(1, head + 1))  # contiguous 1..head
    assert all(parent == seq - 1 for seq, parent, *_ in rows)
    acked = {e["seqNum"]: e for c in clients for e in c.acked}
    assert sorted(acked) == list(range(1, head + 1))  # stored = acknowledged, no more
    for seq, _, name, args, client_id, session_id in rows:
        pushed = acked[seq]
        assert (name, client_id, session_id) == (
            pushed["name"],
            pushed["clientId"],
            pushed["sessionId"],
        )
        assert args == (dumps(pushed["args"]) if "args" in pushed else None)
    assert replayed == [acked[seq] for seq in range(1, head + 1)]
    outcomes: dict[str, int] = {}
    for c in clients:
        for key, count in c.outcomes.items():
            outcomes[key] = outcomes.get(key, 0) + count
    # The mix really exercised both sides (fixed by the seed, whatever the interleaving).
    assert outcomes.get("valid:WSMessage.PushAck", 0) >= 10, outcomes
    assert sum(n for k, n in outcomes.items() if k.endswith("WSMessage.Error")) >= 50, outcomes
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
