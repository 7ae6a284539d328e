"""AI cells end to end through the CLI, against a 127.0.0.1 Chat Completions stub (no model
service is reachable here; tests/agents/executors/openai_stub.py speaks the wire format).

The key arrives as GitHub passes it (OPENAI_API_KEY in the environment): it reaches the
service's Authorization header and nothing else the run writes or prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agents.executors.openai_stub import answer, started_stub, tool_calls

KEY = "sk-e2e-Hq4Wm9Zt2Rv7Kx5Pb1Nd8Lc3"
DB_TOKEN = "db-secret-Yw6Tq1Mv9"

NOTEBOOK = """\
metadata:
  title: Release numbers
parameters:
  region: north
  db_token: ""
cells:
  - id: table
    source: |
      rows = [("alpha", 10), ("beta", 20), ("gamma", 30)]
      for name, value in rows:
          print(name, value)
      print("total", sum(v for _, v in rows), "in", region)
  - id: summary
    celltype: ai
    source: Summarise the table above for the release notes.
    temperature: 0
    seed: 42
"""


def _everything_written(run: Any) -> str:
    """Every file the run left under its working directory, and what it printed (but the
    ``::add-mask::`` commands, which tell GitHub to mask the values)."""
    shown = [ln for ln in run.stdout.splitlines() if not ln.startswith("::add-mask::")]
    assert f"::add-mask::{KEY}" in run.stdout.splitlines()
    texts = ["\n".join(shown), run.stderr]
    for path in sorted(Path(run.workdir).rglob("*")):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _cell(ipynb: dict[str, Any], cell_id: str) -> dict[str, Any]:
    (cell,) = [c for c in ipynb["cells"] if c["metadata"]["runt"]["id"] == cell_id]
    return cell


@pytest.mark.parametrize("runtime", ["python", pytest.param("pyodide", marks=pytest.mark.pyodide)])
async def test_an_ai_cell_summarises_a_computed_table(
    cli: Any, tmp_path: Path, runtime: str
) -> None:
    nb = tmp_path / "release.yml"
    nb.write_text(NOTEBOOK)
    reply = answer("Three items ", "(alpha, beta, gamma) ", "add up to **60** in north.")
    async with started_stub([reply]) as stub:
        run = await cli(
            tmp_path,
            nb,
            "--runtime",
            runtime,
            "--ai-base-url",
            stub.url,
            "--secret-parameter",
            "db_token=DB_TOKEN",
            "--sync-log",
            str(tmp_path / "events.sqlite"),
            env={"OPENAI_API_KEY": KEY, "DB_TOKEN": DB_TOKEN},
        )
    assert run.returncode == 0, run.stderr
    assert run.status_of("summary") == "success"
    (request,) = stub.requests
    prompt = request["messages"][1]["content"]
    assert "total 60 in north" in prompt  # the computed table, from the run
    assert "region = 'north'" in prompt or 'region = "north"' in prompt  # the parameters
    assert DB_TOKEN not in json.dumps(request)  # a secret parameter never reaches the model
    assert request["temperature"] == 0 and request["seed"] == 42
    assert stub.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert run.ipynb is not None
    cell = _cell(run.ipynb, "summary")
    markdown = [o for o in cell["outputs"] if "text/markdown" in o.get("data", {})]
    assert _text(markdown[0]["data"]["text/markdown"]) == (
        "Three items (alpha, beta, gamma) add up to **60** in north."
    )
    ai = cell["metadata"]["runt"]["ai"]
    assert ai["model"] == "gpt-4o-mini" and ai["response_ids"][0].startswith("chatcmpl-")
    assert ai["usage"]["total_tokens"] == 18
    assert "AI: gpt-4o-mini, 11 prompt + 7 completion tokens" in run.summary.replace("\\", "")
    written = _everything_written(run)
    assert KEY not in written and KEY[:12] not in written
    assert DB_TOKEN not in written


async def test_with_ai_tools_execute_a_created_cell_runs_and_its_result_goes_back(
    cli: Any, tmp_path: Path
) -> None:
    nb = tmp_path / "release.yml"
    nb.write_text(NOTEBOOK.replace("Summarise the table", "Compute the mean of the table"))
    created = "summary-ai1"
    script = [
        tool_calls(
            (
                "c1",
                "create_cell",
                {"source": "print(sum(v for _, v in rows) / 3)", "after_id": "summary"},
            ),
            split=5,
        ),
        tool_calls(("c2", "execute_cell", {"cellId": created})),
        answer("The mean is 20."),
    ]
    async with started_stub(script) as stub:
        run = await cli(
            tmp_path,
            nb,
            "--runtime",
            "python",
            "--ai-base-url",
            stub.url,
            "--ai-tools",
            "execute",
            env={"OPENAI_API_KEY": KEY},
        )
    assert run.returncode == 0, run.stderr
    assert len(stub.requests) == 3
    fed_back = stub.requests[2]["messages"][-1]
    assert fed_back["role"] == "tool" and "20.0" in fed_back["content"]
    assert run.ipynb is not None
    ids = [c["metadata"]["runt"]["id"] for c in run.ipynb["cells"]]
    assert ids[ids.index("summary") + 1] == created
    cell = _cell(run.ipynb, created)
    assert _text(cell["source"]) == "print(sum(v for _, v in rows) / 3)"
    assert _text(cell["outputs"][0]["text"]) == "20.0\n"
    assert cell["metadata"]["runt"]["created_by"].startswith("ai-assistant-")
    assert cell["metadata"]["runt"]["status"] == "success"
    assert run.status_of(created) == "success"
    assert KEY not in _everything_written(run)


async def test_without_a_key_or_endpoint_ai_cells_are_skipped_and_strict_fails(
    cli: Any, tmp_path: Path
) -> None:
    nb = tmp_path / "release.yml"
    nb.write_text(NOTEBOOK)
    run = await cli(tmp_path, nb, "--runtime", "python")
    assert run.returncode == 0, run.stderr
    assert run.status_of("summary") == "skipped"
    assert "no runtime here can execute ai cells" in run.stdout
    strict = await cli(tmp_path, nb, "--runtime", "python", "--strict")
    assert strict.returncode == 1
    assert strict.status_of("summary") == "failed"
