"""Events per second through the embedded SyncServer to a subscriber, and push->observe latency.

One pusher Store and one subscriber Store on real websockets to a SyncServer on 127.0.0.1,
all in this process's event loop (as in a run, where server, runner and agent share a loop).
Throughput floods N commits at once; latency sends one event at a time and waits until the
subscriber has it, so it measures the unloaded path, not queueing behind a flood.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import median, percentile

from runt_action.livestore import Event, SyncServer, connect_store
from runt_action.timeouts import Timeouts

_NAME = "bench.Tick"


@dataclass(slots=True)
class _Seen:
    count: int = 0
    seen_at: dict[int, float] = field(default_factory=dict)


class _Recorder:
    """Materializer that notes when each tick became visible (confirmed) on this client."""

    def initial(self) -> _Seen:
        return _Seen()

    def apply(self, state: _Seen, event: Event) -> None:
        if event.name == _NAME and isinstance(event.args, dict):
            state.count += 1
            state.seen_at[int(event.args["i"])] = time.perf_counter()


async def _pair(url: str, store_id: str, token: str) -> tuple[Any, Any]:
    timeouts = Timeouts(connect=10, request=30)

    async def one(role: str) -> Any:
        return await connect_store(
            url,
            store_id,
            {"authToken": token},  # as a run's server: authenticated, validated pushes
            _Recorder(),
            client_id=f"{role}-{secrets.token_hex(3)}",
            session_id=secrets.token_hex(6),
            timeouts=timeouts,
        )

    return await one("pusher"), await one("subscriber")


async def _run(n: int, latency_n: int, db: Path | None) -> dict[str, Any]:
    token = secrets.token_urlsafe(32)
    server = SyncServer(db, token=token)
    await server.start()
    try:
        pusher, sub = await _pair(str(server.url), "bench" + secrets.token_hex(4), token)
        try:
            # Throughput: commit N at once, stop the clock when the subscriber has them all.
            payload = {"text": "x" * 64}
            t0 = time.perf_counter()
            c0 = time.process_time()
            sent: dict[int, float] = {}
            for i in range(n):
                sent[i] = time.perf_counter()
                pusher.commit(_NAME, {"i": i, **payload})
            await sub.wait_for(lambda s: s.count >= n, timeout=300)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - c0
            flood_lat = [(sub.state.seen_at[i] - sent[i]) * 1000 for i in range(n)]
            await pusher.flush(timeout=60)

            # Latency: one event in flight at a time.
            base = n
            lat: list[float] = []
            for k in range(latency_n):
                i = base + k
                t = time.perf_counter()
                pusher.commit(_NAME, {"i": i, **payload})
                await sub.wait_for(lambda s, i=i: i in s.seen_at, timeout=30)
                lat.append((sub.state.seen_at[i] - t) * 1000)
        finally:
            await pusher.close()
            await sub.close()
    finally:
        await server.stop()
    return {
        "events": n,
        "events_per_s": round(n / elapsed, 1),
        "flood_seconds": round(elapsed, 3),
        # CPU per event for server + both clients (one process): robust to a busy machine.
        "cpu_us_per_event": round(cpu / n * 1e6, 1),
        "cpu_bound_events_per_s": round(n / cpu, 1) if cpu > 0 else None,
        "flood_latency_p50_ms": round(percentile(flood_lat, 50), 3),
        "flood_latency_p99_ms": round(percentile(flood_lat, 99), 3),
        "latency_samples": latency_n,
        "latency_p50_ms": round(median(lat), 3),
        "latency_p99_ms": round(percentile(lat, 99), 3),
        "latency_max_ms": round(max(lat), 3),
    }


def bench_events(
    n: int, latency_n: int, *, repeats: int = 1, log: Callable[[str], None]
) -> dict[str, Any]:
    """Median of ``repeats`` floods per server kind; each repeat is a fresh server and store."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="runt-bench-ev-") as tmp:
        # The embedded server of a run persists to SQLite (WAL); :memory: shows what disk costs.
        for label in ("sqlite_file", "in_memory"):
            runs = []
            for i in range(repeats):
                db = Path(tmp) / f"sync{i}.sqlite" if label == "sqlite_file" else None
                runs.append(asyncio.run(_run(n, latency_n, db)))
                log(f"  events {label} {i + 1}/{repeats}: {runs[-1]}")
            merged = {
                key: round(median([float(r[key]) for r in runs]), 3)
                for key in runs[0]
                if isinstance(runs[0][key], int | float)
            }
            merged["best_events_per_s"] = max(float(r["events_per_s"]) for r in runs)
            merged["repeats"] = repeats
            result[label] = merged
    return result
