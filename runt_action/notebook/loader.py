"""Load a YAML notebook file into a validated :class:`Notebook`, or fail with one located line.

Every problem becomes a :class:`~runt_action.errors.NotebookError` naming ``file:line:col``
of the offending YAML node, so a user sees one line and never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from runt_action.errors import NotebookError
from runt_action.notebook.conditions import compile_condition
from runt_action.notebook.literals import shown
from runt_action.notebook.model import PARAMETERS_CELL_ID, Notebook
from runt_action.notebook.validation import (
    RESERVED_CELL,
    RESERVED_TOP,
    describe_validation_error,
    expected,
    fields_at,
)
from runt_action.notebook.yamlsrc import Loc, Located, SourceError, parse_yaml, read_source

__all__ = ["describe_validation_error", "load_notebook", "parse_notebook"]


def load_notebook(path: str | Path) -> Notebook:
    """Read, parse and validate the notebook at ``path``: a Jupyter notebook when its name
    ends in ``.ipynb`` (see :mod:`.ipynb_input`), else a YAML notebook."""
    path = Path(path)
    if path.suffix.lower() == ".ipynb":
        from runt_action.notebook.ipynb_input import load_ipynb

        return load_ipynb(path)
    try:
        text = read_source(path)
    except SourceError as exc:
        raise exc.located(NotebookError, path) from None
    return parse_notebook(text, path)


def parse_notebook(text: str, path: str | Path = "<string>") -> Notebook:
    """Parse and validate notebook YAML text; ``path`` names it in errors."""
    path = Path(path)

    def fail(message: str, loc: Loc = (), *, key: bool = False) -> NotebookError:
        mark = located.mark(loc, key=key)
        return NotebookError(message, file=path, line=mark.line, column=mark.column)

    try:
        located = parse_yaml(text)
    except SourceError as exc:
        raise exc.located(NotebookError, path) from None
    data = located.data
    if data is None:
        raise fail("the notebook is empty; expected a mapping with a 'cells' list")
    if not isinstance(data, dict):
        raise fail("a notebook must be a mapping with 'metadata', 'parameters' and 'cells'")
    _reject_reserved(data, located, path)
    cells = data.get("cells")
    # "x-" keys hold YAML anchors for reuse, as in docker-compose; they are not part of the model.
    prepared: dict[str, Any] = {
        k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
    }
    if isinstance(cells, list):
        lines = text.splitlines()
        prepared["cells"] = [
            {
                **cell,
                "line": located.mark(("cells", i)).line,
                "source_line": _source_line(located, lines, i),
            }
            if isinstance(cell, dict)
            else cell
            for i, cell in enumerate(cells)
        ]
    prepared["path"] = path
    try:
        notebook = Notebook.model_validate(prepared)
    except ValidationError as exc:
        message, loc, key = describe_validation_error(_most_helpful(exc.errors()))
        raise fail(message, loc, key=key) from None
    if not notebook.cells:  # a Jupyter notebook may have none; a YAML notebook is a mistake
        raise fail("cells: a notebook needs at least one cell", ("cells",))
    _check_conditions(notebook, located, path)
    if any(cell.celltype == "sql" for cell in notebook.cells):
        from runt_action.notebook.sqlcells import check_placeholders

        check_placeholders(notebook, located, path, text.splitlines())
    return notebook


def _source_line(located: Located, lines: list[str], index: int) -> int:
    """The file line of the source's first line when the source is a literal block
    (``source: |``: its lines are the file's lines, from the next one on); else 0."""
    mark = located.values.get(("cells", index, "source"))
    if mark is None or not 0 < mark.line <= len(lines):
        return 0
    line = lines[mark.line - 1]
    return mark.line + 1 if line[mark.column - 1 : mark.column] == "|" else 0


def _check_conditions(notebook: Notebook, located: Located, path: Path) -> None:
    """Compile every ``if:`` now, so --validate rejects what a run would reject."""
    earlier = [PARAMETERS_CELL_ID]
    for i, cell in enumerate(notebook.cells):
        if cell.if_:
            mark = located.mark(("cells", i, "if"))
            try:
                compile_condition(cell.if_, earlier_cells=earlier, file=path, line=mark.line)
            except NotebookError as exc:
                raise NotebookError(
                    exc.message, file=path, line=mark.line, column=mark.column
                ) from None
        earlier.append(cell.id)


def _reject_reserved(data: dict[Any, Any], located: Located, path: Path) -> None:
    bad: list[Loc] = [(k,) for k in data if k in RESERVED_TOP]
    cells = data.get("cells")
    if isinstance(cells, list):
        for i, cell in enumerate(cells):
            if isinstance(cell, dict):
                bad.extend(("cells", i, k) for k in cell if k in RESERVED_CELL)
    if bad:
        mark = located.mark(bad[0], key=True)
        message = f"unknown key {shown(bad[0][-1])}" + expected(fields_at(bad[0][:-1]))
        raise NotebookError(message, file=path, line=mark.line, column=mark.column)


def _most_helpful(errors: list[ErrorDetails]) -> ErrorDetails:
    """An unknown key explains a "missing" one (a typo), so report unknown keys first."""
    for error in errors:
        if error["type"] == "extra_forbidden":
            return error
    return errors[0]
