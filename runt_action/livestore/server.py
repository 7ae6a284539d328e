"""Embedded sync server that speaks sync-cf 0.3 exactly like anode's Cloudflare backend.

One room per store (the Durable Object), one writer head per room, events persisted in
SQLite (one ``eventlog_7_<store>`` table per store, like the D1 layout) so a restart loses
nothing. Frames go out through one queue per socket, so every socket sees acks and
broadcasts in the order the room decided them, as the single-threaded DO guarantees.

Valid traffic gets upstream's exact bytes. Anyone who can reach the port may send anything
else, so nothing a client sends can cost more than a bounded amount: a store (table) exists
only once a push was stored in it, and their number is capped; a frame is refused from its
header, before it is buffered; request headers must arrive in time; each client address may
hold a bounded number of connections; and a batch is validated whole before any state
changes, so the log never has a gap.
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

from aiohttp import WSCloseCode, WSMsgType, web

from runt_action.errors import UsageError
from runt_action.livestore.artifacts import ArtifactStore, artifact_dir_for
from runt_action.livestore.auth import OriginPolicy, same_secret
from runt_action.livestore.events import Event
from runt_action.livestore.outbox import DEFAULT_MAXSIZE, Frames, Outbox
from runt_action.livestore.protocol import (
    MAX_INBOUND_FRAME_BYTES,
    MAX_SEQ_NUM,
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
    PushRejected,
    PushReq,
    QueryDecodeError,
    ServerMessage,
    check_push,
    decode_client,
    decode_query,
    encode,
    event_json,
    is_utf8_text,
    metadata_json,
    pull_item_json,
    pull_res_json,
)

__all__ = [
    "PushHook",
    "Scrubber",
    "SyncServer",
    "check_event_log_file",
    "serve_forever",
    "table_name",
    "token_validator",
]

log = logging.getLogger(__name__)

PERSISTENCE_FORMAT_VERSION = 7
_TABLE_PREFIX = f"eventlog_{PERSISTENCE_FORMAT_VERSION}_"
_COLUMNS = ("seqNum", "parentSeqNum", "name", "args", "createdAt", "clientId", "sessionId")
_CLOSE_REASON = b"Durable Object is closing WebSocket"
_MAX_SEQ = MAX_SEQ_NUM  # "no upper bound" for a read
MAX_STORE_ID_CHARS = 128
DEFAULT_MAX_STORES = 1000
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64
# Written to a connection over its address's limit, before anything is read from it.
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 46\r\nConnection: close\r\n\r\n"
    b"503: too many connections from this address.\n"
)
_TOO_LARGE = re.compile(r"Message size (\d+)")

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
    return _TABLE_PREFIX + re.sub(r"[^a-zA-Z0-9]", "_", store_id)


_OUR_TABLE = re.compile(re.escape(_TABLE_PREFIX) + r"[a-zA-Z0-9_]*")


def _not_ours(path: Path, reason: str) -> UsageError:
    return UsageError(f"{path} is not a runt event log ({reason}); refusing to modify it")


def check_event_log_file(path: Path) -> None:
    """UsageError unless ``path`` is missing, empty, or holds only our event tables.

    Opening a database for writing switches it to WAL and adds tables, which would damage
    someone else's file; so it is first read, read-only, and left byte-identical if foreign.
    """
    try:
        with path.open("rb") as file:
            magic = file.read(16)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not magic:
        return  # SQLite makes an empty file a new database
    if magic != b"SQLite format 3\x00":
        raise _not_ours(path, "it is not an SQLite database")
    uri = path.resolve().as_uri() + "?mode=ro"
    if not Path(f"{path}-wal").exists():
        uri += "&immutable=1"  # nothing to recover: read the file without creating -shm
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            objects = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
            for kind, name in objects:
                if str(name).startswith("sqlite_"):
                    continue  # SQLite's own (statistics, sequences)
                if kind != "table" or not _OUR_TABLE.fullmatch(name):
                    raise _not_ours(path, f"it has {kind} {name!r}")
                columns = tuple(row[1] for row in db.execute(f"PRAGMA table_info({name})"))
                if columns != _COLUMNS:
                    raise _not_ours(path, f"table {name!r} has columns {', '.join(columns)}")
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise _not_ours(path, f"SQLite cannot read it: {exc}") from None


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

    A table exists only once a push was stored in it (the CREATE commits with that first
    insert), so reading an unknown store answers empty and writes nothing: a client cannot
    grow the file, or the store list, by asking.

    With a ``scrub`` function and a file, each event's args text is scrubbed before it is
    written, so no secret value is ever at rest; the raw text of the events the scrubber
    changed is kept in memory only (``_raw``), and every read (pulls, :meth:`events`) puts it
    back, so clients of this server see exactly what was pushed. After a restart only the
    scrubbed text is left, which is the point.
    """

    def __init__(self, db_path: Path | None, scrub: Scrubber | None = None) -> None:
        if db_path is not None:
            check_event_log_file(db_path)
        self._db = sqlite3.connect(":memory:" if db_path is None else str(db_path))
        if db_path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._scrub = scrub if db_path is not None else None  # in memory: nothing at rest
        self._raw: dict[str, dict[int, str]] = {}  # table -> seqNum -> raw args text
        rows = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
            (_TABLE_PREFIX + "%",),
        ).fetchall()
        self._tables = {str(r[0]) for r in rows}
        # Tables that hold events; earlier versions also left empty ones behind.
        self._stores = {
            t for t in self._tables if self._db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
        }

    def head(self, table: str) -> int:
        if table not in self._tables:
            return 0
        row = self._db.execute(f"SELECT MAX(seqNum) FROM {table}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def has_store(self, table: str) -> bool:
        return table in self._stores

    def store_count(self) -> int:
        return len(self._stores)

    def stores(self) -> list[str]:
        """The tables that hold events, sorted."""
        return sorted(self._stores)

    def append(self, table: str, rows: Sequence[_Row]) -> None:
        """One transaction per pushed batch, creating the table with its first rows.

        All or nothing: on any error the transaction is rolled back and re-raised.
        """
        raw: dict[int, str] = {}
        if self._scrub is not None:
            rows = [self._scrubbed(row, raw) for row in rows]
        try:
            self._db.execute("BEGIN")
            if table not in self._tables:
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ('seqNum' integer not null, "
                    "'parentSeqNum' integer not null, 'name' text not null, 'args' text, "
                    "'createdAt' text not null, 'clientId' text not null, "
                    "'sessionId' text not null, PRIMARY KEY ('seqNum')) strict"
                )
            self._db.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
            raise
        self._tables.add(table)
        self._stores.add(table)
        if raw:
            self._raw.setdefault(table, {}).update(raw)

    def _scrubbed(self, row: _Row, raw: dict[int, str]) -> _Row:
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
            valid = is_utf8_text(clean)
        except ValueError:
            valid = False
        if not valid:
            log.warning(
                "sync server: scrubbing e%d %s left invalid JSON; its args are not persisted",
                seq,
                name,
            )
            clean = _UNSCRUBBABLE
        raw[seq] = args
        return (seq, parent, name, clean, at, cid, sid)

    def count(self, table: str, after: int | None, upto: int) -> int:
        if table not in self._tables:
            return 0
        row = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE seqNum > ? AND seqNum <= ?",
            (after if after is not None else -1, upto),
        ).fetchone()
        return int(row[0]) if row else 0

    def rows(self, table: str, after: int | None, upto: int, limit: int = -1) -> list[_Row]:
        """Rows with ``after < seqNum <= upto`` in order, raw args put back where scrubbed."""
        if table not in self._tables:
            return []
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

    def reset(self, table: str) -> None:
        """Drop the store: like a store never pushed to, it leaves no table behind."""
        if table not in self._tables:
            return
        self._db.execute(f"DROP TABLE {table}")
        self._db.commit()
        self._tables.discard(table)
        self._stores.discard(table)
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


