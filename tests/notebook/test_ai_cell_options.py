"""An AI cell's model and settings in the YAML: checked, placed, and what they become."""

from __future__ import annotations

import pytest

from runt_action.errors import NotebookError
from runt_action.notebook import parse_notebook


def test_an_ai_cell_carries_its_model_and_settings() -> None:
    nb = parse_notebook(
        "cells:\n"
        "  - id: notes\n"
        "    celltype: ai\n"
        "    source: Summarise.\n"
        "    model: gpt-4o-mini\n"
        "    temperature: 0\n"
        "    max_tokens: 400\n"
        "    seed: 42\n"
        "    system_prompt: Be brief.\n",
        "nb.yml",
    )
    (cell,) = nb.cells
    assert cell.model == "gpt-4o-mini"
    assert cell.ai_settings == {
        "temperature": 0,
        "maxTokens": 400,
        "systemPrompt": "Be brief.",
        "seed": 42,
    }


def test_an_ai_cell_without_options_has_no_settings() -> None:
    nb = parse_notebook("cells:\n  - {id: a, celltype: ai, source: hi}\n", "nb.yml")
    assert nb.cells[0].ai_settings is None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "cells:\n  - id: a\n    source: x\n    temperature: 0.5\n",
            "4:18",
            "'temperature' applies to AI cells only (celltype: ai)",
        ),
        (
            "cells:\n  - id: a\n    celltype: sql\n    source: x\n    model: m\n",
            "5:12",
            "'model' applies to AI cells only",
        ),
        (
            "cells:\n  - {id: a, celltype: ai, source: x, temperature: 3}\n",
            "2:51",
            "less than or equal to 2",
        ),
        ("cells:\n  - {id: a, celltype: ai, source: x, max_tokens: 0}\n", "2:50", "max_tokens"),
        ("cells:\n  - {id: a, celltype: ai, source: x, seed: one}\n", "2:44", "seed"),
    ],
)
def test_bad_options_name_the_yaml_node(text: str, where: str, message: str) -> None:
    with pytest.raises(NotebookError) as info:
        parse_notebook(text, "nb.yml")
    line = info.value.one_line()
    assert line.startswith(f"nb.yml:{where}: "), line
    assert message in line
