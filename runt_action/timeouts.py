"""All timeouts of a run in one object, shaped like httpx's ``Timeout``.

``Timeouts(60)`` sets every cell timeout to 60 s; keyword arguments override one phase.
``None`` means "no limit". Seconds everywhere.

=============  ========================================================  =======
field          bounds                                                    default
=============  ========================================================  =======
cell           one cell's execution, from request to terminal status     600
notebook       the whole run, start to summary                           None
startup        runtime start to a ready runtime session                  60
connect        websocket handshake with the sync server                  10
request        one push/pull round trip with the sync server             10
shutdown       grace period after SIGTERM before we give up on cleanup   10
interrupt      grace after interrupting a cell before the runtime is     5
               restarted (a cell that ignores KeyboardInterrupt)
=============  ========================================================  =======
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Timeouts"]

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Timeouts:
    cell: float | None = 600.0
    notebook: float | None = None
    startup: float | None = 60.0
    connect: float | None = 10.0
    request: float | None = 10.0
    shutdown: float | None = 10.0
    interrupt: float | None = 5.0

    def with_(self, **changes: float | None) -> Timeouts:
        """A copy with some phases changed; unknown names raise TypeError."""
        return replace(self, **changes)
