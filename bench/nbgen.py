"""The notebooks the benchmark runs: the YAML example as .ipynb for papermill, and N-cell YAML.

The .ipynb is built from the YAML with plain pyyaml + nbformat (not our loader), so papermill
runs exactly the same code cells with a ``parameters``-tagged cell holding the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat as _nbformat
import yaml
from nbformat import v4 as _v4

# nbformat has no type hints; treat it as dynamic rather than sprinkle ignores.
nbformat: Any = _nbformat
v4: Any = _v4


def yaml_to_ipynb(source: Path, target: Path) -> int:
    """Write the papermill equivalent of a YAML notebook; returns its code-cell count."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    cells = []
    params: dict[str, Any] = doc.get("parameters") or {}
    if params:
        code = "\n".join(f"{name} = {value!r}" for name, value in params.items())
        cells.append(v4.new_code_cell(code, metadata={"tags": ["parameters"]}))
    for cell in doc.get("cells", []):
        kind = cell.get("celltype", cell.get("cell_type", "code"))
        text = str(cell.get("source", ""))
        if kind == "markdown":
            cells.append(v4.new_markdown_cell(text))
        elif kind == "code":
            cells.append(v4.new_code_cell(text))
    meta = (doc.get("metadata") or {}).get("title", source.stem)
    nb = v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "title": meta,
        },
    )
    nbformat.validate(nb)
    target.write_text(nbformat.writes(nb), encoding="utf-8")
    return sum(1 for c in cells if c["cell_type"] == "code")


def trivial_yaml(target: Path, cells: int, source: str = "x = 1") -> None:
    """A notebook of ``cells`` identical trivial cells: all time is orchestration."""
    doc = {
        "metadata": {"title": f"{cells} trivial cells", "runtime": "python3"},
        "cells": [{"id": f"c{i:04d}", "source": source} for i in range(cells)],
    }
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
