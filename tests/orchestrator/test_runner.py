"""The runner against a real embedded SyncServer and a real native (ipykernel) agent."""

from __future__ import annotations

from typing import Any

import pytest

from runt_action.errors import RuntimeStartTimeout
from runt_action.results import CellStatus


def by_id(runner_results: list) -> dict:  # type: ignore[type-arg]
    return {r.id: r for r in runner_results}


async def _run(h: Any, planned, **kw):  # type: ignore[no-untyped-def]
    runner = h.runner(planned, **kw)
    await runner.prefill()
    await runner.wait_for_runtime()
    await runner.execute()
    return runner


async def test_success_collects_outputs_in_jupyter_terms(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "a", "source": "x = 20\nprint('hello')\nprint('world')"},
            {"id": "b", "source": "import sys\nprint('err', file=sys.stderr)\nx * 2 + 2"},
            {"id": "doc", "type": "markdown", "source": "# Title"},
        ),
    )
    res = by_id(runner.results)
    assert res["a"].status == CellStatus.SUCCESS
    assert [(o.output_type, o.name, o.text) for o in res["a"].outputs] == [
        ("stream", "stdout", "hello\nworld\n")
    ]
    kinds = [o.output_type for o in res["b"].outputs]
    assert "execute_result" in kinds
    result = next(o for o in res["b"].outputs if o.output_type == "execute_result")
    assert result.data["text/plain"] == "42"
    assert any(o.name == "stderr" and "err" in (o.text or "") for o in res["b"].outputs)
    assert res["doc"].status == CellStatus.NOT_EXECUTED
    assert res["a"].attempts == 1 and res["a"].queue_id and res["a"].duration_ms >= 0
    # The structure was prefilled with the title, in order.
    state = harness.store.state
    assert state.metadata.get("title") == "test"
    assert [c.id for c in state.ordered_cells()] == ["a", "b", "doc"]


async def test_stop_on_error_never_starts_a_later_cell(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "ok", "source": "print(1)"},
            {"id": "bad", "source": "raise ValueError('nope')"},
            {"id": "later", "source": "print('LATER')"},
            {"id": "later2", "source": "print('LATER2')"},
        ),
    )
    res = by_id(runner.results)
    assert res["bad"].status == CellStatus.FAILED
    assert res["bad"].reason == "ValueError: nope"
    err = next(o for o in res["bad"].outputs if o.output_type == "error")
    assert err.ename == "ValueError" and err.evalue == "nope" and err.traceback
    for cell_id in ("later", "later2"):
        assert res[cell_id].status == CellStatus.SKIPPED
        assert res[cell_id].reason == "an earlier cell failed"
        names = harness.event_names(cell_id)
        assert "v1.ExecutionRequested" not in names
        assert "v1.ExecutionStarted" not in names
    assert "v1.ExecutionStarted" in harness.event_names("bad")


async def test_no_stop_on_error_runs_everything(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells({"id": "bad", "source": "1/0"}, {"id": "later", "source": "print('x')"}),
        on_error="continue",
    )
    res = by_id(runner.results)
    assert res["bad"].status == CellStatus.FAILED
    assert res["later"].status == CellStatus.SUCCESS


async def test_cell_timeout_cancels_and_interrupts(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "spin", "timeout": 1.5, "source": "n = 7\nwhile True:\n    pass"},
            {"id": "after", "if": "always()", "source": "print('alive', n)"},
            {"id": "skipped", "source": "print('no')"},
        ),
    )
    res = by_id(runner.results)
    assert res["spin"].status == CellStatus.TIMEOUT
    assert "1.5 s" in (res["spin"].reason or "")
    assert "v1.ExecutionCancelled" in harness.event_names("spin")
    # The runtime was interrupted (not killed): the namespace survived and it ran the next cell.
    assert res["after"].status == CellStatus.SUCCESS
    assert res["after"].outputs[0].text == "alive 7\n"
    assert res["skipped"].status == CellStatus.SKIPPED


async def test_retries_then_success(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {
                "id": "flaky",
                "retries": 3,
                "source": "k = globals().get('k', 0) + 1\nif k < 3:\n    raise RuntimeError(k)",
            },
            {"id": "after", "source": "print(k)"},
        ),
    )
    res = by_id(runner.results)
    assert res["flaky"].status == CellStatus.SUCCESS
    assert res["flaky"].attempts == 3
    assert harness.event_names("flaky").count("v1.ExecutionRequested") == 3
    assert res["after"].outputs[0].text == "3\n"


async def test_retries_exhausted_fail(harness: Any, make_cells: Any) -> None:
    runner = await _run(harness, make_cells({"id": "never", "retries": 1, "source": "1/0"}))
    (res,) = runner.results
    assert res.status == CellStatus.FAILED and res.attempts == 2


async def test_allow_error(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "oops", "allow_error": True, "source": "raise KeyError('k')"},
            {"id": "next", "source": "print('next')"},
        ),
    )
    res = by_id(runner.results)
    assert res["oops"].status == CellStatus.ALLOWED_ERROR
    assert res["next"].status == CellStatus.SUCCESS


async def test_if_conditions(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "a", "source": "print('a')"},
            {"id": "b", "if": "cells.a.status == 'failed'", "source": "print('b')"},
            {"id": "c", "if": "cells.a.status == 'success'", "source": "raise SystemError('c')"},
            {"id": "d", "source": "print('d')"},
            {"id": "e", "if": "failure()", "source": "print('cleanup')"},
            {"id": "f", "if": "success()", "source": "print('f')"},
        ),
    )
    res = by_id(runner.results)
    assert res["a"].status == CellStatus.SUCCESS
    assert res["b"].status == CellStatus.SKIPPED and "was false" in (res["b"].reason or "")
    assert res["c"].status == CellStatus.FAILED
    assert res["d"].status == CellStatus.SKIPPED
    assert res["e"].status == CellStatus.SUCCESS
    assert res["f"].status == CellStatus.SKIPPED
    assert "v1.ExecutionRequested" not in harness.event_names("b")


