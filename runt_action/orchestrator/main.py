"""``run(settings) -> exit code``: one whole run, read top to bottom.

1. The inputs become an immutable plan (:mod:`.plan`); bad input raises here, nothing started.
2. The runtime's process is launched at once, so it boots while the rest imports and connects.
3. The resources open (:mod:`.session`): embedded server or remote registration, one Store,
   the in-process agent.
4. The runner (:mod:`.runner`) writes the cells and requests executions, one at a time, and
   reacts to the events that report their progress.
5. Whatever happened (success, a failed cell, a timeout, a signal, a broken runtime), the
   result is assembled and published: summary, step outputs, annotations, the .ipynb.

Signals follow uvicorn (:mod:`.shutdown`): the first cancels the work and cleans up within
``Timeouts.shutdown``; the second skips what cleanup is left. The summary is written either way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runt_action import eventloop
from runt_action.console import PREFIX
from runt_action.errors import OutputWriteError
from runt_action.orchestrator.agent_host import adopt_engine, kill_engine, prestart_engine
from runt_action.orchestrator.execution import RunExecution, scrub
from runt_action.orchestrator.footprint import settle, written_paths
from runt_action.orchestrator.plan import DEFAULT_SYNC_URL, RunPlan, make_plan
from runt_action.orchestrator.shutdown import Shutdown
from runt_action.orchestrator.viewing import keep_viewing
from runt_action.results import RunResult

if TYPE_CHECKING:
    from runt_action.agents.engine import Engine
    from runt_action.notebook import Notebook
    from runt_action.report.html import FragmentCache
    from runt_action.settings import Settings

__all__ = ["DEFAULT_SYNC_URL", "RunExecution", "publish_run", "run"]


def run(
    settings: Settings, *, notebook: Notebook | None = None, engine: Engine | None = None
) -> int:
    """Run the notebook named by ``settings``; InputError propagates (the CLI prints it).

    ``notebook``: the already loaded notebook of ``settings.notebook`` (saves a second parse).
    ``engine``: launched by the CLI from the same settings (see cli._early_kernel); adopted,
    or killed by the caller when the plan says otherwise (bad input, a sweep).
    """
    from runt_action.report.ownership import Footprint

    started = time.monotonic()
    # A root container hands what the run leaves (user code's files, Pyodide's write-backs,
    # the sync log, caches in HOME) back to their owners however the run ends.
    footprint = Footprint.begin(settings.github_workspace)
    try:
        plan = make_plan(settings, notebook)
        footprint.add(written_paths(plan))
        if plan.sweep:
            from runt_action.batch.sweep import run_sweep

            kill_engine(engine)
            return run_sweep(settings, plan)
        engine = adopt_engine(engine, plan.engine) or prestart_engine(plan.engine)
        return eventloop.run(_run_one(plan, engine, started))
    finally:
        kill_engine(engine)  # a no-op after a clean shutdown; never leave a process behind
        settle(footprint)


async def _run_one(plan: RunPlan, engine: Engine | None, started: float) -> int:
    from runt_action import report
    from runt_action.orchestrator.session import embedded_server

    shutdown = Shutdown(plan.timeouts.shutdown)
    loop_note = eventloop.note()
    where = plan.where() + (f", {loop_note}" if loop_note else "")
    print(f"{PREFIX}{where}", file=sys.stderr, flush=True)  # always the first line
    # The live log masks the secrets before anything else is printed.
    live = report.live_log(
        github_actions=plan.github_actions,
        secrets=list(plan.secrets),
        log_output=plan.log_output,
    )
    for note in plan.package_notes:
        print(f"{PREFIX}{note}", file=sys.stderr, flush=True)
    # With --view the server (and its viewer page) outlives the run, until Ctrl-C.
    viewing = await embedded_server(plan) if plan.view_port is not None else None
    execution = RunExecution(plan, engine, shutdown, started=started, shared_server=viewing)
    shutdown.install(execution.cancel)
    try:
        result = await execution.execute(live)
    finally:
        shutdown.uninstall()
    live.close()
    try:
        code = publish_run(plan, result, html_fragments=execution.html_fragments)
    finally:
        await execution.engine_down()
    if viewing is not None:
        await keep_viewing(viewing, result.notebook_id)
    return code


def publish_run(
    plan: RunPlan, result: RunResult, *, html_fragments: FragmentCache | None = None
) -> int:
    """Write everything (.ipynb, HTML report, outputs, summary, annotations); a file that
    could not be written is exit 3, after all the others were written."""
    from runt_action import report

    extra: dict[str, tuple[Path, Callable[[Path], object]]] = {}
    if plan.html_path is not None:
        from runt_action.report.html import write_html

        extra["html"] = (
            plan.html_path,
            lambda path: write_html(
                result, path, secrets=plan.secrets, fragment_cache=html_fragments
            ),
        )
    if plan.summary_copy is not None:
        from runt_action.report.files import write_file
        from runt_action.report.scrub import Scrubber
        from runt_action.report.summary import render_summary

        def summary_copy(path: Path) -> None:
            write_file(path, render_summary(result, scrubber=Scrubber(plan.secrets)))

        extra["summary"] = (plan.summary_copy, summary_copy)
    output_dir = plan.engine.output_dir if plan.engine is not None else None
    if output_dir is not None and output_dir.is_dir():
        result.artifacts["outputs"] = str(output_dir.absolute())
    try:
        report.publish(
            result,
            summary_path=plan.summary_path,
            output_path=plan.github_output,
            ipynb_path=plan.ipynb_path,
            github_actions=plan.github_actions,
            secrets=plan.secrets,
            extra_files=extra,
        )
    except OutputWriteError as exc:
        for line in str(exc).splitlines():
            print(f"{PREFIX}{scrub(plan, line)}", file=sys.stderr, flush=True)
        return OutputWriteError.exit_code
    finally:
        # A root container must not leave root-owned files in the runner's checkout.
        report.hand_back(
            [
                plan.out_dir,
                plan.ipynb_path,
                plan.summary_path,
                plan.summary_copy,
                *plan.extra_paths,
            ],
            plan.github_workspace,
        )
    return result.exit_code
