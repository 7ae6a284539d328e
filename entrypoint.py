#!/usr/bin/env python3
"""Container and action entry point: a thin shim over runt_action.cli."""

from __future__ import annotations

import sys

from runt_action.cli import main

if __name__ == "__main__":
    sys.exit(main())
