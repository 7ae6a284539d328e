from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from runt_action.errors import UsageError
from runt_action.settings import INPUTS, Settings, load_settings
from runt_action.timeouts import Timeouts

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
_PLAIN = ("AUTH_TOKEN", "RUNT_API_KEY", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "RUNT_APP_URL", "CI")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the process environment; CI runners set some of these themselves."""
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "RUNT_")) or name in _PLAIN:
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.notebook is None and s.auth_token is None and s.sync_url is None
    assert s.runtime == "pyodide"
    assert s.stop_on_error is True
    assert s.timeouts() == Timeouts(cell=600.0, notebook=None, startup=60.0)
    assert not s.ci and not s.github_actions and not s.in_ci


@pytest.mark.parametrize("name", ["INPUT_AUTH-TOKEN", "INPUT_AUTH_TOKEN", "RUNT_API_KEY"])
def test_auth_token_spellings(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "Zq9-secret")
    token = load_settings().auth_token
    assert isinstance(token, SecretStr) and token.get_secret_value() == "Zq9-secret"
    assert load_settings().token == "Zq9-secret"
    assert "Zq9" not in repr(load_settings())


def test_generic_auth_token_alone_stays_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray AUTH_TOKEN (issue 13) must not send the run to the hosted service."""
    monkeypatch.setenv("AUTH_TOKEN", "Zq9-stray")
    s = load_settings()
    assert s.auth_token is None and s.token is None and s.stray_auth_token
    assert "Zq9" not in repr(s)
    with_url = load_settings(sync_url="ws://127.0.0.1:1/livestore")
    assert with_url.token == "Zq9-stray" and not with_url.stray_auth_token
    monkeypatch.setenv("RUNT_API_KEY", "Zq9-key")
    keyed = load_settings()
    assert keyed.token == "Zq9-key" and not keyed.stray_auth_token


@pytest.mark.parametrize("value", ["../../x", "a" * 65, "-x", "a b", "é", "a/b", "x\n"])
def test_notebook_id_shape(value: str) -> None:
    with pytest.raises(UsageError) as info:
        load_settings(notebook_id=value)
    assert "input 'notebook-id'" in str(info.value) and "1-64 letters" in str(info.value)


@pytest.mark.parametrize("value", ["a", "nb_1-x", "A" * 64, "automation-abc-123"])
def test_notebook_ids_that_are_fine(value: str) -> None:
    assert load_settings(notebook_id=value).notebook_id == value


def test_kernel_implies_the_native_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(kernel="python3").runtime == "python"
    assert load_settings(kernel="python3", runtime="python").kernel == "python3"
    with pytest.raises(UsageError, match="needs runtime 'python'"):
        load_settings(kernel="python3", runtime="pyodide")
    monkeypatch.setenv("INPUT_RUNTIME", "pyodide")
    with pytest.raises(UsageError, match="needs runtime 'python'"):
        load_settings(kernel="python3")
    with pytest.raises(UsageError, match="not a kernelspec name"):
        load_settings(kernel="../evil", runtime="python")


def test_papermill_settings_defaults_and_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.log_output is True and s.cwd is None and s.kernel is None and not s.prepare_only
    monkeypatch.setenv("INPUT_LOG-OUTPUT", "false")
    monkeypatch.setenv("INPUT_CWD", "/tmp")
    assert load_settings().log_output is False
    assert str(load_settings().cwd) == "/tmp"


def test_action_input_wins_over_plain_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNT_API_KEY", "ambient")
    monkeypatch.setenv("INPUT_AUTH-TOKEN", "input")
    monkeypatch.setenv("LIVESTORE_SYNC_URL", "ws://ambient/livestore")
    monkeypatch.setenv("INPUT_SYNC-URL", "ws://input/livestore")
    monkeypatch.setenv("NOTEBOOK_ID", "nb_ambient")
    s = load_settings()
    assert s.auth_token is not None and s.auth_token.get_secret_value() == "input"
    assert s.sync_url == "ws://input/livestore"
    assert s.notebook_id == "nb_ambient"


