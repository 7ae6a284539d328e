"""Parameters: merge the sources, render the injected cell, and keep secrets out of it.

Merge order (later wins): document defaults < parameters file (``-f``) < ``-y YAML`` <
inline ``-p k=v`` < raw ``-r k v`` < the action input ``parameters``. ``-p`` values are typed
as papermill's command line types them (:func:`papermill_value`); ``-y`` documents and ``-f``
files by the YAML 1.2 core schema (:mod:`.core12`), with a warning for each value papermill's
YAML 1.1 reading would type differently.

What the injected cell assigns (:func:`injected_parameters`): for a notebook with a parameters
cell of its own (a Jupyter notebook) only the parameters given for this run, as papermill does,
so later statements of that cell still see their defaults; a YAML notebook's ``parameters:``
mapping has no cell of its own, so its defaults are assigned there too.

Secret parameters never become literals: the cell reads them from
environment variables the runtime receives (:func:`secret_env`), so their values appear in
no cell, event, summary or artifact.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runt_action.errors import ParameterError, UsageError
from runt_action.notebook.literals import (
    BadValue,
    check_name,
    check_value,
    python_literal,
    shown,
)
from runt_action.notebook.model import (
    PARAMETERS_CELL_ID,
    SECRET_ENV_PREFIX,
    Notebook,
    NotebookCell,
)
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
    "given_parameters",
    "injected_parameters",
    "load_parameters_file",
    "masked_parameters",
    "papermill_value",
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

MASK = "***"
_HEADER = "# Parameters"  # papermill's header, so the injected cell reads the same
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
    """The merged parameters (the notebook's defaults, then :func:`given_parameters`); warns
    (one line each) about names the notebook does not declare."""
    given = given_parameters(
        notebook,
        parameters_file=parameters_file,
        inline=inline,
        action_input=action_input,
        warn=warn,
        yaml_texts=yaml_texts,
        raw=raw,
    )
    return {**notebook.parameters, **given}


def given_parameters(
    notebook: Notebook,
    *,
    parameters_file: str | Path | None = None,
    inline: Sequence[str] = (),
    action_input: str | None = None,
    warn: Callable[[str], None] | None = None,
    yaml_texts: Sequence[str] = (),
    raw: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters given for this run (file, ``-y``, ``-p``, ``-r``, the action input),
    merged in that order, without the notebook's defaults; warns (one line each) about names
    the notebook does not declare."""
    warn = warn or _stderr_warning
    overrides: dict[str, Any] = {}
    if parameters_file is not None:
        overrides.update(load_parameters_file(parameters_file, warn=warn))
    for text in yaml_texts:
        overrides.update(parse_yaml_option(text, warn=warn))
    overrides.update(parse_inline(inline))
    overrides.update(parse_inline(raw, flag="-r", typed=False))
    if action_input is not None and action_input.strip():
        overrides.update(parse_action_parameters(action_input))
    for name in overrides:
        if name not in notebook.parameters:
            warn(f"parameter '{name}' is not declared in {notebook.path}; passing it anyway")
    return overrides


def injected_parameters(notebook: Notebook, given: Mapping[str, Any]) -> dict[str, Any]:
    """What the injected parameters cell assigns: ``given`` (the parameters given for this run,
    sweep sets included), preceded by the defaults no cell of the notebook assigns itself.

    A Jupyter notebook's defaults come from its own cells: the cell tagged ``parameters``
    (never repeated after it, so ``b = 1`` then ``b = b * 10`` in that cell still gives 10,
    as with papermill) and an ``injected-parameters`` cell left by an earlier run. papermill
    keeps that cell as it is when no parameter is given and replaces it otherwise; here its
    values are the defaults the parameters cell does not hold (same name and value), so they
    are assigned again only when nothing is given. A YAML notebook's ``parameters:`` mapping
    has no cell: its defaults are assigned here, except those the cell ``parameters-after``
    names assigns as the same literal (a Jupyter parameters cell kept in a converted file)."""
    from runt_action.notebook.ipynb_input import is_ipynb, parameter_defaults

    after = notebook.parameters_after
    own: dict[str, Any] = {}
    if after is not None:
        cell = next((c for c in notebook.cells if c.id == after), None)
        if cell is not None and cell.celltype == "code":
            own = parameter_defaults(cell.source) or {}
    result: dict[str, Any] = {}
    if not (given and is_ipynb(notebook.path)):
        result = {
            name: value
            for name, value in notebook.parameters.items()
            if name not in own or not _same_value(own[name], value)
        }
    result.update(given)
    return result


def _same_value(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout (``1`` is not ``True`` nor ``1.0``), nan = nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_value(a[k], b[k]) for k in a)
    return bool(a == b)


def load_parameters_file(
    path: str | Path, *, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """A YAML or JSON mapping of parameters, checked like the notebook's own and typed by the
    YAML 1.2 core schema (``yes`` stays text), with a warning for each value papermill's
    YAML 1.1 reading of the same file would type differently."""
    path = Path(path)
    try:
        text = read_source(path)
    except SourceError as exc:
        raise exc.located(ParameterError, path) from None
    if path.suffix.lower() == ".json":
        data = _mapping_from_json(text, str(path))
    else:
        data = _mapping_from_text(text, str(path), core12=True)
    warn_papermill_yaml(text, data, str(path), warn or _stderr_warning)
    return data


def _mapping_from_json(text: str, name: str) -> dict[str, Any]:
    """JSON checked by ``json``; positions come from the YAML parser when it can read it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"JSON syntax error: {exc.msg}", file=name, line=exc.lineno, column=exc.colno
        ) from None
    except (RecursionError, ValueError):
        # Too deep, or a 5000-digit number: the bounded YAML parser says where (its YAML 1.1
        # reading refuses such a number, where the core schema would keep it as text).
        return _mapping_from_text(text, name)
    try:
        return _mapping_from_text(text, name, core12=True)
    except ParameterError as exc:
        if "YAML syntax error" not in exc.message:
            raise
    # Valid JSON that PyYAML cannot read (tabs, YAML 1.1 quirks): check it without marks.
    return _checked_mapping(Located(data=data), name)


def parse_action_parameters(text: str) -> dict[str, Any]:
    """The action input ``parameters``: a YAML (or JSON) mapping given as a string."""
    return _mapping_from_text(text, ACTION_INPUT_NAME)


def _mapping_from_text(text: str, name: str, *, core12: bool = False) -> dict[str, Any]:
    try:
        located = parse_yaml(text, core12=core12)
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


def parse_yaml_option(
    text: str, name: str = "-y", *, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """papermill's ``-y``: a YAML mapping given as a string, typed by the YAML 1.2 core schema
    (``014`` is 14, ``NO`` and ``yes`` stay strings), with a warning for each value papermill's
    YAML 1.1 reading would type differently."""
    try:
        located = parse_yaml(text, core12=True)
    except SourceError as exc:
        raise exc.located(ParameterError, name) from None
    data = _checked_mapping(located, name)
    warn_papermill_yaml(text, data, name, warn or _stderr_warning)
    return data


MAX_YAML11_WARNINGS = 5  # then one line says how many more


def warn_papermill_yaml(
    text: str, data: Mapping[str, Any], name: str, warn: Callable[[str], None]
) -> None:
    """One line per value that papermill, which reads ``-y``/``-f`` as YAML 1.1 (PyYAML,
    without timestamps), would type differently from the YAML 1.2 core reading used here:
    ``yes``/``no``/``on``/``off`` (bools there), ``010`` (octal 8), ``0o7`` and ``1e3`` (text
    there), ``1_000`` (1000), ``1:30`` (sexagesimal 90), ..."""
    if not data:
        return
    try:
        old = parse_yaml(text).data  # YAML 1.1, bounded like the first reading
    except SourceError:
        return  # e.g. a YAML 1.1 timestamp that is no date (2020-13-45): nothing to compare
    if not isinstance(old, dict):
        return
    found = list(_yaml11_differences(data, old, ""))
    for path, ours, theirs in found[:MAX_YAML11_WARNINGS]:
        where = path if path.startswith("the ") else f"parameter {path}"
        warn(f"{name}: {where} is {ours} (YAML 1.2 core); papermill's YAML 1.1 reads {theirs}")
    if len(found) > MAX_YAML11_WARNINGS:
        more = len(found) - MAX_YAML11_WARNINGS
        warn(f"{name}: {more} more value(s) that papermill's YAML 1.1 reads differently")


def _yaml11_differences(ours: Any, theirs: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(ours, dict) and isinstance(theirs, dict) and len(ours) == len(theirs):
        for (k1, v1), (k2, v2) in zip(ours.items(), theirs.items(), strict=True):
            path = f"{where}[{k1!r}]" if where else str(k1)
            if not _same_value(k1, k2) and not _is_yaml11_date(k2):
                yield f"the key {path}", _reading(k1), _reading(k2)
            else:
                yield from _yaml11_differences(v1, v2, path)
        return
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (v1, v2) in enumerate(zip(ours, theirs, strict=True)):
            yield from _yaml11_differences(v1, v2, f"{where}[{i}]")
        return
    if _same_value(ours, theirs) or (isinstance(ours, str) and _is_yaml11_date(theirs)):
        return  # papermill's loader leaves timestamps as text
    yield where or "the document", _reading(ours), _reading(theirs)


def _is_yaml11_date(value: object) -> bool:
    import datetime

    return isinstance(value, datetime.date)


def _reading(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, dict | list):
        return f"a {kind}"
    return f"{shown(value, 40)} ({kind})"


def parse_inline(items: Sequence[str], *, flag: str = "-p", typed: bool = True) -> dict[str, Any]:
    """``-p NAME=VALUE`` items; values typed as papermill's command line types them
    (:func:`papermill_value`), everything else the text as given, quotes, newlines and ``#``
    kept. With ``typed=False`` (``-r``) every value is the text as given.

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
        result[name] = papermill_value(raw) if typed else raw
    return result


def papermill_value(text: str) -> Any:
    """A ``-p`` value typed exactly as papermill's command line types it: ``True``/``False``
    (only those spellings) are bools, ``None`` is None, then whatever ``int()`` accepts is an
    int (``014``, ``1_000``, `` 7 ``), whatever ``float()`` accepts a float (``1e3``, ``inf``,
    ``nan``, ``-Infinity``), and anything else the text as given (``true``, ``null``, ``''``,
    ``0x1F``, ``'014'`` with its quotes). ``-r`` gives text always."""
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    try:
        return int(text)
    except ValueError:  # also: more digits than int() converts (papermill: then a float)
        pass
    try:
        return float(text)
    except ValueError:
        return text


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
    """The injected cell (id ``parameters``) assigning ``params`` (see
    :func:`injected_parameters` for which) and the secrets, or None when there is nothing to
    inject."""
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
