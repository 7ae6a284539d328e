"""Inputs become an immutable :class:`RunPlan`: everything that can be wrong fails here.

Nothing is started and nothing is mutated (no ``os.environ`` edits): the environment the
runtime will see is computed, tokens removed, and handed to the engine explicitly. A plan that
was made can run; a plan that could not be made raised an :class:`~runt_action.errors.InputError`
(exit 2) before any process or socket existed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action.errors import UsageError
from runt_action.notebook.graph import DependencyGraph, build_graph
from runt_action.orchestrator.runner import OnError, PlannedCell, Runner, plan_cells
from runt_action.results import CellResult, LiveHooks, RunResult, RunStatus
from runt_action.timeouts import Timeouts

if TYPE_CHECKING:
    from runt_action.agents.executors.ai import AiConfig
    from runt_action.livestore.store import Store
    from runt_action.notebook import Notebook
    from runt_action.schema.state import NotebookState
    from runt_action.settings import Settings

__all__ = [
    "DEFAULT_SYNC_URL",
    "TOKEN_VARIABLES",
    "EngineSpec",
    "RunPlan",
    "choose_runtime",
    "engine_spec",
    "make_plan",
    "summary_targets",
]

DEFAULT_SYNC_URL = "wss://app.runt.run/livestore"
STRAY_AUTH_TOKEN_WARNING = (
    "AUTH_TOKEN is set but no sync URL: staying on the embedded server; "
    "use auth-token/RUNT_API_KEY or --sync-url"
)

# Where a token may come from. The runtime gets our environment without them: notebook code
# must not be able to read the token.
TOKEN_VARIABLES = ("INPUT_AUTH-TOKEN", "INPUT_AUTH_TOKEN", "AUTH_TOKEN", "RUNT_API_KEY")


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What the in-process runtime is made from (creating it from this starts nothing)."""

    runtime: str  # "python" | "pyodide"
    environ: Mapping[str, str]  # the base environment: ours, minus every token variable
    env: Mapping[str, str]  # extra variables for the notebook (secret parameters)
    mounts: tuple[str, ...] = ()
    mount_readonly: bool = False
    output_dir: Path | None = None
    packages: tuple[str, ...] = ()  # the notebook's metadata.packages + the packages input
    wheelhouse: Path | None = None
    cwd: Path | None = None  # the cells' working directory (--cwd); None = the engine's default
    kernel: str | None = None  # a Jupyter kernelspec (-k), python runtime only
    python: Path | None = None  # the run-local environment's interpreter (agents/uvenv.py)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One run, fully decided: what to run, where, with which limits, and where results go."""

    notebook: Notebook
    cells: tuple[PlannedCell, ...]
    source_file: str
    notebook_id: str | None  # given by the user; None = a new random id
    engine: EngineSpec | None  # None = runtime "none": an external agent does the work
    token: str | None
    sync_url: str | None  # None = the embedded server
    app_url: str | None
    timeouts: Timeouts
    on_error: OnError
    strict: bool  # sql/ai cells nothing can execute fail the run
    graph: DependencyGraph  # code cells' dependencies (parameters cell included)
    selected: frozenset[str] | None  # --only and what it needs; None = every cell
    secrets: tuple[str, ...]  # every value that must never be written anywhere
    shown_params: dict[str, Any]  # merged parameters, secrets masked
    out_dir: Path
    ipynb_path: Path
    summary_path: Path | None
    summary_copy: Path | None  # --summary under Actions: the step summary and this file too
    github_output: Path | None
    github_actions: bool
    github_workspace: Path | None
    sync_log: Path | None  # opt-in persistence of the embedded server's event log
    html_path: Path | None  # the HTML report; None = none
    view_port: int | None  # serve the live viewer on the embedded server (0 = any port)
    sweep: tuple[dict[str, Any], ...] = ()  # parameter sets to run, one notebook each
    label: str | None = None  # this run's place in a sweep ("2-region-south")
    extra_paths: tuple[Path, ...] = field(default=())  # other files the run leaves (hand back)
    package_notes: tuple[str, ...] = ()  # where each package comes from, shown at the start
    cwd: Path | None = None  # the kernel's working directory (--cwd); None = the workspace
    kernel: str | None = None  # a Jupyter kernelspec name (-k), native runtime only
    log_output: bool = True  # stream cell outputs into the live log (--log-output)
    # Why this runtime (and kernel) runs: the first line and the summary say it.
    runtime_reason: str | None = None
    # The parameters given for this run (secrets masked): papermill's record's `parameters`.
    given_params: dict[str, Any] | None = None
    ai: AiConfig | None = None  # AI cells' model service; None = not configured (skipped)

    @property
    def runtime(self) -> str:
        return self.engine.runtime if self.engine is not None else "none"

    @property
    def embedded(self) -> bool:
        return self.sync_url is None

    def where(self) -> str:
        """Where this run syncs (the first line every run prints; never the token)."""
        server = self.sync_url or "an embedded sync server on 127.0.0.1 (no account needed)"
        auth = " with a token" if self.token else ""
        why = f" ({self.runtime_reason})" if self.runtime_reason else ""
        return (
            f"running {self.source_file} on the {self.runtime} runtime{why}, "
            f"syncing with {server}{auth}"
        )

    def result(
        self,
        cells: list[CellResult],
        status: RunStatus,
        *,
        notebook_id: str | None = None,
        **fields: Any,
    ) -> RunResult:
        """A RunResult of this plan (the run's fields that the plan already knows)."""
        return RunResult(
            notebook_id=notebook_id if notebook_id is not None else (self.notebook_id or ""),
            notebook_url=fields.pop("notebook_url", None),
            title=self.notebook.title,
            source_file=self.source_file,
            status=status,
            cells=cells,
            parameters=self.shown_params,
            duration_ms=fields.pop("duration_ms", 0.0),
            runtime=self.runtime,
            runtime_note=self.runtime_reason,
            started_at=fields.pop("started_at", ""),
            ipynb_metadata=dict(self.notebook.ipynb_metadata),
            **_notebook_record(self.notebook),
            given_parameters=self.given_params,
            dependency_graph=self.graph.to_mermaid(),
            **fields,
        )

    def runner(self, store: Store[NotebookState], hooks: LiveHooks, **overrides: Any) -> Runner:
        """The Runner for this plan on ``store`` (watch rounds override ``selected`` etc.)."""
        options: dict[str, Any] = {
            "cell_timeout": self.timeouts.cell,
            "startup_timeout": self.timeouts.startup,
            "request_timeout": self.timeouts.request,
            "on_error": self.on_error,
            "strict": self.strict,
            "graph": self.graph,
            "selected": self.selected,
            "ai_model": self.ai.model if self.ai is not None else None,
            "sql_connections": sql_connection_specs(self.notebook),
        }
        options.update(overrides)
        return Runner(
            store=store, cells=self.cells, title=self.notebook.title, hooks=hooks, **options
        )


