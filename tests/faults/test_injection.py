"""A hostile neighbour on the same machine (issue 20): it can reach the embedded server's
port, but not push cells into the victim's runtime, pull its events or read its pages.

The victim is a real CLI run (no ``--view``: its server listens on an ephemeral port, which
the attacker finds in /proc as any local user can), held mid-run by a cell that waits for a
file, so its runtime is live while the attacks happen. The attacker uses our own CLI
(``--runtime none --sync-url ...``) and raw websockets. The viewer's pages have their own
suite (tests/viewer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from faultlib import base_env, read_ipynb, run_cli, write_notebook

from runt_action.livestore.protocol import encode_query

# A secret with every character that has an escaped spelling somewhere.
SECRET = "pä\"ss<&'wörd-7781"


def listening_ports(pid: int) -> list[int]:
    """TCP ports ``pid`` listens on (its socket inodes matched in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def victim_notebook(workspace: Path) -> Path:
    return write_notebook(
        workspace,
        "victim.yml",
        [
            {
                "id": "wait",
                "source": (
                    "import pathlib, time\n"
                    'print("victim waiting", flush=True)\n'
                    'while not pathlib.Path("go").exists():\n'
                    "    time.sleep(0.02)\n"
                ),
            },
            {"id": "show", "source": "print('victim saw', API_TOKEN)"},
        ],
    )


def foreign_notebook(directory: Path) -> Path:
    return write_notebook(
        directory,
        "foreign.yml",
        [
            {
                "id": "evil",
                "source": (
                    "import pathlib\n"
                    "pathlib.Path('pwned').write_text(str(globals().get('API_TOKEN')))\n"
                ),
            }
        ],
    )


async def attack(port: int, attacker: Path) -> dict[str, object]:
    """Every way in that the issue found open; returns what each attempt got."""
    base = f"http://127.0.0.1:{port}"
    sync = f"ws://127.0.0.1:{port}/livestore"
    seen: dict[str, object] = {}
    async with aiohttp.ClientSession() as http:
        for label, payload in (("none", None), ("wrong", {"authToken": "guess"})):
            try:
                async with http.ws_connect(f"{sync}?{encode_query('victim', payload)}") as ws:
                    await ws.send_str(json.dumps({"_tag": "WSMessage.PullReq", "requestId": "x"}))
                    seen[f"pull-{label}"] = (await ws.receive(timeout=5)).data
            except aiohttp.WSServerHandshakeError as exc:
                seen[f"pull-{label}"] = exc.status
        async with http.get(f"{base}/livestore?storeId=victim") as resp:
            seen["plain-http"] = resp.status
        headers = {"Origin": "http://evil.example"}
        query = encode_query("victim", None)
        try:
            async with http.ws_connect(f"{sync}?{query}", headers=headers):
                seen["cross-origin-sync"] = "open"
        except aiohttp.WSServerHandshakeError as exc:
            seen["cross-origin-sync"] = exc.status
    # Our own CLI as the attacker would use it, with no token and with a guessed one.
    for label, extra in (("cli-none", {}), ("cli-wrong", {"RUNT_API_KEY": "guess"})):
        run = await run_cli(
            attacker,
            str(foreign_notebook(attacker)),
            "--runtime",
            "none",
            "--sync-url",
            sync,
            "--notebook-id",
            "victim",
            "--startup-timeout",
            "5",
            env=base_env(attacker, extra=extra),
            limit=60,
        )
        seen[label] = run.returncode
        seen[label + "-err"] = run.stderr
    return seen


@pytest.mark.parametrize("runtime", ["python"])
async def test_a_local_process_cannot_push_cells_into_a_runs_runtime(
    tmp_path: Path, runtime: str
) -> None:
    workspace, attacker = tmp_path / "victim", tmp_path / "attacker"
    workspace.mkdir()
    attacker.mkdir()
    waiting = asyncio.Event()
    pids: list[int] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if "victim waiting" in line:
            pids.append(proc.pid)
            waiting.set()

    victim = asyncio.create_task(
        run_cli(
            workspace,
            str(victim_notebook(workspace)),
            "--runtime",
            runtime,
            "--secret-parameter",
            "API_TOKEN",
            "--notebook-id",
            "victim",
            "--output",
            str(workspace / "victim.ipynb"),
            env=base_env(workspace, extra={"API_TOKEN": SECRET}),
            on_line=on_line,
            limit=150,
        )
    )
    try:
        async with asyncio.timeout(90):
            await asyncio.wait(
                [victim, asyncio.ensure_future(waiting.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        assert waiting.is_set(), "the victim never reached its waiting cell"
        # Found as a neighbour finds it: the run's listening socket, from /proc.
        ports = listening_ports(pids[0])
        assert len(ports) == 1, ports
        seen = await attack(ports[0], attacker)
    finally:
        (workspace / "go").touch()
    run = await victim

    # No socket without the token, and no foreign origin.
    assert seen["pull-none"] == 400 and seen["pull-wrong"] == 400, seen
    assert seen["cross-origin-sync"] == 403, seen
    # Our own CLI is turned away with an infrastructure error, before anything runs.
    for label in ("cli-none", "cli-wrong"):
        assert seen[label] == 3, seen[label + "-err"]
        assert "auth" in str(seen[label + "-err"]).lower(), seen[label + "-err"]
    # The victim ran its own cells and nothing else.
    assert not (workspace / "pwned").exists() and not (attacker / "pwned").exists()
    assert run.returncode == 0, run.tail()
    nb = read_ipynb(workspace / "victim.ipynb")
    assert [c.id for c in nb.cells if c.cell_type == "code"][-2:] == ["wait", "show"]
    assert "evil" not in {c.id for c in nb.cells}
    # The secret went to the runtime, and from there nowhere: masked at the source.
    assert "victim saw ***" in run.stdout, run.stdout[-2000:]
    assert SECRET not in run.stdout + run.stderr
    assert quote(SECRET) not in run.stdout + run.stderr
