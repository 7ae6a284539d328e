"""Run the CLI in this process, then record this process's peak RSS and its children's.

VmHWM of /proc/self is the orchestrator alone (server, runner, in-process agent). Not
``ru_maxrss``: Linux carries it over fork and exec, so it would report the benchmark driver's
own peak. Children (ipykernel, Deno) are sampled from /proc every 20 ms, VmHWM being monotonic.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

_children_peak: dict[int, int] = {}


def _vm(field: str, pid: str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _child_pids() -> list[str]:
    pids: list[str] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children", encoding="utf-8") as f:
                pids.extend(f.read().split())
    except OSError:
        pass
    return pids


def _sample_children(stop: threading.Event) -> None:
    while not stop.wait(0.02):
        for pid in _child_pids():
            hwm = _vm("VmHWM", pid)
            if hwm is not None:
                _children_peak[int(pid)] = max(hwm, _children_peak.get(int(pid), 0))


def main() -> int:
    from runt_action.cli import main as cli_main

    stop = threading.Event()
    sampler = threading.Thread(target=_sample_children, args=(stop,), daemon=True)
    sampler.start()
    rc = cli_main(sys.argv[1:])
    stop.set()
    sampler.join()
    record = {
        "self_vmhwm_kb": _vm("VmHWM"),
        "self_vmrss_end_kb": _vm("VmRSS"),
        "children_vmhwm_kb": max(_children_peak.values(), default=0),
        "returncode": rc,
    }
    out = os.environ.get("RUNT_BENCH_WORKDIR")
    if out:
        Path(out, "rss.json").write_text(json.dumps(record), encoding="utf-8")
    return rc


if __name__ == "__main__":
    sys.exit(main())
