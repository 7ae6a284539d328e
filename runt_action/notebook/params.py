"""Parameters: merge the sources, render the injected cell, and keep secrets out of it.

Merge order (later wins): document defaults < parameters file (``-f``) < ``-y YAML`` <
inline ``-p k=v`` < raw ``-r k v`` < the action input ``parameters``. ``-p`` values and ``-y``
documents are typed by the YAML 1.2 core schema (:mod:`.core12`), as papermill users expect.

Secret parameters never become literals: the cell reads them from
environment variables the runtime receives (:func:`secret_env`), so their values appear in
no cell, event, summary or artifact.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action.errors import ParameterError, UsageError
from runt_action.notebook.core12 import resolve_core12
from runt_action.notebook.literals import (
    BadValue,
    check_name,
    check_value,
    python_literal,
    shown,
)
from runt_action.notebook.model import PARAMETERS_CELL_ID, Notebook, NotebookCell
from runt_action.notebook.yamlsrc import (
    Located,
    SourceError,
    check_text,
    parse_yaml,
    read_source,
)

if TYPE_CHECKING:
    from runt_action.settings import Settings

__all__ = [
    "SECRET_ENV_PREFIX",
    "SecretSpec",
    "load_parameters_file",
    "masked_parameters",
    "parameters_cell",
    "parse_action_parameters",
    "parse_inline",
    "parse_secret_specs",
    "parse_yaml_option",
    "render_parameters_cell",
    "resolve_parameters",
    "secret_env",
    "secret_names",
]

SECRET_ENV_PREFIX = "RUNT_SECRET_"
MASK = "***"
_HEADER = "# Parameters injected by runt automate"
ACTION_INPUT_NAME = "<input parameters>"


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def resolve_parameters(
    notebook: Notebook,
    *,
    parameters_file: str | Path | None = None,
    inline: Sequence[str] = (),
    action_input: str | None = None,
    warn: Callable[[str], None] | None = None,
    yaml_texts: Sequence[str] = (),
    raw: Sequence[str] = (),
) -> dict[str, Any]:
    """The merged parameters; warns (one line each) about names the notebook does not declare."""
    warn = warn or _stderr_warning
    merged: dict[str, Any] = dict(notebook.parameters)
    overrides: dict[str, Any] = {}
    if parameters_file is not None:
        overrides.update(load_parameters_file(parameters_file))
    for text in yaml_texts:
        overrides.update(parse_yaml_option(text))
    overrides.update(parse_inline(inline))
    overrides.update(parse_inline(raw, flag="-r", typed=False))
    if action_input is not None and action_input.strip():
        overrides.update(parse_action_parameters(action_input))
    for name in overrides:
        if name not in notebook.parameters:
            warn(f"parameter '{name}' is not declared in {notebook.path}; passing it anyway")
    merged.update(overrides)
    return merged


def load_parameters_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of parameters, checked like the notebook's own."""
    path = Path(path)
    try:
        text = read_source(path)
    except SourceError as exc:
        raise exc.located(ParameterError, path) from None
    if path.suffix.lower() == ".json":
        return _mapping_from_json(text, str(path))
    return _mapping_from_text(text, str(path))


