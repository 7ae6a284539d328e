"""Fixtures that run the real sync-cf 0.3.1 backend (wrangler) and the real LiveStore JS client.

Missing npm packages make every interop test fail (never skip) with a pointer to
``scripts/setup-interop.sh``: a silently skipped interop suite would hide protocol drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).resolve().parent
NODE_MODULES = INTEROP_DIR / "node_modules"
WRANGLER_JS = NODE_MODULES / "wrangler" / "bin" / "wrangler.js"
CLIENT_JS = INTEROP_DIR / "client.mjs"
WORKER_CONFIG = INTEROP_DIR / "worker" / "wrangler.toml"
TOKEN = "test-token"  # must match AUTH_TOKEN in worker/wrangler.toml
SETUP_HINT = "run scripts/setup-interop.sh first (it installs the pinned npm packages)"
STARTUP_TIMEOUT = 60.0


def require_setup() -> str:
    """Return the node binary, or fail the test loudly when the harness is not installed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"interop: node is not on PATH; {SETUP_HINT}", pytrace=False)
    for needed in (WRANGLER_JS, NODE_MODULES / "@livestore" / "adapter-node"):
        if not needed.exists():
            pytest.fail(f"interop: {needed} is missing; {SETUP_HINT}", pytrace=False)
    return node


@functools.cache
def node_websocket_flags(node: str) -> tuple[str, ...]:
    """Node < 22 has no global WebSocket without a flag; LiveStore then retries forever."""
    version = subprocess.run(
        [node, "-p", "process.versions.node"], capture_output=True, text=True, check=True
    ).stdout
    return ("--experimental-websocket",) if int(version.split(".")[0]) < 22 else ()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_store_id() -> str:
    """A fresh store (= Durable Object) per test keeps tests independent on one server."""
    return f"interop_{uuid.uuid4().hex[:12]}"


@dataclass
class Wrangler:
    """A running ``wrangler dev`` serving worker/index.js on 127.0.0.1."""

    url: str  # ws://127.0.0.1:<port>/livestore
    http_url: str
    log_path: Path
    startup_seconds: float

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _seed_cf_json() -> None:
    # miniflare refetches workers.cloudflare.com/cf.json when its cache is > 30 days old;
    # re-seeding (fresh mtime) keeps every run offline.
    target = NODE_MODULES / ".mf" / "cf.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INTEROP_DIR / "cf.json", target)


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], http_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            pytest.fail(f"interop: wrangler exited with {proc.returncode}:\n{log}", pytrace=False)
        try:
            with urllib.request.urlopen(http_url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)  # a readiness probe of an external process has no event to await
    log = log_path.read_text(errors="replace")
    pytest.fail(f"interop: wrangler not ready after {STARTUP_TIMEOUT}s:\n{log}", pytrace=False)


@pytest.fixture(scope="session")
def wrangler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wrangler]:
    """The real @livestore/sync-cf 0.3.1 backend under workerd, killed as a process group."""
    node = require_setup()
    _seed_cf_json()
    tmp = tmp_path_factory.mktemp("wrangler")
    port, inspector_port = free_port(), free_port()
    env = {
        **os.environ,
        # Without production mode a malformed ping hits a `debugger` statement and, with
        # wrangler's inspector attached, freezes the whole worker (livestore-wire.md §6).
        "NODE_ENV": "production",
        "WRANGLER_SEND_METRICS": "false",
        "DO_NOT_TRACK": "1",
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "WRANGLER_LOG_PATH": str(tmp / "logs"),
        "NO_COLOR": "1",
        "CI": "1",
    }
    cmd = [
        node,
        str(WRANGLER_JS),
        "dev",
        "--config",
        str(WORKER_CONFIG),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--inspector-port",
        str(inspector_port),
        "--persist-to",
        str(tmp / "state"),
        "--show-interactive-dev-session=false",
        "--log-level",
        "info",
    ]
    log_path = tmp / "wrangler.log"
    http_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=INTEROP_DIR,  # miniflare reads node_modules/.mf/cf.json relative to the cwd
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, http_url, log_path)
        server = Wrangler(
            url=f"ws://127.0.0.1:{port}/livestore",
            http_url=http_url,
            log_path=log_path,
            startup_seconds=time.monotonic() - started,
        )
        print(f"\ninterop: wrangler ready in {server.startup_seconds:.2f} s")
        yield server
    finally:
        _kill_group(proc)


