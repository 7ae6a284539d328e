"""Sweep speed-up: 8 parameter sets on the native runtime, ``--jobs 2`` against ``--jobs 1``.

``python bench/sweep.py [--rounds 3]``. Each set's cells do a little real work (about 0.3 s
of CPU), so running two sets at once on two cores shows what one shared embedded server and
separate runtimes buy. Interleaved rounds, medians. A benchmark: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, run_cli

SETS = 8

NOTEBOOK = """\
metadata:
  title: Sweep benchmark
parameters:
  seed: 0
sweep:
  matrix:
    seed: [1, 2, 3, 4, 5, 6, 7, 8]
cells:
  - id: work
    source: |
      import hashlib
      digest = str(seed).encode()
      for _ in range(150_000):
          digest = hashlib.sha256(digest).digest()
  - id: answer
    result: true
    source: digest.hex()[:8]
"""


def bench_sweep(rounds: int, log: Any = print) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runt-bench-sweep-") as tmp:
        nb = Path(tmp) / "sweep.yml"
        nb.write_text(NOTEBOOK, encoding="utf-8")
        walls: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(rounds):
            for jobs in (1, 2):
                outcome = run_cli(nb, "python", env_extra={"INPUT_JOBS": str(jobs)}, timeout=600)
                if not outcome.ok:
                    raise RuntimeError(f"--jobs {jobs} failed: {outcome.stderr_tail}")
                walls[jobs].append(outcome.wall_s)
                log(f"  sweep of {SETS}, --jobs {jobs}: {outcome.wall_s:.2f} s")
    one, two = median(walls[1]), median(walls[2])
    return {
        "sets": SETS,
        "jobs1_s": round(one, 3),
        "jobs2_s": round(two, 3),
        "speedup": round(one / two, 2),
        "samples": walls,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    result = bench_sweep(args.rounds)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    print(
        f"sweep of {SETS} on native: --jobs 1 {result['jobs1_s']:.2f} s, "
        f"--jobs 2 {result['jobs2_s']:.2f} s, speed-up x{result['speedup']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
