"""The HTML report's warm-up when several runs of a batch start at once."""

from __future__ import annotations

import subprocess
import sys

_RACE = """
import threading
from runt_action.orchestrator.execution import warm_report
errors = []
gate = threading.Barrier(6)
def go():
    gate.wait()
    try:
        warm_report()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=go) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""


def test_runs_warming_up_together_do_not_race_on_pygments() -> None:
    """Six runs warming the report at once in a fresh interpreter (Pygments' lexers not loaded
    yet): none fails. Before (issue #26), ``prewarm`` in two threads raised ``ImportError:
    cannot import name 'PythonLexer'`` (Pygments loads lexers lazily, not thread-safely)."""
    done = subprocess.run(
        [sys.executable, "-c", _RACE], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
