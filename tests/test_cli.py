from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runt_action import __version__
from runt_action.cli import main
from runt_action.errors import Cancelled, NotebookError, SyncConnectError
from tests.jupyter import write_ipynb

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "fixtures" / "bad"
GOOD = ROOT / "tests" / "fixtures" / "good"
_PLAIN = ("AUTH_TOKEN", "RUNT_API_KEY", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI", "RUNT_DEBUG")

# fixture -> (line, column, a piece of the message). Parameter files (params-*) are given with
# -f to a valid notebook. Each must print exactly one line "file:line:col: message", exit 2.
EXPECTED: dict[str, tuple[int, int, str]] = {
    "allow-error-string.yml": (4, 18, "expected true or false, got a string"),
    "bad-celltype.yml": (3, 15, "invalid value 'pyton'"),
    "bad-id-charset.yml": (2, 9, "cell id 'my cell' must be"),
    "bad-if.yml": (5, 9, "'if' is not a valid Python expression"),
    "if-unsafe-call.yml": (7, 9, "the only functions are success(), failure() and always()"),
    "bad-param-name.yml": (2, 3, "parameter name 'my-param' is not a valid Python identifier"),
    "bad-param-value.yml": (2, 10, "unsupported value of type date; quote it"),
    "cell-not-mapping.yml": (2, 5, "cells[0]: expected a mapping"),
    "cells-not-list.yml": (2, 3, "cells: expected a list"),
    "duplicate-id.yml": (4, 9, "duplicate cell id 'load' (first used at line 2)"),
    "duplicate-key.yml": (4, 5, "duplicate key 'source'"),
    "empty.yml": (1, 1, "the notebook is empty"),
    "missing-id.yml": (2, 5, "cells[0]: missing required key 'id'"),
    "missing-source.yml": (4, 5, "cells[1]: missing required key 'source'"),
    "multiple-documents.yml": (4, 1, "expected a single document"),
    "negative-timeout.yml": (4, 14, "cells[0].timeout: Input should be greater than 0"),
    "no-cells.yml": (3, 8, "at least one cell"),
    "not-a-mapping.yml": (1, 1, "a notebook must be a mapping"),
    "not-utf8.yml": (3, 17, "not valid UTF-8"),
    "parameters-not-mapping.yml": (2, 3, "parameters: expected a mapping, got a list"),
    "params-bad-json.json": (3, 1, "JSON syntax error"),
    "params-date-value.yml": (2, 8, "parameter 'since': unsupported value of type date"),
    "params-duplicate-key.yml": (2, 1, "duplicate key 'days'"),
    "params-keyword-name.yml": (2, 1, "parameter name 'class' is not a valid Python identifier"),
    "params-not-mapping.json": (1, 1, "parameters must be a mapping"),
    "params-syntax-error.yml": (2, 1, "YAML syntax error"),
    "reserved-id.yml": (2, 9, "'parameters' is reserved"),
    "reserved-line-key.yml": (4, 5, "unknown key 'line'"),
    "retries-not-int.yml": (4, 14, "expected an integer, got a number (1.5)"),
    "source-not-string.yml": (3, 13, "cells[0].source: expected a string, got an integer (42)"),
    "syntax-error.yml": (4, 1, "YAML syntax error"),
    "tab-indent.yml": (3, 1, "tab character"),
    "tags-not-list.yml": (2, 9, "metadata.tags: expected a list"),
    "timeout-not-number.yml": (4, 14, "expected a number, got a string ('ten')"),
    "unknown-cell-key.yml": (3, 5, "unknown key 'sorce'; did you mean 'source'?"),
    "unknown-metadata-key.yml": (2, 3, "unknown key 'titel'; did you mean 'title'?"),
    "unknown-top-key.yml": (3, 1, "unknown key 'cels'; did you mean 'cells'?"),
    "unknown-yaml-tag.yml": (3, 13, "unsupported YAML"),
    "param-dunder-name.yml": (2, 3, "parameter name '__builtins__' is a reserved dunder name"),
    "params-builtin-name.yml": (2, 1, "parameter name 'print' would shadow the Python builtin"),
    "ipynb-unknown-option.ipynb": (19, 6, "cell 2 (id 'show'): unknown key 'retry' in metadata"),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "RUNT_")) or name in _PLAIN:
            monkeypatch.delenv(name)


