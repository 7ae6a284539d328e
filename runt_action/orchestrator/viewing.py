"""``--view``: once the work is over, the viewer's pages stay up until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

from runt_action.console import PREFIX

if TYPE_CHECKING:
    from runt_action.orchestrator.session import EmbeddedServer

__all__ = ["keep_viewing"]


async def keep_viewing(viewing: EmbeddedServer, notebook_id: str | None = None) -> None:
    """Print where the notebook (or, without an id, the index of all) stays; wait; stop."""
    assert viewing.viewer is not None
    url = viewing.viewer.entry_url(notebook_id)  # a fresh one-time code
    what = "notebook stays" if notebook_id is not None else "notebooks stay"
    print(f"{PREFIX}the {what} at {url}; Ctrl-C to stop", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(viewing.stop(), 5.0)
