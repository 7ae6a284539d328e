"""Every action input in one pydantic-settings model; defaults live here and nowhere else.

GitHub passes an input ``auth-token`` as ``INPUT_AUTH-TOKEN`` (upper-cased, hyphen kept);
we also accept ``INPUT_AUTH_TOKEN`` and the plain variables runt-eval used (``RUNT_API_KEY``,
``LIVESTORE_SYNC_URL``, ``NOTEBOOK_ID``). A generic ``AUTH_TOKEN`` is kept apart
(``generic_auth_token``): it is used only with a sync URL, never to leave the embedded
server (see :attr:`Settings.token`). Empty variables count as unset,
because the runner passes every declared input, given or not. CLI flags are init arguments,
so they override the environment.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runt_action.console import PREFIX
from runt_action.errors import UsageError
from runt_action.timeouts import Timeouts

__all__ = ["INPUTS", "Runtime", "Settings", "load_settings"]

Runtime = Literal["pyodide", "python", "none"]

# Shapes (see the validators): a store id as runt-schema §5.4 allows it, and a kernelspec
# directory name as jupyter_client accepts it.
NOTEBOOK_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
KERNEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _env(*names: str) -> AliasChoices:
    """Both spellings of each ``INPUT_*`` name, plus plain fallbacks, first present wins."""
    choices: list[str] = []
    for name in names:
        variants = [name, name.replace("-", "_")] if name.startswith("INPUT_") else [name]
        choices.extend(v for v in variants if v not in choices)
    return AliasChoices(*choices)


def _input(name: str, *fallbacks: str) -> AliasChoices:
    return _env(f"INPUT_{name.upper()}", *fallbacks)


# The action inputs (kebab-case, as in action.yml) and the settings field each one sets.
INPUTS: dict[str, str] = {
    "notebook": "notebook",
    "parameters": "parameters",
    "parameters-file": "parameters_file",
    "secret-parameters": "secret_parameters",
    "auth-token": "auth_token",
    "sync-url": "sync_url",
    "notebook-id": "notebook_id",
    "app-url": "app_url",
    "runtime": "runtime",
    "timeout": "timeout",
    "cell-timeout": "cell_timeout",
    "startup-timeout": "startup_timeout",
    "stop-on-error": "stop_on_error",
    "on-error": "on_error",
    "only": "only",
    "sweep": "sweep",
    "jobs": "jobs",
    "output": "output",
    "summary": "summary",
    "mounts": "mounts",
    "mount-readonly": "mount_readonly",
    "output-dir": "output_dir",
    "validate-only": "validate_only",
    "cwd": "cwd",
    "kernel": "kernel",
    "log-output": "log_output",
    "ai-api-key": "ai_api_key",
    "ai-base-url": "ai_base_url",
    "ai-model": "ai_model",
    "ai-tools": "ai_tools",
    "max-ai-iterations": "max_ai_iterations",
    "ai-context-tokens": "ai_context_tokens",
    "sync-log": "sync_log",
    "html": "html",
    "strict": "strict",
    "packages": "packages",
    "wheelhouse": "wheelhouse",
    "requirements": "requirements",
    "uv-cache-dir": "uv_cache_dir",
    "notebooks": "notebooks",
    "junit-xml": "junit_xml",
}

ListOfStr = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_ignore_empty=True,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    # What to run
    notebook: Path | None = Field(None, validation_alias=_input("notebook"))
    parameters: str | None = Field(None, validation_alias=_input("parameters"))
    parameters_file: Path | None = Field(None, validation_alias=_input("parameters-file"))
    params: ListOfStr = Field(default_factory=list, validation_alias=_env("RUNT_PARAMS"))
    secret_parameters: ListOfStr = Field(
        default_factory=list, validation_alias=_input("secret-parameters")
    )
    # papermill's -y (YAML mappings, typed by the YAML 1.2 core schema) and -r (raw strings,
    # "NAME=VALUE"); CLI only.
    yaml_params: ListOfStr = Field(default_factory=list, validation_alias=_env("RUNT_YAML_PARAMS"))
    raw_params: ListOfStr = Field(default_factory=list, validation_alias=_env("RUNT_RAW_PARAMS"))

    # Where to run it
    auth_token: SecretStr | None = Field(
        None, validation_alias=_input("auth-token", "RUNT_API_KEY")
    )
    # A stray AUTH_TOKEN is common in CI environments: alone it must not send the run to the
    # hosted service, so it only serves a sync URL given explicitly.
    generic_auth_token: SecretStr | None = Field(None, validation_alias=_env("AUTH_TOKEN"))
    sync_url: str | None = Field(None, validation_alias=_input("sync-url", "LIVESTORE_SYNC_URL"))
    notebook_id: str | None = Field(None, validation_alias=_input("notebook-id", "NOTEBOOK_ID"))
    app_url: str | None = Field(None, validation_alias=_input("app-url", "RUNT_APP_URL"))
    runtime: Runtime = Field("pyodide", validation_alias=_input("runtime"))
    # The kernel's working directory (papermill --cwd); default: the workspace.
    cwd: Path | None = Field(None, validation_alias=_input("cwd"))
    # A Jupyter kernelspec name for the native runtime (papermill -k); implies runtime python.
    kernel: str | None = Field(None, validation_alias=_input("kernel"))

    # How long, and what a failure means (seconds; 0 or empty = no limit)
    timeout: float | None = Field(None, validation_alias=_input("timeout"))
    cell_timeout: float | None = Field(600.0, validation_alias=_input("cell-timeout"))
    startup_timeout: float | None = Field(60.0, validation_alias=_input("startup-timeout"))
    stop_on_error: bool = Field(True, validation_alias=_input("stop-on-error"))
    # stop | skip-dependents | continue; when set it wins over stop-on-error (its alias).
    on_error: Literal["stop", "skip-dependents", "continue"] | None = Field(
        None, validation_alias=_input("on-error")
    )
    only: ListOfStr = Field(default_factory=list, validation_alias=_input("only"))
    strict: bool = Field(False, validation_alias=_input("strict"))
    # A sweep file (list of parameter sets or a matrix); wins over the notebook's `sweep:`.
    sweep: Path | None = Field(None, validation_alias=_input("sweep"))
    jobs: int = Field(1, ge=1, le=32, validation_alias=_input("jobs"))

    # What to leave behind
    output: Path | None = Field(None, validation_alias=_input("output"))
    summary: Path | None = Field(None, validation_alias=_input("summary"))
    mounts: ListOfStr = Field(default_factory=list, validation_alias=_input("mounts"))
    mount_readonly: bool = Field(False, validation_alias=_input("mount-readonly"))
    output_dir: Path | None = Field(None, validation_alias=_input("output-dir"))
    validate_only: bool = Field(False, validation_alias=_input("validate-only"))
    # Write the parameterised notebook (no outputs) to `output` and run nothing (CLI only).
    prepare_only: bool = Field(False, validation_alias=_env("RUNT_PREPARE_ONLY"))
    # Stream cell outputs into the live log (papermill --log-output); on by default.
    log_output: bool = Field(True, validation_alias=_input("log-output"))
    # The HTML report: "auto" = next to the .ipynb; a path; "false"/"off"/"none" = no report.
    html: str = Field("auto", validation_alias=_input("html"))
    # `--view [PORT]` (CLI only): serve the live viewer on the embedded server (0 = any port).
    view: int | None = Field(None, ge=0, le=65535, validation_alias=_env("RUNT_VIEW_PORT"))
    # Opt-in: the embedded server's event log on disk (raw outputs, secrets scrubbed).
    sync_log: Path | None = Field(None, validation_alias=_input("sync-log"))

    # Packages the notebook needs, on top of its metadata.packages (runt_action/packages.py)
    packages: ListOfStr = Field(default_factory=list, validation_alias=_input("packages"))
    wheelhouse: Path | None = Field(None, validation_alias=_input("wheelhouse"))
    # The python runtime's own environment, made with uv (runt_action/agents/uvenv.py)
    requirements: Path | None = Field(None, validation_alias=_input("requirements"))
    uv_cache_dir: Path | None = Field(None, validation_alias=_input("uv-cache-dir"))

    # A suite (`runt-automate test`): notebooks, directories or globs, one per line; and
    # where its JUnit XML goes.
    notebooks: ListOfStr = Field(default_factory=list, validation_alias=_input("notebooks"))
    junit_xml: Path | None = Field(None, validation_alias=_input("junit-xml"))

    # AI cells (agents/executors/ai.py): an OpenAI-compatible endpoint, in the variables its
    # SDKs read; the key comes from the environment only (never a flag), and is a secret.
    ai_api_key: SecretStr | None = Field(
        None, validation_alias=_input("ai-api-key", "OPENAI_API_KEY")
    )
    ai_base_url: str | None = Field(None, validation_alias=_input("ai-base-url", "OPENAI_BASE_URL"))
    ai_model: str | None = Field(None, validation_alias=_input("ai-model"))
    # none | create | execute; unset: none in CI (nobody reviews), create elsewhere.
    ai_tools: Literal["none", "create", "execute"] | None = Field(
        None, validation_alias=_input("ai-tools")
    )
    max_ai_iterations: int = Field(
        10, ge=1, le=100, validation_alias=_input("max-ai-iterations", "AI_MAX_ITERATIONS")
    )
    ai_context_tokens: int = Field(
        16000, ge=100, le=2_000_000, validation_alias=_input("ai-context-tokens")
    )

    # The GitHub runner's environment
    github_step_summary: Path | None = Field(None, validation_alias=_env("GITHUB_STEP_SUMMARY"))
    github_output: Path | None = Field(None, validation_alias=_env("GITHUB_OUTPUT"))
    github_workspace: Path | None = Field(None, validation_alias=_env("GITHUB_WORKSPACE"))
    ci: bool = Field(False, validation_alias=_env("CI"))
    github_actions: bool = Field(False, validation_alias=_env("GITHUB_ACTIONS"))

    def __init__(self, **values: Any) -> None:
        # Field names are accepted as keyword arguments, but never read from the environment
        # (``populate_by_name`` would make a stray $TIMEOUT or $OUTPUT an input).
        super().__init__(**{_first_alias(k): v for k, v in values.items()})

    @field_validator(
        "params",
        "yaml_params",
        "raw_params",
        "secret_parameters",
        "mounts",
        "only",
        "notebooks",
        mode="before",
    )
    @classmethod
    def _split_lines(cls, value: Any) -> Any:
        """Action inputs are strings: one item per line (commas also split names)."""
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value

    @field_validator("ai_tools", mode="before")
    @classmethod
    def _ai_tools_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("packages", mode="before")
    @classmethod
    def _split_packages(cls, value: Any) -> Any:
        """One requirement per line or comma-separated; each must parse (PEP 508)."""
        items = value if isinstance(value, list) else [value] if isinstance(value, str) else None
        if items is None or not any(str(i).strip() for i in items):
            return value
        # Only when packages are given: packaging + importlib.metadata cost ~25 ms to import.
        from runt_action.packages import parse_requirement, split_requirements

        found = [req for item in items for req in split_requirements(str(item))]
        for text in found:
            parse_requirement(text)  # ValueError -> "invalid input 'packages' ...: reason"
        return found

    @field_validator("timeout", "cell_timeout", "startup_timeout", mode="after")
    @classmethod
    def _zero_is_unlimited(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must be 0 (no limit) or a positive number of seconds")
        return value or None

    @field_validator("notebook_id", mode="after")
    @classmethod
    def _notebook_id_shape(cls, value: str | None) -> str | None:
        """The id becomes a store id, an SQLite table name and part of a URL (runt-schema
        §5.4): letters, digits, '_' and '-', at most 64, starting with a letter or digit."""
        if value is not None and not NOTEBOOK_ID_PATTERN.fullmatch(value):
            raise ValueError(
                "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("kernel", mode="after")
    @classmethod
    def _kernel_name(cls, value: str | None) -> str | None:
        if value is not None and not KERNEL_NAME_PATTERN.fullmatch(value):
            raise ValueError("not a kernelspec name (letters, digits, '.', '_', '-')")
        return value

    @field_validator("runtime", "on_error", mode="before")
    @classmethod
    def _runtime_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def token(self) -> str | None:
        """The token to use: ``auth-token``/``RUNT_API_KEY``, else a generic ``AUTH_TOKEN``
        only when a sync URL is given (alone it must not select the hosted service)."""
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.generic_auth_token is not None and self.sync_url:
            return self.generic_auth_token.get_secret_value()
        return None

    @property
    def stray_auth_token(self) -> bool:
        """A generic ``AUTH_TOKEN`` is set but nothing says where to sync: it is ignored."""
        return self.generic_auth_token is not None and self.auth_token is None and not self.sync_url

    def timeouts(self) -> Timeouts:
        return Timeouts(cell=self.cell_timeout, notebook=self.timeout, startup=self.startup_timeout)

    @property
    def error_mode(self) -> Literal["stop", "skip-dependents", "continue"]:
        """``on-error`` when given, else what ``stop-on-error`` says."""
        if self.on_error is not None:
            return self.on_error
        return "stop" if self.stop_on_error else "continue"

    @property
    def in_ci(self) -> bool:
        return self.ci or self.github_actions

    @property
    def ai_tool_policy(self) -> Literal["none", "create", "execute"]:
        """``ai-tools``, else none in CI (an unattended run) and create elsewhere."""
        if self.ai_tools is not None:
            return self.ai_tools
        return "none" if self.in_ci else "create"


def _first_alias(name: str) -> str:
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return name


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (CLI flags; None = not given) on top.

    Invalid values become one-line :class:`UsageError`s naming the action input.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
        if settings.kernel is not None and "runtime" not in settings.model_fields_set:
            # -k names a Jupyter kernel: only the native runtime has those.
            settings = settings.model_copy(update={"runtime": "python"})
        elif settings.kernel is not None and settings.runtime != "python":
            raise UsageError(
                f"input 'kernel' ({settings.kernel}) needs runtime 'python' (a Jupyter "
                f"kernel); runtime is {settings.runtime!r}"
            )
        return _map_notebook_path(settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        name = _input_name(field)
        value = error.get("input")
        secret = field in ("auth_token", "ai_api_key")
        shown = "" if secret or isinstance(value, dict) else f" {value!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise UsageError(f"invalid {name}{shown}: {message}") from None


def _map_notebook_path(settings: Settings) -> Settings:
    """A notebook given as the runner's host path (``${{ github.workspace }}/nb.yml``, which
    does not exist in the action's container) is read from the workspace mount; one that
    cannot be mapped is refused with a one-line hint (exit 2). See runt_action/workspace.py."""
    if settings.notebook is None or settings.github_workspace is None:
        return settings
    from runt_action.workspace import HostPathError, map_host_path

    try:
        mapped = map_host_path(settings.notebook)
    except HostPathError as exc:
        raise UsageError(str(exc)) from None
    if mapped == settings.notebook:
        return settings
    print(
        f"{PREFIX}note: {settings.notebook} is the runner's path of the workspace; "
        f"reading {mapped} (the workspace mounted in this container)",
        file=sys.stderr,
    )
    return settings.model_copy(update={"notebook": mapped})


def _input_name(field_or_alias: str) -> str:
    for name, field in INPUTS.items():
        if field_or_alias == field or field_or_alias.upper() in (
            f"INPUT_{name.upper()}",
            f"INPUT_{name.upper().replace('-', '_')}",
        ):
            return f"input '{name}'"
    return f"setting '{field_or_alias}'"
