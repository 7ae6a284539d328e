"""The orchestrator publishes its verdict through a real Store to a real sync server."""

from __future__ import annotations

from typing import Any

from runt_action.orchestrator.verdict import VerdictPublisher, run_counts
from runt_action.results import CellResult, CellStatus, RunStatus
from runt_action.schema.state import materialize
from runt_action.schema.verdict import cell_verdict, run_verdict


def _cells() -> list[CellResult]:
    return [
        CellResult("intro", "markdown", "# hi", CellStatus.NOT_EXECUTED),
        CellResult("a", "code", "1", CellStatus.SUCCESS, queue_id="qa", attempts=1),
        CellResult(
            "b",
            "code",
            "raise X",
            CellStatus.ALLOWED_ERROR,
            queue_id="qb",
            attempts=1,
            notes=["runtime restarted after this cell"],
        ),
        CellResult("c", "code", "2", CellStatus.SKIPPED, reason="not reached"),
    ]


def test_counts_are_the_reports() -> None:
    assert run_counts(_cells()) == {"success": 1, "allowed-error": 1, "skipped": 1}


async def test_checkpoint_then_final_verdict_only_sends_what_changed(
    server: Any, bare: Any
) -> None:
    store, nb = bare.store, bare.notebook_id
    publisher = VerdictPublisher(store)
    cells = _cells()
    publisher.publish(cells, RunStatus.RUNNING)
    await publisher.flush(10)
    state = materialize(server.events_of(nb))
    running = run_verdict(state)
    assert running is not None and running.status == "running" and not running.final
    assert cell_verdict(state, "c") is None  # "not reached" is no verdict while running
    assert cell_verdict(state, "intro") is None  # markdown: nothing to say
    b = cell_verdict(state, "b")
    assert b is not None and b.status == "allowed-error" and b.queue_id == "qb"
    assert b.notes == ("runtime restarted after this cell",)
    sent = len(server.events_of(nb))

    publisher.publish(cells, RunStatus.RUNNING)  # nothing new: nothing sent
    await publisher.flush(10)
    assert len(server.events_of(nb)) == sent

    cells[3].status, cells[3].reason = CellStatus.SKIPPED, "after a failure"
    publisher.publish(cells, RunStatus.SUCCESS)
    await publisher.flush(10)
    events = server.events_of(nb)[sent:]
    assert [e.args["key"] for e in events] == ["runt-automate.cell.c", "runt-automate.run"]
    state = materialize(server.events_of(nb))
    final = run_verdict(state)
    assert final is not None and final.final and final.status == "success"
    assert final.counts == {"success": 1, "allowed-error": 1, "skipped": 1}
    c = cell_verdict(state, "c")
    assert c is not None and c.reason == "after a failure"


async def test_secrets_in_reasons_and_notes_are_masked(server: Any, bare: Any) -> None:
    from runt_action.report.scrub import Scrubber

    publisher = VerdictPublisher(bare.store, scrub=Scrubber(["hunter2-secret"]).text)
    cell = CellResult("a", "code", "x", CellStatus.FAILED, queue_id="q",
                      reason="KeyError: hunter2-secret", notes=["saw hunter2-secret"])  # fmt: skip
    publisher.publish([cell], RunStatus.FAILED, error="failed with hunter2-secret")
    await publisher.flush(10)
    stored = "".join(str(e.args) for e in server.events_of(bare.notebook_id))
    assert "hunter2-secret" not in stored and "***" in stored