def _mapping_from_json(text: str, name: str) -> dict[str, Any]:
    """JSON checked by ``json``; positions come from the YAML parser when it can read it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"JSON syntax error: {exc.msg}", file=name, line=exc.lineno, column=exc.colno
        ) from None
    except (RecursionError, ValueError):
        # Too deep, or a 5000-digit number: the bounded YAML parser says where.
        return _mapping_from_text(text, name)
    try:
        return _mapping_from_text(text, name)
    except ParameterError as exc:
        if "YAML syntax error" not in exc.message:
            raise
    # Valid JSON that PyYAML cannot read (tabs, YAML 1.1 quirks): check it without marks.
    return _checked_mapping(Located(data=data), name)


def parse_action_parameters(text: str) -> dict[str, Any]:
    """The action input ``parameters``: a YAML (or JSON) mapping given as a string."""
    return _mapping_from_text(text, ACTION_INPUT_NAME)


def _mapping_from_text(text: str, name: str) -> dict[str, Any]:
    try:
        located = parse_yaml(text)
    except SourceError as exc:
        raise exc.located(ParameterError, name) from None
    return _checked_mapping(located, name)


def _checked_mapping(located: Located, name: str) -> dict[str, Any]:
    data = located.data
    if data is None:
        return {}
    if not isinstance(data, dict):
        mark = located.root
        raise ParameterError(
            "parameters must be a mapping of name: value",
            file=name,
            line=mark.line,
            column=mark.column,
        )
    _check_mapping(data, located, name)
    return data


def _check_mapping(data: Mapping[Any, Any], located: Located, name: str) -> None:
    for key, value in data.items():
        try:
            check_name(key)
            check_value(value)
        except BadValue as exc:
            mark = located.mark((key, *exc.path), key=exc.key)
            message = exc.message if exc.key and not exc.path else f"parameter '{key}': {exc}"
            raise ParameterError(message, file=name, line=mark.line, column=mark.column) from None


def parse_yaml_option(text: str, name: str = "-y") -> dict[str, Any]:
    """papermill's ``-y``: a YAML mapping given as a string, typed by the YAML 1.2 core schema
    (``014`` is 14, ``NO`` and ``yes`` stay strings)."""
    try:
        located = parse_yaml(text, core12=True)
    except SourceError as exc:
        raise exc.located(ParameterError, name) from None
    return _checked_mapping(located, name)


def parse_inline(items: Sequence[str], *, flag: str = "-p", typed: bool = True) -> dict[str, Any]:
    """``-p NAME=VALUE`` items; values typed by the YAML 1.2 core schema (int, float,
    true/false, null), a quoted value is a string, everything else the text as given,
    newlines and ``#`` kept. With
    ``typed=False`` (``-r``) every value is the text as given.

    Bounded like a file: at most ``MAX_INPUT_BYTES``, no control characters."""
    result: dict[str, Any] = {}
    for item in items:
        try:
            check_text(item)
        except SourceError as exc:
            at = f" at column {exc.mark.column}" if exc.mark.line == 1 else ""
            raise ParameterError(f"{flag} {shown(item)}: {exc.message}{at}") from None
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"{flag} {shown(item)}: expected NAME=VALUE or NAME VALUE")
        try:
            check_name(name)
        except BadValue as exc:
            raise ParameterError(f"{flag} {shown(item)}: {exc.message}") from None
        result[name] = _typed(raw) if typed else raw
    return result


def _typed(raw: str) -> Any:
    """A YAML 1.2 core scalar; a value wholly in YAML quotes ('014', "a\\tb") is that string,
    the way to force text. Anything else that is not a number, bool or null: the text."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        try:
            value = parse_yaml(raw, core12=True).data  # bounded: size, characters
        except SourceError:
            return raw
        return value if isinstance(value, str) else raw
    return resolve_core12(raw)


@dataclass(frozen=True, slots=True)
class SecretSpec:
    name: str  # the Python name inside the notebook
    source: str  # the environment variable the value comes from

    @property
    def runtime_env(self) -> str:
        """The variable the runtime reads; independent of ``source`` so it can be fixed."""
        return SECRET_ENV_PREFIX + self.name


def parse_secret_specs(items: Sequence[str]) -> list[SecretSpec]:
    """``NAME`` (read from ``$NAME``) or ``NAME=ENV_VAR``; commas or newlines separate."""
    specs: dict[str, SecretSpec] = {}
    for chunk in items:
        for part in chunk.replace(",", "\n").splitlines():
            part = part.strip()
            if not part:
                continue
            name, _, source = (s.strip() for s in part.partition("="))
            try:
                check_name(name)
            except BadValue as exc:
                raise UsageError(f"secret-parameters: {exc.message}") from None
            specs[name] = SecretSpec(name, source or name)
    return list(specs.values())


def secret_names(settings: Settings) -> list[str]:
    return [spec.name for spec in parse_secret_specs(settings.secret_parameters)]


def secret_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables the runtime must receive for the secret parameters."""
    environ = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for spec in parse_secret_specs(settings.secret_parameters):
        if spec.source not in environ:
            raise UsageError(
                f"secret parameter '{spec.name}': environment variable {spec.source} is not set"
            )
        result[spec.runtime_env] = environ[spec.source]
    return result


def render_parameters_cell(params: Mapping[str, Any], secret_names: Sequence[str] = ()) -> str:
    """Python source assigning every parameter; secrets are read from the environment."""
    secrets = list(dict.fromkeys(secret_names))
    lines = [_HEADER]
    for name, value in params.items():
        if name in secrets:
            continue
        check_name(name)
        check_value(value)
        lines.append(f"{name} = {python_literal(value)}")
    for name in secrets:
        check_name(name)
        env = python_literal(SECRET_ENV_PREFIX + name)
        lines.append(f'{name} = __import__("os").environ[{env}]')
    return "\n".join(lines) + "\n"


def parameters_cell(
    params: Mapping[str, Any], secret_names: Sequence[str] = ()
) -> NotebookCell | None:
    """The injected first cell (id ``parameters``), or None when there is nothing to inject."""
    if not params and not secret_names:
        return None
    source = render_parameters_cell(params, secret_names)
    return NotebookCell.model_construct(
        id=PARAMETERS_CELL_ID,
        celltype="code",
        source=source,
        timeout=None,
        retries=0,
        allow_error=False,
        if_=None,
        line=0,
    )


def masked_parameters(params: Mapping[str, Any], secret_names: Sequence[str]) -> dict[str, Any]:
    """Parameters safe to show in a summary: secret values replaced by a mask."""
    shown = {k: v for k, v in params.items() if k not in secret_names}
    shown.update(dict.fromkeys(secret_names, MASK))
    return shown
