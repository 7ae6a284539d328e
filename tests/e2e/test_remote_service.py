"""The remote path end to end: a stand-in runt service (tests/e2e/standin.py: HTTP API +
/livestore proxied to a real SyncServer that requires the token), driven through the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.standin import StandIn, runt_service

TOKEN = "tok-remote-8d1e2f3a4b5c"
NOTEBOOK_ID = "Reg1stered_1"


@pytest.fixture
async def service() -> AsyncIterator[StandIn]:
    async with runt_service(TOKEN, NOTEBOOK_ID, "user-42") as state:
        yield state


async def test_registers_and_links_the_notebook(
    cli: Any, notebooks: Path, tmp_path: Path, service: StandIn
) -> None:
    url, payloads = service.url, service.payloads
    run = await cli(
        tmp_path,
        notebooks / "retry.yml",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": url},
        limit=90,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    origin = url.removesuffix("/livestore").replace("ws://", "http://")
    assert run.outputs["notebook-id"] == NOTEBOOK_ID
    assert run.outputs["notebook-url"] == f"{origin}/nb/{NOTEBOOK_ID}"
    assert f"{origin}/nb/{NOTEBOOK_ID}" in run.summary
    # One connection, shared by the runner and the in-process agent: the runtime payload
    # (runt-schema §5.3), with the user id from /api/me.
    [(store, runtime)] = payloads
    assert store == NOTEBOOK_ID
    assert runtime["runtime"] is True and runtime["authToken"] == TOKEN
    assert runtime["userId"] == "user-42" and runtime["runtimeId"] and runtime["sessionId"]
    shown = [line for line in run.stdout.splitlines() if line != f"::add-mask::{TOKEN}"]
    assert TOKEN not in "\n".join(shown) + run.stderr


async def test_wrong_token_is_exit_3_with_a_clear_message(
    cli: Any, notebooks: Path, tmp_path: Path, service: StandIn
) -> None:
    url = service.url
    wrong = "tok-wrong-000111222"
    run = await cli(
        tmp_path,
        notebooks / "retry.yml",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": wrong, "INPUT_SYNC-URL": url},
        limit=60,
    )
    assert run.returncode == 3, run.stderr[-3000:]
    assert "rejected the token" in run.stderr
    assert wrong not in run.stderr


async def test_a_suite_runs_on_the_remote_service_one_notebook_each(
    tmp_path: Path, service: StandIn
) -> None:
    from tests.batch.conftest import FIXTURES, run_command

    url, payloads = service.url, service.payloads
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("pass.yml", "fail.yml"):
        (nbs / name).write_text((FIXTURES / "suite" / name).read_text())
    run = await run_command(
        tmp_path,
        "test",
        "nbs",
        "--runtime",
        "python",
        env={"INPUT_AUTH-TOKEN": TOKEN, "INPUT_SYNC-URL": url},
        limit=120,
    )
    assert run.returncode == 1, run.stderr[-3000:]  # fail.yml fails, pass.yml passes
    # Each notebook registered and ran in its own store, with the runtime payload and token.
    stores = sorted({store for store, _ in payloads})
    assert stores == [NOTEBOOK_ID, f"{NOTEBOOK_ID}1"]
    assert all(p["runtime"] is True and p["authToken"] == TOKEN for _, p in payloads)
    results = {r["notebook"]: r for r in json.loads(run.outputs["results"])}
    assert results["nbs/pass.yml"]["status"] == "success"
    assert results["nbs/fail.yml"]["status"] == "failed"
    assert sorted(r["notebook-id"] for r in results.values()) == stores
    origin = url.removesuffix("/livestore").replace("ws://", "http://")
    summary = run.summary.replace("\\", "")
    assert sum(f"{origin}/nb/{store}" in summary for store in stores) == 2
    shown = [line for line in run.stdout.splitlines() if line != f"::add-mask::{TOKEN}"]
    assert TOKEN not in "\n".join(shown) + run.stderr + run.summary
