"""A root run in a runner's checkout leaves nothing the runner user cannot delete (issue 22).

GitHub runs the action's container as root, the workspace owned by uid 1001 and HOME at
/github/home. Here: a workspace and a HOME chowned to 1001, the real CLI as root on both
runtimes, cells writing into the workspace (and, on Pyodide, a mount and --cwd written back),
--sync-log, --output-dir; then uid 1001 deletes it all. And the other way round: the run as
uid 1001 on a root-owned checkout fails at once (exit 2, one line), before any cell runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER = 1001
AS_USER = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups"]
# The interpreter lives under /root (0700) here: the user may read and search everything,
# never write where it could not (CAP_DAC_READ_SEARCH grants no write).
AS_USER_READING = [*AS_USER, "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a root run handing files back needs root"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
]


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is in root's 0700 directory)."""
    top = Path(tempfile.mkdtemp(prefix="runt-ownership-", dir="/tmp"))
    top.chmod(0o755)
    os.chown(top, USER, USER)  # as the runner's work directory: the checkout's parent
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def env_for(workspace: Path, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_", "RUNT_", "RUNNER_", "XDG_", "DENO_"))
        and k not in ("AUTH_TOKEN", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI", "RUNT_API_KEY")
    }
    env.update(
        HOME=str(home),
        GITHUB_WORKSPACE=str(workspace),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
    )
    return env


def checkout(top: Path, cells: str) -> tuple[Path, Path]:
    """A workspace and a HOME owned by the runner user, the notebook in the workspace."""
    ws, home = top / "workspace", top / "home"
    (ws / "data").mkdir(parents=True)
    (ws / "work").mkdir()
    home.mkdir()
    (ws / "data" / "in.txt").write_text("input\n")
    (ws / "nb.yml").write_text(f"metadata: {{title: ownership}}\ncells:\n{cells}")
    for path in (ws, home, *ws.rglob("*")):
        os.chown(path, USER, USER)
    return ws, home


def root_owned(*trees: Path) -> list[str]:
    return [str(p) for tree in trees for p in (tree, *tree.rglob("*")) if p.lstat().st_uid == 0]


def delete_as_user(*trees: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AS_USER, "rm", "-rf", *map(str, trees)], capture_output=True, text=True, timeout=60
    )


PYTHON_CELLS = """\
  - id: write
    source: |
      import pathlib, subprocess
      pathlib.Path("results/deep").mkdir(parents=True, exist_ok=True)
      pathlib.Path("results/out.csv").write_text("a,b\\n")
      pathlib.Path("results/deep/x.txt").write_text("x")
      pathlib.Path("outputs").mkdir(exist_ok=True)
      pathlib.Path("outputs/plot.txt").write_text("plot")
      print("wrote")
"""


def test_python_runtime_leaves_nothing_root_owned(place: Path) -> None:
    ws, home = checkout(place, PYTHON_CELLS)
    run = subprocess.run(
        [sys.executable, "-m", "runt_action", "nb.yml", "--runtime", "python",
         "--sync-log", "logs/sync.db", "--summary", "reports/summary.md",
         "--output-dir", "outputs"],
        cwd=ws, env=env_for(ws, home), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (ws / "results" / "out.csv").read_text() == "a,b\n"
    assert (ws / "logs" / "sync.db").is_file()
    assert (home / ".ipython").is_dir()  # the kernel's profile, a cache the run created
    assert root_owned(ws, home) == []
    removed = delete_as_user(ws, home)
    assert removed.returncode == 0, removed.stderr
    assert not ws.exists() and not home.exists()


PYODIDE_CELLS = """\
  - id: write
    source: |
      import os, pathlib
      data = pathlib.Path(os.environ["DATA_DIR"])
      (data / "sub").mkdir(exist_ok=True)
      (data / "sub" / "new.txt").write_text("new")
      pathlib.Path("made-in-cwd.txt").write_text(os.getcwd())
      pathlib.Path("nested/dir").mkdir(parents=True)
      pathlib.Path("nested/dir/file.txt").write_text("deep")
"""


def test_pyodide_write_backs_leave_nothing_root_owned(place: Path) -> None:
    ws, home = checkout(place, PYODIDE_CELLS.replace('os.environ["DATA_DIR"]', "DATA"))
    nb = ws / "nb.yml"
    nb.write_text(nb.read_text().replace("DATA", repr(str(ws / "data"))))
    run = subprocess.run(
        [sys.executable, "-m", "runt_action", "nb.yml", "--runtime", "pyodide",
         "--mount", str(ws / "data"), "--cwd", "work", "--sync-log", "logs/sync.db"],
        cwd=ws, env=env_for(ws, home), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (ws / "data" / "sub" / "new.txt").read_text() == "new"  # written back
    assert (ws / "work" / "nested" / "dir" / "file.txt").read_text() == "deep"
    assert (home / ".cache").is_dir()  # Deno's and the snapshot's caches
    assert root_owned(ws, home) == []
    removed = delete_as_user(ws, home)
    assert removed.returncode == 0, removed.stderr
    assert not ws.exists() and not home.exists()


@pytest.mark.parametrize("runtime", ["python", "pyodide"])
def test_unwritable_outputs_are_refused_before_any_cell_runs(place: Path, runtime: str) -> None:
    """``docker run --user 1001`` on a root-owned 0755 checkout: exit 2, one line, no cell."""
    ws, home = place / "workspace", place / "home"
    ws.mkdir()
    home.mkdir()
    os.chown(home, USER, USER)
    marker = home / "ran"
    (ws / "nb.yml").write_text(
        "metadata: {title: refused}\ncells:\n"
        f"  - id: marker\n    source: open({str(marker)!r}, 'w').write('ran')\n"
    )
    run = subprocess.run(
        [*AS_USER_READING, sys.executable, "-m", "runt_action", "nb.yml", "--runtime", runtime],
        cwd=ws, env=env_for(ws, home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert str(ws / "runt-output" / "nb.ipynb") in lines[0] and "not writable" in lines[0]
    assert not marker.exists(), "a cell ran"
    assert not (ws / "runt-output").exists()


@pytest.mark.parametrize("flag", ["--output", "--summary", "--output-dir", "--html", "--sync-log"])
def test_each_output_is_checked(place: Path, flag: str) -> None:
    """Every output named by a flag, in a root-owned directory: exit 2 naming it."""
    ws, home, locked = place / "workspace", place / "home", place / "locked"
    for d in (ws, home):
        d.mkdir()
        os.chown(d, USER, USER)
    locked.mkdir(mode=0o755)
    target = locked / ("out" if flag == "--output-dir" else "file.ipynb")
    (ws / "nb.yml").write_text("metadata: {title: t}\ncells:\n  - id: a\n    source: x = 1\n")
    run = subprocess.run(
        [*AS_USER_READING, sys.executable, "-m", "runt_action", "nb.yml", "--runtime",
         "python", flag, str(target)],
        cwd=ws, env=env_for(ws, home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0], run.stderr
    assert not (ws / "runt-output").exists()
