#!/usr/bin/env python3
"""Container and action entry point: a thin shim over runt_action.cli."""

from __future__ import annotations

from runt_action.cli import run

if __name__ == "__main__":
    run()
