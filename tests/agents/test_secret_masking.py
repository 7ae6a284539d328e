"""Secrets are masked at the source: the agent commits no output holding one, in any spelling.

The real sync server's own log (``SyncServer.events_of``) is what ``--sync-log``,
``serve --db``, the viewer and app.runt.run would receive, so that is what is searched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runt_action.agents.registry import make_engine
from runt_action.agents.standalone import run_agent
from runt_action.livestore.server import SyncServer
from runt_action.masking import MASK, Scrubber
from runt_action.orchestrator.agent_host import AgentHost
from runt_action.timeouts import Timeouts

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook

# Every character a spelling changes: a quote, markup, an entity start, an apostrophe, non-ASCII
# (BMP and astral, which JSON spells as a surrogate pair).
SECRET = "tok\"<en>&'wört-🔑-9z"
# The cells build it from hex, so no cell source (the orchestrator's event) holds it.
DEFINE = f"S = bytes.fromhex({SECRET.encode().hex()!r}).decode()\n"


@pytest.fixture
def engine_kind() -> str:
    return "python"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def leaks(server: SyncServer, store_id: str, secret: str = SECRET) -> list[tuple[str, str]]:
    """(event name, spelling) for every stored event holding the secret in any spelling;
    JSON text inside a string (an ``application/json`` bundle sent as text) is searched too."""
    spellings = Scrubber([secret]).secrets
    assert len(spellings) >= 8  # raw, HTML (3 ways), markdown, JSON (2 ways), repr, ...
    found = []
    for event in server.events_of(store_id):
        texts = list(_strings(event.args))
        texts.append(json.dumps(event.args))
        texts.append(json.dumps(event.args, ensure_ascii=False))
        found += [(event.name, s) for text in texts for s in spellings if s in text]
    return found


CELLS = {
    "stream": "import sys\nprint('token:', S)\nprint(S, file=sys.stderr)\n",
    "json": (
        "import json\nprint(json.dumps({'t': S}))\n"
        "print(json.dumps({'t': S}, ensure_ascii=False))\n"
    ),
    "bundles": (
        "import html\n"
        "from IPython.display import HTML, JSON, Markdown, display\n"
        "display(HTML(f'<b>{html.escape(S)}</b> {S}'))\n"
        "display(JSON({'token': S, 'nested': {S: [S, {'deep': S}]}}))\n"
        "display(Markdown(f'**{S}**'))\n"
        "display({'text/plain': S, 'application/vnd.x+json': {'k': S}}, raw=True)\n"
        "h = display(Markdown('placeholder'), display_id=True)\n"
        "h.update(Markdown(f'updated {S}'))\n"
        "S\n"
    ),
    "error": "raise ValueError(f'bad token {S}')\n",
}


async def _run_all(notebook: Notebook) -> dict[str, tuple[str, dict[str, Any]]]:
    _, _, done = await notebook.run(DEFINE)
    assert done["status"] == "success"
    results = {}
    for name, source in CELLS.items():
        cell, _, completion = await notebook.run(source)
        results[name] = (cell, completion)
    await notebook.store.flush(timeout=10)
    return results


async def test_no_output_event_holds_a_secret(
    server: SyncServer,
    store_id: str,
    notebook: Notebook,
    spawn_agent: Callable[..., Any],
) -> None:
    await spawn_agent(secrets=[SECRET, "unused-other-secret"])
    results = await _run_all(notebook)
    assert leaks(server, store_id) == []

    stream_cell, _ = results["stream"]
    assert notebook.text(stream_cell) == f"token: {MASK}\n"
    assert notebook.text(stream_cell, "stderr") == f"{MASK}\n"
    json_cell, _ = results["json"]
    assert notebook.text(json_cell) == f'{{"t": "{MASK}"}}\n' * 2

    bundle_cell, completion = results["bundles"]
    assert completion["status"] == "success"
    outs = notebook.outputs(bundle_cell)
    datas = [o.representations for o in outs if o.representations]
    html = next(d["text/html"] for d in datas if "text/html" in d)
    assert html.data == f"<b>{MASK}</b> {MASK}"
    js = next(d["application/json"] for d in datas if "application/json" in d)
    assert js.data == {"token": MASK, "nested": {MASK: [MASK, {"deep": MASK}]}}
    markdown = [d["text/markdown"].data for d in datas if "text/markdown" in d]
    assert f"**{MASK}**" in markdown and f"updated {MASK}" in markdown
    raw = next(d for d in datas if "application/vnd.x+json" in d)
    assert raw["application/vnd.x+json"].data == {"k": MASK}
    assert raw["text/plain"].data == MASK
    result = next(o for o in outs if o.output_type == "multimedia_result")
    assert result.representations is not None
    assert result.representations["text/plain"].data == f"'{MASK}'"  # the repr, masked

    error_cell, completion = results["error"]
    assert completion["status"] == "error"
    assert completion["error"] == f"ValueError: bad token {MASK}"
    [err] = [o for o in notebook.outputs(error_cell) if o.output_type == "error"]
    content = json.loads(err.data or "")
    assert content["evalue"] == f"bad token {MASK}"
    assert any(MASK in line for line in content["traceback"])


async def test_without_secrets_outputs_are_committed_as_they_are(
    server: SyncServer,
    store_id: str,
    notebook: Notebook,
    spawn_agent: Callable[..., Any],
) -> None:
    """The baseline the test above needs: the same cells do leak when nothing is masked."""
    await spawn_agent()
    await _run_all(notebook)
    spellings = {s for _, s in leaks(server, store_id)}
    assert SECRET in spellings or json.dumps(SECRET)[1:-1] in spellings


async def test_masking_never_changes_what_an_event_refers_to(
    notebook: Notebook, spawn_agent: Callable[..., Any]
) -> None:
    """A (silly) secret that is also a MIME type part, a stream name and an output type:
    only what the cell produced is masked, never ids, MIME types or names."""
    h: AgentHarness = await spawn_agent(secrets=["plain", "stdout", "inline"])
    cell, _, done = await notebook.run("print('plain stdout inline')\n'plain'\n")
    assert done["status"] == "success"
    assert notebook.text(cell) == f"{MASK} {MASK} {MASK}\n"
    result = next(o for o in notebook.outputs(cell) if o.output_type == "multimedia_result")
    assert result.representations is not None
    assert list(result.representations) == ["text/plain"]
    assert result.representations["text/plain"].data == f"'{MASK}'"
    assert h.agent.session_id in notebook.store.state.sessions


@pytest.mark.pyodide
@pytest.mark.parametrize("engine_kind", ["pyodide"])
async def test_pyodide_outputs_are_masked_too(
    server: SyncServer,
    store_id: str,
    notebook: Notebook,
    spawn_agent: Callable[..., Any],
    engine_kind: str,
) -> None:
    await spawn_agent(secrets=[SECRET])
    cell, _, done = await notebook.run(DEFINE + "import json\nprint(S, json.dumps(S))\nS\n")
    assert done["status"] == "success"
    _, _, error = await notebook.run(DEFINE + "raise ValueError(S)\n")
    assert error["status"] == "error"
    await notebook.store.flush(timeout=10)
    assert leaks(server, store_id) == []
    assert notebook.text(cell) == f'{MASK} "{MASK}"\n'
    assert error["error"] == f"ValueError: {MASK}"


async def test_the_in_process_host_passes_its_secrets_on(
    server: SyncServer, store_id: str, notebook: Notebook, tmp_path: Path
) -> None:
    """AgentHost on the orchestrator's own Store, as orchestrator.session starts it."""
    host = AgentHost(
        notebook.store,
        make_engine("python", cwd=tmp_path),
        runtime_id="host-rt",
        session_id="host-session",
        display_name="host",
        secrets=(SECRET,),
    )
    host.start()
    try:
        cell, _, done = await notebook.run(DEFINE + "print(S)\n")
        assert done["status"] == "success"
        assert notebook.text(cell) == f"{MASK}\n"
        assert leaks(server, store_id) == []
    finally:
        await host.stop(10.0)
        await host.engine_closed()


