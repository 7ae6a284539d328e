"""Embedded sync server that speaks sync-cf 0.3 exactly like anode's Cloudflare backend.

One room per store (the Durable Object), one writer head per room, events persisted in
SQLite (one ``eventlog_7_<store>`` table per store, like the D1 layout) so a restart loses
nothing. Frames go out through one queue per socket, so every socket sees acks and
broadcasts in the order the room decided them, as the single-threaded DO guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import re
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from runt_action.livestore.auth import OriginPolicy, same_secret
from runt_action.livestore.events import Event
from runt_action.livestore.outbox import DEFAULT_MAXSIZE, Frames, Outbox
from runt_action.livestore.protocol import (
    MAX_INBOUND_FRAME_BYTES,
    PING_TEXT,
    PONG_TEXT,
    PULL_CHUNK_SIZE,
    AdminInfoReq,
    AdminInfoRes,
    AdminResetRoomReq,
    AdminResetRoomRes,
    Error,
    Ping,
    PullReq,
    PushAck,
    PushReq,
    QueryDecodeError,
    ServerMessage,
    decode_client,
    decode_query,
    encode,
    event_args_json,
    event_json,
    frame_bytes,
    metadata_json,
    pull_item_json,
    pull_res_json,
)

__all__ = ["PushHook", "Scrubber", "SyncServer", "serve_forever", "table_name", "token_validator"]

log = logging.getLogger(__name__)

PERSISTENCE_FORMAT_VERSION = 7
_CLOSE_REASON = b"Durable Object is closing WebSocket"
# aiohttp buffers a whole frame before we can look at it; past this it closes by itself.
_READ_LIMIT = 64 * 1024 * 1024
_MAX_SEQ = 2**63 - 1  # SQLite's largest integer: "no upper bound" for a read

PayloadValidator = Callable[[Any], Awaitable[None] | None]
PushHook = Callable[[str, Sequence[Event]], None]
# Maps an event's args JSON text to the text to persist (secrets replaced); must stay JSON.
Scrubber = Callable[[str], str]
# What is persisted instead of args the scrubber failed on or turned into invalid JSON.
_UNSCRUBBABLE = '"[not persisted: the args could not be scrubbed]"'
# seqNum, parentSeqNum, name, args (JSON text or NULL), createdAt, clientId, sessionId
_Row = tuple[int, int, str, str | None, str, str, str]

_log = logging.getLogger(__name__)


def table_name(store_id: str) -> str:
    """D1 table of a store; sanitizing collides (``a-b`` and ``a_b``) exactly like upstream."""
    return f"eventlog_{PERSISTENCE_FORMAT_VERSION}_" + re.sub(r"[^a-zA-Z0-9]", "_", store_id)


def _iso_now() -> str:
    """``new Date().toISOString()``: milliseconds and a ``Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _unexpected(cause: str) -> str:
    return (
        f'LiveStore.UnexpectedError: {{ "cause": Error: {cause}, '
        '"note": undefined, "payload": undefined }'
    )


