"""Build the Pyodide memory snapshot ahead of time (setup script, container image build).

``python -m runt_action.agents.pyodide.prepare [--force]`` boots Pyodide once when the cache
has no usable snapshot (or --force); that boot makes one, so later runs boot in a fraction of
the cold time.
"""

from __future__ import annotations

import asyncio
import sys

from runt_action.agents.pyodide import paths
from runt_action.agents.pyodide.engine import PyodideEngine, snapshot_looks_whole
from runt_action.errors import RuntActionError


async def _prepare() -> str:
    engine = PyodideEngine(snapshot=True)
    try:
        await engine.start()
        return str(engine.boot_info.get("boot", "?"))
    finally:
        await engine.shutdown()


def main() -> int:
    path = paths.snapshot_path()
    if "--force" in sys.argv[1:]:
        for stale in (path, path.with_name(path.name + ".json")):
            stale.unlink(missing_ok=True)
    elif snapshot_looks_whole(path):
        print(f"pyodide snapshot already built: {path}")
        return 0
    try:
        mode = asyncio.run(_prepare())
    except RuntActionError as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"pyodide snapshot ready ({mode}): {paths.snapshot_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
