"""Issue #21 end to end, on both runtimes: a papermill user's notebook comes back as papermill
would return it when it calls ``sys.exit(0)``, updates a display from a later cell, or is
stopped by Ctrl-C mid-cell."""

from __future__ import annotations

import asyncio
import html
import os
import re
import signal
from pathlib import Path
from typing import Any

EXIT_AND_UPDATE = """\
metadata:
  title: Ends early
cells:
  - id: show
    source: h = display("a", display_id=True)
  - id: upd
    source: |
      h.update("b")
      print("updated")
  - id: stop
    source: |
      import sys
      print("bye")
      sys.exit(0)
  - id: later
    source: print("LATER")
"""

INTERRUPTED = """\
metadata:
  title: Interrupted
cells:
  - id: first
    source: print("first ok")
  - id: slow
    source: |
      import time
      print("before", flush=True)
      time.sleep(120)
      print("AFTER")
  - id: later
    source: print("LATER")
"""

REASON = "the notebook called sys.exit(0) in cell stop"


def _cell(nb: dict[str, Any], cell_id: str) -> dict[str, Any]:
    return next(c for c in nb["cells"] if c["metadata"]["runt"]["id"] == cell_id)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _section(page: str, cell_id: str) -> str:
    start = page.index(f'id="cell-{cell_id}"')
    end = page.find("<section", start)
    return page[start : end if end >= 0 else len(page)]


async def test_sys_exit_zero_ends_cleanly_and_update_display_reaches_back(
    cli: Any, runtime: str, tmp_path: Path
) -> None:
    notebook = tmp_path / "ends.yml"
    notebook.write_text(EXIT_AND_UPDATE)
    run = await cli(tmp_path, notebook, "--runtime", runtime, limit=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.outputs["status"] == "success"
    assert run.status_of("stop") == "success"
    assert run.status_of("later") == "skipped"
    assert "LATER" not in run.stdout
    nb = run.ipynb
    assert nb is not None
    # update_display from cell "upd" rewrote cell "show"'s output, as papermill has it.
    [shown] = _cell(nb, "show")["outputs"]
    assert shown["output_type"] == "display_data"
    assert _text(shown["data"]["text/plain"]) == "'b'"
    # The exit cell keeps its SystemExit output (papermill does), and later cells say why.
    stop = _cell(nb, "stop")
    assert stop["metadata"]["runt"]["status"] == "success"
    assert [o.get("ename") for o in stop["outputs"] if o["output_type"] == "error"] == [
        "SystemExit"
    ]
    later = _cell(nb, "later")
    assert later["metadata"]["runt"]["reason"] == REASON
    assert later.get("outputs") == []
    assert REASON in run.summary.replace("\\", "")  # markdown escapes
    assert REASON in run.stdout  # the plain-text report
    assert "::error" not in run.stdout
    page = (tmp_path / "executed.html").read_text()
    show = html.unescape(_section(page, "show"))
    assert "'b'" in show and "'a'" not in show
    assert REASON in html.unescape(page)


async def test_sigint_mid_cell_keeps_its_output_and_the_interrupt(
    cli: Any, runtime: str, tmp_path: Path
) -> None:
    notebook = tmp_path / "interrupted.yml"
    notebook.write_text(INTERRUPTED)
    sent: list[int] = []

    def on_line(line: str, proc: asyncio.subprocess.Process) -> None:
        if re.search(r"\bbefore\b", line) and not sent:
            sent.append(1)
            # The cell is in its sleep by now or very soon; the interrupt finds it there.
            asyncio.get_running_loop().call_later(0.5, os.kill, proc.pid, signal.SIGINT)

    run = await cli(tmp_path, notebook, "--runtime", runtime, on_line=on_line, limit=180)
    assert sent, run.stdout[-3000:]
    assert run.returncode == 3, run.stderr[-3000:]
    assert run.outputs["status"] == "cancelled"
    assert run.status_of("slow") == "cancelled"
    assert run.status_of("later") == "skipped"
    nb = run.ipynb
    assert nb is not None
    slow = _cell(nb, "slow")
    streams = "".join(_text(o["text"]) for o in slow["outputs"] if o["output_type"] == "stream")
    assert streams == "before\n"
    [err] = [o for o in slow["outputs"] if o["output_type"] == "error"]
    assert err["ename"] == "KeyboardInterrupt"
    assert _cell(nb, "first")["outputs"][0]["text"] == ["first ok\n"]
    assert "LATER" not in run.stdout