class _EventLog:
    """SQLite event tables with the D1 DDL; the head is the table's max seqNum.

    With a ``scrub`` function and a file, each event's args text is scrubbed before it is
    written, so no secret value is ever at rest; the raw text of the events the scrubber
    changed is kept in memory only (``_raw``), and every read (pulls, :meth:`events`) puts it
    back, so clients of this server see exactly what was pushed. After a restart only the
    scrubbed text is left, which is the point.
    """

    def __init__(self, db_path: Path | None, scrub: Scrubber | None = None) -> None:
        self._db = sqlite3.connect(":memory:" if db_path is None else str(db_path))
        if db_path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._known: set[str] = set()
        self._scrub = scrub if db_path is not None else None  # in memory: nothing at rest
        self._raw: dict[str, dict[int, str]] = {}  # table -> seqNum -> raw args text

    def ensure(self, table: str) -> None:
        if table in self._known:
            return
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ('seqNum' integer not null, "
            "'parentSeqNum' integer not null, 'name' text not null, 'args' text, "
            "'createdAt' text not null, 'clientId' text not null, 'sessionId' text not null, "
            "PRIMARY KEY ('seqNum')) strict"
        )
        self._db.commit()
        self._known.add(table)

    def head(self, table: str) -> int:
        self.ensure(table)
        row = self._db.execute(f"SELECT MAX(seqNum) FROM {table}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def append(self, table: str, rows: Sequence[_Row]) -> None:
        """One ``executemany`` and one commit per pushed batch."""
        if self._scrub is not None:
            rows = [self._scrubbed(table, row) for row in rows]
        self._db.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self._db.commit()

    def _scrubbed(self, table: str, row: _Row) -> _Row:
        assert self._scrub is not None
        seq, parent, name, args, at, cid, sid = row
        if args is None:
            return row
        try:
            clean = self._scrub(args)
        except Exception:
            log.warning(
                "sync server: the scrubber failed on e%d %s; its args are not persisted",
                seq,
                name,
                exc_info=True,
            )
            clean = _UNSCRUBBABLE
        if clean == args:
            return row
        try:
            json.loads(clean)
        except ValueError:
            log.warning(
                "sync server: scrubbing e%d %s left invalid JSON; its args are not persisted",
                seq,
                name,
            )
            clean = _UNSCRUBBABLE
        self._raw.setdefault(table, {})[seq] = args
        return (seq, parent, name, clean, at, cid, sid)

    def count(self, table: str, after: int | None, upto: int) -> int:
        self.ensure(table)
        row = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE seqNum > ? AND seqNum <= ?",
            (after if after is not None else -1, upto),
        ).fetchone()
        return int(row[0]) if row else 0

    def rows(self, table: str, after: int | None, upto: int, limit: int = -1) -> list[_Row]:
        """Rows with ``after < seqNum <= upto`` in order, raw args put back where scrubbed."""
        self.ensure(table)
        rows: list[_Row] = self._db.execute(
            "SELECT seqNum, parentSeqNum, name, args, createdAt, clientId, sessionId "
            f"FROM {table} WHERE seqNum > ? AND seqNum <= ? ORDER BY seqNum ASC LIMIT ?",
            (after if after is not None else -1, upto, limit),
        ).fetchall()
        raw = self._raw.get(table)
        if raw:
            rows = [(seq, p, n, raw.get(seq, args), at, c, s) for seq, p, n, args, at, c, s in rows]
        return rows

    @staticmethod
    def items(rows: Sequence[_Row]) -> list[str]:
        """Encoded pull items straight from the rows: the stored args text is the wire text.

        The server wrote that text with ``protocol.dumps``, so it is reused as is, and a pull
        decodes and re-encodes nothing.
        """
        return [
            pull_item_json(event_json(name, args, seq, parent, cid, sid), metadata_json(at))
            for seq, parent, name, args, at, cid, sid in rows
        ]

    def tables(self) -> list[str]:
        """Every event table in the database (stores from earlier runs included)."""
        prefix = f"eventlog_{PERSISTENCE_FORMAT_VERSION}_"
        rows = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
            (prefix + "%",),
        ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def reset(self, table: str) -> None:
        self.ensure(table)
        self._db.execute(f"DELETE FROM {table}")
        self._db.commit()
        self._raw.pop(table, None)

    def close(self) -> None:
        self._db.close()


@dataclass(eq=False, slots=True)
class _Peer:
    """One accepted socket and its outbox (one writer task, bounded queue)."""

    ws: web.WebSocketResponse
    request: web.Request
    store_id: str
    outbox_size: int = DEFAULT_MAXSIZE
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(
            self.ws.send_str,
            maxsize=self.outbox_size,
            name=f"livestore-server-writer:{self.store_id}",
        )

    def send(self, msg: ServerMessage | Frames) -> None:
        """Queue in room order; a peer too slow to take it is cut (it re-pulls on reconnect)."""
        if self.outbox.closed:
            return
        item = encode(msg) if isinstance(msg, ServerMessage) else msg
        if not self.outbox.offer(item):
            log.warning(
                "sync server: a client of store %r has %d frames waiting; dropping its socket "
                "(it reconnects and pulls what it missed)",
                self.store_id,
                self.outbox.qsize(),
            )
            self.outbox.abort()
            self.abort()

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass(eq=False, slots=True)
class _Room:
    table: str
    head: int
    peers: set[_Peer] = field(default_factory=set)


