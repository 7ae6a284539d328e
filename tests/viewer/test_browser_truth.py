"""What a person sees is what the run decided, and tidy (issue #26), in a real Chromium.

A real run (the python runtime, a real ipykernel) writes into a real sync server with the
viewer mounted; the live page and the HTML report it leaves are opened in Debian's Chromium
(tests/viewer/test_browser.py's launcher). pandas is not installed here, so the DataFrames
are pandas' ``to_html`` shape made by plain Python in the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import ARGS, WAIT_MS, _shot_dir, chromium
from viewer_helpers import Connect, cell_events, commit_all, run_events

from runt_action.livestore import SyncServer
from runt_action.schema.state import materialize
from runt_action.schema.verdict import cell_verdict, run_verdict
from runt_action.viewer import Viewer, attach_viewer

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = r"""
metadata:
  title: Truth demo
cells:
  - id: intro
    celltype: markdown
    source: |
      Ratio $\frac{a}{b}$, and a price of $5 and $6.
  - id: helpers
    source: |
      from IPython.display import HTML, display

      def frame_html(rows):
          style = ("<style scoped>\n    .dataframe tbody tr th:only-of-type {\n"
                   "        vertical-align: middle;\n    }\n\n    .dataframe thead th {\n"
                   "        text-align: right;\n    }\n</style>\n")
          head = ('<thead>\n    <tr style="text-align: right;">\n      <th></th>\n'
                  '      <th>a</th>\n      <th>b</th>\n      <th>label</th>\n    </tr>\n'
                  '  </thead>\n')
          body = "".join(
              f"    <tr>\n      <th>{i}</th>\n      <td>{i}</td>\n      <td>{i / 2:.1f}</td>\n"
              f"      <td>row {i}</td>\n    </tr>\n" for i in range(rows))
          table = (f'<table border="1" class="dataframe">\n  {head}  <tbody>\n{body}'
                   '  </tbody>\n</table>')
          return {"text/html": f"<div>\n{style}{table}\n</div>", "text/plain": f"<{rows} rows>"}
  - id: oops
    allow_error: true
    source: |
      raise ValueError("allowed to fail")
  - id: small
    source: |
      display(frame_html(5), raw=True)
  - id: tall
    source: |
      display(frame_html(300), raw=True)
  - id: hostile
    source: |
      display(HTML("<b>bold</b><script>console.log('PWNED-script'); alert(1)</script>"
                   "<img src=x onerror=\"console.log('PWNED-onerror'); alert(2)\">"))
  - id: last
    source: |
      print("done")
"""


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    async with chromium(
        tmp_path / "profile", ARGS, viewport={"width": 1100, "height": 900}
    ) as context:
        yield context


class Seen:
    """Every console message and dialog a page produced."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.missing: list[str] = []  # URLs answered 404
        page.on("response", lambda r: r.status == 404 and self.missing.append(r.url))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

        async def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)


async def _run(tmp_path: Path, server: SyncServer, notebook_id: str) -> tuple[int, str]:
    notebook = tmp_path / "truth.yml"
    notebook.write_text(NOTEBOOK)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        "run",
        str(notebook),
        "--runtime",
        "python",
        "--sync-url",
        server.url,
        "--notebook-id",
        notebook_id,
        "--output",
        str(tmp_path / "out" / "truth.ipynb"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), WAIT_MS / 1000 * 3)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


_BOXES = """cell => {
  const box = cell.querySelector('div.html-output');
  const table = box.querySelector('table');
  return {box: box.getBoundingClientRect().height, table: table.getBoundingClientRect().height,
          scroll: box.scrollHeight, client: box.clientHeight,
          rows: table.querySelectorAll('tbody tr').length};
}"""


async def _check_rendering(page: Any, seen: Seen) -> None:
    """What both the live page and the report must show."""
    small = await page.eval_on_selector("#cell-small", _BOXES)
    assert small["rows"] == 5
    assert small["box"] - small["table"] <= 40, small  # the box is the table's own size
    tall = await page.eval_on_selector("#cell-tall", _BOXES)
    assert tall["rows"] == 300
    assert tall["box"] >= tall["table"] and tall["scroll"] <= tall["client"] + 1, tall  # whole
    assert tall["table"] > 300 * 15
    assert await page.locator("#cell-intro math mfrac").count() == 1
    assert "a price of $5 and $6" in await page.inner_text("#cell-intro")
    assert await page.inner_text("#cell-hostile div.html-output b") == "bold"
    assert "removed 1 script" in await page.inner_text("#cell-hostile")
    assert await page.locator("#cell-hostile script").count() == 0
    await asyncio.sleep(0)  # (no timing assumption: the page is loaded; nothing is pending)
    assert seen.dialogs == []
    assert not [m for m in seen.console if "PWNED" in m], seen.console


