"""AI cells: a model reads the notebook before the cell and answers in it, streamed.

The agent host runs them (the API key never enters the user's kernel or Pyodide), through
the official ``openai`` SDK against any OpenAI-compatible endpoint (OpenAI, Azure OpenAI,
Ollama's ``/v1``, vLLM, LM Studio, llama.cpp's server). As upstream's ``RuntOpenAIClient``:

- the answer is one ``text/markdown`` output (``v1.MarkdownOutputAdded``) that grows by
  ``v2.MarkdownOutputAppended`` deltas as the stream arrives, with upstream's role metadata
  (``anode.role: assistant``) so anode shows it as an assistant message;
- tool calls (assembled from ``delta.tool_calls`` fragments by index) are decided by the
  ``ai-tools`` policy (ai_tools.py), recorded as ``ToolApprovalRequested`` /
  ``ToolApprovalResponded``, shown as ``application/vnd.anode.aitool+json`` and
  ``...aitool.result+json`` outputs, and fed back to the model; at most ``max_iterations``
  model calls per cell (upstream's default 10).

A cell the model runs (``execute_cell``) goes through ``Execution.run_cell``: the agent runs
it *inside* this execution, as a queue row of its own (requested by ``ai-assistant-<session>``,
claimed, started, completed), with the cell timeout and the same interrupt path. Why not a
queued request: the agent runs one execution at a time, so awaiting a row queued behind this
one would deadlock. Stop-on-error holds: once a cell it ran fails, the model may not run
another, and the AI cell fails after its answer.

Usage and latency end the cell as one small ``application/vnd.runt.ai+json`` output (model id,
response ids, tokens, latency), which the orchestrator reads into the cell's result (the
.ipynb's ``metadata.runt.ai``, the summary). Failures are one error output each, bounded, and
never carry the key: a 401's body (which may echo part of the key) is never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from runt_action.agents.engine import ExecOutcome, ExecStatus
from runt_action.agents.executors.ai_context import gather_context, output_text
from runt_action.agents.executors.ai_tools import (
    AI_TOOL_CALL_MIME,
    AI_TOOL_RESULT_MIME,
    ToolPolicy,
    assistant_id,
    decide,
    offered_tools,
)
from runt_action.errors import RuntimeDied
from runt_action.schema.events import (
    CellCreated2,
    CellSourceChanged,
    ToolApprovalRequested,
    ToolApprovalResponded,
)
from runt_action.schema.notices import CONTEXT, RETRIED, TRUNCATED

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from runt_action.agents.engine import OutputSink
    from runt_action.agents.executors.base import Execution
    from runt_action.agents.sink import EventSink

__all__ = ["AI_USAGE_MIME", "DEFAULT_MODEL", "AiConfig", "AiExecutor", "warm_sdk"]

DEFAULT_MODEL: Final = "gpt-4o-mini"  # upstream's default
AI_USAGE_MIME: Final = "application/vnd.runt.ai+json"
PROVIDER: Final = "openai"
_MAX_RETRY_WAIT_S: Final = 60.0  # a longer Retry-After fails the cell instead of waiting
_RESULT_CHARS: Final = 8000  # characters of a tool result sent back to the model
_SYSTEM: Final = (
    "You are a helpful assistant inside a data notebook that runs unattended in CI. "
    "You see the notebook's cells before yours, with their outputs. Answer in Markdown, "
    "concisely, based on what the notebook shows."
)


@dataclass(frozen=True, slots=True)
class AiConfig:
    """How AI cells reach their model (action inputs ``ai-*``, OPENAI_API_KEY/BASE_URL)."""

    api_key: str | None = None
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    tools: ToolPolicy = "none"
    max_iterations: int = 10
    context_tokens: int = 16000
    max_tokens: int | None = None  # per answer, unless a cell sets max_tokens
    retries: int = 3  # after a 429 / 5xx / dropped connection, before the cell fails
    stall_timeout: float = 120.0  # seconds without a byte from the model service
    cell_timeout: float | None = None  # each cell the model runs (the run's cell timeout)

    @property
    def configured(self) -> bool:
        """A key, or an endpoint that needs none (Ollama, vLLM, llama.cpp's server)."""
        return bool(self.api_key or self.base_url)


@dataclass(slots=True)
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class _Turn:
    content: str = ""
    calls: list[_Call] = field(default_factory=list)


@dataclass(slots=True)
class _Record:
    """What the cell's usage output says."""

    model: str
    response_ids: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # as the service named them
    prompt_tokens: int = 0
    completion_tokens: int = 0
    iterations: int = 0
    tool_calls: int = 0
    first_token_ms: float | None = None
    usage_known: bool = False


class _Failed(Exception):
    """The model call failed for good: ``ename``/``evalue`` become the cell's error."""

    def __init__(self, ename: str, evalue: str) -> None:
        super().__init__(evalue)
        self.ename, self.evalue = ename, evalue


class AiExecutor:
    """Runs ``ai`` cells against one OpenAI-compatible endpoint."""

    cell_types = frozenset({"ai"})
    capability = "canExecuteAi"

    def __init__(
        self,
        config: AiConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        warm: bool = False,
    ) -> None:
        """``warm``: see :func:`warm_sdk`."""
        self.config = config
        if warm:
            warm_sdk()
        self.models = [
            {
                "name": config.model,
                "displayName": config.model,
                "provider": PROVIDER,
                "capabilities": ["completion", "tools"],
            }
        ]
        self._sleep = sleep
        self._client: AsyncOpenAI | None = None
        self._inner: dict[str, asyncio.Task[ExecOutcome]] = {}
        self._nested: set[str] = set()  # executions running a cell of theirs right now

    # -- CellExecutor ------------------------------------------------------------------------

    async def execute(self, run: Execution, sink: OutputSink) -> ExecOutcome:
        inner = asyncio.ensure_future(self._converse(run, cast("EventSink", sink)))
        self._inner[run.queue_id] = inner
        try:
            await asyncio.wait({inner})
        except asyncio.CancelledError:
            inner.cancel()
            raise
        finally:
            self._inner.pop(run.queue_id, None)
        if inner.cancelled():
            sink.error("KeyboardInterrupt", "the AI cell was interrupted", [])
            return ExecOutcome(ExecStatus.INTERRUPTED)
        return inner.result()

    async def interrupt(self, run: Execution) -> None:
        """Stop the model call; a cell it is running is interrupted by the agent itself."""
        inner = self._inner.get(run.queue_id)
        if inner is not None and run.queue_id not in self._nested:
            inner.cancel()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- one cell ----------------------------------------------------------------------------

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=self.config.api_key or "none",  # a keyless local endpoint
                base_url=self.config.base_url or None,
                max_retries=0,  # ours: bounded, and each retry visible in the cell
                timeout=self.config.stall_timeout,
            )
        return self._client

    async def _converse(self, run: Execution, sink: EventSink) -> ExecOutcome:
        t0 = time.perf_counter()
        cfg = self.config
        state = run.store.state
        cell = state.cells.get(run.cell.id, run.cell)
        settings: Mapping[str, Any] = cell.ai_settings or {}
        model = cell.ai_model or cfg.model
        record = _Record(model=model)
        if not cfg.configured:
            sink.error(
                "AiNotConfigured",
                "no model service is configured: set OPENAI_API_KEY (input ai-api-key) or "
                "OPENAI_BASE_URL (input ai-base-url)",
                [],
            )
            return ExecOutcome(ExecStatus.ERROR)
        ctx = gather_context(state, cell, budget_tokens=cfg.context_tokens, mask=run.mask)
        for note in ctx.notes:
            sink.notice(CONTEXT, note)
        prompt = run.mask.text(cell.source) if run.mask is not None else cell.source
        assistant = assistant_id(run.session_id)
        tools = offered_tools(cfg.tools)
        system = str(settings.get("systemPrompt") or _SYSTEM)
        system += f"\n\nYour cell's ID is {cell.id}."
        if tools:
            names = ", ".join(t["function"]["name"] for t in tools)
            system += f" You may use the notebook tools ({names}) on cells after yours."
        notebook = ctx.text or "(no cells before this one)"
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": f"# The notebook so far\n\n{notebook}\n\n# Request\n\n{prompt}",
            },
        ]
        failed: str | None = None  # a cell the model ran failed: stop-on-error
        finished = False
        try:
            for iteration in range(1, cfg.max_iterations + 1):
                record.iterations = iteration
                turn = await self._turn(
                    run, sink, messages, model, settings, tools, iteration, record, t0
                )
                message: dict[str, Any] = {"role": "assistant", "content": turn.content}
                if turn.calls:
                    message["tool_calls"] = [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in turn.calls
                    ]
                messages.append(message)
                if not turn.calls:
                    finished = True
                    break
                for call in turn.calls:
                    record.tool_calls += 1
                    result, status = await self._tool(run, sink, call, iteration, assistant, failed)
                    if status == "cancelled":
                        sink.error("KeyboardInterrupt", f"{result}", [])
                        self._usage(sink, record, t0)
                        return ExecOutcome(ExecStatus.INTERRUPTED)
                    if status == "failed" and failed is None:
                        failed = result
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        except _Failed as exc:
            self._usage(sink, record, t0)
            sink.error(exc.ename, run.mask.text(exc.evalue) if run.mask else exc.evalue, [])
            return ExecOutcome(ExecStatus.ERROR)
        if not finished:
            text = (
                f"reached the maximum of {cfg.max_iterations} model calls (max-ai-iterations) "
                "with tool calls still coming: the answer may be incomplete"
            )
            sink.display(
                {
                    "text/markdown": f"⚠️ **Reached maximum iterations**: {text}",
                    "text/plain": f"Reached maximum iterations: {text}",
                },
                {"anode/max_iterations_reached": True},
            )
            sink.notice(TRUNCATED, text)
        self._usage(sink, record, t0)
        if failed is not None:
            sink.error("CellFailed", f"a cell the model ran failed: {failed[:2000]}", [])
            return ExecOutcome(ExecStatus.ERROR)
        return ExecOutcome(ExecStatus.OK)

    # -- the model ---------------------------------------------------------------------------

    async def _turn(
        self,
        run: Execution,
        sink: EventSink,
        messages: list[dict[str, Any]],
        model: str,
        settings: Mapping[str, Any],
        tools: list[dict[str, Any]],
        iteration: int,
        record: _Record,
        t0: float,
    ) -> _Turn:
        """One model call, streamed into the cell; retried (bounded, visibly) while nothing
        of its answer was shown yet."""
        import openai

        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            shown: list[bool] = [False]
            try:
                return await self._stream(
                    run, sink, messages, model, settings, tools, iteration, record, t0, shown
                )
            except (openai.RateLimitError, openai.InternalServerError) as exc:
                code = exc.status_code
                wait = _retry_after(exc.response.headers) if exc.response is not None else None
                what = f"{code} {_reason(code)} from the model service"
            except openai.APITimeoutError:
                raise _Failed(
                    "AiTimeout",
                    f"the model service sent nothing for {self.config.stall_timeout:g} s "
                    "(a stalled stream)",
                ) from None
            except openai.APIConnectionError as exc:
                code, wait, what = 0, None, f"no connection to the model service ({_cause(exc)})"
            except openai.AuthenticationError:
                raise _Failed(
                    "AiAuthenticationError",
                    "401 Unauthorized: the model service refused the API key "
                    "(check ai-api-key / OPENAI_API_KEY)",
                ) from None
            except openai.PermissionDeniedError:
                raise _Failed(
                    "AiPermissionDenied", "403 Forbidden: the API key may not use this model"
                ) from None
            except openai.NotFoundError as exc:
                raise _Failed(
                    "AiModelNotFound",
                    f"404 Not Found: model {model!r} at {self._where()} ({_message(exc)})",
                ) from None
            except openai.BadRequestError as exc:
                if _too_long(exc):
                    raise _Failed(
                        "AiContextTooLong",
                        f"the prompt is too long for model {model!r} ({_message(exc)}); "
                        "lower ai-context-tokens",
                    ) from None
                raise _Failed("AiBadRequest", f"400 Bad Request: {_message(exc)}") from None
            except openai.APIStatusError as exc:
                raise _Failed(
                    "AiError", f"{exc.status_code} from the model service: {_message(exc)}"
                ) from None
            except (openai.APIError, ValueError) as exc:  # a malformed stream
                raise _Failed(
                    "AiMalformedResponse",
                    f"the model service sent a malformed stream: {type(exc).__name__}: "
                    f"{str(exc)[:300]}",
                ) from None
            if shown[0] or attempt == attempts:
                tries = f"after {attempt} attempt(s)" if not shown[0] else "mid-answer"
                raise _Failed("AiServiceError", f"{what}, {tries}")
            if wait is not None and wait > _MAX_RETRY_WAIT_S:
                raise _Failed(
                    "AiServiceError",
                    f"{what}: Retry-After {wait:g} s is longer than {_MAX_RETRY_WAIT_S:g} s",
                )
            delay = wait if wait is not None else min(8.0, 0.5 * 2 ** (attempt - 1))
            sink.notice(
                RETRIED,
                f"{what}; retrying in {delay:g} s (attempt {attempt + 1} of {attempts})",
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(
        self,
        run: Execution,
        sink: EventSink,
        messages: list[dict[str, Any]],
        model: str,
        settings: Mapping[str, Any],
        tools: list[dict[str, Any]],
        iteration: int,
        record: _Record,
        t0: float,
        shown: list[bool],
    ) -> _Turn:
        from openai import omit

        temperature = settings.get("temperature")
        max_tokens = settings.get("maxTokens") or self.config.max_tokens
        seed = settings.get("seed")
        stream = await self._openai().chat.completions.create(
            model=model,
            messages=cast("Any", messages),  # plain dicts: the SDK's TypedDicts, unchecked
            stream=True,
            stream_options={"include_usage": True},
            temperature=float(temperature) if temperature is not None else omit,
            max_tokens=int(max_tokens) if max_tokens else omit,
            seed=int(seed) if seed is not None else omit,
            tools=cast("Any", tools) if tools else omit,
        )
        turn = _Turn()
        calls: dict[int, _Call] = {}
        output_id: str | None = None
        sequence = 0
        async for chunk in stream:
            if chunk.id and chunk.id not in record.response_ids:
                record.response_ids.append(chunk.id)
            if chunk.model and chunk.model not in record.models:
                record.models.append(chunk.model)
            if chunk.usage is not None:
                record.usage_known = True
                record.prompt_tokens += chunk.usage.prompt_tokens or 0
                record.completion_tokens += chunk.usage.completion_tokens or 0
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                if record.first_token_ms is None:
                    record.first_token_ms = (time.perf_counter() - t0) * 1000
                if output_id is None:
                    meta = {
                        "anode": {
                            "role": "assistant",
                            "ai_provider": PROVIDER,
                            "ai_model": model,
                            "iteration": iteration,
                        }
                    }
                    output_id = sink.markdown(delta.content, meta)
                    shown[0] = True
                else:
                    sink.append_markdown(output_id, delta.content, sequence)
                    sequence += 1
                turn.content += delta.content
            for frag in delta.tool_calls or ():
                call = calls.setdefault(frag.index, _Call())
                if frag.id:
                    call.id = frag.id
                if frag.function is not None:
                    if frag.function.name:
                        call.name = frag.function.name
                    if frag.function.arguments:
                        call.arguments += frag.function.arguments
        turn.calls = [calls[i] for i in sorted(calls)]
        for n, call in enumerate(turn.calls):
            call.id = call.id or f"call-{iteration}-{n}"
        return turn

    def _where(self) -> str:
        return self.config.base_url or "https://api.openai.com/v1"

    # -- tools -------------------------------------------------------------------------------

    async def _tool(
        self,
        run: Execution,
        sink: EventSink,
        call: _Call,
        iteration: int,
        assistant: str,
        failed: str | None,
    ) -> tuple[str, str]:
        """Decide, record, run and show one tool call; ``(result for the model, status)``
        with status "success", "error", "failed" (a cell it ran failed) or "cancelled"."""
        try:
            args = json.loads(call.arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("the arguments are not a JSON object")
        except ValueError as exc:
            text = f"Error parsing arguments: {exc}"
            self._show_call(sink, call, {"raw_arguments": call.arguments}, "error", text, iteration)
            return f"Error: {text}", "error"
        state = run.store.state
        cell = state.cells.get(run.cell.id, run.cell)
        why = decide(self.config.tools, call.name, args, state, cell, assistant)
        if why is None and call.name == "execute_cell" and failed is not None:
            why = "stop-on-error: a cell the model ran already failed"
        run.commit(
            ToolApprovalRequested(
                toolCallId=call.id,
                cellId=run.cell.id,
                toolName=call.name,
                arguments=run.mask.deep(args) if run.mask is not None else args,
                requestedAt=datetime.now(UTC),
            )
        )
        run.commit(
            ToolApprovalResponded(
                toolCallId=call.id,
                status="denied" if why else "approved_once",
                approvedBy=f"ai-tools policy ({self.config.tools})",
                respondedAt=datetime.now(UTC),
            )
        )
        if why is not None:
            text = f"denied by the ai-tools policy: {why}"
            self._show_call(sink, call, args, "error", text, iteration)
            return f"Error: {text}", "error"
        status = "success"
        try:
            if call.name == "create_cell":
                result = self._create(run, args, assistant)
                await run.store.flush(timeout=30.0)  # later calls see it (confirmed state)
            elif call.name == "modify_cell":
                cell_id = str(args["cellId"])
                source = _masked(run, str(args.get("source") or ""))
                run.commit(CellSourceChanged(id=cell_id, source=source, modifiedBy=assistant))
                await run.store.flush(timeout=30.0)
                result = f"Modified cell {cell_id} with {len(source)} characters"
            else:
                result, status = await self._execute(run, str(args["cellId"]), assistant)
        except (ValueError, TimeoutError) as exc:  # no key between two cells; sync too slow
            result, status = f"Error: {call.name} failed: {exc}", "error"
        shown = "error" if status != "success" else "success"
        self._show_call(sink, call, args, shown, result, iteration)
        sink.display(
            {
                AI_TOOL_RESULT_MIME: {
                    "tool_call_id": call.id,
                    "result": result,
                    "status": shown,
                },
                "text/plain": f"Tool result ({call.name}): {result[:500]}",
            },
            {
                "anode": {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "tool_name": call.name,
                    "iteration": iteration,
                }
            },
        )
        return result, status

    def _create(self, run: Execution, args: dict[str, Any], assistant: str) -> str:
        from runt_action.schema.fractional import key_between

        state = run.store.state
        after = str(args["after_id"])
        ordered = state.ordered_cells()
        index = next(i for i, c in enumerate(ordered) if c.id == after)
        before_key = ordered[index].fractional_index
        next_key = ordered[index + 1].fractional_index if index + 1 < len(ordered) else None
        n = 1
        while f"{run.cell.id[:48]}-ai{n}" in state.cells:
            n += 1
        cell_id = f"{run.cell.id[:48]}-ai{n}"
        cell_type = str(args.get("cellType") or "code")
        source = _masked(run, str(args.get("source") or ""))
        run.commit(
            CellCreated2(
                id=cell_id,
                fractionalIndex=key_between(before_key, next_key),
                cellType=cell_type,  # checked by decide()
                createdBy=assistant,
            )
        )
        if source:
            run.commit(CellSourceChanged(id=cell_id, source=source, modifiedBy=assistant))
        return f"Created {cell_type} cell: {cell_id}"

    async def _execute(self, run: Execution, cell_id: str, assistant: str) -> tuple[str, str]:
        if run.run_cell is None:
            return "this runtime cannot run cells from an AI cell", "error"
        self._nested.add(run.queue_id)
        try:
            status = await run.run_cell(cell_id, assistant, self.config.cell_timeout)
        except RuntimeDied:
            raise
        finally:
            self._nested.discard(run.queue_id)
        state = run.store.state
        texts = [
            output_text(state, out, limit=_RESULT_CHARS) for out in state.cell_outputs(cell_id)
        ]
        outputs = "\n".join(t for t in texts if t) or "(no output)"
        if run.mask is not None:
            outputs = run.mask.text(outputs)
        if status == "success":
            return f"Cell {cell_id} executed successfully\nOutput:\n{outputs}", "success"
        if status == "cancelled":
            return f"Cell {cell_id} was cancelled (interrupted or timed out)", "cancelled"
        return f"Cell {cell_id} failed\nOutput:\n{outputs}", "failed"

    def _show_call(
        self,
        sink: EventSink,
        call: _Call,
        args: dict[str, Any],
        status: str,
        result: str,
        iteration: int,
    ) -> None:
        """The call as upstream shows it: aitool MIME, markdown and plain text."""
        ok = status == "success"
        head = "🔧 **Tool executed**" if ok else "❌ **Tool failed**"
        meta: dict[str, Any] = {
            "role": "function_call",
            "tool_call": True,
            "tool_name": call.name,
            "iteration": iteration,
        }
        if ok:
            meta["tool_args"] = args
        else:
            meta["tool_error"] = True
        sink.display(
            {
                AI_TOOL_CALL_MIME: {
                    "tool_call_id": call.id,
                    "tool_name": call.name,
                    "arguments": args,
                    "status": status,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "result": result,
                },
                "text/markdown": f"{head}: `{call.name}`\n\n{result}",
                "text/plain": f"Tool {'executed' if ok else 'failed'}: {call.name} - {result}",
            },
            {"anode": meta},
        )

    def _usage(self, sink: EventSink, record: _Record, t0: float) -> None:
        """The cell's last output: which model answered, with how many tokens, how fast."""
        latency = (time.perf_counter() - t0) * 1000
        info: dict[str, Any] = {
            "provider": PROVIDER,
            "model": record.model,
            "response_models": record.models,
            "response_ids": record.response_ids,
            "iterations": record.iterations,
            "tool_calls": record.tool_calls,
            "latency_ms": round(latency, 1),
        }
        if record.first_token_ms is not None:
            info["first_token_ms"] = round(record.first_token_ms, 1)
        if record.usage_known:
            info["usage"] = {
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "total_tokens": record.prompt_tokens + record.completion_tokens,
            }
        tokens = (
            f"{record.prompt_tokens} prompt + {record.completion_tokens} completion tokens"
            if record.usage_known
            else "token usage not reported"
        )
        sink.display(
            {
                AI_USAGE_MIME: info,
                "text/plain": f"{record.model} · {tokens} · {latency / 1000:.2f} s",
            },
            {"runt/ai_usage": True},
        )


def _masked(run: Execution, text: str) -> str:
    """What the model writes into the notebook, masked as outputs are (it never saw a
    secret, but a notebook must never get one from anywhere)."""
    return run.mask.text(text) if run.mask is not None else text


def warm_sdk() -> None:
    """Import the SDK now, in a thread: it costs ~0.9 s (1.3 s of CPU, more on a busy runner),
    which then overlaps the runtime's start instead of delaying the first AI cell."""
    if "openai" not in sys.modules:
        threading.Thread(target=_import_sdk, name="import-openai", daemon=True).start()


def _import_sdk() -> None:
    with contextlib.suppress(Exception):  # the cell reports it, if it is really missing
        importlib.import_module("openai")


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds), if the service sent one."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _reason(code: int) -> str:
    return {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}.get(
        code, "Service Unavailable" if code == 503 else "error"
    )


def _message(exc: Any) -> str:
    """The service's own message (its body's ``error.message``), one line, bounded."""
    body = getattr(exc, "body", None)
    text = None
    if isinstance(body, dict):
        err = body.get("error", body)
        text = err.get("message") if isinstance(err, dict) else None
    text = str(text or getattr(exc, "message", "") or exc)
    return " ".join(text.split())[:500]


def _too_long(exc: Any) -> bool:
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return code == "context_length_exceeded" or "context length" in _message(exc).lower()


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}"[:300] if cause is not None else str(exc)[:300]