class SyncServer:
    """Serve ``/livestore*`` websocket upgrades; ``url`` is the base clients append to.

    ``token``: every client must send it as ``payload.authToken`` (compared in constant time);
    None only for tests and ``serve --no-auth``. Every upgrade must also pass the
    Origin/Host rule (:class:`~runt_action.livestore.auth.OriginPolicy`): a browser page of
    another origin, or a DNS-rebound name, is refused before anything is read.

    ``db_path=None`` keeps the log in memory. With a file, ``scrub`` (if given) is applied to
    each event's args JSON before it is written, while live clients still get raw events.
    ``app`` takes extra routes before :meth:`start`; push listeners see every persisted batch
    (for server-side views), and :meth:`events_of` replays a store's log. ``outbox_size``
    bounds the frames queued per socket: a client that falls that far behind is cut and
    re-pulls when it reconnects.
    """

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validate_payload: PayloadValidator | None = None,
        admin_secret: str | None = None,
        on_push: PushHook | None = None,
        scrub: Scrubber | None = None,
        outbox_size: int = DEFAULT_MAXSIZE,
        token: str | None = None,
        extra_hosts: Sequence[str] = (),
    ) -> None:
        self._db_path = db_path
        self._token = token
        self._extra_hosts = tuple(extra_hosts)
        self.origin_policy = OriginPolicy.for_bind(host, port, extra_hosts)
        self._outbox_size = outbox_size
        self._host = host
        self._port = port
        self._validate_payload = validate_payload
        self._admin_secret = admin_secret
        self._scrub = scrub
        self._push_listeners: list[PushHook] = [] if on_push is None else [on_push]
        self._log: _EventLog | None = None
        self._rooms: dict[str, _Room] = {}
        self._peers: set[_Peer] = set()
        self._runner: web.AppRunner | None = None
        self._store_ids: dict[str, str] = {}  # table -> store id, as pushed or pulled
        self.url = ""
        self.app = web.Application()
        """The aiohttp application; add routes before :meth:`start` (``/livestore*`` is ours)."""
        self.app.router.add_route("*", "/livestore{tail:.*}", self._handle)

    @property
    def port(self) -> int:
        return self._port

    @property
    def token(self) -> str | None:
        """The token clients must send (None: an unauthenticated server)."""
        return self._token

    def refusal(self, request: web.Request) -> web.Response | None:
        """A 403 for a request whose Host or Origin this server does not answer, else None."""
        reason = self.origin_policy.refusal(
            request.headers.get("Host"), request.headers.get("Origin")
        )
        if reason is None:
            return None
        return web.Response(status=403, text=f"403: {reason}\n")

    def add_push_listener(self, listener: PushHook) -> None:
        """Call ``listener(store_id, events)`` after each persisted push, in room order.

        Events carry ``created_at`` and raw args. A listener that raises is logged and never
        breaks the push or the other listeners.
        """
        self._push_listeners.append(listener)

    def remove_push_listener(self, listener: PushHook) -> None:
        self._push_listeners.remove(listener)

    def events_of(self, store_id: str) -> list[Event]:
        """A store's log replayed from this server's own storage, in seqNum order.

        Raw args where this server saw them pushed; after a restart with a scrubber, the
        scrubbed text that was persisted.
        """
        if self._log is None:
            raise RuntimeError("the sync server is not started")
        table = table_name(store_id)
        return [
            Event(
                name,
                None if args is None else json.loads(args),
                seq,
                parent,
                cid,
                sid,
                at,
                args,
            )
            for seq, parent, name, args, at, cid, sid in self._log.rows(table, None, _MAX_SEQ)
        ]

    async def start(self) -> None:
        self._log = _EventLog(self._db_path, self._scrub)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)  # asyncio's or another loop's Server
        assert sockets, "the site did not open a listening socket"
        self._port = int(sockets[0].getsockname()[1])
        self.origin_policy = OriginPolicy.for_bind(self._host, self._port, self._extra_hosts)
        shown = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        self.url = f"ws://{shown}:{self._port}/livestore"

    async def stop(self) -> None:
        for peer in list(self._peers):
            peer.outbox.abort()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await peer.ws.close(code=1001, message=b"server shutting down")
            peer.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._rooms.clear()

    def store_ids(self) -> list[str]:
        """The stores in the log: ids seen on a socket since start, and for tables from an
        earlier run the table's suffix (the id itself for runt's dash-free notebook ids)."""
        if self._log is None:
            return []
        prefix = f"eventlog_{PERSISTENCE_FORMAT_VERSION}_"
        return [self._store_ids.get(t, t[len(prefix) :]) for t in self._log.tables()]

    def abort_connections(self) -> None:
        """Cut every socket without a close frame (a network failure, for fault tests)."""
        for peer in list(self._peers):
            peer.abort()

    # --- HTTP handshake ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        try:
            store_id, payload = decode_query(request.rel_url.raw_query_string)
        except QueryDecodeError as exc:
            return web.Response(status=500, text=str(exc))
        if self._token is not None:
            given = payload.get("authToken") if isinstance(payload, dict) else None
            if not isinstance(given, str) or not same_secret(given, self._token):
                return web.Response(status=400, text=_unexpected("Invalid auth token"))
        if self._validate_payload is not None:
            try:
                result = self._validate_payload(payload)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                return web.Response(status=400, text=_unexpected(str(exc)))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=426, text="Durable Object expected Upgrade: websocket")
        ws = web.WebSocketResponse(
            autoclose=False, autoping=True, compress=False, max_msg_size=_READ_LIMIT, timeout=2.0
        )
        await ws.prepare(request)
        await self._serve_socket(_Peer(ws, request, store_id, self._outbox_size))
        return ws

    def _room(self, store_id: str) -> _Room:
        assert self._log is not None
        table = table_name(store_id)
        self._store_ids.setdefault(table, store_id)
        room = self._rooms.get(table)
        if room is None:
            room = self._rooms[table] = _Room(table, self._log.head(table))
        return room

    async def _serve_socket(self, peer: _Peer) -> None:
        room = self._room(peer.store_id)
        room.peers.add(peer)
        self._peers.add(peer)
        try:
            while True:
                msg = await peer.ws.receive()  # not `async for`: it hides the CLOSE frame
                if msg.type is WSMsgType.TEXT:
                    text: str = msg.data
                    size = frame_bytes(text)
                    if size > MAX_INBOUND_FRAME_BYTES:
                        peer.outbox.close()
                        await peer.ws.close(
                            code=1009,
                            message=f"Message is too large: {size} > "
                            f"{MAX_INBOUND_FRAME_BYTES}".encode(),
                        )
                        break
                    self._on_text(peer, room, text)
                elif msg.type is WSMsgType.CLOSE:
                    peer.outbox.close()
                    await peer.ws.close(code=int(msg.data), message=_CLOSE_REASON)
                    break
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    break
        finally:
            room.peers.discard(peer)
            self._peers.discard(peer)
            peer.outbox.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await peer.outbox.wait_closed()
            peer.outbox.abort()  # still stuck in a send after a second: give up on it
            await peer.outbox.wait_closed()

    # --- messages (synchronous: the room's order is the order of these calls) ---------

    def _on_text(self, peer: _Peer, room: _Room, text: str) -> None:
        if text == PING_TEXT:
            peer.send(PONG_TEXT)  # the runtime auto-response: byte-exact only
            return
        msg = decode_client(text)
        if msg is None:
            return  # upstream logs "Invalid message received" and answers nothing
        if isinstance(msg, PullReq):
            self._pull(peer, room, msg)
        elif isinstance(msg, PushReq):
            self._push(peer, room, msg)
        elif isinstance(msg, Ping):
            # A Ping that is not byte-exact reaches the DO's `shouldNeverHappen` branch.
            peer.send(Error("ping", "This should never happen: undefined"))
        elif isinstance(msg, AdminInfoReq | AdminResetRoomReq):
            self._admin(peer, room, msg)

    def _pull(self, peer: _Peer, room: _Room, msg: PullReq) -> None:
        """Answer up to the head as it is now; the chunks are read as the writer drains."""
        assert self._log is not None
        try:
            total = self._log.count(room.table, msg.cursor, room.head)
        except sqlite3.Error as exc:
            peer.send(Error(msg.request_id, _unexpected(str(exc))))
            return
        if total == 0:
            peer.send(pull_res_json([], msg.request_id, "pull", 0))
        else:
            peer.send(self._pull_chunks(room.table, msg, room.head, total))

    def _pull_chunks(self, table: str, msg: PullReq, upto: int, total: int) -> Iterator[str]:
        """PullRes frames of ``PULL_CHUNK_SIZE`` events; the last one says ``remaining: 0``."""
        after, sent = msg.cursor, 0
        while True:
            if self._log is None:
                return  # the server stopped
            try:
                rows = self._log.rows(table, after, upto, PULL_CHUNK_SIZE)
            except sqlite3.Error as exc:
                yield encode(Error(msg.request_id, _unexpected(str(exc))))
                return
            sent += len(rows)
            # Fewer rows than a chunk (the room was reset meanwhile): this is the last one.
            last = len(rows) < PULL_CHUNK_SIZE or sent >= total
            remaining = 0 if last else total - sent
            yield pull_res_json(self._log.items(rows), msg.request_id, "pull", remaining)
            if last:
                return
            after = rows[-1][0]

    def _push(self, peer: _Peer, room: _Room, msg: PushReq) -> None:
        assert self._log is not None
        batch = msg.batch
        if not batch:
            peer.send(PushAck(msg.request_id))
            return
        first = batch[0]
        if first.parent_seq_num != room.head:
            peer.send(
                Error(
                    msg.request_id,
                    f"Invalid parent event number. Received e{first.parent_seq_num} "
                    f"but expected e{room.head}",
                )
            )
            return
        # Stricter than upstream (which acks and then fails in D1): numbers must chain.
        for offset, event in enumerate(batch):
            if event.seq_num != room.head + 1 + offset or event.parent_seq_num != event.seq_num - 1:
                peer.send(
                    Error(
                        msg.request_id,
                        f"Invalid event number. Received e{event.seq_num} (parent "
                        f"e{event.parent_seq_num}) but expected e{room.head + 1 + offset}",
                    )
                )
                return
        created_at = _iso_now()
        # Each event's args are encoded exactly once, for the broadcast and the log alike.
        rows: list[_Row] = []
        items: list[str] = []
        metadata = metadata_json(created_at)
        for e in batch:
            args = event_args_json(e)
            rows.append(
                (e.seq_num, e.parent_seq_num, e.name, args, created_at, e.client_id, e.session_id)
            )
            items.append(
                pull_item_json(
                    event_json(
                        e.name, args, e.seq_num, e.parent_seq_num, e.client_id, e.session_id
                    ),
                    metadata,
                )
            )
        room.head = batch[-1].seq_num
        # Committed before any frame is sent (peer.send writes at once), so an ack never
        # reaches a socket before its events are stored; on a storage error the ack still
        # goes, followed by an Error, as it always did.
        failed: sqlite3.Error | None = None
        try:
            self._log.append(room.table, rows)
        except sqlite3.Error as exc:
            failed = exc
        # The other peers first: one of them is usually the one waiting (the runner on an
        # ExecutionCompleted, the agent on an ExecutionRequested); the pusher only needs its
        # confirmation. Every socket still gets its own frames in the same order as before.
        broadcast = pull_res_json(items, msg.request_id, "push", 0)
        for other in room.peers:
            if other is not peer:
                other.send(broadcast)
        peer.send(PushAck(msg.request_id))
        if peer in room.peers:
            peer.send(broadcast)
        if failed is not None:
            peer.send(Error(msg.request_id, _unexpected(str(failed))))
            return
        if self._push_listeners:
            stamped = tuple(
                Event(
                    e.name,
                    e.args,
                    e.seq_num,
                    e.parent_seq_num,
                    e.client_id,
                    e.session_id,
                    created_at,
                    row[3],
                )
                for e, row in zip(batch, rows, strict=True)
            )
            for listener in tuple(self._push_listeners):
                try:
                    listener(peer.store_id, stamped)
                except Exception:
                    log.warning(
                        "sync server: push listener %r failed on e%d..e%d of store %r",
                        listener,
                        stamped[0].seq_num,
                        stamped[-1].seq_num,
                        peer.store_id,
                        exc_info=True,
                    )

    def _admin(self, peer: _Peer, room: _Room, msg: AdminInfoReq | AdminResetRoomReq) -> None:
        assert self._log is not None
        if self._admin_secret is None or msg.admin_secret != self._admin_secret:
            peer.send(Error(msg.request_id, "Invalid admin secret"))
            return
        if isinstance(msg, AdminInfoReq):
            do_id = hashlib.sha256(peer.store_id.encode()).hexdigest()
            peer.send(AdminInfoRes(msg.request_id, do_id))
            return
        # Upstream forgets only the head and keeps D1 (an inconsistent room); we wipe both.
        self._log.reset(room.table)
        room.head = 0
        peer.send(AdminResetRoomRes(msg.request_id))


def token_validator(token: str | None) -> Callable[[Any], None]:
    """A ``validate_payload`` accepting payloads whose ``authToken`` equals ``token``."""

    def validate(payload: Any) -> None:
        if token is None:
            return
        given = payload.get("authToken") if isinstance(payload, dict) else None
        if not isinstance(given, str) or not same_secret(given, token):
            raise ValueError("Invalid auth token")

    return validate


async def serve_forever(
    host: str,
    port: int,
    db_path: Path | None,
    token: str | None,
    *,
    scrub: Scrubber | None = None,
    attach: Callable[[SyncServer], Callable[[], str]] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; prints the base URL once, on stdout, when ready.

    ``attach(server)`` runs before the server starts (to add routes, such as the viewer's);
    the function it returns gives lines printed after the URL once the server listens.
    """
    server = SyncServer(db_path, host=host, port=port, token=token, scrub=scrub)
    announce = attach(server) if attach is not None else None
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(server.url, flush=True, file=sys.stdout)
        if announce is not None:
            print(announce(), flush=True, file=sys.stdout)
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await server.stop()
