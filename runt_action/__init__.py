"""runt automate action: run YAML notebooks in CI through LiveStore."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