class _Socket(web.WebSocketResponse):
    """aiohttp refuses an oversized frame from its header, before buffering it, but closes
    with an empty reason; this gives the close upstream's reason back."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            exc = self._reader.exception() if self._reader is not None else None
            match = _TOO_LARGE.match(str(exc)) if exc is not None else None
            size = match.group(1) if match else "more"
            message = f"Message is too large: {size} > {MAX_INBOUND_FRAME_BYTES}".encode()
        return await super().close(code=code, message=message, drain=drain)


class _ConnectionGuard:
    """Per-connection limits aiohttp lacks: a deadline for the request headers, and a cap
    on the connections one client address holds open at once."""

    def __init__(self, header_timeout: float, per_address: int) -> None:
        self.header_timeout = header_timeout
        self.per_address = per_address
        self._open: dict[str, int] = {}
        self._refusing: set[str] = set()  # warned about once until they drop below the cap

    def admit(self, address: str) -> bool:
        """Count a new connection; False (it is not counted) when its address is full."""
        count = self._open.get(address, 0)
        if count >= self.per_address:
            if address not in self._refusing:
                self._refusing.add(address)
                log.warning(
                    "sync server: %s holds %d connections, its limit; refusing more (503)",
                    address,
                    count,
                )
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        self._refusing.discard(address)
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)


class _GuardedHandler(web.RequestHandler):
    """aiohttp's connection handler, closed when its request headers are overdue and
    refused at once (503) over its address's connection limit."""

    __slots__ = ("_address", "_deadline", "_guard")

    def __init__(self, manager: web.Server, guard: _ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._address: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._guard.admit(address):
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_BUSY)
            transport.close()
            return
        self._address = address
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.header_timeout, self._headers_overdue)

    def headers_received(self) -> None:
        """The first request's headers are complete: the deadline is met."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_overdue(self) -> None:
        self._deadline = None
        log.debug("sync server: request headers from %s are overdue; closing", self._address)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.headers_received()
        if self._address is not None:
            self._guard.release(self._address)
            self._address = None
        super().connection_lost(exc)


class _GuardedSite(web.BaseSite):
    """``TCPSite`` with :class:`_GuardedHandler` connections."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, guard: _ConnectionGuard
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def listener(self) -> asyncio.AbstractServer | None:
        return self._server

    async def start(self) -> None:
        await super().start()
        manager = self._runner.server
        assert manager is not None
        guard = self._guard
        loop = asyncio.get_running_loop()

        def connection() -> _GuardedHandler:
            # An idle keep-alive connection gets no longer than a new one to send headers.
            return _GuardedHandler(
                manager,
                guard,
                loop=loop,
                access_log=None,
                keepalive_timeout=guard.header_timeout,
            )

        self._server = await loop.create_server(connection, self._host, self._port)


