"""The name every message of the command starts with, in one place.

``runt-automate`` is the command people type (README, ``--help``); a line the run prints
about itself on stderr starts with :data:`PREFIX` so it can be told from a cell's output.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PREFIX", "PROG"]

PROG: Final = "runt-automate"
PREFIX: Final = f"{PROG}: "
