"""aiohttp websocket driver for :class:`~runt_action.livestore.sync.SyncMachine`.

Unlike the 0.3.1 JS client it re-pulls from its cursor on every reconnect and re-sends
unconfirmed pushes only after that pull, so nothing pushed while offline is lost or doubled.
A missing pong or an unanswered request marks the socket dead; reconnects back off
exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from runt_action.errors import SyncAuthError, SyncConnectError, SyncError, SyncProtocolError
from runt_action.livestore.events import Event
from runt_action.livestore.outbox import Outbox
from runt_action.livestore.protocol import (
    PING_TEXT,
    Pong,
    PullReq,
    PushReq,
    decode_server,
    encode,
    encode_query,
)
from runt_action.livestore.sync import Actions, SyncMachine
from runt_action.timeouts import Timeouts

__all__ = ["SyncClient"]

log = logging.getLogger(__name__)

_CAUSE = re.compile(r'"cause": (?:Error: )?(.*?), "note"', re.DOTALL)
_WS_CLOSE_TIMEOUT = 2.0


def _secrets_in(payload: Any) -> list[str]:
    """String leaves of the payload: they may be tokens and must never reach a message."""
    if isinstance(payload, str):
        return [payload] if len(payload) >= 4 else []
    if isinstance(payload, dict):
        return [s for v in payload.values() for s in _secrets_in(v)]
    if isinstance(payload, list):
        return [s for v in payload for s in _secrets_in(v)]
    return []


class SyncClient:
    """One store's sync connection; ``on_confirmed`` receives confirmed events in order."""

    def __init__(
        self,
        url: str,
        store_id: str,
        payload: Any,
        *,
        client_id: str,
        session_id: str,
        timeouts: Timeouts,
        on_confirmed: Callable[[list[Event]], None],
        on_failure: Callable[[SyncError], None] | None = None,
        on_committed: Callable[[str, Any], None] | None = None,
        ping_interval: float = 25.0,
        pong_timeout: float = 5.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.store_id = store_id
        self._payload = payload
        self._timeouts = timeouts
        self._on_confirmed = on_confirmed
        self._on_failure = on_failure
        self._on_committed = on_committed
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.machine = SyncMachine(client_id, session_id)
        self.failure: SyncError | None = None
        self.connections = 0  # successful handshakes, for observability and tests
        self._futures: dict[int, asyncio.Future[Event]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._synced: asyncio.Future[None] | None = None
        self._outbox: Outbox | None = None
        self._wake = asyncio.Event()
        self._last_rx = 0.0
        self._last_request = 0.0
        self._pong_deadline: float | None = None
        self._watch_until = 0.0  # when the watchdog wakes up by itself next (loop time)
        self._closing = False
        self._flush_handle: asyncio.Handle | None = None

    # --- public ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._outbox is not None and self.machine.phase == "live"

    async def start(self) -> None:
        """Connect and pull to the head; handshake and first-sync errors are raised here."""
        loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self._synced = loop.create_future()
        try:
            ws = await self._connect()
        except BaseException:
            await self._session.close()
            raise
        self._task = asyncio.create_task(self._run(ws), name=f"livestore-sync:{self.store_id}")
        try:
            await asyncio.shield(self._synced)
        except BaseException:
            await self.close()
            raise

    def commit(self, name: str, args: Any = None) -> asyncio.Future[Event]:
        """Queue an event for push; the future resolves with the confirmed Event."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        if self.failure is not None:
            fut.set_exception(self.failure)
            return fut
        if self._closing:
            fut.set_exception(SyncError("the sync connection is closed"))
            return fut
        try:
            token, _ = self.machine.commit(name, args, push=False)
        except (TypeError, ValueError) as exc:
            fut.set_exception(SyncProtocolError(f"cannot push event {name!r}: {exc}"))
            return fut
        self._futures[token] = fut
        if self._on_committed is not None:
            self._on_committed(*self.machine.last_committed())
        # Commits made in the same loop step (claim + start + clear, say) go out as one push
        # instead of one push each, saving a round trip per event on the hot path.
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
        return fut

    def push_now(self) -> None:
        """Send what was committed in this loop step now, not at the end of the step.

        For a commit someone is waiting on (a request, a completion): it saves a loop step.
        """
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()

    def _flush(self) -> None:
        self._flush_handle = None
        if self.failure is None and not self._closing:
            self._apply(self.machine.flush())

    def unconfirmed(self) -> list[asyncio.Future[Event]]:
        return [f for f in self._futures.values() if not f.done()]

    def pending(self) -> list[tuple[str, Any]]:
        """(name, args) of our commits the server has not confirmed yet, in commit order."""
        return self.machine.pending()

    async def close(self) -> None:
        self._closing = True
        if self._outbox is not None:
            self._outbox.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._fail_futures(SyncError("the sync connection was closed before confirmation"))
        if self._synced is not None and not self._synced.done():
            self._synced.cancel()

    # --- connection --------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in _secrets_in(self._payload):
            text = text.replace(secret, "***")
        return text

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        url = f"{self.base_url}/websocket?{encode_query(self.store_id, self._payload)}"
        where = f"{self.base_url} (store {self.store_id!r})"
        try:
            async with asyncio.timeout(self._timeouts.connect):
                ws = await self._session.ws_connect(
                    URL(url, encoded=True),
                    max_msg_size=0,  # pulled frames are unbounded upstream
                    autoping=True,
                    compress=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=_WS_CLOSE_TIMEOUT),
                )
        except aiohttp.WSServerHandshakeError as exc:
            body = await self._error_body(url) if exc.status in (400, 500) else ""
            if exc.status == 400:
                match = _CAUSE.search(body)
                cause = match.group(1) if match else (body.strip() or "no reason given")
                raise SyncAuthError(
                    f"the sync server at {where} refused our auth payload: "
                    f"{self._redact(cause)} (HTTP 400)"
                ) from None
            detail = f": {self._redact(body.strip())}" if body.strip() else ""
            raise SyncConnectError(
                f"websocket handshake with the sync server at {where} failed: "
                f"HTTP {exc.status}{detail}"
            ) from None
        except TimeoutError:
            raise SyncConnectError(
                f"timed out after {self._timeouts.connect}s connecting to the sync server at "
                f"{where}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise SyncConnectError(
                f"cannot reach the sync server at {where}: {self._redact(str(exc))}"
            ) from None
        self.connections += 1
        return ws

    async def _error_body(self, ws_url: str) -> str:
        """The handshake's HTTP body: the same query over plain GET gets the same answer."""
        assert self._session is not None
        http_url = re.sub(r"^ws", "http", ws_url)
        try:
            async with (
                asyncio.timeout(self._timeouts.connect),
                self._session.get(URL(http_url, encoded=True)) as resp,
            ):
                return await resp.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return ""

    def _backoff(self, attempt: int) -> float:
        delay = min(self._backoff_max, self._backoff_initial * 2**attempt)
        return float(delay * random.uniform(0.5, 1.0))

    async def _run(self, ws: aiohttp.ClientWebSocketResponse | None) -> None:
        attempt = 0
        while not self._closing and self.failure is None:
            if ws is None:
                try:
                    ws = await self._connect()
                except SyncAuthError as exc:
                    self._fail(exc)
                    return
                except SyncConnectError as exc:
                    log.warning("livestore reconnect failed: %s", exc)
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
            if await self._serve(ws):
                attempt = 0  # that socket worked; start the backoff over
            ws = None
            self.machine.disconnected()
            if not self._closing and self.failure is None:
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Run one socket until it dies; True if it reached the head at least once."""
        loop = asyncio.get_running_loop()
        # A fresh writer per socket: nothing of the last one's (a cancelled send) carries over.
        outbox = self._outbox = Outbox(ws.send_str, name=f"livestore-writer:{self.store_id}")
        self._last_rx = self._last_request = loop.time()
        self._pong_deadline = None
        reached = False

        def mark_synced(actions: Actions) -> None:
            nonlocal reached
            reached = reached or actions.synced

        tasks = [
            asyncio.ensure_future(outbox.wait_closed()),
            asyncio.create_task(self._read_loop(ws, mark_synced)),
            asyncio.create_task(self._watchdog()),
        ]
        try:
            self._apply(self.machine.connected())
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._outbox = None
            outbox.abort()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await outbox.wait_closed()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_WS_CLOSE_TIMEOUT):
                    await ws.close()
        return reached

    async def _read_loop(
        self, ws: aiohttp.ClientWebSocketResponse, on_actions: Callable[[Actions], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            self._last_rx = loop.time()
            decoded = decode_server(msg.data)
            if decoded is None:
                log.debug("ignoring undecodable frame: %.200s", msg.data)
                continue
            if isinstance(decoded, Pong):
                self._pong_deadline = None
                continue
            actions = self.machine.receive(decoded)
            on_actions(actions)
            self._apply(actions)
            if self.failure is not None:
                return

    async def _watchdog(self) -> None:
        """Pings on schedule; returns (socket dead) on a missing pong or a stalled request."""
        loop = asyncio.get_running_loop()
        next_ping = loop.time()
        request_timeout = self._timeouts.request
        while True:
            now = loop.time()
            if now >= next_ping:
                self._send_text(PING_TEXT)
                self._pong_deadline = now + self._pong_timeout
                next_ping = now + self._ping_interval
            deadlines = [next_ping]
            if self._pong_deadline is not None:
                if now >= self._pong_deadline:
                    log.warning("livestore: no pong within %ss, reconnecting", self._pong_timeout)
                    return
                deadlines.append(self._pong_deadline)
            if request_timeout is not None and self.machine.awaiting_response:
                due = max(self._last_rx, self._last_request) + request_timeout
                if now >= due:
                    if not self.machine.ever_synced:
                        self._fail(
                            SyncProtocolError(
                                f"the sync server at {self.base_url} did not answer the initial "
                                f"pull within {request_timeout}s"
                            )
                        )
                    else:
                        log.warning("livestore: request unanswered for %ss", request_timeout)
                    return
                deadlines.append(due)
            self._wake.clear()
            self._watch_until = min(deadlines)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, self._watch_until - loop.time())):
                    await self._wake.wait()

    # --- actions -----------------------------------------------------------------------

    def _send_text(self, text: str) -> None:
        """Queue a frame; the machine keeps at most one push and one pull in flight, so the
        queue stays short. Should it ever be full, the socket is dropped: the reconnect
        re-pulls and re-pushes what is unconfirmed, instead of piling up frames."""
        outbox = self._outbox
        if outbox is None or outbox.closed:
            return
        if not outbox.offer(text):
            log.warning(
                "livestore: %d frames wait to be sent to %s; dropping the socket to resync",
                outbox.qsize(),
                self.base_url,
            )
            outbox.abort()

    def _apply(self, actions: Actions) -> None:
        for msg in actions.send:
            if isinstance(msg, PullReq | PushReq):
                now = self._last_request = asyncio.get_running_loop().time()
                # Wake the watchdog only if it would sleep past this request's deadline; on
                # the hot path (a push per cell) it is already due earlier and re-checks then.
                limit = self._timeouts.request
                if limit is not None and self._watch_until > now + limit:
                    self._watch_until = now + limit
                    self._wake.set()
            self._send_text(encode(msg))
        if actions.confirmed:
            try:
                self._on_confirmed(actions.confirmed)
            except Exception:
                # The store isolates its own callbacks; this is a last guard so that a bug
                # there never kills the socket or leaves the commits below unresolved.
                first, last = actions.confirmed[0], actions.confirmed[-1]
                log.warning(
                    "livestore: applying e%d..e%d failed; they were confirmed regardless",
                    first.seq_num,
                    last.seq_num,
                    exc_info=True,
                )
        for token, event in actions.resolved:
            fut = self._futures.pop(token, None)
            if fut is not None and not fut.done():
                fut.set_result(event)
        if actions.synced and self._synced is not None and not self._synced.done():
            self._synced.set_result(None)
        if actions.fatal is not None:
            self._fail(actions.fatal)

    def _fail(self, exc: SyncError) -> None:
        if self.failure is not None:
            return
        self.failure = exc
        log.error("livestore sync failed: %s", exc)
        if self._outbox is not None:
            self._outbox.close()
        self._fail_futures(exc)
        if self._synced is not None and not self._synced.done():
            self._synced.set_exception(exc)
        if self._on_failure is not None:
            self._on_failure(exc)

    def _fail_futures(self, exc: SyncError) -> None:
        futures, self._futures = self._futures, {}
        for fut in futures.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: the store reports failures, not the GC
