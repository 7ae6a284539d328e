"""Sans-I/O client sync state machine for sync-cf 0.3.

Feed it what happened (connected, a decoded server frame, a local commit, disconnected);
it answers with :class:`Actions` (frames to send, events newly confirmed, commits resolved).
It never touches a socket or a clock, so every race is a plain unit test.

Invariants: ``head`` is the highest contiguous confirmed ``seqNum``; local commits wait in
``pending`` (commit order) and get their numbers only when pushed (``parent = head``), so a
rebase is a renumbering; one push is in flight at a time; own events are recognised in the
confirmed stream by origin + content, so a push whose ack was lost is never sent twice.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from runt_action.errors import SyncError, SyncProtocolError
from runt_action.livestore.events import Event
from runt_action.livestore.protocol import (
    MAX_INBOUND_FRAME_BYTES,
    PUSH_BATCH_MAX_EVENTS,
    ClientMessage,
    Error,
    PullReq,
    PullRes,
    PushAck,
    PushReq,
    ServerMessage,
    check_event_fits,
    dumps,
    event_json,
    frame_bytes,
    split_batch,
)

__all__ = ["Actions", "Phase", "SyncMachine", "new_request_id"]

Phase = Literal["offline", "pulling", "live"]

_PARENT_ERROR = re.compile(r"^Invalid parent event number\. Received e(\d+) but expected e(\d+)")


def new_request_id() -> str:
    """21 URL-safe characters, like the nanoids of the JS client."""
    return secrets.token_urlsafe(16)[:21]


@dataclass(slots=True)
class Actions:
    """What the driver must do after one input, in this order."""

    send: list[ClientMessage] = field(default_factory=list)
    confirmed: list[Event] = field(default_factory=list)  # apply to state, in order
    resolved: list[tuple[int, Event]] = field(default_factory=list)  # commit token -> event
    synced: bool = False  # a pull reached the head (remaining == 0)
    fatal: SyncError | None = None  # give up: the server cannot be synced with

    def extend(self, other: Actions) -> None:
        self.send.extend(other.send)
        self.confirmed.extend(other.confirmed)
        self.resolved.extend(other.resolved)
        self.synced = self.synced or other.synced
        self.fatal = self.fatal or other.fatal


@dataclass(slots=True)
class _Pending:
    token: int
    name: str
    args: Any
    args_json: str | None  # encoded once here, reused by every push of this event
    fixed_bytes: int  # wire size minus the digits of seqNum/parentSeqNum (rebase moves them)


def _digits(n: int) -> int:
    return len(str(n))


# Compact JSON we just encoded ourselves: no surrounding whitespace to strip.
_DECODER = json.JSONDecoder()
# Sequence numbers are < 2**63 (SQLite integers): at most 20 characters with a sign.
_MAX_DIGITS = 20
# Quick bounds keep this much room for the push envelope (~180 bytes with its slack), so
# only events or batches near the frame limit need exact sizing.
_FITS_MARGIN = 1024


@dataclass(slots=True)
class _InFlight:
    request_id: str
    count: int  # how many of the first pending events this push carries
    parent: int  # the head it was numbered on


class SyncMachine:
    def __init__(
        self,
        client_id: str,
        session_id: str,
        *,
        head: int = 0,
        max_batch_events: int = PUSH_BATCH_MAX_EVENTS,
        max_frame_bytes: int = MAX_INBOUND_FRAME_BYTES - 1,
        request_id: Callable[[], str] = new_request_id,
    ) -> None:
        self.client_id = client_id
        self.session_id = session_id
        self.head = head
        self.phase: Phase = "offline"
        self.ever_synced = False
        self._max_batch_events = max_batch_events
        self._max_frame_bytes = max_frame_bytes
        self._new_id = request_id
        self._pending: deque[_Pending] = deque()  # popped from the left as echoes arrive
        self._inflight: _InFlight | None = None
        self._pull_id: str | None = None
        self._stash: list[PullRes] = []
        self._next_token = 0

    # --- queries -----------------------------------------------------------------------

    @property
    def awaiting_response(self) -> bool:
        """A request is out whose answer must come (pull chunks or push ack)."""
        return self.phase == "pulling" or self._inflight is not None

    @property
    def unconfirmed(self) -> int:
        return len(self._pending)

    def pending(self) -> list[tuple[str, Any]]:
        """(name, args) of the local events not confirmed yet, in commit order."""
        return [(p.name, p.args) for p in self._pending]

    def last_committed(self) -> tuple[str, Any]:
        """(name, args) of the newest local commit, args normalised as the echo will be."""
        newest = self._pending[-1]
        return newest.name, newest.args

    @property
    def inflight_request_id(self) -> str | None:
        return self._inflight.request_id if self._inflight else None

    # --- inputs ------------------------------------------------------------------------

    def commit(self, name: str, args: Any = None, *, push: bool = True) -> tuple[int, Actions]:
        """Queue a local event; returns its token (resolved later) and what to send now.

        With ``push=False`` nothing is sent yet: the caller batches several commits and then
        calls :meth:`flush`, so events committed together travel in one push.
        Raises ValueError when ``args`` is not JSON or the event cannot fit in a frame.
        """
        # Encode once; the text is reused for sizing and every push of this event. Decoding
        # it back normalises (tuples, keys) so content equality with the echo is exact.
        args_json = None if args is None else dumps(args)
        args = None if args_json is None else _DECODER.raw_decode(args_json)[0]
        zero = event_json(name, args_json, 0, 0, self.client_id, self.session_id)
        fixed = frame_bytes(zero) - 2
        if fixed + 2 * _MAX_DIGITS > self._max_frame_bytes - _FITS_MARGIN:  # near the limit
            size = fixed + _digits(self.head + 1) + _digits(self.head)
            check_event_fits(name, size, self._max_frame_bytes)  # raises: could never be sent
        token = self._next_token
        self._next_token += 1
        self._pending.append(_Pending(token, name, args, args_json, fixed))
        return token, self.flush() if push else Actions()

    def flush(self) -> Actions:
        """Push what is pending, unless a push is in flight or we are not live yet."""
        if self.phase != "live" or self._inflight is not None:
            return Actions()
        return self._maybe_push()

    def connected(self) -> Actions:
        """A fresh socket is open: re-pull from the head before pushing anything."""
        self._inflight = None
        self._stash.clear()
        return self._start_pull()

    def disconnected(self) -> None:
        """The socket is gone; an unacked push is retried after the next pull."""
        self.phase = "offline"
        self._inflight = None
        self._pull_id = None
        self._stash.clear()

    def receive(self, msg: ServerMessage) -> Actions:
        if isinstance(msg, PullRes):
            return self._on_pull_res(msg)
        if isinstance(msg, PushAck):
            return Actions()  # confirmation comes with the broadcast that follows
        if isinstance(msg, Error):
            return self._on_error(msg)
        return Actions()

    # --- internals ---------------------------------------------------------------------

    def _start_pull(self) -> Actions:
        self.phase = "pulling"
        self._pull_id = self._new_id()
        cursor = self.head if self.head > 0 else None
        return Actions(send=[PullReq(self._pull_id, cursor)])

    def _on_pull_res(self, msg: PullRes) -> Actions:
        if msg.context == "push":
            if self.phase == "pulling":
                self._stash.append(msg)
                return Actions()
            if self.phase == "offline":
                return Actions()
            return self._on_broadcast(msg)
        if self.phase != "pulling" or msg.request_id != self._pull_id:
            return Actions()  # an answer to a pull we abandoned
        actions = Actions()
        for event in msg.batch:
            # The server's log is the truth: accept holes it really has, never loop on them.
            if event.seq_num > self.head:
                self._accept(event, actions)
        if msg.remaining == 0:
            self.phase = "live"
            self._pull_id = None
            self.ever_synced = True
            actions.synced = True
            stash, self._stash = self._stash, []
            for broadcast in stash:
                actions.extend(self._on_broadcast(broadcast))
                if self.phase != "live":  # a gap started another pull
                    return actions
            actions.extend(self._maybe_push())
        return actions

    def _on_broadcast(self, msg: PullRes) -> Actions:
        actions = Actions()
        for event in msg.batch:
            if event.seq_num <= self.head:
                continue  # already have it (own echo after a pull, duplicate broadcast)
            if event.seq_num != self.head + 1:
                actions.extend(self._start_pull())  # gap: we missed something
                return actions
            self._accept(event, actions)
        actions.extend(self._maybe_push())
        return actions

    def _accept(self, event: Event, actions: Actions) -> None:
        self.head = event.seq_num
        actions.confirmed.append(event)
        if self._pending:
            first = self._pending[0]
            if (
                event.client_id == self.client_id
                and event.session_id == self.session_id
                and event.name == first.name
                and event.args == first.args
            ):
                self._pending.popleft()
                actions.resolved.append((first.token, event))
                if self._inflight is not None:
                    self._inflight.count -= 1
                    if self._inflight.count <= 0:
                        self._inflight = None

    def _on_error(self, msg: Error) -> Actions:
        if self._inflight is not None and msg.request_id == self._inflight.request_id:
            parent = self._inflight.parent
            self._inflight = None
            match = _PARENT_ERROR.match(msg.message)
            if match is None and not msg.message.startswith("Invalid parent event number"):
                return Actions(
                    fatal=SyncProtocolError(f"the sync server rejected a push: {msg.message}")
                )
            expected = int(match.group(2)) if match else self.head + 1
            if expected > self.head:
                return self._start_pull()  # rebase after the pull: numbers come from the head
            if expected < self.head and parent == self.head:
                return Actions(
                    fatal=SyncProtocolError(
                        f"the sync server's log went back from e{self.head} to e{expected} "
                        "(was it reset?); refusing to continue"
                    )
                )
            return self._maybe_push()  # caught up through broadcasts: renumber and re-push
        if self.phase == "pulling" and msg.request_id == self._pull_id:
            return Actions(fatal=SyncProtocolError(f"the sync server failed a pull: {msg.message}"))
        return Actions()  # e.g. a late storage error for an already-confirmed push

    def _maybe_push(self) -> Actions:
        if self.phase != "live" or self._inflight is not None or not self._pending:
            return Actions()
        numbered: list[Event] = []
        sizes: list[int] = []
        client_id, session_id = self.client_id, self.session_id
        for i, item in enumerate(islice(self._pending, self._max_batch_events)):
            seq = self.head + 1 + i
            numbered.append(
                Event(
                    item.name, item.args, seq, seq - 1, client_id, session_id, None, item.args_json
                )
            )
            sizes.append(item.fixed_bytes)
        bound = sum(sizes) + len(sizes) * (2 * _MAX_DIGITS + 1)
        if bound <= self._max_frame_bytes - _FITS_MARGIN:
            batch = numbered  # fits whatever the numbers; the usual case, no exact sizing
        else:
            sizes = [
                f + _digits(e.seq_num) + _digits(e.parent_seq_num)
                for f, e in zip(sizes, numbered, strict=True)
            ]
            batch = split_batch(
                numbered, self._max_frame_bytes, self._max_batch_events, sizes=sizes
            )[0]
        rid = self._new_id()
        self._inflight = _InFlight(rid, len(batch), self.head)
        return Actions(send=[PushReq(rid, tuple(batch))])
