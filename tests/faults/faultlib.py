"""Helpers for the fault suite: launch the CLI and ``serve``, read what a run left behind.

Everything goes through the stable command line (``python -m runt_action``), in a private
workspace, so a test proves what a user would see. Processes are started in their own
session and killed by process group when a test ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# The runtime processes the CLI starts: a Jupyter kernel (native) or Deno (Pyodide).
RUNTIME_MARKERS = ("ipykernel_launcher", "deno")


def write_notebook(directory: Path, name: str, cells: list[dict[str, Any]], **extra: Any) -> Path:
    """A YAML notebook file with these cells (dicts as in the README's format)."""
    path = directory / name
    doc: dict[str, Any] = {"metadata": {"title": name.removesuffix(".yml")}, **extra}
    doc["cells"] = cells
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    return path


def base_env(
    workdir: Path, *, github: bool = False, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Our environment minus anything that would change the run; optionally GitHub's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_", "RUNT_", "RUNNER_"))
        and k not in ("AUTH_TOKEN", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI", "RUNT_API_KEY")
    }
    env["PYTHONUNBUFFERED"] = "1"
    if github:
        env.update(
            GITHUB_ACTIONS="true",
            CI="true",
            GITHUB_STEP_SUMMARY=str(workdir / "summary.md"),
            GITHUB_OUTPUT=str(workdir / "output.txt"),
            GITHUB_WORKSPACE=str(workdir),
        )
    env.update(extra or {})
    return env


@dataclass
class Run:
    """What one CLI process did: exit code, streams, wall time, and when it ended."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    ended_at: float  # time.monotonic() when the process was reaped
    workdir: Path
    timed_out: bool = False  # still running at the test's limit, then killed
    extra: dict[str, Any] = field(default_factory=dict)

    def tail(self) -> str:
        head = f"KILLED after {self.elapsed:.0f} s (hung); " if self.timed_out else ""
        return f"{head}rc={self.returncode}\n--- stderr ---\n{self.stderr[-4000:]}"


def parse_github_output(text: str) -> dict[str, str]:
    """GitHub's GITHUB_OUTPUT format: ``name=value`` or ``name<<DELIM`` ... ``DELIM``."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            out[name] = value
    return out


async def run_cli(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    on_line: Callable[[str, asyncio.subprocess.Process], None] | None = None,
    limit: float = 120,
) -> Run:
    """``python -m runt_action ARGS`` in ``workdir``; killed (whole group) past ``limit``."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "runt_action",
        *args,
        cwd=workdir,
        env=env if env is not None else base_env(workdir),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=64 * 1024 * 1024,  # a 5 MB output line is one line to readline()
    )
    assert proc.stdout is not None and proc.stderr is not None
    out_lines: list[str] = []
    err_chunks: list[bytes] = []

    async def pump_stdout() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            out_lines.append(line)
            if on_line is not None:
                on_line(line, proc)

    async def pump_stderr() -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            err_chunks.append(chunk)

    timed_out = False
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(pump_stdout(), pump_stderr())
            await proc.wait()
    except TimeoutError:
        timed_out = True  # reported as a Run the test can assert on, not a traceback
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        # Anything the run left running in its session (a kernel, Deno) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    ended = time.monotonic()
    return Run(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout="".join(out_lines),
        stderr=b"".join(err_chunks).decode(errors="replace"),
        elapsed=ended - t0,
        ended_at=ended,
        workdir=workdir,
        timed_out=timed_out,
    )


# -- an external sync server: ``runt-automate serve`` --------------------------------------


@dataclass
class Serve:
    """A ``runt-automate serve`` process; ``url`` ends in ``/livestore`` for clients."""

    proc: asyncio.subprocess.Process
    port: int
    base_url: str

    @property
    def sync_url(self) -> str:
        return (
            self.base_url if self.base_url.endswith("/livestore") else f"{self.base_url}/livestore"
        )


async def start_serve(db: Path, token: str, port: int = 0, *, limit: float = 30) -> Serve:
    """Start ``serve`` and wait for the URL it prints once it is listening."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "runt_action",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(db),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        env=base_env(db.parent, extra={"RUNT_SERVE_TOKEN": token}),
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(limit):
            line = (await proc.stdout.readline()).decode().strip()
    except BaseException:
        await stop_process(proc)
        raise
    match = re.search(r":(\d+)", line.split("//", 1)[-1])
    if not match:
        await stop_process(proc)
        raise AssertionError(f"serve printed no URL: {line!r}")
    return Serve(proc=proc, port=int(match.group(1)), base_url=line.rstrip("/"))


async def stop_process(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Kill a process group we started and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        await proc.wait()


@contextlib.asynccontextmanager
async def serving(db: Path, token: str) -> AsyncIterator[list[Serve]]:
    """A ``serve`` process (a list, so a test can replace it after killing it)."""
    servers = [await start_serve(db, token)]
    try:
        yield servers
    finally:
        for server in servers:
            await stop_process(server.proc)


# -- the process tree, from /proc (no psutil) ----------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> Iterator[tuple[int, str]]:
    """(pid, command line) of every process below ``pid``."""
    children = _children_map()
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        stack.extend(children.get(child, []))
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        yield child, cmd


def runtime_pid(pid: int) -> int | None:
    """The runtime process (kernel or Deno) the CLI ``pid`` started, if any."""
    for child, cmd in descendants(pid):
        if any(marker in cmd for marker in RUNTIME_MARKERS):
            return child
    return None


# -- what the run left behind --------------------------------------------------------------


def read_ipynb(path: Path) -> Any:
    """The executed notebook, read and validated with nbformat as a user would."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    return nb


def cell_by_id(nb: Any, cell_id: str) -> Any:
    for cell in nb.cells:
        if (
            cell.get("id") == cell_id
            or cell.get("metadata", {}).get("runt", {}).get("id") == cell_id
        ):
            return cell
    raise KeyError(f"no cell {cell_id!r} in {[c.get('id') for c in nb.cells]}")


def stream_text(cell: Any, name: str = "stdout") -> str:
    """All of a cell's stream output of one name, in order."""
    parts: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == name:
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def output_texts(cell: Any) -> list[str]:
    """Every text an output of this cell carries (stream text, text/* data, error fields)."""
    texts: list[str] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            texts.append("".join(text) if isinstance(text, list) else text)
        elif kind in ("execute_result", "display_data"):
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or isinstance(value, str | list):
                    texts.append("".join(value) if isinstance(value, list) else str(value))
        elif kind == "error":
            texts.append(f"{out.get('ename')}: {out.get('evalue')}")
            texts.extend(out.get("traceback", []))
    return texts


def numbered_counts(text: str, pattern: str) -> dict[int, int]:
    """How many times each number appears in lines matching ``pattern`` (one group: the number)."""
    counts: dict[int, int] = {}
    for match in re.finditer(pattern, text, flags=re.MULTILINE):
        n = int(match.group(1))
        counts[n] = counts.get(n, 0) + 1
    return counts


def lost_and_duplicated(counts: dict[int, int], expected: int) -> tuple[list[int], list[int]]:
    """Numbers 0..expected-1 that are missing, and those seen more than once."""
    lost = [n for n in range(expected) if counts.get(n, 0) == 0]
    dup = sorted(n for n, c in counts.items() if c > 1)
    return lost, dup


def results_of(outputs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The ``results`` step output, by cell id."""
    return {item["id"]: item for item in json.loads(outputs.get("results", "[]"))}


def summary_note(summary: str, cell_id: str) -> str:
    """The Note column of a cell's row in the summary's table ('' if none)."""
    names = (cell_id, cell_id.replace("_", "\\_"))
    for line in summary.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) >= 3 and cols[1] in names:
            return cols[-1]
    return ""


def files_named(root: Path, pattern: str) -> list[Path]:
    """Files below ``root`` matching a glob pattern, relative to ``root``."""
    return [p.relative_to(root) for p in root.rglob(pattern)]


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every regular file below ``root`` (symlinks not followed) holding ``needle``."""
    found: list[Path] = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found
