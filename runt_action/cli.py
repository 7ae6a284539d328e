"""The command line: ``runt-automate [run] NOTEBOOK``, ``serve`` and ``agent``.

Errors are mapped to exit codes here and only here (see :mod:`runt_action.errors`):
0 success, 1 a cell failed, 2 bad input or usage, 3 infrastructure. Bad input is printed as
exactly one line on stderr; no traceback reaches the user unless ``RUNT_DEBUG`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from runt_action import __version__
from runt_action.console import PROG
from runt_action.errors import (
    EXIT_BAD_INPUT,
    EXIT_INFRASTRUCTURE,
    EXIT_OK,
    Cancelled,
    InputError,
    RuntActionError,
    UsageError,
)

__all__ = ["build_parser", "main"]

COMMANDS = ("run", "test", "combine", "serve", "agent", "graph", "watch", "convert")
AUTH_TOKEN_FLAG_WARNING = (
    "warning: --auth-token shows in the process list (ps) to every user of this machine; "
    "prefer the RUNT_API_KEY variable or the action input auth-token"
)

RUN_DESCRIPTION = """\
Run a notebook in CI: a YAML notebook (cells, parameters, options) or a Jupyter notebook
(.ipynb, papermill-style: -p NAME VALUE, the cell tagged 'parameters', IN.ipynb OUT.ipynb).
Each cell runs through a LiveStore sync server (embedded unless --sync-url) on a runtime
agent (pyodide by default, or --runtime python / -k KERNEL); the run leaves the executed
.ipynb, an HTML report and a summary, and exits 0, 1, 2 or 3 (see below)."""

EPILOG = """\
commands:
  run NOTEBOOK      run a YAML or Jupyter (.ipynb) notebook (the default command)
  test PATH...      run every notebook in files, directories or globs: one report, JUnit XML
  combine DIR...    merge the results of sharded `test` runs into one summary and JUnit file
  serve             run a LiveStore sync server with a live notebook viewer
  agent             run a runtime agent for a notebook on a sync server
  graph NOTEBOOK    print which cell depends on which (text, or --format mermaid)
  watch NOTEBOOK    run, then re-run the changed cells and their dependents on every save
  convert IN OUT    convert between a YAML notebook and a Jupyter .ipynb (by suffix)

exit codes: 0 success, 1 a cell failed, 2 bad input or usage, 3 infrastructure
(runtime or sync failure, timeout). Every option also reads its action input
(INPUT_<NAME>); flags win over the environment.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exception, not a usage dump + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or positive: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=RUN_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="{run,test,combine,serve,agent,graph,watch,convert}"
    )
    _add_run(
        sub.add_parser(
            "run",
            prog=f"{PROG} [run]",
            help="run a YAML or Jupyter (.ipynb) notebook (default)",
            description=RUN_DESCRIPTION,
        )
    )
    _add_test(
        sub.add_parser(
            "test",
            prog=f"{PROG} test",
            help="run a folder of notebooks as a test suite",
            description=TEST_DESCRIPTION,
        )
    )
    _add_combine(
        sub.add_parser(
            "combine",
            prog=f"{PROG} combine",
            help="merge sharded test runs",
            description="Merge the output directories of sharded `test` runs (each holds "
            "runt-results.json) into one summary, one JUnit file and one index page.",
        )
    )
    _add_serve(sub.add_parser("serve", help="run a LiveStore sync server"))
    _add_agent(sub.add_parser("agent", help="run a runtime agent"))
    _add_graph(sub.add_parser("graph", help="print the cells' dependency graph"))
    _add_convert(
        sub.add_parser(
            "convert",
            help="convert between YAML and .ipynb",
            description="Convert a YAML notebook to a Jupyter notebook or back; the direction "
            "follows the file suffixes (.ipynb, else YAML).",
        )
    )
    _add_run(
        sub.add_parser(
            "watch",
            prog=f"{PROG} watch",
            help="re-run changed cells on every save",
            description="Run the notebook, keep the runtime up, and on every save of the "
            "file re-run the changed cells and the cells that depend on them.",
        )
    )
    return parser


