"""The warm pool with real kernels: launched ahead, one per entry, spares killed."""

from __future__ import annotations

import os
import time
from typing import Any

from runt_action.batch.pool import WarmPool
from runt_action.orchestrator.agent_host import kill_engine
from runt_action.orchestrator.plan import engine_spec
from runt_action.settings import load_settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped-later zombie counts as gone.
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().split()[2] != "Z"


def _wait_gone(pid: int) -> bool:
    for _ in range(200):  # a bound, not a timing assertion
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_engines_start_ahead_are_never_shared_and_spares_die() -> None:
    spec = engine_spec(load_settings(runtime="python"))
    pool = WarmPool([spec, spec, spec], ahead=1)
    # Kernels are forked from the pool's fork server; one asked for while it still imports
    # ipykernel is forked when the entry starts (agents/test_forkserver.py).
    assert pool.forks is not None and pool.forks.wait_ready()
    server = pool.forks._proc
    assert server is not None
    pool.warm_up(0)
    assert pool.launched == 1  # the first entry's kernel boots before anyone asks
    first: Any = pool.take(0)
    assert pool.launched == 2  # taking it starts the next one's
    second: Any = pool.take(1)
    assert first is not second and first.pid != second.pid  # never reused
    assert pool.launched == 3
    spare_pid = pool._warm[2].pid  # type: ignore[union-attr]
    assert spare_pid is not None and _alive(spare_pid)
    assert pool.discard() == 1  # the third entry never ran (-x): its kernel is shut down
    assert _wait_gone(spare_pid)
    assert server.poll() is not None  # and the fork server with it
    for engine in (first, second):
        pid = engine.pid
        kill_engine(engine)
        assert _wait_gone(pid)


def test_a_fork_server_only_for_two_default_kernels_or_more() -> None:
    python = engine_spec(load_settings(runtime="python"))
    other = engine_spec(load_settings(runtime="python", kernel="python3"))
    assert WarmPool([python], ahead=1).forks is None  # one kernel: launching it is as fast
    assert WarmPool([python, other, None], ahead=1).forks is None
    pool = WarmPool([python, python], ahead=1)
    try:
        assert pool.forks is not None
    finally:
        pool.discard()


def test_no_runtime_no_engine() -> None:
    pool = WarmPool([None, None], ahead=2)
    assert pool.take(0) is None and pool.take(1) is None
    assert pool.launched == 0 and pool.discard() == 0
