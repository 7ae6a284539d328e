"""Jupyter fixtures for tests: notebooks, and ``altpy``, a kernelspec running this
interpreter's ipykernel with a mark.

Shared by the kernel-choice tests of the planner and of the CLI, so both test one kernel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ALTPY_MARK = "altpy-kernel"


def write_altpy(root: Path) -> Path:
    """``root/kernels/altpy/kernel.json``; point JUPYTER_PATH at ``root`` to install it."""
    spec = root / "kernels" / "altpy"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Alt Python",
                "language": "python",
                "env": {"ALTPY_MARK": ALTPY_MARK},
            }
        )
    )
    return root


def write_ipynb(path: Path, *cells: tuple[str, str, list[str]], **metadata: object) -> Path:
    """A Python 3 notebook of code cells ``(id, source, tags)``; ``metadata`` is merged into
    the notebook's (e.g. ``language_info=...``)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    nb.metadata.update(metadata)
    for cell_id, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell["id"] = cell_id
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path
