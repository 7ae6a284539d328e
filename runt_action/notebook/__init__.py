"""YAML notebooks: the model, the loader with line marks, and parameters."""

from __future__ import annotations

from runt_action.notebook.loader import load_notebook, parse_notebook
from runt_action.notebook.model import CellType, Notebook, NotebookCell, NotebookMetadata

__all__ = [
    "CellType",
    "Notebook",
    "NotebookCell",
    "NotebookMetadata",
    "load_notebook",
    "parse_notebook",
]
