"""Materialized state of the confirmed event log, and reactive waits over it.

State reflects the *confirmed* log only (server order), so every client computes the same
state and a rebase never has to roll anything back here. The log itself is not kept unless
asked for (``keep_events=True``): a run only needs the state, and payloads add up.

Writers sharing one Store (the orchestrator and its in-process agent) also see each other's
commits at once, before confirmation, as LiveStore clients sharing a store do: through
``on_commit`` listeners and ``wait_for(committed=...)``. That never moves the state; each
reader decides when a local commit is as good as a confirmed one (agents/core.py,
orchestrator/runner.py say when).

Callbacks are isolated: a materializer or subscriber that raises on an event is logged with
the event's seqNum and name and skipped for that event only; the socket, the other callbacks
and the commit futures are unaffected. ``failure`` is only ever a sync failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Literal, Protocol, TypeVar, overload

from runt_action.errors import SyncError, SyncTimeout
from runt_action.livestore.client import SyncClient
from runt_action.livestore.events import Event
from runt_action.timeouts import Timeouts

__all__ = ["Materializer", "Store", "connect_store"]

S = TypeVar("S")
T = TypeVar("T")

log = logging.getLogger(__name__)


class Materializer(Protocol[S]):
    def initial(self) -> S: ...

    def apply(self, state: S, event: Event) -> None: ...


@contextlib.contextmanager
def _listed(items: list[T], item: T) -> Iterator[None]:
    """``item`` is in ``items`` for the block (a subscriber or a commit listener)."""
    items.append(item)
    try:
        yield
    finally:
        items.remove(item)


class _Waiter(Generic[S, T]):
    __slots__ = ("committed", "future", "predicate")

    def __init__(
        self,
        predicate: Callable[[S], T | Literal[False] | None],
        committed: Callable[[str, Any], T | Literal[False] | None] | None,
    ) -> None:
        self.predicate = predicate
        self.committed = committed
        self.future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def check(self, state: S) -> None:
        if not self.future.done():
            self._settle(self.predicate, state)

    def check_commit(self, name: str, args: Any) -> None:
        if self.committed is not None and not self.future.done():
            self._settle(self.committed, name, args)

    def _settle(self, fn: Callable[..., T | Literal[False] | None], *args: Any) -> None:
        try:
            value = fn(*args)
        except Exception as exc:
            self.future.set_exception(exc)
            return
        if value:
            self.future.set_result(value)


class _Batch(Sequence[Event]):
    """A batch handed to one subscriber, noting how far its iteration got.

    If the callback raises, the event it was at is the one to blame and skip; the rest of
    the batch is handed to it again, so nothing before is seen twice and nothing after is
    lost.
    """

    __slots__ = ("_events", "at", "exhausted")

    def __init__(self, events: Sequence[Event]) -> None:
        self._events = events
        self.at = -1  # index of the last event iteration yielded
        self.exhausted = False  # iteration went past the last event

    def __len__(self) -> int:
        return len(self._events)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self._events[index]

    def __iter__(self) -> Iterator[Event]:
        for i, event in enumerate(self._events):
            self.at = i
            yield event
        self.exhausted = True

    def __eq__(self, other: object) -> bool:
        return list(self._events) == (list(other) if isinstance(other, Sequence) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self._events))


def _describe(events: Sequence[Event]) -> str:
    if len(events) == 1:
        return f"e{events[0].seq_num} {events[0].name}"
    return f"e{events[0].seq_num}..e{events[-1].seq_num}"


class Store(Generic[S]):
    """Materialized state of the confirmed log + reactive waits (+ the log, if kept)."""

    def __init__(
        self,
        materializer: Materializer[S],
        *,
        client_id: str,
        session_id: str,
        keep_events: bool = False,
    ) -> None:
        self.client_id = client_id
        self.session_id = session_id
        self._materializer = materializer
        self.state: S = materializer.initial()
        self._events: list[Event] | None = [] if keep_events else None
        self._waiters: list[_Waiter[S, Any]] = []
        self._subscribers: list[Callable[[S, Sequence[Event]], None]] = []
        self._local_listeners: list[Callable[[str, Any], None]] = []
        self._client: SyncClient | None = None
        self._failure: BaseException | None = None

    @property
    def events(self) -> Sequence[Event]:
        """Confirmed events in seqNum order (a live view: do not mutate); only when kept."""
        if self._events is None:
            raise RuntimeError(
                "this Store keeps no event log; connect with keep_events=True to read .events"
            )
        return self._events

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def commit(self, name: str, args: Any = None) -> asyncio.Future[Event]:
        """Queue an event for push; the future resolves with the confirmed Event."""
        if self._client is None or self._failure is not None:
            fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
            fut.set_exception(self._failure or SyncError("the store is not connected"))
            return fut
        return self._client.commit(name, args)

    def push_now(self) -> None:
        """Send the commits of this loop step at once (they are batched until its end)."""
        if self._client is not None and self._failure is None:
            self._client.push_now()

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every commit made so far is confirmed.

        Raises :class:`SyncTimeout` if some are not confirmed within ``timeout`` seconds, or
        the sync failure that ended the connection. The commit futures are never cancelled.
        """
        if self._failure is not None:
            raise self._failure
        if self._client is None:
            return
        pending = self._client.unconfirmed()
        if not pending:
            return
        done, waiting = await asyncio.wait(
            pending, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for fut in pending:  # commit order: the first failure is the cause
            if fut in done and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
        if waiting:
            n = len(waiting)
            what = "1 event was" if n == 1 else f"{n} events were"
            raise SyncTimeout(
                f"{what} not confirmed by the sync server at {self._client.base_url} "
                f"within {timeout or 0:g} s"
            )

    async def wait_for(
        self,
        predicate: Callable[[S], T | Literal[False] | None],
        timeout: float | None = None,  # noqa: ASYNC109 (the contract's signature)
        *,
        committed: Callable[[str, Any], T | Literal[False] | None] | None = None,
    ) -> T:
        """The first truthy value of ``predicate``, checked now and after every event.

        ``committed(name, args)``, if given, is also checked on every event committed on
        this Store meanwhile: a writer sharing the Store can report what is awaited before
        the server confirms it (see :meth:`on_commit`).
        """
        if self._failure is not None:
            raise self._failure
        value = predicate(self.state)
        if value:
            return value
        waiter: _Waiter[S, T] = _Waiter(predicate, committed)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        finally:
            self._waiters.remove(waiter)

    def subscribe(
        self, callback: Callable[[S, Sequence[Event]], None]
    ) -> AbstractContextManager[None]:
        """Call ``callback(state, new_events)`` after each applied batch, inside the block.

        A callback that raises while at an event is logged, skips that event and gets the
        rest of the batch in a new call; the other subscribers are not affected.
        """
        return _listed(self._subscribers, callback)

    def on_commit(self, callback: Callable[[str, Any], None]) -> AbstractContextManager[None]:
        """Call ``callback(name, args)`` for each event committed on this Store, inside the
        block, before the server confirms it.

        This is how LiveStore clients sharing a store see each other's writes at once; the
        materialized state still moves only on confirmation. The callback runs inside
        :meth:`commit`, right after the event is queued and before it is sent, so work it
        schedules goes ahead of the push (the agent hands a cell to its engine first). It
        must not block; an event it commits is queued after this one. A callback that
        raises is logged and skipped for that event.
        """
        return _listed(self._local_listeners, callback)

    def pending(self) -> list[tuple[str, Any]]:
        """(name, args) of this Store's commits the server has not confirmed yet, in order."""
        return [] if self._client is None else self._client.pending()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> Store[S]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- fed by the sync client --------------------------------------------------------

    def _apply(self, events: list[Event]) -> None:
        if self._failure is not None:
            return
        # One snapshot per batch: predicates cannot add or remove waiters synchronously
        # (wait_for is a coroutine; removal happens when the waiting task resumes).
        waiters = tuple(self._waiters)
        apply = self._materializer.apply
        state = self.state
        for event in events:
            try:
                apply(state, event)
            except Exception:
                # A bad event (or a materializer bug): skip it, keep syncing. The state keeps
                # whatever the materializer did before raising.
                log.warning(
                    "livestore: materializer %s failed on e%d %s; event skipped",
                    type(self._materializer).__name__,
                    event.seq_num,
                    event.name,
                    exc_info=True,
                )
            # Waiters see every intermediate state, not just the end of a batch.
            for waiter in waiters:
                waiter.check(state)
        if self._events is not None:
            self._events.extend(events)
        for callback in list(self._subscribers):
            self._notify(callback, events)

    def _notify(self, callback: Callable[[S, Sequence[Event]], None], events: list[Event]) -> None:
        rest: Sequence[Event] = events
        while rest:
            batch = _Batch(rest)
            try:
                callback(self.state, batch)
                return
            except Exception:
                if batch.at < 0 or batch.exhausted:  # not while at one event: blame the batch
                    blamed, rest = rest, ()
                else:
                    blamed, rest = rest[batch.at : batch.at + 1], rest[batch.at + 1 :]
                log.warning(
                    "livestore: subscriber %s failed on %s; skipped for it",
                    getattr(callback, "__qualname__", repr(callback)),
                    _describe(blamed),
                    exc_info=True,
                )

    def _committed(self, name: str, args: Any) -> None:
        for waiter in tuple(self._waiters):
            waiter.check_commit(name, args)
        for callback in tuple(self._local_listeners):
            try:
                callback(name, args)
            except Exception:
                log.warning(
                    "livestore: commit listener %s failed on %s; skipped for it",
                    getattr(callback, "__qualname__", repr(callback)),
                    name,
                    exc_info=True,
                )

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)


async def connect_store(
    url: str,
    store_id: str,
    payload: Any,
    materializer: Materializer[S],
    *,
    client_id: str,
    session_id: str,
    timeouts: Timeouts,
    keep_events: bool = False,
) -> Store[S]:
    """Connect, pull to the head, then keep syncing in the background.

    ``keep_events=True`` also keeps every confirmed event in ``store.events`` (tests, tools);
    a run needs only the materialized state.
    """
    store = Store(materializer, client_id=client_id, session_id=session_id, keep_events=keep_events)
    client = SyncClient(
        url,
        store_id,
        payload,
        client_id=client_id,
        session_id=session_id,
        timeouts=timeouts,
        on_confirmed=store._apply,
        on_failure=store._fail,
        on_committed=store._committed,
    )
    store._client = client
    await client.start()
    return store