def _add_ai(g: Any) -> None:
    """AI cells' flags; the API key only from the environment (OPENAI_API_KEY), never argv."""
    g.add_argument(
        "--ai-base-url",
        metavar="URL",
        help="OpenAI-compatible endpoint for AI cells (OPENAI_BASE_URL; default OpenAI)",
    )
    g.add_argument("--ai-model", metavar="MODEL", help="model of AI cells that name none")
    g.add_argument(
        "--ai-tools",
        choices=("none", "create", "execute"),
        help="what an AI cell's model may do: none, create cells, or create and execute them "
        "(default: none in CI, create elsewhere)",
    )
    g.add_argument(
        "--max-ai-iterations", type=int, metavar="N", help="model calls per AI cell (default 10)"
    )
    g.add_argument(
        "--ai-context-tokens",
        type=int,
        metavar="N",
        help="budget of the notebook context an AI cell sends (default 16000)",
    )


def _add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="the notebook to read (.ipynb, .yml or .yaml)")
    p.add_argument("target", type=Path, help="the file to write (.ipynb, .yml or .yaml)")


def _add_graph(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", type=Path, help="the YAML notebook")
    p.add_argument("--format", choices=("text", "mermaid"), default="text", help="output format")


def _add_run(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument(
        "notebook",
        nargs="?",
        type=Path,
        help="the YAML or Jupyter (.ipynb) notebook (INPUT_NOTEBOOK)",
    )
    p.add_argument(
        "second",
        nargs="?",
        type=Path,
        metavar="OUTPUT.ipynb|PARAMETERS_FILE",
        help="papermill's OUTPUT: where to write the executed notebook (same as --output), "
        "when it ends in .ipynb, does not exist yet or holds a notebook; else runt-eval's "
        "PARAMETERS_FILE (same as -f), a YAML or JSON mapping",
    )
    _add_run_options(p)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Every option of a run (``run``, ``watch`` and, for each notebook, ``test``)."""
    g = p.add_argument_group("parameters")
    g.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        metavar="NAME=VALUE",
        help="set a parameter: -p NAME=VALUE or -p NAME VALUE; VALUE is typed as papermill "
        "types it: True/False, None, what int() or float() accepts, else text (repeatable)",
    )
    g.add_argument(
        "-r",
        "--raw",
        dest="raw_params",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="set a parameter to VALUE as a string, untyped (repeatable)",
    )
    g.add_argument(
        "-y",
        "--yaml",
        dest="yaml_params",
        action="append",
        metavar="YAML",
        help="parameters as a YAML mapping string, typed by the YAML 1.2 core schema; a value "
        "papermill's YAML 1.1 reads differently (yes, 010, 1_000, ...) gets a warning "
        "(repeatable)",
    )
    g.add_argument(
        "-f",
        "--parameters-file",
        type=Path,
        metavar="FILE",
        help="a YAML or JSON mapping of parameters (YAML 1.2 core, warnings as for -y)",
    )
    g.add_argument(
        "--parameters",
        metavar="YAML",
        help="a YAML/JSON mapping of parameters (the action input; wins over -p)",
    )
    g.add_argument(
        "--secret-parameter",
        dest="secret_parameters",
        action="append",
        metavar="NAME[=ENV]",
        help="a parameter read from environment variable ENV (default NAME) "
        "inside the runtime; its value is never written anywhere",
    )
    g = p.add_argument_group("where to run")
    g.add_argument(
        "--sync-url",
        metavar="URL",
        help="LiveStore sync URL (LIVESTORE_SYNC_URL); default: an embedded server",
    )
    g.add_argument("--notebook-id", metavar="ID", help="notebook (store) id (NOTEBOOK_ID)")
    g.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="Runt API key (prefer RUNT_API_KEY: a flag shows in the process list)",
    )
    g.add_argument("--app-url", metavar="URL", help="base URL of the notebook viewer")
    g.add_argument(
        "--runtime",
        choices=("pyodide", "python", "none"),
        help="runtime to start: pyodide (default), python, or none (external)",
    )
    g.add_argument(
        "-k",
        "--kernel",
        metavar="NAME",
        help="Jupyter kernelspec to start (native runtime; implies --runtime python)",
    )
    g.add_argument(
        "--cwd",
        type=Path,
        metavar="DIR",
        help="working directory of the notebook's code, at the same path on both runtimes "
        "(pyodide: copied in and back); default: the workspace (pyodide: its own home)",
    )
    g = p.add_argument_group("timeouts (seconds, 0 = no limit)")
    g.add_argument("--timeout", type=_positive_seconds, help="whole notebook (default none)")
    g.add_argument("--cell-timeout", type=_positive_seconds, help="each cell (default 600)")
    g.add_argument(
        "--startup-timeout", type=_positive_seconds, help="until a runtime is ready (default 60)"
    )
    g = p.add_argument_group("behaviour and outputs")
    g.add_argument(
        "--stop-on-error",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stop at the first failing cell (default: yes); alias of --on-error stop/continue",
    )
    g.add_argument(
        "--on-error",
        choices=("stop", "skip-dependents", "continue"),
        help="after a failed cell: stop (default), skip only the cells that depend on it, "
        "or continue with every cell",
    )
    g.add_argument(
        "--sweep",
        type=Path,
        metavar="FILE",
        help="run once per parameter set in FILE (a list of sets, or a matrix:)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        metavar="K",
        help="run K sweep sets (or, with test, notebooks) at a time, each on its own "
        "runtime (default 1)",
    )
    g.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="a sql or ai cell that no runtime here can execute, or a cell whose output was "
        "dropped or cut, fails the run (default: skipped or kept with a warning)",
    )
    _add_ai(g)
    g.add_argument(
        "--only",
        action="append",
        metavar="CELL",
        help="run only this cell and what it depends on (repeatable)",
    )
    g.add_argument("--output", type=Path, metavar="FILE", help="write the executed .ipynb")
    g.add_argument(
        "--summary", type=Path, metavar="FILE", help="also write the job summary (Markdown) here"
    )
    g.add_argument(
        "--mount",
        dest="mounts",
        action="append",
        metavar="HOST[:TARGET]",
        help="make a host directory available to the runtime, at the same absolute path by "
        "default (repeatable; pyodide copies writes back after each cell; TARGET: pyodide only)",
    )
    g.add_argument(
        "--mount-readonly",
        action="store_true",
        default=None,
        help="mount read-only (enforced on pyodide; the python runtime refuses it)",
    )
    g.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="directory the runtime may write files into, at the same path on both runtimes",
    )
    g.add_argument(
        "--html",
        metavar="FILE",
        help="write the HTML report here (default: next to the .ipynb; '' or --no-html: none)",
    )
    g.add_argument("--no-html", dest="html", action="store_const", const="", help="no HTML report")
    g.add_argument(
        "--view",
        nargs="?",
        type=int,
        const=0,
        metavar="PORT",
        help="serve the live notebook page during the run (and after it, until Ctrl-C); "
        "PORT default: any free port",
    )
    g.add_argument(
        "--sync-log",
        type=Path,
        metavar="FILE",
        help="keep the embedded server's event log in this SQLite file (stores raw outputs; "
        "secret values are scrubbed); default: in memory, nothing kept",
    )
    g.add_argument(
        "--packages",
        metavar="REQS",
        help="packages the notebook needs, comma or newline separated (on top of its "
        "metadata.packages): installed on Pyodide, checked on python",
    )
    g.add_argument(
        "--wheelhouse", type=Path, metavar="DIR", help="wheels Pyodide installs packages from"
    )
    g.add_argument(
        "--requirements",
        type=Path,
        metavar="FILE",
        help="pip requirements file (hashes honoured) the python runtime installs with uv "
        "into a run-local environment, where its kernel starts",
    )
    g.add_argument("--uv-cache-dir", type=Path, metavar="DIR", help="uv's cache for --requirements")
    g.add_argument(
        "--log-output",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stream cell outputs into the log as they come (default: yes)",
    )
    g.add_argument(
        "--prepare-only",
        action="store_true",
        default=None,
        help="write the parameterised notebook (.ipynb, no outputs) to --output; run nothing",
    )
    g.add_argument(
        "--validate",
        dest="validate_only",
        action="store_true",
        default=None,
        help="only parse and validate the notebook and parameters",
    )


TEST_DESCRIPTION = """\
Run every notebook found in PATHs (files, directories searched recursively, globs; .yml,
.yaml, .ipynb; hidden directories, .ipynb_checkpoints and runt-output/ skipped) on one
embedded server, each on a runtime of its own, the next one booting while the current runs.
Each leaves its .ipynb and HTML report under runt-output/<relative path>; the suite leaves
runt-output/runt-results.json, runt-output/index.html, one summary table and, with
--junit-xml, a JUnit XML file. A failing notebook does not stop the others (-x does); the
exit code is the worst of them. Run options (-p, -f, --runtime, timeouts, ...) apply to all."""


def _add_test(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("paths", nargs="*", metavar="PATH", help="notebooks, directories or globs")
    p.set_defaults(notebook=None, second=None)
    g = p.add_argument_group("suite")
    g.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB (the path or any of its parents; repeatable)",
    )
    g.add_argument(
        "-x", "--exitfirst", action="store_true", help="start no other notebook after a failure"
    )
    g.add_argument(
        "--junit-xml", type=Path, metavar="FILE", help="write a JUnit XML report (INPUT_JUNIT-XML)"
    )
    g.add_argument(
        "--shard",
        metavar="I/N",
        help="run the I-th of N deterministic parts of the suite (GitHub's strategy.matrix)",
    )
    g.add_argument(
        "--durations",
        type=Path,
        metavar="FILE",
        help="balance --shard by an earlier run's durations (its runt-results.json)",
    )
    g.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="where the reports and runt-results.json go (default: runt-output)",
    )
    _add_run_options(p)


def _add_combine(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="shard output directories")
    p.add_argument("--junit-xml", type=Path, metavar="FILE", help="write one JUnit XML file")
    p.add_argument(
        "--index",
        type=Path,
        default=Path("index.html"),
        metavar="FILE",
        help="the index page linking every report (default: index.html)",
    )
    p.add_argument(
        "--summary", type=Path, metavar="FILE", help="also write the summary (Markdown) here"
    )


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="FILE",
        help="SQLite event log (default: in memory)",
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--token",
        default=None,
        help="the auth token clients must send (default: RUNT_SERVE_TOKEN, else a new random "
        "one, printed in the viewer URL); a flag shows in ps, so prefer the variable",
    )
    auth.add_argument(
        "--no-auth",
        action="store_true",
        help="accept every client without a token (anyone who can reach the port can read "
        "and write every notebook and run code in its runtimes)",
    )
    p.add_argument(
        "--public-artifact-reads",
        action="store_true",
        help="serve GET /api/artifacts/<id> to anyone with the id, as the runt service does "
        "(the runt web app shows artifacts with a plain <img>); uploads still need the token",
    )


def _add_agent(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notebook",
        dest="notebook_id",
        required=True,
        metavar="ID",
        help="the notebook (store) id to serve",
    )
    p.add_argument("--sync-url", metavar="URL", help="LiveStore sync URL (LIVESTORE_SYNC_URL)")
    p.add_argument(
        "--runtime",
        choices=("pyodide", "python"),
        default=None,
        help="the engine (default pyodide)",
    )


def run() -> NoReturn:
    """The process entry point (console script, ``python -m``, entrypoint.py): main(), then
    exit without a final full garbage collection. Everything the run writes is written and
    closed by then and atexit handlers still run; only unreachable cycles are not collected
    at exit. Measured: the orchestrator's own exit 0.16-0.20 s -> 0.03 s (docs/benchmarks.md)."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (never raises for expected errors)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args_list)
    except InputError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        _report_input_error(exc)
        return exc.exit_code
    except Cancelled as exc:
        print(f"{PROG}: cancelled{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return exc.exit_code
    except RuntActionError as exc:
        print(f"{PROG}: error: {_one_line(str(exc) or type(exc).__name__)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except Exception as exc:  # a bug of ours: one line, the traceback only when asked
        if os.environ.get("RUNT_DEBUG"):
            traceback.print_exc()
        name = type(exc).__name__
        print(f"{PROG}: internal error: {name}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE


def _report_input_error(error: InputError) -> None:
    """Under Actions, bad input still leaves a summary, a ``status`` output and an annotation
    at the offending line (the settings may be what is broken: read the runner's variables)."""
    if os.environ.get("GITHUB_ACTIONS", "").lower() != "true":
        return
    from runt_action.report import publish_input_error

    # Under Actions publish_input_error finds GITHUB_STEP_SUMMARY / GITHUB_OUTPUT itself.
    publish_input_error(
        error,
        notebook=os.environ.get("INPUT_NOTEBOOK") or None,
        summary_path=None,
        output_path=None,
        github_actions=True,
    )


def _one_line(text: str) -> str:
    """Any line break (\\r, \\x85, \\u2028, ... as str.splitlines sees them) becomes a space."""
    return " ".join(text.split()) if len(text.splitlines()) > 1 else text


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    if not argv or argv[0] not in (*COMMANDS, "--version"):
        argv = ["run", *argv]  # run is the default command; its --help lists the others
    if argv[0] in ("run", "watch", "test"):
        argv = join_param_pairs(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_BAD_INPUT
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": _cmd_run,
        "test": _cmd_test,
        "combine": _cmd_combine,
        "serve": _cmd_serve,
        "agent": _cmd_agent,
        "graph": _cmd_graph,
        "watch": _cmd_watch,
        "convert": _cmd_convert,
    }
    return handlers[args.command](args)


def join_param_pairs(argv: list[str]) -> list[str]:
    """papermill's ``-p NAME VALUE`` as ``-p NAME=VALUE``: a ``-p`` whose next word has no
    ``=`` takes the word after it as the value, unless that word is an option (``--x``; a
    negative number is a value), as argparse's own two-argument options do."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            out.extend(argv[i:])
            break
        if (
            word in ("-p", "--param")
            and i + 2 < len(argv)
            and "=" not in argv[i + 1]
            and not _looks_like_option(argv[i + 2])
        ):
            out.extend([word, f"{argv[i + 1]}={argv[i + 2]}"])
            i += 3
            continue
        out.append(word)
        i += 1
    return out


def _looks_like_option(word: str) -> bool:
    """As argparse sees it: ``-x``/``--x`` is an option, ``-1``/``-2.5`` a value."""
    return word.startswith("-") and word != "-" and not _NEGATIVE_NUMBER.fullmatch(word)


_NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")


PARAMETER_FILE_SUFFIXES = (".yml", ".yaml", ".json")


def second_argument(path: Path) -> str:
    """What ``NOTEBOOK SECOND`` means: ``"output"`` (papermill's ``IN.ipynb OUT.ipynb``) or
    ``"parameters"`` (runt-eval's ``NOTEBOOK PARAMS.yml``); a UsageError, one line saying
    which reading was refused and why, when neither fits.

    - a name ending in ``.ipynb``: the output (replaced, as papermill does);
    - a name ending in ``.yml``/``.yaml``/``.json``: a parameters file (a notebook is never
      written under such a name);
    - any other name: the output when nothing is there, the file is empty or holds a Jupyter
      notebook; a parameters file when it holds a YAML/JSON mapping; else refused."""
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return "output"
    if suffix in PARAMETER_FILE_SUFFIXES:
        if not path.exists():
            raise UsageError(
                f"{PROG}: {path}: no such parameters file (a second argument ending in "
                f"{suffix} is read as one; an output notebook needs a .ipynb name)"
            )
        if _file_kind(path) == "notebook":
            raise UsageError(
                f"{PROG}: {path}: holds a Jupyter notebook, not parameters; name the output "
                "notebook .ipynb (or use --output) to write it there"
            )
        return "parameters"
    if not path.exists() and not path.is_symlink():
        return "output"
    kind = _file_kind(path)
    if kind in ("empty", "notebook"):
        return "output"
    if kind == "mapping":
        return "parameters"
    raise UsageError(
        f"{PROG}: {path}: refusing to read it as a parameters file ({kind}, not a YAML/JSON "
        "mapping) or to overwrite it as the output notebook (not a notebook); "
        "use --output or -f to say which"
    )


def _file_kind(path: Path) -> str:
    """``empty``, ``notebook`` (a mapping with ``nbformat``), ``mapping``, or why neither."""
    from runt_action.notebook.yamlsrc import SourceError, parse_yaml, read_source

    if path.is_dir():
        return "a directory"
    try:
        text = read_source(path)
    except SourceError as exc:
        return f"unreadable: {exc.message}"
    try:
        data = json.loads(text)  # a notebook is JSON; YAML would refuse its tabs, if any
    except (ValueError, RecursionError):
        try:
            data = parse_yaml(text).data
        except SourceError as exc:
            return f"unreadable: {exc.message}"
    if data is None:
        return "empty"
    if isinstance(data, dict):
        return "notebook" if "nbformat" in data and "cells" in data else "mapping"
    return f"it holds a YAML {type(data).__name__}"


def settings_from_args(args: argparse.Namespace) -> Any:
    """Settings from the environment with the given flags on top."""
    from runt_action.settings import load_settings

    output, parameters_file = args.output, args.parameters_file
    if args.second is not None:
        if second_argument(args.second) == "output":
            if output is not None:
                raise UsageError(
                    f"{PROG}: the output is given twice: {args.second} (second argument, "
                    f"papermill's OUTPUT) and --output {output}"
                )
            output = args.second
        elif parameters_file is not None:
            raise UsageError(f"{PROG}: give the parameters file once (positional or -f)")
        else:
            parameters_file = args.second
    if args.auth_token is not None:
        print(AUTH_TOKEN_FLAG_WARNING, file=sys.stderr)
    raw = [f"{name}={value}" for name, value in args.raw_params or []]
    return load_settings(
        notebook=args.notebook,
        parameters=args.parameters,
        parameters_file=parameters_file,
        params=args.params,
        yaml_params=args.yaml_params,
        raw_params=raw or None,
        auth_token=args.auth_token,
        kernel=args.kernel,
        cwd=args.cwd,
        log_output=args.log_output,
        prepare_only=args.prepare_only,
        secret_parameters=args.secret_parameters,
        sync_url=args.sync_url,
        notebook_id=args.notebook_id,
        app_url=args.app_url,
        runtime=args.runtime,
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        startup_timeout=args.startup_timeout,
        stop_on_error=args.stop_on_error,
        on_error=args.on_error,
        only=args.only,
        strict=args.strict,
        ai_base_url=getattr(args, "ai_base_url", None),
        ai_model=getattr(args, "ai_model", None),
        ai_tools=getattr(args, "ai_tools", None),
        max_ai_iterations=getattr(args, "max_ai_iterations", None),
        ai_context_tokens=getattr(args, "ai_context_tokens", None),
        sweep=args.sweep,
        jobs=args.jobs,
        output=output,
        summary=args.summary,
        mounts=args.mounts,
        mount_readonly=args.mount_readonly,
        output_dir=args.output_dir,
        validate_only=args.validate_only,
        sync_log=args.sync_log,
        html=args.html,
        view=args.view,
        packages=args.packages,
        wheelhouse=args.wheelhouse,
        requirements=args.requirements,
        uv_cache_dir=args.uv_cache_dir,
    )


def _cmd_run(args: argparse.Namespace) -> int:

    settings = settings_from_args(args)
    if settings.notebook is None and settings.notebooks:
        return _run_suite(settings, tuple(settings.notebooks), _suite_args(None, settings))
    if settings.notebook is None:
        raise UsageError(f"{PROG}: no notebook given (argument NOTEBOOK or input 'notebook')")
    early = _early_kernel(settings)
    try:
        return _run_with(settings, early)
    finally:
        if early is not None:
            early.kill()  # a no-op once the run has shut it down


def _early_kernel(settings: Any) -> Any:
    """The settings name the runtime: a native kernel boots (~0.4 s) while the notebook is
    read and checked, instead of after. Not a guess: the same spec the plan makes (the
    notebook adds nothing to a native engine); bad input later just kills it. Measured with
    `make bench`: see docs/benchmarks.md ("early kernel")."""
    if settings.runtime != "python" or settings.validate_only or settings.prepare_only:
        return None
    if settings.sweep is not None:
        return None  # each set starts its own runtime
    if settings.requirements is not None:
        return None  # the kernel starts in the environment the plan makes (agents/uvenv.py)
    from runt_action.orchestrator.agent_host import prestart_engine
    from runt_action.orchestrator.plan import engine_spec

    return prestart_engine(engine_spec(settings))


def _run_with(settings: Any, early: Any) -> int:
    from runt_action.notebook import load_notebook
    from runt_action.notebook.params import (
        given_parameters,
        injected_parameters,
        parameters_cell,
        secret_env,
        secret_names,
    )

    notebook = load_notebook(settings.notebook)
    if settings.prepare_only:
        return _prepare_only(settings, notebook)
    if settings.validate_only:
        given = given_parameters(
            notebook,
            parameters_file=settings.parameters_file,
            inline=settings.params,
            action_input=settings.parameters,
            yaml_texts=settings.yaml_params,
            raw=settings.raw_params,
        )
        params = {**notebook.parameters, **given}
        secrets = secret_names(settings)
        secret_env(settings)  # every secret's variable must be set
        if any(c.celltype == "sql" for c in notebook.cells):
            from runt_action.notebook.sqlcells import sql_connections

            sql_connections(notebook, settings.runtime, os.environ)  # as make_plan checks them
        cell = parameters_cell(injected_parameters(notebook, given), secrets)
        cells = len(notebook.cells) + (cell is not None)
        print(f"{settings.notebook}: valid ({cells} cells, {len(params)} parameters)")
        return EXIT_OK
    from runt_action.orchestrator.main import run

    return run(settings, notebook=notebook, engine=early)


def _cmd_test(args: argparse.Namespace) -> int:
    """``test PATH...`` (or the input ``notebooks``: one path or glob per line)."""
    for flag, value in (("--output", args.output), ("--notebook-id", args.notebook_id)):
        if value is not None:
            raise UsageError(f"{PROG} test: {flag} names one notebook's file; not for a suite")
    settings = settings_from_args(args)
    paths = tuple(args.paths) or tuple(settings.notebooks)
    if not paths:
        raise UsageError(f"{PROG} test: no PATH given (files, directories or globs)")
    return _run_suite(settings, paths, _suite_args(args, settings))


def _suite_args(args: argparse.Namespace | None, settings: Any) -> dict[str, Any]:
    from runt_action.batch.shard import parse_shard

    shard = getattr(args, "shard", None)
    return {
        "ignore": tuple(getattr(args, "ignore", None) or ()),
        "exitfirst": bool(getattr(args, "exitfirst", False)),
        "junit_xml": getattr(args, "junit_xml", None) or settings.junit_xml,
        "shard": parse_shard(shard) if shard else None,
        "durations": getattr(args, "durations", None),
        "report_dir": getattr(args, "report_dir", None),
    }


def _run_suite(settings: Any, paths: tuple[str, ...], options: dict[str, Any]) -> int:
    from runt_action.batch.suite import SuiteOptions, run_suite

    if settings.validate_only or settings.prepare_only:
        raise UsageError(f"{PROG} test: --validate/--prepare-only take one notebook")
    return run_suite(settings, SuiteOptions(paths=paths, **options))


def _cmd_combine(args: argparse.Namespace) -> int:
    from runt_action.batch.combine import combine

    return combine(args.dirs, junit_xml=args.junit_xml, index=args.index, summary=args.summary)


def _prepare_only(settings: Any, notebook: Any) -> int:
    """papermill's --prepare-only: the parameterised notebook as .ipynb, without outputs."""
    from runt_action.errors import OutputWriteError
    from runt_action.notebook.ipynb_input import ipynb_text, notebook_to_ipynb
    from runt_action.orchestrator.plan import make_plan
    from runt_action.report.files import write_text_atomic

    plan = make_plan(settings, notebook)
    injected = next((c.source for c in plan.cells if c.id == "parameters"), None)
    text = ipynb_text(notebook_to_ipynb(notebook, parameters_source=injected))
    try:
        write_text_atomic(plan.ipynb_path, text)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {plan.ipynb_path}: {exc.strerror or exc}") from None
    print(f"{plan.ipynb_path}: prepared ({len(plan.cells)} cells, nothing run)")
    return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    """YAML -> .ipynb or .ipynb -> YAML, by suffix; the target is replaced atomically."""
    from runt_action.errors import OutputWriteError
    from runt_action.notebook import load_notebook
    from runt_action.notebook.ipynb_input import (
        ipynb_text,
        is_ipynb,
        notebook_to_ipynb,
        notebook_to_yaml,
    )
    from runt_action.report.files import write_text_atomic

    source, target = args.source, args.target
    if target.suffix.lower() not in (".ipynb", ".yml", ".yaml"):
        raise UsageError(f"{PROG} convert: {target}: expected a .ipynb, .yml or .yaml name")
    if target.exists() and source.resolve() == target.resolve():
        raise UsageError(f"{PROG} convert: {target} is the source itself")
    notebook = load_notebook(source)
    if is_ipynb(target):
        text = ipynb_text(notebook_to_ipynb(notebook))
    else:
        text = notebook_to_yaml(notebook)
    try:
        write_text_atomic(target, text)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"{source} -> {target} ({len(notebook.cells)} cells)")
    return EXIT_OK


SERVE_TOKEN_ENV = "RUNT_SERVE_TOKEN"
SERVE_TOKEN_FLAG_WARNING = (
    "warning: --token shows in the process list (ps) to every user of this machine; "
    f"prefer the {SERVE_TOKEN_ENV} variable"
)
NO_AUTH_WARNING = (
    "warning: --no-auth: anyone who can reach this port can read every notebook on this "
    "server and run code in the runtimes connected to it"
)


def serve_token(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The token ``serve`` requires and whether it was generated here (so it is printed).

    Like Jupyter Server: a given token (``RUNT_SERVE_TOKEN``, or ``--token`` with a warning)
    is never printed; without one a random token is made and shown in the viewer URL, the
    one place its user needs it. ``--no-auth`` is the only way to run without."""
    if args.no_auth:
        print(NO_AUTH_WARNING, file=sys.stderr)
        return None, False
    if args.token is not None:
        print(SERVE_TOKEN_FLAG_WARNING, file=sys.stderr)
        given: str | None = args.token
    else:
        given = os.environ.get(SERVE_TOKEN_ENV) or None
    if given is not None:
        if not given.strip():
            raise UsageError(f"{PROG} serve: the token is empty")
        return given, False
    from runt_action.livestore.auth import new_secret

    return new_secret(), True


def _cmd_serve(args: argparse.Namespace) -> int:
    from runt_action import eventloop
    from runt_action.livestore.server import serve_forever

    token, generated = serve_token(args)

    def attach(server: Any) -> Callable[[], str]:
        from runt_action.viewer import attach_viewer

        viewer = attach_viewer(server)  # the server's own token

        def announce() -> str:
            sync = f"sync:   {server.url}"
            if token is None:
                return f"viewer: {viewer.index_url}\n{sync} (no token)"
            if generated:
                return (
                    f"viewer: {viewer.index_url}?token={token}\n"
                    f"{sync} (clients send the token: RUNT_API_KEY={token})"
                )
            return (
                f"viewer: {viewer.entry_url()} (a one-time link; or open "
                f"{viewer.index_url}?token=<your token>)\n{sync} (clients send your token)"
            )

        return announce

    public = bool(args.public_artifact_reads)
    eventloop.run(
        serve_forever(
            args.host, args.port, args.db, token, attach=attach, public_artifact_reads=public
        )
    )
    return EXIT_OK


def _cmd_agent(args: argparse.Namespace) -> int:
    from runt_action import eventloop
    from runt_action.agents.standalone import run_agent
    from runt_action.settings import load_settings

    settings = load_settings(
        notebook_id=args.notebook_id, sync_url=args.sync_url, runtime=args.runtime
    )
    if settings.sync_url is None:
        raise UsageError(f"{PROG} agent: --sync-url (or LIVESTORE_SYNC_URL) is required")
    if settings.runtime == "none":
        raise UsageError(f"{PROG} agent: runtime 'none' starts no agent; use pyodide or python")
    from runt_action.orchestrator.plan import ai_config, ai_key

    token = settings.token
    eventloop.run(
        run_agent(
            notebook_id=args.notebook_id,
            sync_url=settings.sync_url,
            runtime=settings.runtime,
            auth_token=token,
            timeouts=settings.timeouts(),
            # a cell printing one is masked at the source
            secrets=[s for s in (token, ai_key(settings)) if s],
            ai=ai_config(settings),  # OPENAI_API_KEY / OPENAI_BASE_URL, as for a run
        )
    )
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace) -> int:
    from runt_action.notebook import load_notebook
    from runt_action.notebook.params import injected_parameters, parameters_cell
    from runt_action.orchestrator.plan import cell_graph
    from runt_action.orchestrator.runner import plan_cells

    notebook = load_notebook(args.notebook)
    pcell = parameters_cell(injected_parameters(notebook, {}), [])
    cells = plan_cells(notebook, pcell.source if pcell is not None else None)
    graph = cell_graph(cells)
    print(graph.to_mermaid() if args.format == "mermaid" else graph.to_text(), end="")
    return EXIT_OK


def _cmd_watch(args: argparse.Namespace) -> int:
    from runt_action.orchestrator.watch import watch

    settings = settings_from_args(args)
    if settings.notebook is None:
        raise UsageError(f"{PROG} watch: no notebook given")
    return watch(settings)