async def test_the_live_page_and_report_tell_the_runs_verdict(browser: Any, tmp_path: Path) -> None:
    shots = _shot_dir(tmp_path)
    server = SyncServer()
    viewer = attach_viewer(server)
    await server.start()
    try:
        page = await browser.new_page()
        seen = Seen(page)
        await page.goto(viewer.url("truth"))
        await page.wait_for_selector("#live-state.connected", timeout=WAIT_MS)
        code, log = await _run(tmp_path, server, "truth")
        assert code == 0, log
        assert "allowed-error" in log

        # The store holds the verdict, for any LiveStore client (here: a fold of its log).
        state = materialize(server.events_of("truth"))
        verdict = run_verdict(state)
        assert verdict is not None and verdict.final
        assert verdict.status == "success" and verdict.counts["allowed-error"] == 1
        oops = cell_verdict(state, "oops")
        assert oops is not None and oops.status == "allowed-error"

        # The page that watched the run live says what the report says.
        await page.wait_for_selector("#nb-header .badge.run.success", timeout=WAIT_MS)
        assert await page.inner_text("#nb-header .badge.run") == "✓ success"
        pills = await page.inner_text("#nb-header .run-status")
        assert "1 allowed-error" in pills and "failed" not in pills
        assert await page.inner_text("#cell-oops .badge") == "⚠ allowed error"
        await _check_rendering(page, seen)
        await page.screenshot(path=str(shots / "truth-live.png"), full_page=True)

        # A page opened after the fact (serve's case) and the index agree.
        later = await browser.new_page()
        later_seen = Seen(later)
        await later.goto(viewer.url("truth"))
        assert await later.inner_text("#nb-header .badge.run") == "✓ success"
        await _check_rendering(later, later_seen)
        index = await browser.new_page()
        await index.goto(viewer.index_url)
        row = index.locator("table.notebooks tr", has_text="Truth demo")
        assert await row.locator(".badge").inner_text() == "✓ success"

        # The report, offline, renders the same way.
        report = await browser.new_page()
        report_seen = Seen(report)
        await report.goto((tmp_path / "out" / "truth.html").as_uri(), wait_until="load")
        assert await report.inner_text(".badge.run") == "✓ success"
        await _check_rendering(report, report_seen)
        assert not [m for m in report_seen.console if m.startswith("error")], report_seen.console
        await report.screenshot(path=str(shots / "truth-report.png"), full_page=True)
    finally:
        await server.stop()


async def test_the_index_page_updates_while_a_second_notebook_starts(
    browser: Any, served: tuple[SyncServer, Viewer], writer: Connect
) -> None:
    _, viewer = served
    first = await writer("nb-one")
    await commit_all(first, [*cell_events("c1", "a0", "print(1)")])
    page = await browser.new_page()
    seen = Seen(page)
    await page.goto(viewer.index_url)
    await page.wait_for_selector("#live-state.connected", timeout=WAIT_MS)
    await page.evaluate("window.sameDocument = true")  # gone if the page reloaded
    assert await page.locator("#cells tr").count() == 1

    second = await writer("nb-two")
    await commit_all(second, [*cell_events("c1", "a0", "print(2)")])
    await page.wait_for_selector('#cells tr[data-key="nb-two"]', timeout=WAIT_MS)
    assert "2 notebooks" in await page.inner_text("#nb-header")

    await commit_all(first, run_events("c1", "q1", "1\n"))  # nb-one's cell runs and ends
    await page.wait_for_selector('#cells tr[data-key="nb-one"] .badge.success', timeout=WAIT_MS)
    assert await page.evaluate("window.sameDocument") is True
    keys = await page.eval_on_selector_all("#cells tr", "rows => rows.map(r => r.dataset.key)")
    assert sorted(keys) == ["nb-one", "nb-two"]
    assert [m for m in seen.console if m.startswith("error")] == [] and seen.missing == []
    with contextlib.suppress(Exception):
        await page.close()
