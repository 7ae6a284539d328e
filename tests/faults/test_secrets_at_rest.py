"""No secret at rest: a secret parameter printed every way a cell can, then every file left
behind (workspace and temp dir, SQLite and its -wal included) searched for its bytes.

By default the embedded sync server keeps its event log in memory, so no
``runt-sync.sqlite`` (the raw outputs of every cell) is left in the workspace that users
upload as an artifact (issue 10, item 2).
"""

from __future__ import annotations

from pathlib import Path

from faultlib import (
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


async def test_a_secret_is_in_no_file_the_run_leaves(tmp_path: Path) -> None:
    workspace, tmp = layout(tmp_path)
    notebook = write_notebook(
        workspace,
        "secret.yml",
        [
            {"id": "terminal", "source": 'print("terminal:", API_TOKEN)'},
            {"id": "result", "source": "API_TOKEN"},
            {
                "id": "display",
                "source": (
                    "from IPython.display import HTML, display\n"
                    'display(HTML(f"<b>{API_TOKEN}</b>"))\n'
                    "display(API_TOKEN)\n"
                ),
            },
            {"id": "error", "source": 'raise ValueError("error: " + API_TOKEN)'},
        ],
    )
    env = base_env(workspace, github=True, extra={"API_TOKEN": SECRET, "TMPDIR": str(tmp)})
    run = await run_cli(
        workspace,
        str(notebook),
        "--runtime",
        "python",
        "--secret-parameter",
        "API_TOKEN",
        "--output",
        str(workspace / "secret.ipynb"),
        "--summary",
        str(workspace / "summary-copy.md"),
        env=env,
        limit=90,
    )
    assert run.returncode == 1, run.tail()  # the last cell raises
    # The cells really produced the secret (or the test would prove nothing).
    assert "terminal:" in run.stdout, run.stdout[-2000:]
    nb = read_ipynb(workspace / "secret.ipynb")
    silent = [cid for cid in CELLS if not cell_by_id(nb, cid).outputs]
    assert not silent, f"cells without output prove nothing: {silent}"
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
