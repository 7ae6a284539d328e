"""Output floods: megabytes of lines, one huge line, one huge result. Nothing lost silently.

Every printed line must be in the executed notebook exactly once. A rich output too big
to deliver may instead be replaced by a visible placeholder, with a ``::warning`` in the
log and a note on the cell in the summary; it may never just vanish while the cell says ✅.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from faultlib import (
    Run,
    base_env,
    cell_by_id,
    lost_and_duplicated,
    numbered_counts,
    output_texts,
    parse_github_output,
    read_ipynb,
    results_of,
    run_cli,
    stream_text,
    summary_note,
    write_notebook,
)
from scenarios import one_big_line

# Words a visible truncation or omission marker in the terminal log would use.
MARKER_WORDS = ("truncat", "omitted", "dropped", "not shown", "too large")


@dataclass
class Flooded:
    run: Run
    nb: object
    summary: str
    outputs: dict[str, str]


async def flood(tmp_path: Path, runtime: str, source: str) -> Flooded:
    notebook = write_notebook(tmp_path, "flood.yml", [{"id": "flood", "source": source}])
    out = tmp_path / "flood.ipynb"
    run = await run_cli(
        tmp_path,
        str(notebook),
        "--runtime",
        runtime,
        "--output",
        str(out),
        env=base_env(tmp_path, github=True),
        limit=100,
    )
    assert run.returncode == 0, run.tail()
    summary = (tmp_path / "summary.md").read_text()
    outputs = parse_github_output((tmp_path / "output.txt").read_text())
    assert results_of(outputs)["flood"]["status"] == "success"
    return Flooded(run, read_ipynb(out), summary, outputs)


def assert_log_loses_nothing_silently(stdout: str, counts: dict[int, int], total: int) -> None:
    """The terminal log may abbreviate a flood, but only with a visible marker."""
    lost, dup = lost_and_duplicated(counts, total)
    assert not dup, f"lines printed twice in the log: {dup[:10]}"
    if lost:
        assert any(w in stdout.lower() for w in MARKER_WORDS), (
            f"{len(lost)} lines missing from the log with no visible marker"
        )


# One print per line: how much lands in one stream chunk depends on the machine's speed
# (the kernel flushes on a timer), so a fast runner crosses 1 MiB per chunk and a slow one
# may not. One write of all lines crosses it on every machine.
PRINT_EACH = 'for i in range({n}):\n    print(f"{{i:07d}} " + "a" * 92)\n'
ONE_WRITE = (
    'import sys\nsys.stdout.write("".join(f"{{i:07d}} " + "a" * 92 + "\\n" for i in range({n})))\n'
)


@pytest.mark.parametrize(
    ("runtime", "megabytes", "style"),
    [
        ("python", 2, "print"),
        ("python", 5, "print"),
        ("python", 2, "write"),
        # Pyodide prints slowly; 2 MB already crosses the 1 MiB frame twice over.
        pytest.param("pyodide", 2, "print", marks=pytest.mark.pyodide),
        pytest.param("pyodide", 2, "write", marks=pytest.mark.pyodide),
    ],
)
async def test_megabytes_of_numbered_lines_all_arrive_once(
    tmp_path: Path, runtime: str, megabytes: int, style: str
) -> None:
    total = megabytes * 10_000  # 100-byte lines
    source = (PRINT_EACH if style == "print" else ONE_WRITE).format(n=total)
    f = await flood(tmp_path, runtime, source)
    text = stream_text(cell_by_id(f.nb, "flood"))
    lost, dup = lost_and_duplicated(numbered_counts(text, r"^(\d{7}) a{92}$"), total)
    assert (len(lost), dup) == (0, []), f"{len(lost)} of {total} lines lost (first {lost[:5]})"
    log_counts = numbered_counts(f.run.stdout, r"(\d{7}) a{92}$")
    assert_log_loses_nothing_silently(f.run.stdout, log_counts, total)


async def test_a_single_3mb_line_arrives_intact(tmp_path: Path, runtime: str) -> None:
    got = await one_big_line(tmp_path, runtime, 3_000_000)
    assert got.run.returncode == 0, got.run.tail()
    assert got.intact, f"got {got.received} of {got.size} bytes of the line"


async def test_a_5mb_result_is_intact_or_a_visible_placeholder(
    tmp_path: Path, runtime: str
) -> None:
    f = await flood(tmp_path, runtime, '"x" * 5_000_000\n')
    cell = cell_by_id(f.nb, "flood")
    texts = output_texts(cell)
    intact = any(t.count("x") == 5_000_000 for t in texts)
    if intact:
        return
    # Not delivered: then it must say so, in the notebook, the log and the summary.
    assert texts, "the 5 MB result vanished: the cell has no output at all"
    placeholder = " ".join(texts)
    assert re.search(r"\d", placeholder), f"the placeholder says nothing useful: {placeholder!r}"
    warnings = [line for line in f.run.stdout.splitlines() if line.lstrip().startswith("::warning")]
    assert any("flood" in w for w in warnings), f"no ::warning for the cell: {warnings}"
    note = summary_note(f.summary, "flood") + " ".join(
        results_of(f.outputs)["flood"].get("notes", [])
    )
    assert note.strip(), "no note on the cell in the summary"
