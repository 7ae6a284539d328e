"""The same notebook on both runtimes: mounts at the host path, cwd, output dir, precise errors.

Real CLI runs (python -m runt_action) on the native kernel and on Pyodide; README "Files and
directories" documents what is checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = """\
parameters:
  data: ""
  out: ""
cells:
  - id: load
    source: |
      import csv, os
      with open(os.path.join(data, "sales.csv")) as f:
          rows = list(csv.DictReader(f))
      total = sum(int(r["amount"]) for r in rows)
      print("rows", len(rows), "total", total)
  - id: write
    source: |
      open(os.path.join(data, "result.txt"), "w").write(f"total={total}")
      open(os.path.join(data, "sales.csv"), "a").write("east,5\\n")
      open(os.path.join(out, "copy.txt"), "w").write("copied")
      print(os.path.basename(os.getcwd()), sorted(os.listdir(".")))
      open("from-cwd.txt", "w").write("cwd")
  - id: reread
    source: |
      with open(os.path.join(data, "sales.csv")) as f:
          print(sum(1 for _ in f), "lines")
"""

FAILING = """\
cells:
  - id: fine
    source: x = 1
  - id: boom
    source: |
      def divide(a):
          return a / 0

      y = divide(x)
"""


def _streams(run: Any) -> dict[str, str]:
    assert run.ipynb is not None
    out: dict[str, str] = {}
    for cell in run.ipynb["cells"]:
        text = "".join(
            "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream"
        )
        out[cell["metadata"]["runt"]["id"]] = text
    return out


def _setup(root: Path) -> tuple[Path, Path, Path]:
    data, out, work = root / "data", root / "out", root / "work"
    for d in (data, out, work):
        d.mkdir(parents=True)
    (data / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    (work / "notes.md").write_text("x")
    return data, out, work


async def test_same_outputs_and_files_on_both_runtimes(cli: Any, tmp_path: Path) -> None:
    notebook = tmp_path / "parity.yml"
    notebook.write_text(NOTEBOOK)
    streams = {}
    for runtime in ("python", "pyodide"):
        root = tmp_path / runtime
        data, out, work = _setup(root)
        run = await cli(
            root, notebook, "--runtime", runtime, "--mount", str(data), "--output-dir",
            str(out), "--cwd", str(work), "-p", "data", str(data), "-p", "out", str(out),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        streams[runtime] = _streams(run)
        # What the cells wrote is on the host, in the mount, the output dir and the cwd.
        assert (data / "result.txt").read_text() == "total=42"
        assert (data / "sales.csv").read_text().endswith("south,32\neast,5\n")
        assert (out / "copy.txt").read_text() == "copied"
        assert (work / "from-cwd.txt").read_text() == "cwd"
    assert streams["python"] == streams["pyodide"]
    assert streams["python"]["load"] == "rows 2 total 42\n"
    assert streams["python"]["write"] == "work ['notes.md']\n"
    assert streams["python"]["reread"] == "4 lines\n"


async def test_errors_point_at_the_yaml_line_that_raised(
    cli: Any, tmp_path: Path, runtime: str
) -> None:
    notebook = tmp_path / "failing.yml"
    notebook.write_text(FAILING)
    run = await cli(tmp_path, notebook, "--runtime", runtime)
    assert run.returncode == 1, run.stderr[-3000:]
    error = next(
        o for c in run.ipynb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
    )
    traceback = "\n".join(error["traceback"])
    assert 'File "<cell boom>", line 4' in traceback  # the cell id, not an execution count
    assert 'File "<cell boom>", line 2' in traceback
    # ``return a / 0`` is line 7 of the file (the innermost frame in the cell).
    lines = FAILING.splitlines()
    assert lines[6].strip() == "return a / 0"
    annotations = [c for c in run.workflow_commands() if c.startswith("::error ")]
    assert any(re.search(r"file=[^,]*failing\.yml,line=7\b", a) for a in annotations), annotations
    assert "failing.yml:7" in run.summary
    assert "(line 7)" in (tmp_path / "executed.html").read_text()  # the report's first error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mount-readonly"], "--mount-readonly cannot be enforced on the python runtime"),
        (["TARGET"], "cannot mount"),
    ],
)
async def test_python_runtime_refuses_what_it_cannot_honour(
    cli: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    """Never ignored: a read-only or moved mount is bad input on the native runtime."""
    notebook = tmp_path / "nb.yml"
    notebook.write_text("cells:\n  - id: a\n    source: print('RAN')\n")
    data = tmp_path / "data"
    data.mkdir()
    mount = f"{data}:/elsewhere" if args == ["TARGET"] else str(data)
    extra = [] if args == ["TARGET"] else args
    run = await cli(tmp_path, notebook, "--runtime", "python", "--mount", mount, *extra)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert "RAN" not in run.stdout


async def test_pyodide_enforces_a_read_only_mount(cli: Any, tmp_path: Path) -> None:
    notebook = tmp_path / "ro.yml"
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("original")
    notebook.write_text(
        "cells:\n  - id: w\n    source: |\n"
        f"      print(open({str(data / 'keep.txt')!r}).read())\n"
        f"      open({str(data / 'keep.txt')!r}, 'w').write('changed')\n"
    )
    run = await cli(
        tmp_path, notebook, "--runtime", "pyodide", "--mount", str(data), "--mount-readonly"
    )
    assert run.returncode == 1
    assert "original" in run.stdout and "PermissionError" in run.stdout
    assert (data / "keep.txt").read_text() == "original"


async def test_no_log_output_keeps_outputs_out_of_the_log(cli: Any, tmp_path: Path) -> None:
    notebook = tmp_path / "quiet.yml"
    notebook.write_text("cells:\n  - id: talk\n    source: print('CHATTY-OUTPUT')\n")
    loud = await cli(tmp_path, notebook, "--runtime", "python")
    assert loud.returncode == 0 and "CHATTY-OUTPUT" in loud.stdout
    quiet = await cli(tmp_path, notebook, "--runtime", "python", "--no-log-output")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "CHATTY-OUTPUT" not in quiet.stdout
    assert "talk" in quiet.stdout  # the cell's start/end lines are still there
    assert quiet.ipynb is not None and "CHATTY-OUTPUT" in str(quiet.ipynb)  # only the log