def sql_connection_specs(notebook: Notebook) -> dict[str, dict[str, str]]:
    """metadata.connections as events and the .ipynb carry them: a URL, or url_env's name."""
    return {
        name: conn.model_dump(exclude_none=True)
        for name, conn in notebook.metadata.connections.items()
    }


def _notebook_record(notebook: Notebook) -> dict[str, Any]:
    """What the executed .ipynb keeps of the input: each Jupyter cell's metadata, and the
    defaults of its parameters cell (papermill's record)."""
    from runt_action.notebook.ipynb_input import is_ipynb, papermill_defaults

    return {
        "cell_metadata": {c.id: c.ipynb_metadata for c in notebook.cells if c.ipynb_metadata},
        "ipynb_input": is_ipynb(notebook.path),
        "default_parameters": papermill_defaults(notebook),
        "sql_connections": sql_connection_specs(notebook),
    }


def make_plan(
    settings: Settings,
    notebook: Notebook | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> RunPlan:
    """The checked plan for ``settings``; every input error of a run is raised here.

    ``overrides``/``label``: one parameter set of a sweep, winning over every other source;
    the run gets its own notebook id and files, named after ``label``."""
    from runt_action.notebook import load_notebook
    from runt_action.notebook.params import (
        given_parameters,
        injected_parameters,
        masked_parameters,
        parameters_cell,
        secret_env,
        secret_names,
    )

    s = settings
    if s.notebook is None:
        raise UsageError("no notebook given (argument NOTEBOOK or input 'notebook')")
    if notebook is None:
        notebook = load_notebook(s.notebook)
    given = given_parameters(
        notebook,
        parameters_file=s.parameters_file,
        inline=list(s.params),
        action_input=s.parameters,
        yaml_texts=list(s.yaml_params),
        raw=list(s.raw_params),
    )
    given.update(overrides or {})
    params = {**notebook.parameters, **given}
    names = secret_names(s)
    env = secret_env(s)
    pcell = parameters_cell(injected_parameters(notebook, given), names)
    cells = plan_cells(notebook, pcell.source if pcell is not None else None)
    token = s.token
    if s.stray_auth_token:
        print(f"warning: {STRAY_AUTH_TOKEN_WARNING}", file=sys.stderr)
    sync_url = _sync_url(s.sync_url, token)
    if s.runtime == "none" and sync_url is None:
        raise UsageError(
            "runtime 'none' needs a sync URL (--sync-url or input 'sync-url'): with the "
            "embedded server no other runtime could ever join"
        )
    from runt_action.packages import merge_requirements

    s, runtime_reason = choose_runtime(s, notebook)
    assert s.notebook is not None  # checked above; the copy keeps it
    engine = engine_spec(s, tuple(merge_requirements(notebook.metadata.packages, s.packages)))
    sql_env, sql_secrets = _sql_connections(notebook, s.runtime)
    if engine is not None and sql_env and engine.runtime == "pyodide":
        # Pyodide does not inherit our environment: url_env variables travel as secrets do.
        engine = replace(engine, env={**engine.env, **sql_env})
    cwd = engine.cwd if engine is not None else _cwd(s.cwd)
    _fetch_on_demand(engine, cells)
    engine, package_notes = _check_packages(engine, s)
    graph = cell_graph(cells)
    out_dir = _output_dir(s)
    ipynb = s.output if s.output is not None else out_dir / f"{notebook.path.stem}.ipynb"
    notebook_id = s.notebook_id
    if label is not None:
        ipynb = ipynb.with_name(f"{ipynb.stem}-{label}{ipynb.suffix}")
        notebook_id = f"{notebook_id}-{label}"[:64] if notebook_id else None
    if s.sync_log is not None and sync_url is not None:
        raise UsageError("'sync-log' only applies to the embedded server (no sync URL)")
    if s.view is not None and sync_url is not None:
        raise UsageError(
            "--view serves the embedded server's notebooks; with a sync URL, "
            "open the notebook where that server shows it"
        )
    html = _html_path(s.html, ipynb)
    if html is not None and label is not None and s.html.strip().lower() != "auto":
        html = html.with_name(f"{html.stem}-{label}{html.suffix}")
    summary_path, summary_copy = summary_targets(s)
    _check_outputs(s, ipynb, html, summary_path, summary_copy)
    return RunPlan(
        notebook=notebook,
        cells=tuple(cells),
        source_file=str(s.notebook),
        notebook_id=notebook_id,
        engine=engine,
        token=token,
        sync_url=sync_url,
        app_url=s.app_url,
        timeouts=s.timeouts(),
        on_error=s.error_mode,
        strict=s.strict,
        graph=graph,
        selected=_selected(s.only, graph, cells, s.notebook),
        secrets=tuple(
            v for v in (token, _stray_token(s), *env.values(), *sql_secrets, ai_key(s)) if v
        ),
        shown_params=masked_parameters(params, names),
        given_params=masked_parameters(given, names),
        ai=ai_config(s, warm=any(c.cell_type == "ai" for c in cells)),
        out_dir=out_dir,
        ipynb_path=ipynb,
        summary_path=summary_path,
        summary_copy=summary_copy,
        github_output=s.github_output,
        github_actions=s.github_actions,
        github_workspace=s.github_workspace,
        sync_log=s.sync_log,
        html_path=html,
        view_port=s.view,
        sweep=() if label is not None else _sweep_sets(s, notebook),
        label=label,
        extra_paths=tuple(p for p in (s.output_dir, html) if p is not None),
        package_notes=package_notes,
        cwd=cwd,
        kernel=s.kernel,
        log_output=s.log_output,
        runtime_reason=runtime_reason,
    )


def _sql_connections(notebook: Notebook, runtime: str) -> tuple[dict[str, str], list[str]]:
    """SQL connections checked against the runtime before anything starts; the ``url_env``
    variables read from our environment, and the secrets in them."""
    if not any(c.celltype == "sql" for c in notebook.cells):
        return {}, []
    from runt_action.notebook.sqlcells import sql_connections, url_secrets

    found = sql_connections(notebook, runtime, os.environ)
    return found, [s for url in found.values() for s in url_secrets(url)]


def cell_graph(cells: Sequence[PlannedCell]) -> DependencyGraph:
    """Dependencies between the cells that run in the kernel: code cells, and SQL cells
    (which read the names they bind or scan and write their ``variable``)."""
    from runt_action.notebook.sqlcells import sql_defs

    return build_graph(
        [(c.id, c.source) for c in cells if c.cell_type in ("code", "sql")],
        {c.id: sql_defs(c.source, c.variable) for c in cells if c.cell_type == "sql"},
    )


def ai_config(s: Settings, *, warm: bool = False) -> AiConfig | None:
    """AI cells' model service from the settings, or None when neither a key nor an
    endpoint is given (AI cells are then skipped with a warning, failed with --strict).
    ``warm``: the notebook has AI cells, so the SDK's import starts now (ai.warm_sdk)."""
    from runt_action.agents.executors.ai import DEFAULT_MODEL, AiConfig, warm_sdk

    key = ai_key(s)
    if not key and not s.ai_base_url:
        return None
    if warm:
        warm_sdk()
    return AiConfig(
        api_key=key,
        base_url=s.ai_base_url,
        model=s.ai_model or DEFAULT_MODEL,
        tools=s.ai_tool_policy,
        max_iterations=s.max_ai_iterations,
        context_tokens=s.ai_context_tokens,
        cell_timeout=s.cell_timeout,
    )


def ai_key(s: Settings) -> str | None:
    """The AI API key (a secret: masked everywhere, like the auth token)."""
    return s.ai_api_key.get_secret_value() if s.ai_api_key is not None else None


def _check_outputs(
    s: Settings,
    ipynb: Path,
    html: Path | None,
    summary_path: Path | None,
    summary_copy: Path | None,
) -> None:
    """Every output can be written, or exit 2 naming it, before any cell runs (a run as
    ``--user 1001`` on a root-owned checkout would otherwise run everything, then exit 3)."""
    from runt_action.orchestrator.writable import check_writable

    if s.prepare_only:  # writes the .ipynb alone
        check_writable([("the notebook", ipynb, "file")])
        return
    summary_kind = "append" if s.github_actions else "file"
    check_writable(
        [
            ("the executed notebook", ipynb, "file"),
            ("the HTML report", html, "file"),
            ("the summary", summary_path, summary_kind),
            ("the summary", summary_copy, "file"),
            ("the output directory (output-dir)", s.output_dir, "dir"),
            ("the sync log", s.sync_log, "file"),  # its directory: -wal, -shm, -journal
            ("the sync log", s.sync_log, "append"),  # and the file itself: written in place
        ]
    )


def engine_spec(s: Settings, packages: tuple[str, ...] = ()) -> EngineSpec | None:
    """The in-process runtime the settings ask for (None for runtime "none"), checked.

    Depends on the settings alone (plus the notebook's packages, which only Pyodide's
    engine takes), so the CLI can launch a native kernel before the notebook is even read.
    """
    from runt_action.notebook.params import secret_env

    if s.runtime == "none":
        return None
    _check_kernel(s.kernel)
    spec = EngineSpec(
        runtime=s.runtime,
        environ={k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES},
        env=secret_env(s),
        mounts=tuple(s.mounts),
        mount_readonly=s.mount_readonly,
        output_dir=s.output_dir,
        packages=packages,
        wheelhouse=s.wheelhouse,
        cwd=_cwd(s.cwd),
        kernel=s.kernel,
    )
    if spec.runtime == "python":
        _check_native_mounts(spec)
    return spec


def choose_runtime(s: Settings, notebook: Notebook) -> tuple[Settings, str]:
    """The runtime and kernel that run ``notebook``, and why (papermill's choice, issue #21).

    ``-k`` wins. Else a Jupyter notebook's ``metadata.kernelspec.name`` chooses the kernel on
    the python runtime, and is the runtime too unless ``--runtime`` was given: a papermill
    user's notebook runs on its kernel (magics, its packages). A kernelspec that is not
    installed is bad input (exit 2), naming the installed ones, as papermill's NoSuchKernel:
    running it elsewhere would fail later and less clearly (its packages are not there).
    YAML notebooks (no kernelspec) keep the default, Pyodide.
    """
    explicit = "runtime" in s.model_fields_set
    if s.runtime == "none":
        return s, "an external runtime (runtime none)"
    if s.kernel is not None:
        return s, f"kernel {s.kernel}, from -k"
    chosen = "chosen with --runtime" if explicit else "the default"
    wanted = _notebook_kernelspec(notebook)
    if wanted is None:
        return s, chosen
    name, language = wanted
    python_notebook = language in ("", "python") or name.startswith("python")
    if explicit and s.runtime == "pyodide":
        if not python_notebook:
            raise UsageError(
                f"{notebook.path}: the notebook's kernel {name!r} is for {language or name}; "
                "Pyodide runs Python only (use --runtime python with that kernel installed)"
            )
        return s, chosen
    installed = _installed_kernels()
    if name not in installed:
        hint = " or --runtime pyodide runs it on Pyodide" if python_notebook else ""
        raise UsageError(
            f"{notebook.path}: the notebook's kernel {name!r} is not installed "
            f"(installed: {', '.join(sorted(installed)) or 'none'}; -k NAME picks one{hint})"
        )
    kernel = None if _own_ipykernel(installed[name]) else name
    reason = f"kernel {name}, the notebook's kernelspec"
    if not explicit:
        reason += " (--runtime pyodide runs it on Pyodide)"
    return s.model_copy(update={"runtime": "python", "kernel": kernel}), reason


def _notebook_kernelspec(notebook: Notebook) -> tuple[str, str] | None:
    """(kernelspec name, its language, lower case) of a Jupyter notebook; None without one."""
    spec = notebook.ipynb_metadata.get("kernelspec")
    if not isinstance(spec, Mapping):
        return None
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    language = spec.get("language")
    if not isinstance(language, str):
        info = notebook.ipynb_metadata.get("language_info")
        language = info.get("name") if isinstance(info, Mapping) else None
    return name.strip(), (language or "").strip().lower() if isinstance(language, str) else ""


def summary_targets(s: Settings) -> tuple[Path | None, Path | None]:
    """Where the job summary goes and where a copy goes: under Actions the step summary, and
    ``--summary FILE`` too; else ``--summary FILE`` (None: printed). A run's and a suite's."""
    if not s.github_actions:
        return s.summary, None
    if s.github_step_summary is None:
        return s.summary, None
    return s.github_step_summary, s.summary


_KERNELS: dict[tuple[object, ...], dict[str, Path]] = {}


def _installed_kernels() -> dict[str, Path]:
    """Installed Jupyter kernelspecs (jupyter_client's KernelSpecManager): name -> its dir.

    Looked up once per set of kernel directories (their paths and mtimes: installing or
    removing a kernelspec changes them): a suite of .ipynb asks once per notebook, ~30 ms each.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    key = tuple((d, _mtime(d)) for d in jupyter_path("kernels"))
    if key not in _KERNELS:
        found = KernelSpecManager().find_kernel_specs().items()
        _KERNELS[key] = {name: Path(d) for name, d in found}
    return dict(_KERNELS[key])


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _own_ipykernel(resource_dir: Path) -> bool:
    """The kernelspec runs ``python -m ipykernel_launcher`` of this interpreter (ipykernel's
    own ``python3``): the native engine's default kernel is exactly that, and starts faster."""
    import json

    try:
        spec = json.loads((resource_dir / "kernel.json").read_text(encoding="utf-8"))
        argv, env = spec["argv"], spec.get("env")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if env:  # its own environment variables: start it as it says
        return False
    major, minor = sys.version_info[:2]
    names = {"python", f"python{major}", f"python{major}.{minor}", sys.executable}
    return (
        isinstance(argv, list)
        and len(argv) >= 3
        and argv[0] in names
        and argv[1:3] == ["-m", "ipykernel_launcher"]
    )


def _fetch_on_demand(engine: EngineSpec | None, cells: Sequence[PlannedCell]) -> None:
    """Pyodide under GitHub Actions: the distribution packages the cells import (or the
    notebook names) that the install lacks are fetched now, each file checked against the
    lock (agents/pyodide/ondemand.py), with a ``::notice`` for each. A failure is a warning:
    the import then fails with the usual clear error."""
    if engine is None or engine.runtime != "pyodide":
        return
    from runt_action.agents.pyodide import ondemand, paths

    if not ondemand.enabled():
        return
    from runt_action.errors import PackageFetchError
    from runt_action.report.commands import WorkflowCommands

    commands = WorkflowCommands()
    sources = [c.source for c in cells if c.cell_type == "code"]
    try:
        names, report, where = ondemand.fetch_missing(sources, engine.packages, paths.pyodide_dir())
    except PackageFetchError as exc:
        commands.warning(f"Pyodide packages could not be fetched: {exc}", title="Pyodide packages")
        return
    for file_name, size in report.fetched:
        commands.notice(
            f"fetched {file_name} ({size / 1e6:.1f} MB) from {where}, sha256 checked against "
            "pyodide-lock.json",
            title="Pyodide package",
        )
    if names:
        sys.stdout.flush()


def _check_packages(
    engine: EngineSpec | None, s: Settings
) -> tuple[EngineSpec | None, tuple[str, ...]]:
    """Every requirement can be had, or MissingPackageError (exit 2) before anything starts.
    Native: with ``requirements`` (or, in the action's image, any package) installed with uv
    into a run-local environment the kernel then starts in; else checked as installed (never
    installed). Pyodide: planned from the wheelhouse, the local distribution, or
    (RUNT_PYODIDE_CDN=1) downloads; the engine installs that plan."""
    if engine is None:
        return engine, ()
    if engine.runtime == "python":
        from runt_action.packages import check_installed, in_image

        if s.requirements is not None or (engine.packages and in_image()):
            if engine.kernel is not None:
                raise UsageError("'requirements' installs for this Python's ipykernel: drop -k")
            from runt_action.agents.uvenv import build_environment

            made = build_environment(s.requirements, engine.packages, cache_dir=s.uv_cache_dir)
            return dataclasses.replace(engine, python=made.python), (made.note(),)
        if not engine.packages:
            return engine, ()
        return engine, tuple(check_installed(list(engine.packages)))
    if s.requirements is not None:
        raise UsageError(
            "'requirements' is for the python runtime (runtime: python); on Pyodide list "
            "the packages in the notebook's metadata.packages or the packages input"
        )
    if not engine.packages:
        return engine, ()
    from runt_action.agents.pyodide import paths
    from runt_action.agents.pyodide.packages import plan_packages

    cdn = os.environ.get("RUNT_PYODIDE_CDN", "") not in ("", "0", "false")
    plan = plan_packages(list(engine.packages), paths.pyodide_dir(), engine.wheelhouse, cdn)
    return engine, tuple(plan.notes)


def _check_kernel(name: str | None) -> None:
    """``-k NAME`` must be an installed Jupyter kernelspec (bad input, exit 2, up front)."""
    if name is None:
        return
    from jupyter_client.kernelspec import KernelSpecManager

    installed = sorted(KernelSpecManager().find_kernel_specs())
    if name not in installed:
        raise UsageError(
            f"kernel {name!r} is not installed (installed: {', '.join(installed) or 'none'})"
        )


def _check_native_mounts(engine: EngineSpec) -> None:
    """The python runtime's kernel sees host paths as they are: a mount can't be moved to
    another path, and a read-only one can't be enforced, so both are refused (exit 2), never
    ignored. A plain ``--mount HOST`` is where it is on both runtimes (README: Files)."""
    if engine.mount_readonly and (engine.mounts or engine.cwd is not None):
        raise UsageError(
            "--mount-readonly cannot be enforced on the python runtime (the kernel sees the "
            "host's files as they are); use --runtime pyodide, or drop --mount-readonly"
        )
    for spec in engine.mounts:
        host, sep, target = spec.partition(":")
        if not sep:
            continue
        resolved = Path(host).expanduser().resolve()
        if Path(target) != resolved:
            raise UsageError(
                f"--mount {spec}: the python runtime cannot mount {host} at another path "
                f"({target}); use --mount {host} (it is at {resolved} on both runtimes)"
            )


def _cwd(given: Path | None) -> Path | None:
    """``--cwd`` must be an existing directory (bad input, exit 2, before anything starts)."""
    if given is None:
        return None
    if not given.is_dir():
        what = "does not exist" if not given.exists() else "is not a directory"
        raise UsageError(f"--cwd {given}: {what}")
    return given.resolve()


def _html_path(value: str, ipynb: Path) -> Path | None:
    """``auto``: next to the .ipynb, same name; off words or empty: no report."""
    text = value.strip()
    if text.lower() in ("", "false", "off", "none", "no", "0"):
        return None
    if text.lower() == "auto":
        return ipynb.with_suffix(".html")
    return Path(text)


def _sweep_sets(s: Settings, notebook: Notebook) -> tuple[dict[str, Any], ...]:
    """``--sweep FILE`` wins over the notebook's own ``sweep:``."""
    from runt_action.notebook.sweep import expand_sweep, load_sweep_file

    if s.sweep is not None:
        return tuple(load_sweep_file(s.sweep))
    if notebook.sweep is not None:
        return tuple(expand_sweep(notebook.sweep))
    return ()


def _selected(
    only: list[str], graph: DependencyGraph, cells: list[PlannedCell], file: Path
) -> frozenset[str] | None:
    """``--only`` cells plus everything they depend on; unknown ids are bad input."""
    if not only:
        return None
    known = [c.id for c in cells]
    for cell_id in only:
        if cell_id not in known:
            raise UsageError(
                f"{file}: --only {cell_id!r}: no such cell (cells: {', '.join(known)})"
            )
    return frozenset(graph.closure(only))


def _sync_url(given: str | None, token: str | None) -> str | None:
    if given:
        from runt_action.orchestrator.remote import check_sync_url

        return check_sync_url(given)
    return DEFAULT_SYNC_URL if token else None


def _output_dir(s: Settings) -> Path:
    if s.output is not None:
        return s.output.parent
    return (s.github_workspace or Path.cwd()) / "runt-output"


def _stray_token(s: Settings) -> str | None:
    """An ignored generic AUTH_TOKEN is still a secret: scrubbed wherever it might appear."""
    return s.generic_auth_token.get_secret_value() if s.generic_auth_token is not None else None
