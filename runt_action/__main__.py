"""``python -m runt_action``."""

from __future__ import annotations

import sys

from runt_action.cli import main

sys.exit(main())