def _argv(fixture: Path) -> list[str]:
    if fixture.name.startswith("params-"):
        return [str(GOOD / "minimal.yml"), "-f", str(fixture), "--validate"]
    return [str(fixture), "--validate"]


def test_fixture_table_covers_every_bad_file() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_prints_one_located_line_and_exits_2(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fixture = BAD / name
    assert main(_argv(fixture)) == 2
    out, err = capsys.readouterr()
    line, column, message = EXPECTED[name]
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"{fixture}:{line}:{column}: "), err
    assert message in err


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, str(ROOT / "entrypoint.py")],
        [sys.executable, "-m", "runt_action"],
        [str(Path(sys.executable).parent / "runt-automate")],
    ],
    ids=["entrypoint", "module", "console-script"],
)
def test_real_processes_print_one_line_for_bad_input(command: list[str]) -> None:
    fixture = BAD / "duplicate-id.yml"
    done = subprocess.run(
        [*command, "run", str(fixture), "--validate"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"{fixture}:4:9: duplicate cell id 'load' (first used at line 2)\n"


def test_help_and_version_exit_0_in_a_real_process() -> None:
    entry = [sys.executable, str(ROOT / "entrypoint.py")]
    version = subprocess.run([*entry, "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"runt-automate {__version__}\n")
    helped = subprocess.run([*entry, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    for word in ("--validate", "--parameters-file", "--cell-timeout", "serve", "agent", "exit"):
        assert word in helped.stdout


@pytest.mark.parametrize("argv", [["serve", "--help"], ["agent", "--help"], ["run", "-h"]])
def test_subcommand_help_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "usage:" in capsys.readouterr().out


def test_validate_only_accepts_good_notebooks(capsys: pytest.CaptureFixture[str]) -> None:
    nb = GOOD / "all-options.yml"
    assert main([str(nb), "--validate", "-p", "count=4", "--parameters", "{ratio: 1.5}"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{nb}: valid (8 cells, 6 parameters)\n"
    assert err == ""


def test_undeclared_parameter_warns_but_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(GOOD / "minimal.yml"), "--validate", "-p", "extra=1"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: parameter 'extra' is not declared") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no notebook given"),
        (["nb.yml", "--bogus"], "unrecognized arguments: --bogus"),
        (["nb.yml", "--cell-timeout", "soon"], "not a number of seconds"),
        (["nb.yml", "--runtime", "deno"], "invalid choice: 'deno'"),
        (["nb.yml", "-p", "novalue", "--validate"], "-p 'novalue': expected NAME=VALUE"),
        (["nb.yml", "-r", "x"], "argument -r/--raw: expected 2 arguments"),
        (["nb.yml", "--notebook-id", "../../x"], "invalid input 'notebook-id' '../../x'"),
        (["nb.yml", "--notebook-id", "n" * 5000], "invalid input 'notebook-id'"),
        (["nb.yml", "-k", "python3", "--runtime", "pyodide"], "needs runtime 'python'"),
        (["serve", "--port", "x"], "invalid int value"),
        (["agent"], "required: --notebook"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[:1] == ["nb.yml"]:
        argv = [str(GOOD / "minimal.yml"), *argv[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_secret_parameter_must_be_set_to_validate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(GOOD / "minimal.yml"), "--validate", "--secret-parameter", "token=API_TOKEN"]
    assert main(argv) == 2
    assert "environment variable API_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("API_TOKEN", "Zq9-value")
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "Zq9" not in out + err


class _Recorder:
    def __init__(self, outcome: Any = 0) -> None:
        self.outcome = outcome
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    """Stands in for the orchestrator, to see what the CLI hands it and how it maps errors."""
    recorder = _Recorder()
    module = types.ModuleType("runt_action.orchestrator.main")
    module.run = recorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "runt_action.orchestrator.main", module)
    yield recorder


def test_run_passes_settings_with_flags_over_environment(
    fake_run: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_NOTEBOOK", str(GOOD / "minimal.yml"))
    monkeypatch.setenv("INPUT_RUNTIME", "python")
    monkeypatch.setenv("INPUT_CELL-TIMEOUT", "30")
    monkeypatch.setenv("RUNT_API_KEY", "Zq9")
    fake_run.outcome = 1
    assert main(["--runtime", "none", "-p", "days=3", "--no-stop-on-error", "--mount", "d"]) == 1
    (settings,), _ = fake_run.calls[0]
    assert settings.notebook == GOOD / "minimal.yml"
    assert settings.runtime == "none" and settings.cell_timeout == 30.0
    assert settings.params == ["days=3"] and settings.stop_on_error is False
    assert settings.mounts == ["d"] and settings.auth_token.get_secret_value() == "Zq9"


def test_run_rejects_an_invalid_notebook_before_starting_anything(
    fake_run: _Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(BAD / "duplicate-id.yml")]) == 2
    assert fake_run.calls == []
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("outcome", "code", "stderr"),
    [
        (0, 0, ""),
        (SyncConnectError("cannot reach ws://127.0.0.1:1/livestore"), 3, "error: cannot reach"),
        (Cancelled("SIGTERM"), 3, "cancelled: SIGTERM"),
        (NotebookError("bad if", file="nb.yml", line=3, column=7), 2, "nb.yml:3:7: bad if\n"),
        (RuntimeError("a bug\nwith lines"), 3, "internal error: RuntimeError: a bug with lines"),
    ],
)
def test_errors_map_to_exit_codes_without_tracebacks(
    fake_run: _Recorder,
    capsys: pytest.CaptureFixture[str],
    outcome: Any,
    code: int,
    stderr: str,
) -> None:
    fake_run.outcome = outcome
    assert main([str(GOOD / "minimal.yml")]) == code
    err = capsys.readouterr().err
    assert stderr in err
    assert "Traceback" not in err and err.count("\n") <= 1


def test_serve_and_agent_dispatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[tuple[Any, ...]] = []
    agents: list[dict[str, Any]] = []

    public: list[bool] = []

    async def serve_forever(*args: Any, attach: Any = None, public_artifact_reads: bool) -> None:
        served.append(args)
        public.append(public_artifact_reads)
        assert callable(attach)  # the viewer is mounted by the serve command

    async def run_agent(**kwargs: Any) -> None:
        agents.append(kwargs)

    importlib.import_module("runt_action.livestore.auth")  # the real one, before the fake
    server = types.ModuleType("runt_action.livestore.server")
    server.serve_forever = serve_forever  # type: ignore[attr-defined]
    standalone = types.ModuleType("runt_action.agents.standalone")
    standalone.run_agent = run_agent  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "runt_action.livestore.server", server)
    monkeypatch.setitem(sys.modules, "runt_action.agents.standalone", standalone)

    monkeypatch.delenv("RUNT_SERVE_TOKEN", raising=False)
    assert main(["serve", "--port", "9999", "--db", "ev.db", "--token", "t"]) == 0
    assert served == [("127.0.0.1", 9999, Path("ev.db"), "t")]
    assert "--token shows in the process list" in capsys.readouterr().err
    # No token given: a random one is generated (never an open server by default).
    assert main(["serve"]) == 0
    generated = served[-1][3]
    assert served[-1][:3] == ("127.0.0.1", 8787, None)
    assert isinstance(generated, str) and len(generated) >= 32
    assert main(["serve"]) == 0 and served[-1][3] != generated
    assert public == [False] * 3  # downloads need the token unless asked
    assert main(["serve", "--public-artifact-reads"]) == 0 and public[-1] is True
    monkeypatch.setenv("RUNT_SERVE_TOKEN", "from-env")
    assert main(["serve"]) == 0 and served[-1][3] == "from-env"
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--no-auth"]) == 0 and served[-1][3] is None
    assert "--no-auth: anyone who can reach this port" in capsys.readouterr().err
    assert main(["serve", "--no-auth", "--token", "t"]) == 2  # one or the other
    capsys.readouterr()

    assert main(["agent", "--notebook", "nb1"]) == 2
    assert "--sync-url" in capsys.readouterr().err
    monkeypatch.setenv("LIVESTORE_SYNC_URL", "ws://127.0.0.1:8787/livestore")
    assert main(["agent", "--notebook", "nb1", "--runtime", "python"]) == 0
    kwargs = agents[0]
    assert kwargs["notebook_id"] == "nb1" and kwargs["runtime"] == "python"
    assert kwargs["sync_url"] == "ws://127.0.0.1:8787/livestore"
    assert kwargs["auth_token"] is None and kwargs["timeouts"].startup == 60.0
    assert kwargs["secrets"] == []
    monkeypatch.setenv("RUNT_API_KEY", "key-1")
    assert main(["agent", "--notebook", "nb1", "--runtime", "python"]) == 0
    assert agents[-1]["auth_token"] == "key-1" and agents[-1]["secrets"] == ["key-1"]


def test_graph_command_prints_text_and_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    nb = Path(__file__).parent / "e2e" / "notebooks" / "dependents.yml"
    assert main(["graph", str(nb)]) == 0
    text = capsys.readouterr().out
    assert "uses_model <- broken (model)" in text
    assert "load <- parameters (n)" in text
    assert main(["graph", str(nb), "--format", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("graph TD") and 'c_broken -->|"model"| c_uses_model' in mermaid


# -- papermill's command line, .ipynb input, convert (issue 13) ------------------------------


def test_join_param_pairs() -> None:
    from runt_action.cli import join_param_pairs

    assert join_param_pairs(["run", "-p", "a", "1", "nb"]) == ["run", "-p", "a=1", "nb"]
    assert join_param_pairs(["run", "-p", "a=1", "nb"]) == ["run", "-p", "a=1", "nb"]
    assert join_param_pairs(["-p", "n", "-1"]) == ["-p", "n=-1"]  # a negative number is a value
    assert join_param_pairs(["-p", "a", "--validate"]) == ["-p", "a", "--validate"]
    assert join_param_pairs(["--param", "a", "x=y"]) == ["--param", "a=x=y"]
    assert join_param_pairs(["--", "-p", "a", "1"]) == ["--", "-p", "a", "1"]


def test_prepare_only_with_papermills_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Done-when line, as --prepare-only: nothing runs, the values land typed."""
    import json

    nb = write_ipynb(
        tmp_path / "in.ipynb",
        ("setup", "import os", []),
        ("params", "a = 0\nb = 0\nc = 'x'\n", ["parameters"]),
        ("use", "print(a, b, c)", []),
        language_info={"name": "python", "version": "3.12.0"},
    )
    (tmp_path / "dir").mkdir()
    out = tmp_path / "prepared.ipynb"
    argv = [str(nb), "-p", "a", "1", "-y", "b: 2", "-r", "c", "3", "--cwd", str(tmp_path / "dir")]
    argv += ["-k", "python3", "-p", "n=014", "-p", "country", "NO", "-p", "w=x #c"]
    assert main([*argv, "--prepare-only", "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}: prepared (4 cells, nothing run)\n"
    assert "not declared" in captured.err  # n, country and w are new names: said, not fatal
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["cells"]] == ["setup", "params", "parameters", "use"]
    injected = data["cells"][2]
    assert injected["metadata"]["tags"] == ["injected-parameters"]
    assert injected["outputs"] == [] and injected["execution_count"] is None
    namespace: dict[str, object] = {}
    exec("".join(injected["source"]), namespace)
    assert {k: namespace[k] for k in ("a", "b", "c", "n", "country", "w")} == {
        "a": 1,
        "b": 2,
        "c": "3",
        "n": 14,
        "country": "NO",
        "w": "x #c",
    }
    assert data["metadata"]["language_info"]["version"] == "3.12.0"  # the input's metadata


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "print=1"], "-p 'print=1': parameter name 'print' would shadow the Python builtin"),
        (["-p", "__class__", "1"], "is a reserved dunder name"),
        (["-r", "len", "3"], "-r 'len=3': parameter name 'len' would shadow"),
        (["-y", "type: 1"], "-y:1:1: parameter name 'type' would shadow"),
        (["-p", "class=1"], "not a valid Python identifier"),
    ],
)
def test_parameter_names_are_checked_on_every_flag(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(GOOD / "minimal.yml"), *args, "--validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_cwd_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o.ipynb")
    missing = tmp_path / "nope"
    argv = [str(GOOD / "minimal.yml"), "--prepare-only", "--output", out, "--cwd", str(missing)]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"--cwd {missing}: does not exist\n"
    assert not Path(out).exists()


def test_auth_token_flag_warns_that_ps_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(GOOD / "minimal.yml"), "--validate", "--auth-token", "Zq9-flag"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: --auth-token shows in the process list (ps)")
    assert "Zq9" not in err


def test_stray_auth_token_warns_and_stays_on_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runt_action.orchestrator.plan import STRAY_AUTH_TOKEN_WARNING, make_plan
    from runt_action.settings import load_settings

    monkeypatch.setenv("AUTH_TOKEN", "Zq9-stray")
    plan = make_plan(load_settings(notebook=GOOD / "minimal.yml"))
    assert plan.sync_url is None and plan.token is None and plan.embedded
    assert "Zq9-stray" in plan.secrets  # ignored, but still scrubbed everywhere
    assert capsys.readouterr().err == f"warning: {STRAY_AUTH_TOKEN_WARNING}\n"
    assert "AUTH_TOKEN" not in plan.engine.environ if plan.engine else True
    remote = make_plan(load_settings(notebook=GOOD / "minimal.yml", sync_url="ws://h/livestore"))
    assert remote.token == "Zq9-stray" and remote.sync_url == "ws://h/livestore"
    assert capsys.readouterr().err == ""


def test_plan_exposes_cwd_kernel_and_log_output(tmp_path: Path) -> None:
    from runt_action.orchestrator.plan import make_plan
    from runt_action.settings import load_settings

    s = load_settings(notebook=GOOD / "minimal.yml", cwd=tmp_path, kernel="python3")
    plan = make_plan(s)
    assert (plan.cwd, plan.kernel, plan.runtime, plan.log_output) == (
        tmp_path.resolve(),
        "python3",
        "python",
        True,
    )
    assert (
        make_plan(load_settings(notebook=GOOD / "minimal.yml", log_output=False)).log_output
        is False
    )


def test_convert_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runt_action.notebook import load_notebook

    src = GOOD / "all-options.yml"
    ipynb, back = tmp_path / "x.ipynb", tmp_path / "back.yml"
    assert main(["convert", str(src), str(ipynb)]) == 0
    assert main(["convert", str(ipynb), str(back)]) == 0
    out = capsys.readouterr().out
    assert f"{src} -> {ipynb}" in out and f"{ipynb} -> {back}" in out
    original, converted = load_notebook(src), load_notebook(back)
    assert converted.parameters == original.parameters
    assert [c.model_dump(exclude={"line"}) for c in converted.cells] == [
        c.model_dump(exclude={"line"}) for c in original.cells
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["convert", "in.yml", "out.txt"], "expected a .ipynb, .yml or .yaml name"),
        (["convert", "missing.yml", "out.ipynb"], "missing.yml:1:1: no such file"),
    ],
)
def test_convert_errors(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_unknown_kernel_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(GOOD / "minimal.yml"), "--prepare-only", "-k", "no-such-kernel"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kernel 'no-such-kernel' is not installed (installed: ")
    assert "python3" in err
