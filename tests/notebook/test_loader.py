from __future__ import annotations

from pathlib import Path

import pytest

from runt_action.errors import NotebookError
from runt_action.notebook import Notebook, NotebookCell, load_notebook, parse_notebook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_minimal_notebook_defaults() -> None:
    nb = parse_notebook("cells:\n  - id: a\n    source: print(1)\n", "nb.yml")
    assert nb.path == Path("nb.yml")
    assert nb.title == "nb"
    assert nb.parameters == {}
    cell = nb.cells[0]
    assert (cell.id, cell.celltype, cell.source, cell.line) == ("a", "code", "print(1)", 2)
    assert (cell.timeout, cell.retries, cell.allow_error, cell.if_) == (None, 0, False, None)
    assert cell.executable


def test_all_options_notebook() -> None:
    nb = load_notebook(FIXTURES / "good" / "all-options.yml")
    assert nb.metadata.title == "Every option"
    assert nb.metadata.tags == ["test", "options"]
    assert nb.parameters["nested"] == {"a": [1, 2.5, "three"], "b": {"c": False}}
    assert nb.parameters["missing"] is None
    by_id = {c.id: c for c in nb.cells}
    assert [c.celltype for c in nb.cells] == [
        "markdown",
        "code",
        "code",
        "code",
        "raw",
        "sql",
        "ai",
    ]
    assert by_id["compute"].retries == 2
    assert by_id["compute"].timeout == 30.0
    assert by_id["may-fail"].allow_error is True
    assert by_id["guarded"].if_ == "success()"
    assert not by_id["intro"].executable and not by_id["raw_cell"].executable
    assert by_id["sql_cell"].executable
    # line is the 1-based line of each cell's mapping in the file
    lines = (FIXTURES / "good" / "all-options.yml").read_text().splitlines()
    for cell in nb.cells:
        assert lines[cell.line - 1].strip() == f"- id: {cell.id}"


def test_load_notebook_accepts_str_paths() -> None:
    nb = load_notebook(str(FIXTURES / "good" / "minimal.yml"))
    assert isinstance(nb, Notebook)
    assert nb.parameters == {"days": 7}


def test_notebook_built_in_code_is_validated_the_same_way() -> None:
    with pytest.raises(ValueError, match="duplicate cell id"):
        Notebook(cells=[NotebookCell(id="a", source=""), NotebookCell(id="a", source="")])


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "cells:\n  - id: a\n    sourse: x\n",
            "3:5",
            "unknown key 'sourse'; did you mean 'source'?",
        ),
        (
            "cells:\n  - id: a\n    cell_type: code\n    source: x\n",
            "3:5",
            "did you mean 'celltype'?",
        ),
        (
            "cells:\n  - id: a\n    celltype: markdwn\n    source: x\n",
            "3:15",
            "did you mean 'markdown'?",
        ),
        ("paramters: {}\ncells:\n  - id: a\n    source: x\n", "1:1", "did you mean 'parameters'?"),
        (
            "cells:\n  - {id: a, source: x}\n  - {id: a, source: y}\n",
            "3:10",
            "duplicate cell id 'a'",
        ),
        (
            "cells:\n  - id: a-b_c9\n    source: x\n  - id: -x\n    source: y\n",
            "4:9",
            "cell id '-x'",
        ),
        ("cells:\n  - id: " + "a" * 65 + "\n    source: x\n", "2:9", "1-64 letters"),
        ("parameters:\n  ok: 1\n  bad: {1: x}\ncells:\n  - {id: a, source: x}\n", "3:9", "key 1"),
        ("cells:\n  - {id: a, source: x, retries: 11}\n", "2:33", "retries"),
        ("cells:\n  - {id: a, source: x, timeout: 0}\n", "2:33", "greater than 0"),
    ],
)
def test_errors_name_the_yaml_node(text: str, where: str, message: str) -> None:
    with pytest.raises(NotebookError) as info:
        parse_notebook(text, "nb.yml")
    line = info.value.one_line()
    assert line.startswith(f"nb.yml:{where}: "), line
    assert message in line
    assert "\n" not in line


def test_missing_file_is_a_notebook_error(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as info:
        load_notebook(tmp_path / "nope.yml")
    assert info.value.one_line() == f"{tmp_path / 'nope.yml'}:1:1: no such file"
    assert info.value.exit_code == 2


def test_x_keys_hold_anchors_and_are_ignored() -> None:
    text = "x-common: &c\n  timeout: 5\ncells:\n  - id: a\n    source: x\n    <<: *c\n"
    nb = parse_notebook(text)
    assert nb.cells[0].timeout == 5.0
