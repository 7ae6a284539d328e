"""A folder of notebooks in one step: ``runt-automate test`` against nbmake and papermill.

``python bench/suite.py [--rounds 3] [--rss]``. Generates 20 small stdlib notebooks (10 YAML,
10 .ipynb; two of them fail) and times whole processes, interleaved, medians:

- ``runt-automate test DIR --runtime python --jobs 1`` and ``--jobs 2``;
- ``pytest --nbmake -n 2`` on the same 20 as .ipynb (nbmake and pytest-xdist: the bench extra);
- a papermill loop: one process calling ``papermill.execute_notebook`` for each .ipynb;
- one run without a code cell (``runt-automate EMPTY.yml --runtime python``): the start-up a suite
  should pay once, not per notebook.

``--rss``: the orchestrator's peak RSS (bench/rss_probe.py) for a suite of 20 and of 200.
A benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, PYTHON, clean_env, median, timed

NOTEBOOKS = 20
FAILING = (7, 16)  # these two raise


def _cells(i: int) -> list[tuple[str, str]]:
    cells = [
        (
            "setup",
            "import json, math, statistics\n"
            f"values = [math.sqrt(n) for n in range({i} * 50 + 100)]",
        ),
        (
            "stats",
            "mean = statistics.fmean(values)\n"
            "print(json.dumps({'n': len(values), 'mean': round(mean, 3)}))",
        ),
        ("check", "assert mean > 0\nmean"),
    ]
    if i in FAILING:
        cells.append(("boom", f"raise ValueError('notebook {i} fails on purpose')"))
    return cells


def _yaml(i: int) -> str:
    lines = ["metadata:", f"  title: Bench notebook {i}", "cells:"]
    for cid, src in _cells(i):
        lines.append(f"  - id: {cid}")
        lines.append("    source: |")
        lines += [f"      {line}" for line in src.splitlines()]
    return "\n".join(lines) + "\n"


def _ipynb(i: int) -> str:
    cells = [
        {
            "cell_type": "code",
            "id": cid,
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": src,
        }
        for cid, src in _cells(i)
    ]
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


def generate(root: Path, count: int) -> tuple[Path, Path]:
    """``root/mixed``: half YAML, half .ipynb (what runt runs); ``root/ipynb``: all .ipynb."""
    mixed, ipynb = root / "mixed", root / "ipynb"
    mixed.mkdir(parents=True)
    ipynb.mkdir(parents=True)
    for i in range(count):
        name = f"nb{i:03}"
        if i % 2:
            (mixed / f"{name}.ipynb").write_text(_ipynb(i), encoding="utf-8")
        else:
            (mixed / f"{name}.yml").write_text(_yaml(i), encoding="utf-8")
        (ipynb / f"{name}.ipynb").write_text(_ipynb(i), encoding="utf-8")
    return mixed, ipynb


PAPERMILL_LOOP = """
import sys, pathlib, papermill
failed = 0
for nb in sorted(pathlib.Path(sys.argv[1]).glob('*.ipynb')):
    try:
        papermill.execute_notebook(str(nb), str(pathlib.Path(sys.argv[2]) / nb.name),
                                   kernel_name='python3', progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError:
        failed += 1
sys.exit(1 if failed else 0)
"""


def _runt_test(folder: Path, work: Path, jobs: int) -> Any:
    argv = [PYTHON, "-m", "runt_action", "test", str(folder), "--runtime", "python"]
    argv += ["--jobs", str(jobs), "--report-dir", str(work / f"out-{jobs}")]
    return timed(argv, cwd=work, env=clean_env(), timeout=900)


def bench_suite(rounds: int, log: Any = print) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runt-bench-suite-") as tmp:
        root = Path(tmp)
        mixed, ipynb = generate(root, NOTEBOOKS)
        empty = root / "empty.yml"
        empty.write_text(  # no code cell: the start-up alone
            "metadata:\n  title: no code\ncells:\n  - id: note\n    celltype: markdown\n"
            "    source: nothing to run\n",
            encoding="utf-8",
        )
        (root / "pm").mkdir()
        walls: dict[str, list[float]] = {
            "runt_jobs1": [],
            "runt_jobs2": [],
            "nbmake_n2": [],
            "papermill_loop": [],
            "empty": [],
        }
        for _ in range(rounds):
            for key in walls:
                if key == "runt_jobs1":
                    outcome = _runt_test(mixed, root, 1)
                elif key == "runt_jobs2":
                    outcome = _runt_test(mixed, root, 2)
                elif key == "nbmake_n2":
                    argv = [
                        PYTHON,
                        "-m",
                        "pytest",
                        "--nbmake",
                        "-n",
                        "2",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "--nbmake-kernel=python3",
                        str(ipynb),
                    ]
                    outcome = timed(argv, cwd=root, env=clean_env(), timeout=900)
                elif key == "papermill_loop":
                    argv = [PYTHON, "-c", PAPERMILL_LOOP, str(ipynb), str(root / "pm")]
                    outcome = timed(argv, cwd=root, env=clean_env(), timeout=900)
                else:
                    argv = [
                        PYTHON,
                        "-m",
                        "runt_action",
                        str(empty),
                        "--runtime",
                        "python",
                        "--output",
                        str(root / "empty.ipynb"),
                    ]
                    outcome = timed(argv, cwd=root, env=clean_env(), timeout=300)
                expected = 0 if key == "empty" else 1  # two notebooks fail on purpose
                if outcome.returncode != expected:
                    raise RuntimeError(f"{key}: exit {outcome.returncode}\n{outcome.stderr_tail}")
                walls[key].append(outcome.wall_s)
                log(f"  {key}: {outcome.wall_s:.2f} s")
    med = {k: round(median(v), 3) for k, v in walls.items()}
    return {
        "notebooks": NOTEBOOKS,
        "median_s": med,
        "jobs2_vs_nbmake": round(med["nbmake_n2"] / med["runt_jobs2"], 2),
        "jobs1_vs_papermill": round(med["papermill_loop"] / med["runt_jobs1"], 2),
        "per_notebook_jobs1_s": round(med["runt_jobs1"] / NOTEBOOKS, 3),
        "per_notebook_vs_empty_run": round(med["runt_jobs1"] / NOTEBOOKS / med["empty"], 2),
        "samples": walls,
    }


def bench_rss(counts: tuple[int, ...] = (20, 200), log: Any = print) -> dict[int, Any]:
    """The orchestrator's peak RSS for suites of each size (bench/rss_probe.py)."""
    out: dict[int, Any] = {}
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="runt-bench-rss-") as tmp:
            root = Path(tmp)
            mixed, _ = generate(root, count)
            env = clean_env({"RUNT_BENCH_WORKDIR": str(root)})
            argv = [
                PYTHON,
                str(BENCH / "rss_probe.py"),
                "test",
                str(mixed),
                "--runtime",
                "python",
                "--report-dir",
                str(root / "out"),
            ]
            outcome = timed(argv, cwd=root, env=env, timeout=1800)
            record = json.loads((root / "rss.json").read_text(encoding="utf-8"))
            out[count] = {
                "wall_s": round(outcome.wall_s, 2),
                "orchestrator_peak_mb": round(record["self_vmhwm_kb"] / 1024, 1),
                "orchestrator_end_mb": round(record["self_vmrss_end_kb"] / 1024, 1),
            }
            log(f"  rss, {count} notebooks: {out[count]}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rss", action="store_true", help="also the RSS at 20 and 200 notebooks")
    args = p.parse_args()
    result = bench_suite(args.rounds)
    if args.rss:
        result["rss"] = bench_rss()
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
