"""Output throughput: one cell printing 200,000 lines (10.6 MB), on each runtime and papermill.

Issue #21: a papermill user's chatty notebook must not be much slower on Pyodide. The figure
that matters is Pyodide's wall time over the python runtime's (target: within 1.2x). Rounds
are interleaved like e2e.py; the first round warms the Pyodide snapshot and is discarded.
``python bench/output.py [-n ROUNDS] [--lines N]`` runs it alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RunOutcome, median, run_cli, run_papermill
from nbgen import yaml_to_ipynb

LINES = 200_000
# 53 bytes a line: 200,000 lines are 10.6 MB, the figure.
SOURCE = 'for i in range({n}):\n    print(f"line {{i:06d}} " + "x" * 40)\n'


def _notebook(work: Path, lines: int) -> tuple[Path, Path]:
    body = SOURCE.format(n=lines).replace("\n", "\n      ")
    yml = work / "print-lines.yml"
    yml.write_text(
        "metadata:\n  title: print lines\ncells:\n  - id: chatty\n    source: |\n      "
        + body.rstrip()
        + "\n",
        encoding="utf-8",
    )
    ipynb = work / "print-lines.ipynb"
    yaml_to_ipynb(yml, ipynb)
    return yml, ipynb


def _stream_bytes(outcome: RunOutcome) -> int:
    nb = outcome.ipynb or {}
    return sum(
        len(o.get("text", "")) if isinstance(o.get("text"), str) else sum(map(len, o["text"]))
        for c in nb.get("cells", [])
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )


def bench_output(
    rounds: int, *, lines: int = LINES, pyodide: bool = True, log: Callable[[str], None]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runt-bench-output-") as tmp:
        work = Path(tmp)
        yml, ipynb = _notebook(work, lines)
        cache = work / "pyodide-cache"
        cache.mkdir()
        variants: dict[str, Callable[[], RunOutcome]] = {
            "runt_python": lambda: run_cli(yml, "python"),
        }
        if pyodide:
            variants["runt_pyodide"] = lambda: run_cli(
                yml, "pyodide", env_extra={"RUNT_PYODIDE_CACHE": str(cache)}
            )
        if importlib.util.find_spec("papermill") is not None:
            variants["papermill"] = lambda: run_papermill(ipynb)
        else:
            log("output: papermill is not installed (make bench installs it); skipped")
        samples: dict[str, list[RunOutcome]] = {name: [] for name in variants}
        for round_ in range(rounds + 1):
            for name, run in variants.items():
                outcome = run()
                if round_:  # round 0 warms caches (the Pyodide snapshot) and is discarded
                    samples[name].append(outcome)
                log(
                    f"output round {round_}: {name} {outcome.wall_s:.2f} s rc={outcome.returncode}"
                    f" ({_stream_bytes(outcome) / 1e6:.1f} MB of stream output)"
                    + ("" if outcome.ok else f" {outcome.stderr_tail[-300:]}")
                )
    result: dict[str, Any] = {"lines": lines, "rounds": rounds}
    for name, outs in samples.items():
        walls = [o.wall_s for o in outs if o.ok]
        result[name] = {
            "median_s": round(median(walls), 3) if walls else None,
            "samples_s": [round(w, 3) for w in walls],
            "failed": sum(1 for o in outs if not o.ok),
        }
    py = result["runt_python"]["median_s"]
    pyo = result.get("runt_pyodide", {}).get("median_s")
    result["pyodide_over_python"] = round(pyo / py, 3) if py and pyo else None
    return result


def report_lines(r: dict[str, Any]) -> list[str]:
    def fig(name: str) -> str:
        m = r.get(name, {}).get("median_s")
        return f"{m:.2f} s" if m is not None else "n/a"

    ratio = r.get("pyodide_over_python")
    verdict = (
        "" if ratio is None else (" (target <= 1.2: " + ("met)" if ratio <= 1.2 else "MISSED)"))
    )
    return [
        f"output throughput ({r['lines']:,} printed lines, median of {r['rounds']}):",
        f"  papermill {fig('papermill')} | runt python {fig('runt_python')}"
        f" | runt pyodide {fig('runt_pyodide')}",
        f"  pyodide / python = {ratio if ratio is not None else 'n/a'}{verdict}",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("-n", "--rounds", type=int, default=3)
    p.add_argument("--lines", type=int, default=LINES)
    p.add_argument("--no-pyodide", action="store_true")
    args = p.parse_args()
    r = bench_output(
        args.rounds,
        lines=args.lines,
        pyodide=not args.no_pyodide,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print("\n".join(report_lines(r)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