@web.middleware
async def _headers_received(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every request reaches the app only once its headers are complete."""
    protocol = request.protocol
    if isinstance(protocol, _GuardedHandler):
        protocol.headers_received()
    return await handler(request)


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

    Bounds on what any client can make it hold: ``max_stores`` stores (a push that would
    create one more is refused), ``header_timeout`` seconds to send complete request headers
    (also the idle keep-alive time), and ``max_connections_per_address`` open connections per
    client address (more are answered 503 and closed at once).

    Artifacts (``/api/artifacts``) need ``Authorization: Bearer <token>`` both ways, unless
    ``public_artifact_reads``: then a GET needs only the id, as upstream's public download
    (runt-schema §5.5). The runt web app loads an artifact with a plain ``<img src>``, which
    carries no header, so it shows ours only with this on (tests/interop/webapp/). The id is
    then a capability URL: its uuid4 part holds 122 random bits, handed out only by what the
    token guards (the event log, the live page). Uploads still need the token, and the
    Host/Origin rule holds. Off by default: whoever sees an id must not thereby read the output.
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
        max_stores: int = DEFAULT_MAX_STORES,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        public_artifact_reads: bool = False,
    ) -> None:
        self._db_path = db_path
        self._public_artifact_reads = public_artifact_reads
        self._max_stores = max_stores
        self._guard = _ConnectionGuard(header_timeout, max_connections_per_address)
        self._token = token
        self.origin_policy = OriginPolicy.for_bind(host, extra_hosts)
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
        self._store_ids: dict[str, str] = {}  # table -> store id, as first pushed
        self.url = ""
        self.app = web.Application(middlewares=[_headers_received])
        """The aiohttp application; add routes before :meth:`start` (``/livestore*`` is ours)."""
        self.app.router.add_route("*", "/livestore{tail:.*}", self._handle)
        self._artifacts: ArtifactStore | None = None
        self.app.router.add_post("/api/artifacts", self._post_artifact)
        self.app.router.add_get("/api/artifacts/{artifact_id:.+}", self._get_artifact)

    @property
    def artifacts(self) -> ArtifactStore:
        """The blobs uploaded to ``/api/artifacts`` (livestore/artifacts.py); once started."""
        if self._artifacts is None:
            raise RuntimeError("the sync server is not started")
        return self._artifacts

    @property
    def http_url(self) -> str:
        """``http://host:port``: where the HTTP API (artifacts) answers."""
        return self.url.removesuffix("/livestore").replace("ws://", "http://", 1)

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
        scrubbed text that was persisted. A store never pushed to is empty, and asking
        creates nothing.
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
        self._artifacts = ArtifactStore(
            None if self._db_path is None else artifact_dir_for(self._db_path)
        )
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = _GuardedSite(self._runner, self._host, self._port, self._guard)
        await site.start()
        server = site.listener
        sockets = getattr(server, "sockets", None)  # asyncio's or another loop's Server
        assert sockets, "the site did not open a listening socket"
        self._port = int(sockets[0].getsockname()[1])
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
        if self._artifacts is not None:
            self._artifacts.close()
            self._artifacts = None
        self._rooms.clear()

    def store_ids(self) -> list[str]:
        """The stores that hold events: ids as first pushed since start, and for tables from
        an earlier run the table's suffix (the id itself for runt's dash-free notebook ids)."""
        if self._log is None:
            return []
        return [self._store_ids.get(t, t[len(_TABLE_PREFIX) :]) for t in self._log.stores()]

    def abort_connections(self) -> None:
        """Cut every socket without a close frame (a network failure, for fault tests)."""
        for peer in list(self._peers):
            peer.abort()

    # --- artifacts (HTTP) ---------------------------------------------------------------

    def _http_refusal(self, request: web.Request) -> web.Response | None:
        """403 for a foreign Host/Origin, 401 without ``Authorization: Bearer <token>``."""
        refused = self.refusal(request)
        if refused is not None or self._token is None:
            return refused
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(given.strip(), self._token):
            return web.json_response(
                {"error": "Unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="runt-automate"'},
            )
        return None

    async def _post_artifact(self, request: web.Request) -> web.StreamResponse:
        return self._http_refusal(request) or await self.artifacts.handle_post(request)

    async def _get_artifact(self, request: web.Request) -> web.StreamResponse:
        if self._public_artifact_reads:
            refused = self.refusal(request)
        else:
            refused = self._http_refusal(request)
        if refused is not None:
            return refused
        return self.artifacts.response(request.match_info["artifact_id"])

    # --- HTTP handshake ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        try:
            store_id, payload = decode_query(request.rel_url.raw_query_string)
        except QueryDecodeError as exc:
            return web.Response(status=500, text=str(exc))
        if not 1 <= len(store_id) <= MAX_STORE_ID_CHARS:
            return web.Response(
                status=400,
                text=_unexpected(
                    f"storeId must be 1 to {MAX_STORE_ID_CHARS} characters long, "
                    f"not {len(store_id)}"
                ),
            )
        if self._token is not None and not payload_has_token(payload, self._token):
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
        # aiohttp refuses a frame of max_msg_size bytes or more from its header: 1 MiB passes.
        ws = _Socket(
            autoclose=False,
            autoping=True,
            compress=False,
            max_msg_size=MAX_INBOUND_FRAME_BYTES + 1,
            timeout=2.0,
        )
        await ws.prepare(request)
        await self._serve_socket(_Peer(ws, request, store_id, self._outbox_size))
        return ws

    def _room(self, store_id: str) -> _Room:
        """The store's room while it has sockets; its head is the log's, so it is forgotten
        when the last socket goes and read again by the next."""
        assert self._log is not None
        table = table_name(store_id)
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
                    try:
                        self._on_text(peer, room, msg.data)
                    except Exception:
                        # A bug, not the client's doing: its socket ends, the server goes on.
                        log.exception("sync server: a frame of store %r failed", peer.store_id)
                        peer.outbox.close()
                        await peer.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"")
                        break
                elif msg.type is WSMsgType.BINARY:
                    peer.outbox.close()
                    await peer.ws.close(
                        code=WSCloseCode.UNSUPPORTED_DATA,
                        message=b"Binary frames are not supported",
                    )
                    break
                elif msg.type is WSMsgType.CLOSE:
                    peer.outbox.close()
                    await peer.ws.close(code=int(msg.data), message=_CLOSE_REASON)
                    break
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    break
        finally:
            room.peers.discard(peer)
            if not room.peers and self._rooms.get(room.table) is room:
                del self._rooms[room.table]
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
        """Answer up to the head as it is now; the chunks are read as the writer drains.

        Any integer cursor is answered as upstream's SQL would: below zero is "everything",
        past SQLite's integers "nothing".
        """
        assert self._log is not None
        after = None if msg.cursor is None else min(max(msg.cursor, -1), _MAX_SEQ)
        try:
            total = self._log.count(room.table, after, room.head)
        except sqlite3.Error as exc:
            peer.send(Error(msg.request_id, _unexpected(str(exc))))
            return
        if total == 0:
            peer.send(pull_res_json([], msg.request_id, "pull", 0))
        else:
            peer.send(self._pull_chunks(room.table, msg.request_id, after, room.head, total))

    def _pull_chunks(
        self, table: str, request_id: str, after: int | None, upto: int, total: int
    ) -> Iterator[str]:
        """PullRes frames of ``PULL_CHUNK_SIZE`` events; the last one says ``remaining: 0``."""
        sent = 0
        while True:
            if self._log is None:
                return  # the server stopped
            try:
                rows = self._log.rows(table, after, upto, PULL_CHUNK_SIZE)
            except sqlite3.Error as exc:
                yield encode(Error(request_id, _unexpected(str(exc))))
                return
            sent += len(rows)
            # Fewer rows than a chunk (the room was reset meanwhile): this is the last one.
            last = len(rows) < PULL_CHUNK_SIZE or sent >= total
            remaining = 0 if last else total - sent
            yield pull_res_json(self._log.items(rows), request_id, "pull", remaining)
            if last:
                return
            after = rows[-1][0]

    def _push(self, peer: _Peer, room: _Room, msg: PushReq) -> None:
        """Validate the whole batch, store it in one transaction, then advance and tell.

        Nothing changes before the commit: a refused or failed batch leaves the head, the
        log and every socket as they were, and only the pusher hears of it (an Error).
        """
        assert self._log is not None
        batch = msg.batch
        if not batch:
            peer.send(PushAck(msg.request_id))
            return
        try:
            args_texts = check_push(batch, room.head)
        except PushRejected as exc:
            peer.send(Error(msg.request_id, str(exc)))
            return
        if not self._log.has_store(room.table) and self._log.store_count() >= self._max_stores:
            peer.send(
                Error(
                    msg.request_id,
                    f"This server already holds {self._max_stores} stores, its limit; "
                    "refusing to create another",
                )
            )
            return
        created_at = _iso_now()
        # Each event's args were encoded exactly once, for the broadcast and the log alike.
        rows: list[_Row] = []
        items: list[str] = []
        metadata = metadata_json(created_at)
        for e, args in zip(batch, args_texts, strict=True):
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
        # Committed before any frame is sent (peer.send writes at once), so an ack never
        # reaches a socket before its events are stored.
        try:
            self._log.append(room.table, rows)
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            log.warning(
                "sync server: storing e%d..e%d of store %r failed: %s",
                batch[0].seq_num,
                batch[-1].seq_num,
                peer.store_id,
                exc,
            )
            peer.send(Error(msg.request_id, _unexpected(str(exc))))
            return
        room.head = batch[-1].seq_num
        self._store_ids.setdefault(room.table, peer.store_id)
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
        if not same_secret(msg.admin_secret, self._admin_secret):
            peer.send(Error(msg.request_id, "Invalid admin secret"))
            return
        if isinstance(msg, AdminInfoReq):
            do_id = hashlib.sha256(peer.store_id.encode()).hexdigest()
            peer.send(AdminInfoRes(msg.request_id, do_id))
            return
        # Upstream forgets only the head and keeps D1 (an inconsistent room); we wipe both.
        self._log.reset(room.table)
        self._store_ids.pop(room.table, None)
        room.head = 0
        peer.send(AdminResetRoomRes(msg.request_id))


def payload_has_token(payload: Any, token: str) -> bool:
    """The handshake payload carries ``authToken`` equal to ``token`` (constant time)."""
    given = payload.get("authToken") if isinstance(payload, dict) else None
    return isinstance(given, str) and same_secret(given, token)


def token_validator(token: str | None) -> Callable[[Any], None]:
    """A ``validate_payload`` accepting payloads whose ``authToken`` equals ``token``."""

    def validate(payload: Any) -> None:
        if token is not None and not payload_has_token(payload, token):
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
    public_artifact_reads: bool = False,
) -> None:
    """Run until SIGTERM/SIGINT; prints the base URL once, on stdout, when ready.

    ``attach(server)`` runs before the server starts (to add routes, such as the viewer's);
    the function it returns gives lines printed after the URL once the server listens.
    """
    server = SyncServer(
        db_path,
        host=host,
        port=port,
        token=token,
        scrub=scrub,
        public_artifact_reads=public_artifact_reads,
    )
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
