"""The fault suite (issue 10): real runs of the CLI under injected faults.

- test_connection_cuts: every websocket cut every 0.5-2 s by our proxy (proxy.py);
- test_server_restart: the sync server SIGKILLed and restarted on its port and --db;
- test_runtime_kill: the kernel / Deno SIGKILLed mid-cell;
- test_output_floods: MBs of lines, a 3 MB line, a 5 MB result;
- test_special_paths: result files that are devices, FIFOs, symlinks or directories;
- test_secrets_at_rest: no secret in any file the run leaves;
- test_stuck_cell: a cell that swallows KeyboardInterrupt.

The scenarios live in scenarios.py so bench/faults.py measures exactly what the tests assert.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=["python", pytest.param("pyodide", marks=pytest.mark.pyodide)])
def runtime(request: pytest.FixtureRequest) -> str:
    """Both runtimes; the Pyodide variant carries the ``pyodide`` marker."""
    return str(request.param)
