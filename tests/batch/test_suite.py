"""``runt-automate test`` end to end: real processes, real kernels, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from tests.batch.conftest import run_command

NAMES = ["nbs/fail.yml", "nbs/pass.yml", "nbs/skipped.yml", "nbs/sub/nb.ipynb"]


async def test_a_folder_runs_as_one_suite(suite_dir: Path) -> None:
    run = await run_command(
        suite_dir, "test", "nbs", "--runtime", "python", "--junit-xml", "junit.xml"
    )
    assert run.returncode == 1, run.stderr[-3000:]  # the worst: one notebook failed
    out = suite_dir / "runt-output"
    # Every notebook has its own executed .ipynb and HTML report under its relative path;
    # hidden directories, checkpoints and runt-output/ were not discovered.
    for name in NAMES:
        stem = out / Path(name).with_suffix("")
        assert stem.with_suffix(".ipynb").is_file(), name
        assert stem.with_suffix(".html").is_file(), name
    assert not (out / "nbs" / ".hidden").exists()
    assert not (out / "nbs" / "runt-output").exists()
    assert not (out / "nbs" / "sub" / ".ipynb_checkpoints").exists()
    executed = nbformat.read(out / "nbs" / "pass.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "hello from pass\n"
    # The results file and the index page list all four, in sorted order.
    results = json.loads((out / "runt-results.json").read_text())
    assert results["format"] == "runt-results" and results["version"] == 1
    assert [e["name"] for e in results["entries"]] == NAMES
    assert [e["status"] for e in results["entries"]] == ["failed", *["success"] * 3]
    index = (out / "index.html").read_text()
    for name in NAMES:
        assert f'href="{Path(name).with_suffix(".html").as_posix()}"' in index
    # One job summary table, a row per notebook with its first error and line.
    rows = [line for line in run.summary.splitlines() if line.startswith("| nbs")]
    assert len(rows) == 4
    rows = [row.replace("\\", "") for row in rows]  # escape_md: every punctuation escaped
    assert "❌ failed" in rows[0] and "ValueError: the answer is wrong" in rows[0]
    assert "nbs/fail.yml:10" in rows[0].replace("\\", "")
    assert "2/3 passed, 1 skipped" in rows[2]
    # One ::error per failing notebook, at the line that raised.
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=nbs/fail.yml,line=10,")
    # Step outputs of the suite.
    assert run.outputs["status"] == "failed"
    assert run.outputs["failed-notebooks"] == "nbs/fail.yml"
    assert run.outputs["failed-cells"] == "nbs/fail.yml:boom"
    assert [r["status"] for r in json.loads(run.outputs["results"])][1:] == ["success"] * 3
    assert run.outputs["junit-xml"] == "junit.xml"
    _check_junit(suite_dir / "junit.xml")


def _check_junit(path: Path) -> None:
    """Read back by junitparser (counts, names, messages, times) and rendered by junit2html."""
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert sorted(suites) == NAMES
    fail = suites["nbs/fail.yml"]
    assert (fail.tests, fail.failures, fail.errors, fail.skipped) == (3, 1, 0, 1)
    cases = {c.name: c for c in fail}
    assert sorted(cases) == ["after", "boom", "fine"]
    assert all(c.classname == "nbs/fail.yml" for c in fail)
    (failure,) = cases["boom"].result
    assert isinstance(failure, Failure)
    assert failure.message == "ValueError: the answer is wrong"
    assert failure.type == "ValueError"
    assert 'raise ValueError("the answer is wrong")' in (failure.text or "")
    assert isinstance(cases["after"].result[0], Skipped)
    assert cases["after"].result[0].message == "an earlier cell failed"
    assert cases["fine"].system_out == "before the failure\n"
    assert 0 < cases["boom"].time < 60 and fail.time >= cases["boom"].time
    skipped = suites["nbs/skipped.yml"]
    assert (skipped.tests, skipped.failures, skipped.skipped) == (3, 0, 1)
    nb = suites["nbs/sub/nb.ipynb"]
    assert [c.name for c in nb] == ["c1"]  # the markdown cell is not a test
    assert sum(s.tests for s in xml) == 10
    html = path.with_suffix(".html")
    subprocess.run(
        [sys.executable, "-m", "junit2htmlreport", str(path), str(html)],
        check=True,
        capture_output=True,
    )
    page = html.read_text()
    assert "nbs/fail.yml" in page and "the answer is wrong" in page


async def test_exitfirst_stops_and_ignore_drops(suite_dir: Path) -> None:
    run = await run_command(
        suite_dir, "test", "nbs", "-x", "--ignore", "nbs/sub", "--runtime", "python"
    )
    assert run.returncode == 1, run.stderr[-3000:]  # the failure, not the ones never run
    results = json.loads(run.outputs["results"])
    assert [r["notebook"] for r in results] == NAMES[:3]  # --ignore nbs/sub
    assert [r["status"] for r in results] == ["failed", "not-run", "not-run"]
    assert run.outputs["status"] == "failed"  # never run is shown, but is not worse
    assert results[1]["first-error"].startswith("not run: -x/--exitfirst stopped")
    assert not (suite_dir / "runt-output" / "nbs" / "sub").exists()
    summary = run.summary.replace("\\", "")
    assert "| nbs/pass.yml | ⏭️ not-run |" in summary and "1 failed, 2 not-run" in summary


async def test_no_notebook_found_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a notebook")
    run = await run_command(tmp_path, "test", "empty")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "runt-automate test: no notebook (.yml, .yaml, .ipynb) found in empty"
    ]


async def test_bad_input_anywhere_runs_nothing(suite_dir: Path) -> None:
    (suite_dir / "nbs" / "broken.yml").write_text("cells:\n  - id: a\n    source: [1\n")
    run = await run_command(suite_dir, "test", "nbs", "--runtime", "python")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbs/broken.yml:"), run.stderr
    assert not (suite_dir / "runt-output").exists()


async def test_notebooks_input_runs_the_suite_in_one_step(suite_dir: Path) -> None:
    """The action: `notebooks` (one path or glob per line) and `junit-xml`, no arguments."""
    run = await run_command(
        suite_dir,
        env={
            "INPUT_NOTEBOOKS": "nbs/pass.yml\nnbs/sub/*.ipynb\n",
            "INPUT_JUNIT-XML": "j.xml",
            "INPUT_RUNTIME": "python",
        },
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r["notebook"] for r in json.loads(run.outputs["results"])] == [
        "nbs/pass.yml",
        "nbs/sub/nb.ipynb",
    ]
    assert sum(s.tests for s in JUnitXml.fromfile(str(suite_dir / "j.xml"))) == 4
    assert "2 notebooks" in run.summary


async def test_the_pool_isolates_notebooks(pool_dir: Path) -> None:
    """A global set in one notebook is not seen by the next; a runtime that dies fails its
    own notebook only. Each runs on a runtime of its own, started ahead (the warm pool)."""
    run = await run_command(pool_dir, "test", "pool", "--runtime", "python", "--junit-xml", "j.xml")
    results = json.loads(run.outputs["results"])
    assert [r["status"] for r in results] == ["success", "error", "success"], run.stderr
    assert run.returncode == 3  # the worst: a runtime failure
    assert "clean runtime" in run.stdout
    assert "LATER" not in run.stdout
    xml = {s.name: s for s in JUnitXml.fromfile(str(pool_dir / "j.xml"))}
    dead = xml["pool/b_dies.yml"]
    assert dead.failures + dead.errors >= 1
    assert (xml["pool/c_checks.yml"].failures, xml["pool/c_checks.yml"].errors) == (0, 0)


async def test_jobs_2_prefixes_every_output_line(pool_dir: Path) -> None:
    run = await run_command(pool_dir, "test", "pool", "--runtime", "python", "--jobs", "2")
    assert "[pool/a_sets_global.yml] a set it" in run.stdout.splitlines()
    assert "[pool/c_checks.yml] clean runtime" in run.stdout.splitlines()
    assert [r["status"] for r in json.loads(run.outputs["results"])] == [
        "success",
        "error",
        "success",
    ]


@pytest.mark.pyodide
async def test_a_suite_on_pyodide(suite_dir: Path) -> None:
    run = await run_command(
        suite_dir,
        "test",
        "nbs/pass.yml",
        "nbs/fail.yml",
        "--runtime",
        "pyodide",
        "--jobs",
        "2",
        "--junit-xml",
        "j.xml",
    )
    assert run.returncode == 1, run.stderr[-3000:]
    results = json.loads(run.outputs["results"])
    assert [(r["notebook"], r["status"]) for r in results] == [
        ("nbs/fail.yml", "failed"),
        ("nbs/pass.yml", "success"),
    ]
    xml = {s.name: s for s in JUnitXml.fromfile(str(suite_dir / "j.xml"))}
    assert (xml["nbs/fail.yml"].failures, xml["nbs/pass.yml"].tests) == (1, 3)
    assert "[nbs/pass.yml] hello from pass" in run.stdout.splitlines()


async def test_secrets_never_reach_the_junit_file(tmp_path: Path) -> None:
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "leak.yml").write_text(
        "cells:\n  - id: show\n    source: |\n      print('token is', TOKEN)\n"
        "      raise RuntimeError('bad ' + TOKEN)\n"
    )
    secret = "s3cr3t-value-42"
    run = await run_command(
        tmp_path,
        *("test", "nbs", "--runtime", "python", "--junit-xml", "j.xml"),
        *("--secret-parameter", "TOKEN=MY_TOKEN"),
        env={"MY_TOKEN": secret},
    )
    assert run.returncode == 1, run.stderr[-3000:]
    junit = (tmp_path / "j.xml").read_text()
    assert "RuntimeError" in junit and "token is" in junit
    assert secret not in junit
    assert secret not in (tmp_path / "runt-output" / "runt-results.json").read_text()
    assert secret not in (tmp_path / "runt-output" / "index.html").read_text()
    assert secret not in run.summary
    # The log names it only to ask the runner to mask it.
    shown = [line for line in run.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in shown if secret in line]


# A Error import keeps the reader's three result kinds visible to the reader of this file.
_ = Error


async def test_view_lists_every_notebook_of_the_suite(suite_dir: Path) -> None:
    """--view: one server for the suite, its index lists each notebook, up until Ctrl-C."""
    import asyncio
    import os
    import re
    import signal

    import aiohttp

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "runt_action", "test", "nbs/pass.yml", "nbs/sub"),
        *("--runtime", "python", "--view"),
        cwd=suite_dir,
        env={**env, "CI": ""},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not lines or "stay at" not in lines[-1]:
                line = (await proc.stderr.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
            text = "".join(lines)
            found = re.search(r"live notebooks: (http://127\.0\.0\.1:\d+/)\?code=(\S+)", text)
            assert found is not None, text
            index, code = found.groups()
            ids = re.findall(r"runt-automate: notebook ([A-Za-z0-9_-]+)", text)
            assert len(ids) == 2
            jar = aiohttp.CookieJar(unsafe=True)
            async with (
                aiohttp.ClientSession(cookie_jar=jar) as http,
                http.get(f"{index}?code={code}") as page,
            ):
                assert page.status == 200
                body = await page.text()
            assert all(i in body for i in ids), body[-3000:]
            os.killpg(proc.pid, signal.SIGINT)
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_a_notebook_with_a_sweep_is_one_entry_per_set(tmp_path: Path) -> None:
    (tmp_path / "nbs").mkdir()
    sweep = Path(__file__).parents[1] / "e2e" / "notebooks" / "sweep.yml"
    (tmp_path / "nbs" / "sweep.yml").write_text(sweep.read_text())
    run = await run_command(
        tmp_path, "test", "nbs", "--runtime", "python", "--jobs", "2", "--junit-xml", "j.xml"
    )
    assert run.returncode == 1, run.stderr[-3000:]  # n=0 divides by zero
    results = json.loads(run.outputs["results"])
    assert [(r["notebook"], r["status"]) for r in results] == [
        ("nbs/sweep.yml [1-n-2-label-a]", "success"),
        ("nbs/sweep.yml [2-n-3-label-a]", "success"),
        ("nbs/sweep.yml [3-n-0-label-zero]", "failed"),
    ]
    assert (tmp_path / "runt-output" / "nbs" / "sweep-2-n-3-label-a.html").is_file()
    suites = list(JUnitXml.fromfile(str(tmp_path / "j.xml")))
    assert [s.name for s in suites] == [r["notebook"] for r in results]
    assert {c.classname for s in suites for c in s} == {"nbs/sweep.yml"}
    assert "compute [3-n-0-label-zero]" in {c.name for c in suites[2]}


async def test_summary_file_under_actions_gets_a_copy_of_the_step_summary(
    suite_dir: Path,
) -> None:
    run = await run_command(
        suite_dir, "test", "nbs/pass.yml", "--runtime", "python", "--summary", "copy.md"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    copy = (suite_dir / "copy.md").read_text()
    assert "| nbs/pass.yml |" in run.summary.replace("\\", "")
    assert copy == run.summary  # the step summary (appended) and the file (written) agree


async def test_sigterm_mid_suite_cancels_the_running_notebook_and_runs_no_other(
    tmp_path: Path,
) -> None:
    """A cancelled workflow: the running notebook is cancelled, the next is not run, every
    report is still written, and no kernel (nor the fork server) is left behind."""
    import asyncio
    import os
    import signal

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    marker = tmp_path / "pids.txt"
    (nbs / "a.yml").write_text("cells: [{id: one, source: 'x = 1'}]\n")
    (nbs / "b.yml").write_text(
        "cells:\n  - id: slow\n    source: |\n      import os, pathlib, time\n"
        f"      pathlib.Path({str(marker)!r}).write_text(f'{{os.getpid()}} {{os.getppid()}}')\n"
        "      time.sleep(120)\n"
    )
    (nbs / "c.yml").write_text("cells: [{id: three, source: 'x = 3'}]\n")
    task = asyncio.create_task(
        run_command(tmp_path, "test", "nbs", "--runtime", "python", "--junit-xml", "j.xml")
    )
    for _ in range(1200):  # a bound, not a timing assertion: b's cell has started
        if (marker.exists() and marker.read_text()) or task.done():
            break
        await asyncio.sleep(0.05)
    assert not task.done(), (await task).stderr[-3000:]
    kernel, server = (int(p) for p in marker.read_text().split())
    # The suite's process is the fork server's parent: signal it, as a runner cancels a step.
    suite_pid = int(_stat(server)[1])
    os.kill(suite_pid, signal.SIGTERM)
    run = await task
    assert run.returncode == 3, run.stderr[-3000:]
    results = {r["notebook"]: r["status"] for r in json.loads(run.outputs["results"])}
    assert results == {"nbs/a.yml": "success", "nbs/b.yml": "cancelled", "nbs/c.yml": "not-run"}
    assert (tmp_path / "runt-output" / "nbs" / "b.ipynb").is_file()
    assert "nbs/b.yml" in run.summary.replace("\\", "")
    suites = {s.name: s for s in JUnitXml.fromfile(str(tmp_path / "j.xml"))}
    assert set(suites) == set(results)
    for pid in (kernel, server):
        try:
            state = _stat(pid)[0]
        except FileNotFoundError:
            continue
        assert state == "Z", f"process {pid} outlived the suite"


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, ..."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().rsplit(")", 1)[1].split()
