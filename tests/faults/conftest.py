"""Fixtures for the fault suite: the helper modules on sys.path, both runtimes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=["python", pytest.param("pyodide", marks=pytest.mark.pyodide)])
def runtime(request: pytest.FixtureRequest) -> str:
    """Both runtimes; the Pyodide variant carries the ``pyodide`` marker."""
    return str(request.param)
