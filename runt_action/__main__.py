"""``python -m runt_action``."""

from __future__ import annotations

from runt_action.cli import run

run()
