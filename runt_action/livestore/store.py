"""The confirmed event log, its materialized state and reactive waits over it.

State reflects the *confirmed* log only (server order), so every client computes the same
state and a rebase never has to roll anything back here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Literal, Protocol, TypeVar

from runt_action.errors import SyncError
from runt_action.livestore.client import SyncClient
from runt_action.livestore.events import Event
from runt_action.timeouts import Timeouts

__all__ = ["Materializer", "Store", "connect_store"]

S = TypeVar("S")
T = TypeVar("T")


class Materializer(Protocol[S]):
    def initial(self) -> S: ...

    def apply(self, state: S, event: Event) -> None: ...


class _Waiter(Generic[S, T]):
    __slots__ = ("future", "predicate")

    def __init__(self, predicate: Callable[[S], T | Literal[False] | None]) -> None:
        self.predicate = predicate
        self.future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def check(self, state: S) -> None:
        if self.future.done():
            return
        try:
            value = self.predicate(state)
        except Exception as exc:
            self.future.set_exception(exc)
            return
        if value:
            self.future.set_result(value)


class Store(Generic[S]):
    """Ordered confirmed event log + materialized state + reactive waits."""

    def __init__(self, materializer: Materializer[S], *, client_id: str, session_id: str) -> None:
        self.client_id = client_id
        self.session_id = session_id
        self._materializer = materializer
        self.state: S = materializer.initial()
        self._events: list[Event] = []
        self._waiters: list[_Waiter[S, Any]] = []
        self._subscribers: list[Callable[[S, Sequence[Event]], None]] = []
        self._client: SyncClient | None = None
        self._failure: BaseException | None = None

    @property
    def events(self) -> Sequence[Event]:
        """Confirmed events in seqNum order (a live view: do not mutate)."""
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
        """Wait until every commit made so far is confirmed (TimeoutError otherwise)."""
        if self._failure is not None:
            raise self._failure
        if self._client is None:
            return
        pending = self._client.unconfirmed()
        if pending:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*pending)

    async def wait_for(
        self,
        predicate: Callable[[S], T | Literal[False] | None],
        timeout: float | None = None,  # noqa: ASYNC109 (the contract's signature)
    ) -> T:
        """The first truthy value of ``predicate``, checked now and after every event."""
        if self._failure is not None:
            raise self._failure
        value = predicate(self.state)
        if value:
            return value
        waiter: _Waiter[S, T] = _Waiter(predicate)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        finally:
            self._waiters.remove(waiter)

    def subscribe(
        self, callback: Callable[[S, Sequence[Event]], None]
    ) -> AbstractContextManager[None]:
        """Call ``callback(state, new_events)`` after each applied batch, inside the block."""

        @contextlib.contextmanager
        def scope() -> Iterator[None]:
            self._subscribers.append(callback)
            try:
                yield
            finally:
                self._subscribers.remove(callback)

        return scope()

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
            except Exception as exc:
                # A materializer bug: the state is no longer trustworthy, so every wait and
                # commit reports it instead of hanging; the sync connection is not to blame.
                self._fail(exc)
                return
            self._events.append(event)
            # Waiters see every intermediate state, not just the end of a batch.
            for waiter in waiters:
                waiter.check(state)
        for callback in list(self._subscribers):
            callback(self.state, events)

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
) -> Store[S]:
    """Connect, pull to the head, then keep syncing in the background."""
    store = Store(materializer, client_id=client_id, session_id=session_id)
    client = SyncClient(
        url,
        store_id,
        payload,
        client_id=client_id,
        session_id=session_id,
        timeouts=timeouts,
        on_confirmed=store._apply,
        on_failure=store._fail,
    )
    store._client = client
    await client.start()
    return store
