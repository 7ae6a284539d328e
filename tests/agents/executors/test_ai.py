"""AI cells through the real agent, the real openai SDK and a 127.0.0.1 Chat Completions stub.

No model service is reachable from these machines; the stub (openai_stub.py) speaks the
documented streaming wire format and each test scripts its replies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.executors import CodeExecutor
from runt_action.agents.executors.ai import AI_USAGE_MIME, AiConfig, AiExecutor
from runt_action.agents.executors.ai_tools import AI_TOOL_CALL_MIME, AI_TOOL_RESULT_MIME
from runt_action.agents.registry import make_engine
from runt_action.livestore.server import SyncServer
from runt_action.schema import events as ev
from runt_action.schema.state import Output
from tests.agents.conftest import Notebook, start_agent, stop_agent
from tests.agents.executors.openai_stub import (
    Reply,
    Stub,
    answer,
    error,
    malformed,
    stall,
    started_stub,
    tool_calls,
)

KEY = "sk-test-Zq9rV2mK7pXw4Lb8Nc3Ty6Hd"


@dataclass
class Ai:
    notebook: Notebook
    stub: Stub
    executor: AiExecutor
    session_id: str
    sleeps: list[float]

    async def run(self, prompt: str, **settings: Any) -> tuple[str, dict[str, Any]]:
        """An AI cell with ``prompt`` (and AiSettingsChanged ``settings``), run to the end."""
        cell_id = self.notebook.add_cell(prompt, cell_type="ai")
        if settings:
            model = settings.pop("model", "stub-model")
            self.notebook.store.commit(
                *ev.AiSettingsChanged(
                    cellId=cell_id,
                    provider="openai",
                    model=model,
                    settings=ev.AiSettings(**settings),
                ).wire()
            )
        queue_id = self.notebook.request(cell_id)
        await self.notebook.done(queue_id)
        return cell_id, self.notebook.completion(queue_id)

    def outputs(self, cell_id: str) -> list[Output]:
        return self.notebook.outputs(cell_id)

    def markdown(self, cell_id: str) -> list[Output]:
        return [o for o in self.outputs(cell_id) if o.output_type == "markdown"]

    def displays(self, cell_id: str, mime: str) -> list[dict[str, Any]]:
        found = []
        for out in self.outputs(cell_id):
            media = (out.representations or {}).get(mime)
            if media is not None:
                found.append(media.data)  # type: ignore[union-attr]
        return found

    def error(self, cell_id: str) -> dict[str, Any]:
        errors = [o for o in self.outputs(cell_id) if o.output_type == "error"]
        assert len(errors) == 1, self.outputs(cell_id)
        data = errors[0].data
        return json.loads(data) if isinstance(data, str) else dict(data or {})

    def notices(self, cell_id: str) -> list[str]:
        return [
            self.notebook.store.state.final_content(o)
            for o in self.outputs(cell_id)
            if o.output_type == "terminal" and o.stream_name == "stderr"
        ]


@pytest.fixture
def make_ai(
    server: SyncServer, store_id: str, notebook: Notebook, tmp_path: Path
) -> Callable[..., Any]:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(replies: list[Reply], **config: Any) -> AsyncIterator[Ai]:
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        async with started_stub(replies) as stub:
            executor = AiExecutor(
                AiConfig(**{"api_key": KEY, "base_url": stub.url, "model": "stub-model", **config}),
                sleep=sleep,
            )
            h = await start_agent(
                server,
                store_id,
                make_engine("python", cwd=tmp_path),
                executors=[CodeExecutor(), executor],
                secrets=[KEY],
            )
            try:
                yield Ai(notebook, stub, executor, h.agent.session_id, sleeps)
            finally:
                await stop_agent(h)

    return make


def _no_key_anywhere(ai: Ai) -> None:
    """The key went to the service (Authorization) and nowhere else: no event carries it."""
    assert all(h.get("Authorization") == f"Bearer {KEY}" for h in ai.stub.headers)
    for event in ai.notebook.store.events:
        assert KEY not in json.dumps(event.args), event.name
        assert KEY[:12] not in json.dumps(event.args), event.name


async def test_the_answer_streams_into_one_markdown_output(make_ai: Callable[..., Any]) -> None:
    async with make_ai([answer("The table has ", "**3 rows**", "; the total is 60.")]) as ai:
        await ai.notebook.run("print('total', 10 + 20 + 30)")
        cell_id, done = await ai.run("Summarise the table above.")
        assert done["status"] == "success"
        (md,) = ai.markdown(cell_id)
        state = ai.notebook.store.state
        assert state.final_content(md) == "The table has **3 rows**; the total is 60."
        assert md.metadata == {
            "anode": {
                "role": "assistant",
                "ai_provider": "openai",
                "ai_model": "stub-model",
                "iteration": 1,
            }
        }
        # One output that grew: the first piece added it, every later piece was a delta.
        added = [e for e in ai.notebook.events("v1.MarkdownOutputAdded")]
        appended = [e for e in ai.notebook.events("v2.MarkdownOutputAppended")]
        assert len(added) == 1 and len(appended) == 2
        assert [e.args["delta"] for e in appended] == ["**3 rows**", "; the total is 60."]
        # What reached the model: the earlier cell's source and output, then the prompt.
        (request,) = ai.stub.requests
        assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
        assert request["model"] == "stub-model" and "tools" not in request
        user = request["messages"][1]["content"]
        assert "print('total', 10 + 20 + 30)" in user and "total 60" in user
        assert user.rstrip().endswith("Summarise the table above.")
        assert cell_id in request["messages"][0]["content"]
        (usage,) = ai.displays(cell_id, AI_USAGE_MIME)
        assert usage["model"] == "stub-model" and usage["iterations"] == 1
        assert usage["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        assert usage["response_ids"][0].startswith("chatcmpl-")
        assert usage["latency_ms"] > 0
        _no_key_anywhere(ai)


async def test_cell_settings_reach_the_request(make_ai: Callable[..., Any]) -> None:
    async with make_ai([answer("ok")]) as ai:
        cell_id, done = await ai.run(
            "Explain.",
            model="other-model",
            temperature=0,
            maxTokens=64,
            systemPrompt="You write release notes.",
            seed=7,
        )
        assert done["status"] == "success"
        (request,) = ai.stub.requests
        assert request["model"] == "other-model"
        assert request["temperature"] == 0 and request["seed"] == 7
        assert request["max_tokens"] == 64
        assert request["messages"][0]["content"].startswith("You write release notes.")
        state = ai.notebook.store.state
        assert state.cells[cell_id].ai_model == "other-model"


async def test_context_skips_hidden_cells_and_says_what_was_cut(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([answer("ok")], context_tokens=300) as ai:
        hidden = ai.notebook.add_cell("print('internal-only')")
        ai.notebook.store.commit(
            *ev.CellAiContextVisibilityToggled(id=hidden, aiContextVisible=False).wire()
        )
        await ai.notebook.done(ai.notebook.request(hidden))
        await ai.notebook.run("print('early-cell ' * 200)")  # too big for 300 tokens with the rest
        await ai.notebook.run(
            "from IPython.display import Image, display\n"
            "import base64\n"
            "display({'image/png': 'iVBORw0KGgo=', 'text/plain': '<Figure>'},"
            " raw=True)"
        )
        await ai.notebook.run("print('late-cell')")
        cell_id, done = await ai.run("What happened?")
        assert done["status"] == "success"
        user = ai.stub.requests[0]["messages"][1]["content"]
        assert "internal-only" not in user
        assert "late-cell" in user
        assert "[image/png image output, not shown to the model]" in user
        assert "early-cell" not in user
        assert "earlier cell(s) left out" in user
        assert any("left out of the model's context" in n for n in ai.notices(cell_id))


async def test_a_tool_call_split_across_many_deltas_creates_a_cell(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([], tools="create") as ai:
        cell_id = ai.notebook.add_cell("Add a cell.", cell_type="ai")
        # after_id is required: the model names its own cell (the context tells it)
        source = "x = 6 * 7\nprint(x)"
        ai.stub.replies += [
            tool_calls(("call_1", "create_cell", {"source": source, "after_id": cell_id}), split=9),
            answer("I added a cell that prints 42."),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "success"
        state = ai.notebook.store.state
        created = state.cells[f"{cell_id}-ai1"]
        assert created.source == "x = 6 * 7\nprint(x)" and created.cell_type == "code"
        assert created.created_by == f"ai-assistant-{ai.session_id}"
        order = [c.id for c in state.ordered_cells()]
        assert order.index(created.id) == order.index(cell_id) + 1
        (req,) = [e.args for e in ai.notebook.events("v1.ToolApprovalRequested")]
        assert req["toolName"] == "create_cell" and req["arguments"]["after_id"] == cell_id
        (resp,) = [e.args for e in ai.notebook.events("v1.ToolApprovalResponded")]
        assert resp["status"] == "approved_once" and resp["toolCallId"] == "call_1"
        (call,) = ai.displays(cell_id, AI_TOOL_CALL_MIME)
        assert call["status"] == "success" and call["tool_name"] == "create_cell"
        (result,) = ai.displays(cell_id, AI_TOOL_RESULT_MIME)
        assert result == {
            "tool_call_id": "call_1",
            "result": f"Created code cell: {created.id}",
            "status": "success",
        }
        # The second request carries the assembled call and its result.
        second = ai.stub.requests[1]["messages"]
        assert second[-2]["tool_calls"][0]["function"]["arguments"] == json.dumps(
            {"source": "x = 6 * 7\nprint(x)", "after_id": cell_id}
        )
        assert second[-1] == {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": f"Created code cell: {created.id}",
        }
        assert [t["function"]["name"] for t in ai.stub.requests[0]["tools"]] == [
            "create_cell",
            "modify_cell",
        ]


async def test_two_parallel_tool_calls(make_ai: Callable[..., Any]) -> None:
    async with make_ai([], tools="create") as ai:
        cell_id = ai.notebook.add_cell("Add two cells.", cell_type="ai")
        ai.stub.replies += [
            tool_calls(
                ("call_a", "create_cell", {"source": "a = 1", "after_id": cell_id}),
                (
                    "call_b",
                    "create_cell",
                    {"source": "# notes", "after_id": cell_id, "cellType": "markdown"},
                ),
                split=4,
            ),
            answer("Done."),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "success"
        state = ai.notebook.store.state
        assert state.cells[f"{cell_id}-ai1"].source == "a = 1"
        assert state.cells[f"{cell_id}-ai2"].cell_type == "markdown"
        tool_messages = [m for m in ai.stub.requests[1]["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b"]


async def test_execute_runs_the_created_cell_and_feeds_the_result_back(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([], tools="execute") as ai:
        cell_id = ai.notebook.add_cell("Compute 6*7 in a new cell.", cell_type="ai")
        created = f"{cell_id}-ai1"
        ai.stub.replies += [
            tool_calls(("c1", "create_cell", {"source": "print(6 * 7)", "after_id": cell_id})),
            tool_calls(("c2", "execute_cell", {"cellId": created})),
            answer("The result is 42."),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "success"
        assert ai.notebook.text(created) == "42\n"
        rows = [r for r in ai.notebook.store.state.queue.values() if r.cell_id == created]
        (row,) = rows
        assert row.requested_by == f"ai-assistant-{ai.session_id}" and row.status == "completed"
        fed_back = ai.stub.requests[2]["messages"][-1]
        assert fed_back["role"] == "tool" and "42" in fed_back["content"]
        assert "executed successfully" in fed_back["content"]


async def test_a_failed_created_cell_fails_the_ai_cell_and_stops_further_runs(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([], tools="execute") as ai:
        cell_id = ai.notebook.add_cell("Go.", cell_type="ai")
        created = f"{cell_id}-ai1"
        ai.stub.replies += [
            tool_calls(("c1", "create_cell", {"source": "1 / 0", "after_id": cell_id})),
            tool_calls(("c2", "execute_cell", {"cellId": created})),
            tool_calls(("c3", "execute_cell", {"cellId": created})),
            answer("It divided by zero."),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        done = ai.notebook.completion(queue_id)
        assert done["status"] == "error"
        assert "ZeroDivisionError" in ai.stub.requests[2]["messages"][-1]["content"]
        assert "stop-on-error" in ai.stub.requests[3]["messages"][-1]["content"]
        assert ai.error(cell_id)["ename"] == "CellFailed"
        runs = [r for r in ai.notebook.store.state.queue.values() if r.cell_id == created]
        assert len(runs) == 1  # the third call was denied, not run


async def test_the_policy_none_denies_tool_calls(make_ai: Callable[..., Any]) -> None:
    async with make_ai([], tools="none") as ai:
        cell_id = ai.notebook.add_cell("Try.", cell_type="ai")
        ai.stub.replies += [
            tool_calls(("c1", "create_cell", {"source": "import os", "after_id": cell_id})),
            answer("I may not add cells here."),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "success"
        assert f"{cell_id}-ai1" not in ai.notebook.store.state.cells
        (resp,) = [e.args for e in ai.notebook.events("v1.ToolApprovalResponded")]
        assert resp["status"] == "denied"
        assert "ai-tools is 'none'" in ai.stub.requests[1]["messages"][-1]["content"]
        assert "tools" not in ai.stub.requests[0]


async def test_user_cells_are_never_modified_or_run(make_ai: Callable[..., Any]) -> None:
    async with make_ai([], tools="execute") as ai:
        user_cell = ai.notebook.add_cell("print('mine')")
        cell_id = ai.notebook.add_cell("Change it.", cell_type="ai")
        ai.stub.replies += [
            tool_calls(
                ("c1", "modify_cell", {"cellId": user_cell, "source": "print('yours')"}),
                ("c2", "execute_cell", {"cellId": user_cell}),
            ),
            answer("Not allowed."),
        ]
        await ai.notebook.done(ai.notebook.request(cell_id))
        assert ai.notebook.store.state.cells[user_cell].source == "print('mine')"
        statuses = [e.args["status"] for e in ai.notebook.events("v1.ToolApprovalResponded")]
        assert statuses == ["denied", "denied"]


async def test_iterations_are_bounded(make_ai: Callable[..., Any]) -> None:
    async with make_ai([], tools="create", max_iterations=2) as ai:
        cell_id = ai.notebook.add_cell("Loop.", cell_type="ai")
        for n in range(2):
            ai.stub.replies.append(
                tool_calls((f"c{n}", "create_cell", {"source": "pass", "after_id": cell_id}))
            )
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert len(ai.stub.requests) == 2
        assert any("maximum of 2 model calls" in n for n in ai.notices(cell_id))


@pytest.mark.parametrize(
    ("replies", "ename", "text"),
    [
        (
            [error(401, f"Incorrect API key provided: {KEY[:8]}****{KEY[-4:]}")],
            "AiAuthenticationError",
            "refused the API key",
        ),
        (
            [error(404, "The model `nope` does not exist", "model_not_found")],
            "AiModelNotFound",
            "404 Not Found: model 'stub-model'",
        ),
        (
            [error(400, "maximum context length is 8192 tokens", "context_length_exceeded")],
            "AiContextTooLong",
            "lower ai-context-tokens",
        ),
        ([error(429, "slow down", retry_after="2")] * 4, "AiServiceError", "429"),
        ([error(500, "boom")] * 4, "AiServiceError", "500 Internal Server Error"),
        ([malformed()], "AiMalformedResponse", "malformed stream"),
        ([stall(answer("partial", " never"))], "AiTimeout", "sent nothing for 0.5 s"),
        ([error(429, "later", retry_after="600")], "AiServiceError", "longer than 60 s"),
    ],
    ids=["401", "404", "too-long", "429", "5xx", "malformed", "stalled", "retry-after-too-long"],
)
async def test_failures_are_one_clear_error_without_the_key(
    make_ai: Callable[..., Any], replies: list[Reply], ename: str, text: str
) -> None:
    async with make_ai(replies, stall_timeout=0.5) as ai:
        cell_id, done = await ai.run("Hello?")
        assert done["status"] == "error"
        err = ai.error(cell_id)
        assert err["ename"] == ename and text in err["evalue"], err
        _no_key_anywhere(ai)
        if ename == "AiServiceError" and "longer" not in text:
            assert len(ai.stub.requests) == 4  # 1 + 3 retries, then failed
            assert len([n for n in ai.notices(cell_id) if "retrying" in n]) == 3


async def test_429_with_retry_after_is_retried_visibly(make_ai: Callable[..., Any]) -> None:
    async with make_ai([error(429, "slow down", retry_after="2"), answer("fine")]) as ai:
        cell_id, done = await ai.run("Hello?")
        assert done["status"] == "success"
        assert ai.sleeps == [2.0]
        (notice,) = ai.notices(cell_id)
        assert "429 Too Many Requests" in notice and "retrying in 2 s" in notice


async def test_capabilities_announce_ai_and_its_model(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([]) as ai:
        sessions = ai.notebook.store.state.sessions.values()
        (session,) = [s for s in sessions if s.is_active]
        assert session.can_execute_ai and session.can_execute_code
        assert session.available_ai_models[0]["name"] == "stub-model"


async def test_secrets_in_earlier_outputs_never_reach_the_model(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([answer("ok")]) as ai:
        await ai.notebook.run(f"print('token=' + {KEY[:10]!r} + {KEY[10:]!r})")
        _, done = await ai.run(f"Is {KEY} a key?")
        assert done["status"] == "success"
        sent = json.dumps(ai.stub.requests[0])
        assert KEY not in sent and "token=***" in sent


async def test_a_created_cell_past_its_timeout_is_interrupted_and_ends_the_ai_cell(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([], tools="execute", cell_timeout=0.5) as ai:
        cell_id = ai.notebook.add_cell("Wait.", cell_type="ai")
        created = f"{cell_id}-ai1"
        ai.stub.replies += [
            tool_calls(
                (
                    "c1",
                    "create_cell",
                    {"source": "import time\ntime.sleep(600)", "after_id": cell_id},
                )
            ),
            tool_calls(("c2", "execute_cell", {"cellId": created})),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "cancelled"
        (row,) = [r for r in ai.notebook.store.state.queue.values() if r.cell_id == created]
        assert row.status == "failed"  # ExecutionCompleted "cancelled" makes the row failed
        assert len(ai.stub.requests) == 2  # nothing more was asked of the model


async def test_cancelling_the_ai_cell_interrupts_the_cell_it_runs(
    make_ai: Callable[..., Any],
) -> None:
    async with make_ai([], tools="execute") as ai:
        cell_id = ai.notebook.add_cell("Wait.", cell_type="ai")
        created = f"{cell_id}-ai1"
        ai.stub.replies += [
            tool_calls(
                (
                    "c1",
                    "create_cell",
                    {"source": "import time\ntime.sleep(600)", "after_id": cell_id},
                )
            ),
            tool_calls(("c2", "execute_cell", {"cellId": created})),
        ]
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.wait(
            lambda s: (
                any(r.cell_id == created and r.status == "executing" for r in s.queue.values())
                or None
            )
        )
        ai.notebook.cancel(queue_id, cell_id)
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "cancelled"
        (row,) = [r for r in ai.notebook.store.state.queue.values() if r.cell_id == created]
        assert row.completed_at is not None
        assert any(o.output_type == "error" for o in ai.outputs(created))  # KeyboardInterrupt


async def test_a_stalled_stream_ends_when_the_cell_is_cancelled(
    make_ai: Callable[..., Any],
) -> None:
    """The runner cancels a cell past its timeout; a silent model call stops at once."""
    async with make_ai([stall(answer("partial", " never"))], stall_timeout=600) as ai:
        cell_id = ai.notebook.add_cell("Hello?", cell_type="ai")
        queue_id = ai.notebook.request(cell_id)
        await ai.notebook.wait(lambda s: bool(ai.stub.requests) or None)
        ai.notebook.cancel(queue_id, cell_id, reason="exceeded the 5 s cell timeout")
        await ai.notebook.done(queue_id)
        assert ai.notebook.completion(queue_id)["status"] == "cancelled"
        assert ai.error(cell_id)["ename"] == "KeyboardInterrupt"