@dataclass
class JsClient:
    """A running ``client.mjs``: a real LiveStore store syncing through makeCfSync."""

    proc: asyncio.subprocess.Process
    stderr_path: Path

    async def next_message(self, expected_type: str, within: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), within)
            except TimeoutError:
                pytest.fail(f"JS client: no {expected_type!r} within {within}s")
            if not line:
                rc = await self.proc.wait()
                err = self.stderr_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"JS client exited ({rc}) before {expected_type!r}:\n{err}")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # LiveStore's own console output shares stdout
            if isinstance(message, dict) and message.get("type") == expected_type:
                return message

    async def finish(self, within: float = 30.0) -> int:
        """Close stdin (ends --hold) and wait for a clean exit."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
async def js_client(tmp_path: Path) -> AsyncIterator[Any]:
    """Factory starting client.mjs processes; every one is killed at teardown."""
    node = require_setup()
    started: list[JsClient] = []

    async def start(
        url: str,
        store_id: str,
        *,
        token: str = TOKEN,
        client_id: str = "js-client",
        session_id: str = "js-session",
        commit: list[dict[str, Any]] | None = None,
        wait_cells: int = 0,
        wait_outputs: int = 0,
        hold: bool = False,
        timeout_ms: int = 30000,
    ) -> JsClient:
        cmd = [
            node,
            *node_websocket_flags(node),
            "--no-warnings",
            str(CLIENT_JS),
            "--url",
            url,
            "--store-id",
            store_id,
            "--token",
            token,
            "--client-id",
            client_id,
            "--session-id",
            session_id,
            "--wait-cells",
            str(wait_cells),
            "--wait-outputs",
            str(wait_outputs),
            "--timeout-ms",
            str(timeout_ms),
        ]
        if commit is not None:
            cmd += ["--commit", json.dumps(commit)]
        if hold:
            cmd.append("--hold")
        # stderr goes to a file: LiveStore can log a lot and a full pipe would block it.
        stderr_path = tmp_path / f"js-client-{len(started)}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=INTEROP_DIR,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                env={**os.environ, "NODE_ENV": "production"},
            )
        client = JsClient(proc, stderr_path)
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            client.kill()
            await client.proc.wait()


def runt_cell_events(n_cells: int, *, actor: str, tag: str) -> list[dict[str, Any]]:
    """Wire-form runt events (runt-schema.md §1) creating, filling and running ``n_cells``."""
    events: list[dict[str, Any]] = []
    for i in range(n_cells):
        cell_id = f"{tag}-cell-{i}"
        events += [
            {
                "name": "v2.CellCreated",
                "args": {
                    "id": cell_id,
                    "fractionalIndex": f"a{i}",
                    "cellType": "code",
                    "createdBy": actor,
                },
            },
            {
                "name": "v1.CellSourceChanged",
                "args": {"id": cell_id, "source": f"print({i})", "modifiedBy": actor},
            },
            {
                "name": "v1.ExecutionRequested",
                "args": {
                    "queueId": f"{cell_id}-q",
                    "cellId": cell_id,
                    "executionCount": 1,
                    "requestedBy": actor,
                },
            },
            {
                "name": "v1.TerminalOutputAdded",
                "args": {
                    "id": f"{cell_id}-out",
                    "cellId": cell_id,
                    "position": 0,
                    "content": {"type": "inline", "data": f"{i}\n"},
                    "streamName": "stdout",
                },
            },
        ]
    return events


def _check_token(payload: Any) -> None:
    # The same rule as worker/index.js, so both backends accept and refuse alike.
    if not isinstance(payload, dict) or payload.get("authToken") != TOKEN:
        raise ValueError("Invalid auth token")


@pytest.fixture(params=["wrangler", "embedded"])
async def sync_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Base URL (``ws://…/livestore``) of the real backend or of our embedded SyncServer.

    Tests taking it run against both; the real one is the reference for ours.
    """
    if request.param == "wrangler":
        server: Wrangler = request.getfixturevalue("wrangler")
        yield server.url
        return
    from runt_action.livestore.server import SyncServer

    embedded = SyncServer(tmp_path / "sync.sqlite", validate_payload=_check_token)
    await embedded.start()
    try:
        yield embedded.url
    finally:
        await embedded.stop()


@pytest.fixture
def store_id() -> str:
    return new_store_id()


@pytest.fixture
def cell_events() -> Any:
    """``cell_events(n, actor=..., tag=...)``: the runt events of an n-cell run."""
    return runt_cell_events