async def test_a_standalone_agent_masks_its_secrets(
    server: SyncServer, store_id: str, notebook: Notebook
) -> None:
    ready = asyncio.Event()
    task = asyncio.create_task(
        run_agent(
            notebook_id=store_id,
            sync_url=server.url,
            runtime="python",
            timeouts=Timeouts(connect=10, request=10, startup=60),
            handle_signals=False,
            ready=ready,
            secrets=[SECRET],
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 60)
        cell, _, _ = await notebook.run(DEFINE + "raise RuntimeError(S)\n")
        assert leaks(server, store_id) == []
        [err] = [o for o in notebook.outputs(cell) if o.output_type == "error"]
        assert json.loads(err.data or "")["evalue"] == MASK
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_secret_written_in_two_pieces_is_masked_whole(
    server: SyncServer,
    store_id: str,
    notebook: Notebook,
    spawn_agent: Callable[..., Any],
) -> None:
    """The halves arrive 0.3 s apart, in separate kernel flushes: the sink holds back the
    tail that begins the secret, so the joined text is masked, not its pieces."""
    await spawn_agent(secrets=[SECRET])
    _, _, done = await notebook.run(DEFINE)
    assert done["status"] == "success"
    cell, _, completion = await notebook.run(
        "import sys, time\n"
        "half = len(S) // 2\n"
        "sys.stdout.write('key=' + S[:half]); sys.stdout.flush()\n"
        "time.sleep(0.3)\n"
        "sys.stdout.write(S[half:] + ' end\\n'); sys.stdout.flush()\n"
    )
    assert completion["status"] == "success"
    await notebook.store.flush(timeout=10)
    assert notebook.text(cell) == f"key={MASK} end\n"
    pieces = [o.data for o in notebook.outputs(cell) if o.output_type == "terminal" and o.data]
    assert len(pieces) >= 2, pieces  # "key=" went out on its own: the wait was real
    half = len(SECRET) // 2
    assert not any(SECRET[:half] in str(p) or SECRET[half:] in str(p) for p in pieces)
    assert leaks(server, store_id) == []
