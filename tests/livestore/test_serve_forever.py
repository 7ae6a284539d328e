from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from livestore_helpers import FAST, ListMaterializer
from test_server_hooks import bytes_at_rest

from runt_action.errors import SyncAuthError
from runt_action.livestore import connect_store

SCRIPT = """
import asyncio, sys
from pathlib import Path
from runt_action.livestore import serve_forever
scrub = lambda text: text.replace("hush-value", "***")
asyncio.run(serve_forever("127.0.0.1", 0, Path(sys.argv[1]), "tok", scrub=scrub))
"""


async def test_serve_forever_prints_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        str(tmp_path / "db.sqlite"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        url = line.decode().strip()
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/livestore")
        try:
            await connect_store(
                url,
                "s",
                {"authToken": "bad"},
                ListMaterializer(),
                client_id="A",
                session_id="a",
                timeouts=FAST,
            )
            raise AssertionError("a bad token was accepted")
        except SyncAuthError:
            pass
        async with await connect_store(
            url,
            "s",
            {"authToken": "tok"},
            ListMaterializer(),
            client_id="A",
            session_id="a",
            timeouts=FAST,
        ) as st:
            await st.commit("v1.N", {"secret": "hush-value"})
            assert st.state.events[0].args == {"secret": "hush-value"}  # raw, live
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        at_rest = bytes_at_rest(tmp_path / "db.sqlite")
        assert b'{"secret":"***"}' in at_rest and b"hush-value" not in at_rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