async def test_sql_and_ai_skipped_without_capable_runtime(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "q", "type": "sql", "source": "select 1"},
            {"id": "raw", "type": "raw", "source": "raw text"},
            {"id": "c", "source": "print('code still runs')"},
        ),
    )
    res = by_id(runner.results)
    assert res["q"].status == CellStatus.SKIPPED
    assert res["q"].reason == "no runtime here can execute sql cells"
    assert res["raw"].status == CellStatus.NOT_EXECUTED
    assert res["c"].status == CellStatus.SUCCESS


async def test_strict_fails_a_cell_no_runtime_can_execute(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells({"id": "ask", "type": "ai", "source": "summarise"}, {"id": "c", "source": "1"}),
        strict=True,
    )
    res = by_id(runner.results)
    assert res["ask"].status == CellStatus.FAILED
    assert res["ask"].reason == "no runtime here can execute ai cells (--strict)"
    assert res["c"].status == CellStatus.SKIPPED  # stop-on-error, as for any failure


async def test_live_hooks_see_output_before_the_cell_ends(
    harness: Any, make_cells: Any, recorder: Any
) -> None:
    rec = recorder
    await _run(harness, make_cells({"id": "a", "source": "print('live!')"}), hooks=rec)
    kinds = [k for k, _ in rec.calls]
    assert kinds[0] == "start" and kinds[-1] == "end"
    outputs = [v for k, v in rec.calls if k == "output"]
    assert outputs and outputs[0][0] == "a"
    assert "live!" in "".join(o.text or "" for _, o in outputs)


async def test_startup_timeout_without_runtime(bare: Any, make_cells: Any) -> None:
    runner = bare.runner(make_cells({"id": "a", "source": "1"}), startup_timeout=0.5)
    await runner.prefill()
    with pytest.raises(RuntimeStartTimeout):
        await runner.wait_for_runtime()


async def test_markdown_only_needs_no_runtime(bare: Any, make_cells: Any) -> None:
    runner = bare.runner(make_cells({"id": "m", "type": "markdown", "source": "# hi"}))
    await runner.prefill()
    await runner.wait_for_runtime()
    await runner.execute()
    assert runner.results[0].status == CellStatus.NOT_EXECUTED


async def test_stop_on_error_wins_over_if_without_a_status_function(
    harness: Any, make_cells: Any
) -> None:
    runner = await _run(
        harness,
        make_cells(
            {"id": "a", "source": "raise ValueError('a')"},
            {"id": "b", "if": "cells.a.status == 'failed'", "source": "print('B RAN')"},
            {"id": "c", "if": "failure()", "source": "print('cleanup')"},
            {"id": "d", "if": "always()", "source": "print('always')"},
        ),
    )
    res = by_id(runner.results)
    assert res["a"].status == CellStatus.FAILED
    # A condition that does not use failure()/always() does not opt out of stop-on-error.
    assert res["b"].status == CellStatus.SKIPPED and res["b"].reason == "an earlier cell failed"
    assert res["c"].status == CellStatus.SUCCESS and res["d"].status == CellStatus.SUCCESS


async def test_retries_come_before_allow_error(harness: Any, make_cells: Any) -> None:
    runner = await _run(
        harness,
        make_cells(
            {
                "id": "flaky",
                "retries": 2,
                "allow_error": True,
                "source": (
                    "try:\n    tries += 1\nexcept NameError:\n    tries = 1\n"
                    "if tries < 3:\n    raise RuntimeError(f'try {tries}')\nprint('ok', tries)"
                ),
            },
            {"id": "never", "retries": 1, "allow_error": True, "source": "raise KeyError('k')"},
        ),
    )
    res = by_id(runner.results)
    assert res["flaky"].status == CellStatus.SUCCESS and res["flaky"].attempts == 3
    assert res["never"].status == CellStatus.ALLOWED_ERROR and res["never"].attempts == 2


async def test_agent_notices_become_cell_notes(harness: Any, make_cells: Any) -> None:
    """A placeholder/truncation/restart notice (Media metadata) is never silent: it lands in
    the cell's notes and stays a separate output (not merged into the stream around it)."""
    from runt_action.orchestrator.outputs import NOTICE_KEY, notice_of

    runner = harness.runner(make_cells({"id": "n", "source": "print('before')"}))
    await runner.prefill()
    await runner.wait_for_runtime()
    store = harness.store

    def inject(state: Any, events: Any) -> None:
        for ev in events:
            if ev.name == "v1.ExecutionStarted" and ev.args.get("cellId") == "n":
                store.commit(
                    "v1.TerminalOutputAdded",
                    {
                        "id": "notice-1",
                        "cellId": "n",
                        "position": 99,
                        "streamName": "stderr",
                        "content": {
                            "type": "inline",
                            "data": "[runt-action] dropped image/png (3 MB)\n",
                            "metadata": {
                                NOTICE_KEY: {"kind": "dropped", "notice": "dropped image/png"}
                            },
                        },
                    },
                )

    with store.subscribe(inject):
        await runner.execute()
    [res] = runner.results
    assert res.notes == ["dropped image/png"]
    notices = [notice_of(o) for o in res.outputs if notice_of(o)]
    assert notices == [("dropped", "dropped image/png")]
