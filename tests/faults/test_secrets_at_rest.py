"""No secret at rest: a secret parameter printed every way a cell can, then every file left
behind (workspace and temp dir, SQLite and its -wal included) searched for its bytes.

By default the embedded sync server keeps its event log in memory, so no
``runt-sync.sqlite`` (the raw outputs of every cell) is left in the workspace that users
upload as an artifact (issue 10, item 2).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import markupsafe
from faultlib import (
    Run,
    base_env,
    cell_by_id,
    files_containing,
    files_named,
    read_ipynb,
    run_cli,
    write_notebook,
)

# Letters and digits only: every escaped spelling (markdown, JSON, HTML) is the same bytes.
SECRET = "S3cretVx9QzK7781pTq"
# Every way a cell shows a value: terminal, result, display, error.
CELLS = ("terminal", "result", "display", "error")


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace and a private TMPDIR, both under tmp_path, so the walk sees everything."""
    workspace, tmp = tmp_path / "workspace", tmp_path / "tmp"
    workspace.mkdir()
    tmp.mkdir()
    return workspace, tmp


# Every way a cell shows a value: terminal, result, display (HTML, Markdown, JSON), error.
SHOWING = [
    {"id": "terminal", "source": 'print("terminal:", API_TOKEN)'},
    {"id": "result", "source": "API_TOKEN"},
    {
        "id": "display",
        "source": (
            "import json\n"
            "from IPython.display import HTML, Markdown, display\n"
            'display(HTML(f"<b>{API_TOKEN}</b>"))\n'
            'display(Markdown(f"**{API_TOKEN}**"))\n'
            "display(API_TOKEN)\n"
            "print(json.dumps({'k': API_TOKEN}))\n"
        ),
    },
    {"id": "error", "source": 'raise ValueError("error: " + API_TOKEN)'},
]


async def run_showing(tmp_path: Path, secret: str, *args: str) -> tuple[Run, Any]:
    """A run whose cells show the secret parameter every way; its executed notebook."""
    workspace, tmp = layout(tmp_path)
    notebook = write_notebook(workspace, "secret.yml", SHOWING)
    env = base_env(workspace, github=True, extra={"API_TOKEN": secret, "TMPDIR": str(tmp)})
    run = await run_cli(
        workspace,
        str(notebook),
        "--runtime",
        "python",
        "--secret-parameter",
        "API_TOKEN",
        "--output",
        str(workspace / "secret.ipynb"),
        *args,
        env=env,
        limit=90,
    )
    assert run.returncode == 1, run.tail()  # the last cell raises
    # The cells really produced the secret (or the test would prove nothing).
    assert "terminal:" in run.stdout, run.stdout[-2000:]
    nb = read_ipynb(workspace / "secret.ipynb")
    silent = [cid for cid in CELLS if not cell_by_id(nb, cid).outputs]
    assert not silent, f"cells without output prove nothing: {silent}"
    return run, nb


async def test_a_secret_is_in_no_file_the_run_leaves(tmp_path: Path) -> None:
    summary = str(tmp_path / "workspace" / "summary-copy.md")
    await run_showing(tmp_path, SECRET, "--summary", summary)
    leaked = files_containing(tmp_path, SECRET.encode())
    assert not leaked, f"the secret is stored in {[str(p.relative_to(tmp_path)) for p in leaked]}"


async def test_no_event_log_is_left_in_the_workspace_by_default(tmp_path: Path) -> None:
    workspace, tmp = layout(tmp_path)
    notebook = write_notebook(workspace, "plain.yml", [{"id": "hi", "source": "print('hi')"}])
    run = await run_cli(
        workspace,
        str(notebook),
        "--runtime",
        "python",
        "--output",
        str(workspace / "plain.ipynb"),
        env=base_env(workspace, github=True, extra={"TMPDIR": str(tmp)}),
        limit=90,
    )
    assert run.returncode == 0, run.tail()
    logs = files_named(tmp_path, "*sqlite*")
    assert not logs, f"an event log was left behind: {logs}"


# Every character that has an escaped spelling somewhere (HTML, JSON, markdown, URLs).
HOSTILE_SECRET = "pä\"ss<&'wörd-Vx9Q"


def spellings(secret: str) -> set[bytes]:
    """The byte strings a leaked secret would show up as in a file we write."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        str(markupsafe.escape(secret)),
        repr(secret)[1:-1],
    }
    return {f.encode() for f in forms}


async def test_a_secret_with_quotes_markup_and_umlauts_is_in_no_file_or_store(
    tmp_path: Path,
) -> None:
    """With ``--sync-log`` too: the agent masks at the source, so not even the event log
    (which, unlike the reports, stores what the agent sent) holds any spelling of it."""
    events = tmp_path / "workspace" / "events.sqlite"
    run, nb = await run_showing(tmp_path, HOSTILE_SECRET, "--sync-log", str(events))
    assert events.exists()
    assert "***" in json.dumps(nb.cells[-1].outputs)
    # The log's one legitimate mention: the runner's own ::add-mask:: command.
    log = "".join(
        line
        for line in (run.stdout + run.stderr).splitlines(keepends=True)
        if not line.startswith("::add-mask::")
    )
    for needle in spellings(HOSTILE_SECRET):
        leaked = files_containing(tmp_path, needle)
        assert not leaked, f"{needle!r} is stored in {leaked}"
        assert needle not in log.encode()
