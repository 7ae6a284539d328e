"""The HTML report next to the .ipynb on every run, and `--view`: the live page served by the
embedded server during the run and after it, until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from runt_action.report.escape import escape_md
from tests.e2e.conftest import _env


async def test_every_run_leaves_an_html_report(
    cli: Any, repo: Path, tmp_path: Path, runtime: str
) -> None:
    run = await cli(tmp_path, repo / "notebooks" / "example-stdlib.yml", "--runtime", runtime)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (tmp_path / "executed.html").read_text()
    assert "<html" in html and "Daily sales report" in html
    # The embedded-run note names something that really shows the notebook.
    # Under Actions it is named relative to the workspace (an upload-artifact path).
    assert escape_md("executed.html") in run.summary
    assert str(tmp_path) not in run.summary.replace("\\", "")


async def test_no_html_turns_it_off(cli: Any, repo: Path, tmp_path: Path) -> None:
    run = await cli(
        tmp_path, repo / "notebooks" / "example-stdlib.yml", "--runtime", "python", "--no-html"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (tmp_path / "executed.html").exists()


async def test_view_serves_the_live_page_until_ctrl_c(notebooks: Path, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runt_action",
        str(notebooks / "retry.yml"),
        "--runtime",
        "python",
        "--view",
        "--notebook-id",
        "viewed",
        cwd=tmp_path,
        env=_env(tmp_path, {"GITHUB_ACTIONS": "", "CI": ""}),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(120):
            url = code = None
            while True:
                line = (await proc.stderr.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
                found = re.search(
                    r"live notebook: (http://127\.0\.0\.1:\d+/nb/viewed)\?code=(\S+)", line
                )
                if found:
                    url, code = found.groups()
                if "stays at" in line:
                    break
            assert url is not None and lines[0].count("live notebook") + 1  # printed early
            async with aiohttp.ClientSession() as stranger, stranger.get(url) as page:
                assert page.status == 401  # the link without its one-time code opens nothing
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                async with http.get(f"{url}?code={code}") as page:
                    assert page.status == 200
                    body = await page.text()
                async with http.get(url.split("/nb/")[0] + "/") as index:
                    assert "viewed" in await index.text()
            assert "flaky" in body  # a cell of retry.yml, rendered after the run
            os.killpg(proc.pid, signal.SIGINT)
            assert await proc.wait() in (0, 1)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