def test_empty_inputs_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner passes every declared input, empty when the workflow did not set it.
    for name in ("INPUT_SYNC-URL", "INPUT_RUNTIME", "INPUT_CELL-TIMEOUT", "INPUT_MOUNTS"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("LIVESTORE_SYNC_URL", "ws://x/livestore")
    s = load_settings()
    assert s.sync_url == "ws://x/livestore"
    assert s.runtime == "pyodide" and s.cell_timeout == 600.0 and s.mounts == []


def test_github_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "o.txt"))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("CI", "true")
    s = load_settings()
    assert s.github_step_summary == tmp_path / "s.md"
    assert s.github_output == tmp_path / "o.txt"
    assert s.github_workspace == tmp_path
    assert s.ci and s.github_actions and s.in_ci


def test_multiline_inputs_become_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_MOUNTS", "data\n\n  ./more  \n")
    monkeypatch.setenv("INPUT_SECRET-PARAMETERS", "token\ndb=DB_PASSWORD")
    s = load_settings()
    assert s.mounts == ["data", "./more"]
    assert s.secret_parameters == ["token", "db=DB_PASSWORD"]


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_RUNTIME", "python")
    monkeypatch.setenv("INPUT_CELL-TIMEOUT", "30")
    monkeypatch.setenv("INPUT_STOP-ON-ERROR", "false")
    s = load_settings(runtime="none", cell_timeout=5.0, stop_on_error=None)
    assert s.runtime == "none" and s.cell_timeout == 5.0
    assert s.stop_on_error is False  # None means "flag not given"


def test_zero_timeout_means_no_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_TIMEOUT", "0")
    monkeypatch.setenv("INPUT_CELL_TIMEOUT", "0")
    monkeypatch.setenv("INPUT_STARTUP-TIMEOUT", "2.5")
    assert load_settings().timeouts() == Timeouts(cell=None, notebook=None, startup=2.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INPUT_RUNTIME", "deno", "invalid input 'runtime' 'deno': Input should be"),
        ("INPUT_STOP-ON-ERROR", "maybe", "invalid input 'stop-on-error' 'maybe'"),
        ("INPUT_CELL-TIMEOUT", "-1", "invalid input 'cell-timeout' '-1': must be 0"),
        ("INPUT_TIMEOUT", "soon", "invalid input 'timeout' 'soon'"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as info:
        load_settings()
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_every_action_input_is_a_setting_and_mapped_in_runs_env() -> None:
    inputs = ACTION["inputs"]
    assert set(inputs) == set(INPUTS)
    env = ACTION["runs"]["env"]
    for name in inputs:
        assert env[f"INPUT_{name.upper()}"] == "${{ inputs." + name + " }}"
        assert INPUTS[name] in Settings.model_fields


def test_action_defaults_equal_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults live in Settings; action.yml only repeats them for the Marketplace page."""
    for name, spec in ACTION["inputs"].items():
        if "default" in spec:
            monkeypatch.setenv(f"INPUT_{name.upper()}", str(spec["default"]))
    assert load_settings() == Settings()


def test_bare_field_names_in_the_environment_are_not_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"TIMEOUT": "5", "OUTPUT": "x.ipynb", "RUNTIME": "python"}.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == Settings()


def test_field_names_work_as_keyword_arguments_and_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_CELL_TIMEOUT", "7")
    monkeypatch.setenv("RUNT_API_KEY", "from-env")
    s = Settings(cell_timeout=3, auth_token="from-flag")
    assert s.cell_timeout == 3.0
    assert s.auth_token is not None and s.auth_token.get_secret_value() == "from-flag"
    with pytest.raises(UsageError, match=r"^invalid input 'runtime' 'deno'"):
        load_settings(runtime="deno")
