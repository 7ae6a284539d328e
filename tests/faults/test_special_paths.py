"""Every file the run writes, pointed at a device node, a FIFO, a symlink or a directory.

A result file is written as ``cp`` would: a device or a FIFO is written through, a symlink
is followed and its target updated, and nothing that is not a regular file is ever
replaced (issue 10, item 10: ``--summary /dev/null`` as root used to turn /dev/null into a
regular file). An --output that cannot be written is exit 3 with one clear line, after the
summary and the step outputs were written.
"""

from __future__ import annotations

import json
import os
import select
import stat
import threading
from pathlib import Path

import pytest
from faultlib import base_env, parse_github_output, run_cli, write_notebook

NULL_DEV = os.makedev(1, 3)

# The files a run writes: --output, the summary and the step outputs (GITHUB_OUTPUT).
TARGETS = ("output", "summary", "github_output")


@pytest.fixture(params=["flag", "github"])
def summary_via(request: pytest.FixtureRequest) -> str:
    """The summary path given as ``--summary`` or as ``GITHUB_STEP_SUMMARY``."""
    return str(request.param)


def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path, "paths.yml", [{"id": "hello", "source": "print('hello')"}])


async def run_with_paths(
    tmp_path: Path, paths: dict[str, Path], summary_via: str
) -> tuple[int, str, str]:
    """A GitHub-mode run writing to ``paths``; the summary through the flag or the variable."""
    # With --summary, GITHUB_STEP_SUMMARY is an ordinary file we do not look at.
    step_summary = paths["summary"] if summary_via == "github" else tmp_path / "step-summary.md"
    env = base_env(
        tmp_path,
        github=True,
        extra={
            "GITHUB_OUTPUT": str(paths["github_output"]),
            "GITHUB_STEP_SUMMARY": str(step_summary),
        },
    )
    flag = ["--summary", str(paths["summary"])] if summary_via == "flag" else []
    run = await run_cli(
        tmp_path,
        str(notebook(tmp_path)),
        "--runtime",
        "python",
        "--output",
        str(paths["output"]),
        *flag,
        env=env,
        limit=90,
    )
    return run.returncode, run.stdout, run.stderr


def check_contents(contents: dict[str, str]) -> None:
    """Each file got what it should: the notebook, the summary, the step outputs."""
    nb = json.loads(contents["output"])
    assert nb["cells"][0]["id"] == "hello", contents["output"][:300]
    assert "hello" in contents["summary"], contents["summary"][:300]
    status = parse_github_output(contents["github_output"]).get("status")
    assert status == "success", contents["github_output"][:300]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
async def test_device_nodes_stay_device_nodes(tmp_path: Path, summary_via: str) -> None:
    paths = {name: tmp_path / f"{name}.dev" for name in TARGETS}
    for path in paths.values():
        os.mknod(path, stat.S_IFCHR | 0o666, NULL_DEV)
    rc, _out, err = await run_with_paths(tmp_path, paths, summary_via)
    assert rc == 0, err[-3000:]
    replaced = [
        f"{name} ({oct(path.lstat().st_mode)})"
        for name, path in paths.items()
        if not (stat.S_ISCHR(path.lstat().st_mode) and path.lstat().st_rdev == NULL_DEV)
    ]
    assert not replaced, f"no longer the character device 1,3: {replaced}"


class FifoReader:
    """Collects everything written into a FIFO, however many times it is opened.

    The FIFO is held open read-write by us, so a writer never blocks on open and we never
    see EOF between writers; a thread drains it until told to stop.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    continue
                self.data.extend(chunk)
            elif self._stop.is_set():
                return

    def close(self) -> str:
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self.fd)
        return self.data.decode(errors="replace")


async def test_fifos_stay_fifos_and_receive_the_content(tmp_path: Path, summary_via: str) -> None:
    paths = {name: tmp_path / f"{name}.fifo" for name in TARGETS}
    readers: dict[str, FifoReader] = {}
    try:
        for name, path in paths.items():
            os.mkfifo(path)
            readers[name] = FifoReader(path)
        rc, _out, err = await run_with_paths(tmp_path, paths, summary_via)
    finally:
        contents = {name: reader.close() for name, reader in readers.items()}
    assert rc == 0, err[-3000:]
    replaced = [name for name, path in paths.items() if not stat.S_ISFIFO(path.lstat().st_mode)]
    assert not replaced, f"no longer a FIFO: {replaced}"
    check_contents(contents)


async def test_symlinks_stay_symlinks_and_their_targets_are_updated(
    tmp_path: Path, summary_via: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths = {name: tmp_path / f"{name}.link" for name in TARGETS}
    targets = {name: elsewhere / f"{name}.txt" for name in TARGETS}
    for name in TARGETS:
        # GITHUB_OUTPUT and the step summary start empty, as on a runner.
        targets[name].write_text("" if name == "github_output" else "old\n")
        paths[name].symlink_to(targets[name])
    rc, _out, err = await run_with_paths(tmp_path, paths, summary_via)
    assert rc == 0, err[-3000:]
    replaced = [
        name
        for name, path in paths.items()
        if not path.is_symlink() or os.readlink(path) != str(targets[name])
    ]
    assert not replaced, f"no longer a symlink to its target: {replaced}"
    check_contents({name: targets[name].read_text() for name in TARGETS})


async def test_unwritable_output_is_exit_3_after_everything_else(tmp_path: Path) -> None:
    blocked = tmp_path / "a-directory.ipynb"
    blocked.mkdir()
    paths = {
        "output": blocked,
        "summary": tmp_path / "summary.md",
        "github_output": tmp_path / "output.txt",
    }
    rc, _out, err = await run_with_paths(tmp_path, paths, "github")
    assert rc == 3, f"rc={rc}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    about = [line for line in err.splitlines() if str(blocked) in line]
    assert len(about) == 1, f"expected one line naming {blocked}:\n{err}"
    assert blocked.is_dir() and not any(blocked.iterdir()), "the directory was changed"
    # Everything else was still written, and reports the failure.
    assert "hello" in paths["summary"].read_text()
    outputs = parse_github_output(paths["github_output"].read_text())
    assert outputs.get("status"), outputs
