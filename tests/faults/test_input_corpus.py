"""A generated corpus of malformed input: every case is one located line, exit 2, promptly.

Mutations of the example notebooks (keys deleted, duplicated, wrongly typed; bad, path-like,
huge and unicode ids; bad ``if:``), byte-level damage (NUL, control characters, invalid UTF-8,
BOMs), bombs (aliases, nesting, node counts), special files (FIFO, directory, character
device, socket, 11 MB files), bad parameter files, ``-p`` values and ``parameters`` inputs.

Each case runs in-process through ``cli.main`` (fast) and must give: exit code 2, nothing on
stdout, exactly one line on stderr that names its source (``file:line:col: `` for files), no
traceback, no "internal error", within 2 s. Cases that could hang the test process if the
bounds regressed (FIFO, /dev/zero, bombs) also run in a real subprocess with a timeout.
The pass rate is printed (``pytest -s``) and must be 100%.
"""

from __future__ import annotations

import copy
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runt_action.cli import main
from runt_action.notebook.yamlsrc import MAX_NODES

ROOT = Path(__file__).resolve().parents[2]
BASES = {
    "example": ROOT / "notebooks" / "example.yml",
    "stdlib": ROOT / "notebooks" / "example-stdlib.yml",
    "options": ROOT / "tests" / "fixtures" / "good" / "all-options.yml",
    "minimal": ROOT / "tests" / "fixtures" / "good" / "minimal.yml",
}
GOOD = BASES["minimal"]
ACTION_INPUT = "<input parameters>"
LIMIT_S = 2.0  # each case, in-process
SUBPROCESS_LIMIT_S = 20.0  # includes interpreter start-up on a loaded 2-core machine
_PLAIN_ENV = ("AUTH_TOKEN", "RUNT_API_KEY", "LIVESTORE_SYNC_URL", "NOTEBOOK_ID", "CI", "RUNT_DEBUG")


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    source: str  # what the one line must start with: a path, "-p ", or ACTION_INPUT
    located: bool = True  # ":line:col: " follows the source
    expect: str = ""  # a piece of the message, when the case is about one message


# -- building blocks ---------------------------------------------------------------------


def _validate(notebook: Path, *extra: str) -> list[str]:
    return [str(notebook), "--validate", *extra]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _code_cells(data: dict[str, Any]) -> list[int]:
    return [i for i, c in enumerate(data["cells"]) if c.get("celltype", "code") == "code"]


def _set_cell(key: str, value: Any, which: int = 0) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> Any:
        data["cells"][_code_cells(data)[which]][key] = value
        return data

    return mutate


def _del_cell(key: str) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> Any:
        del data["cells"][_code_cells(data)[0]][key]
        return data

    return mutate


def _top(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> Any:
        data[key] = value
        return data

    return mutate


def _param(name: Any, value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> Any:
        data.setdefault("parameters", {})
        data["parameters"] = {**(data["parameters"] or {}), name: value}
        return data

    return mutate


def _with_if(expr: str) -> Callable[[dict[str, Any]], Any]:
    """A new last cell with ``if: expr``; "{prev}" names the cell before it."""

    def mutate(data: dict[str, Any]) -> Any:
        prev = data["cells"][-1]["id"]
        data["cells"].append({"id": "guarded-x", "source": "1", "if": expr.format(prev=prev)})
        return data

    return mutate


def _duplicate_id(data: dict[str, Any]) -> Any:
    data["cells"].append({"id": data["cells"][0]["id"], "source": "1"})
    return data


def _if_names_a_later_cell(data: dict[str, Any]) -> Any:
    data["cells"].insert(0, {"id": "early", "source": "1", "if": "cells.late.status == 'success'"})
    data["cells"].append({"id": "late", "source": "1"})
    return data


def _drop_parameters_mapping(data: dict[str, Any]) -> Any:
    data["parameters"] = ["not", "a", "mapping"]
    return data


# Structured mutations: applied to every base notebook, then dumped back to YAML.
MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "no-cells-key": (lambda d: {k: v for k, v in d.items() if k != "cells"}, "'cells'"),
    "cells-empty": (_top("cells", []), "at least one cell"),
    "cells-mapping": (_top("cells", {"a": 1}), "cells: expected a list"),
    "cells-string": (_top("cells", "print(1)"), "cells: expected a list"),
    "cell-is-string": (lambda d: {**d, "cells": ["print(1)"]}, "expected a mapping"),
    "cell-no-id": (_del_cell("id"), "missing required key 'id'"),
    "cell-no-source": (_del_cell("source"), "missing required key 'source'"),
    "duplicate-id": (_duplicate_id, "duplicate cell id"),
    "id-int": (_set_cell("id", 7), "expected a string, got an integer"),
    "id-null": (_set_cell("id", None), "expected a string, got null"),
    "id-empty": (_set_cell("id", ""), "must be 1-64 letters"),
    "id-dotdot": (_set_cell("id", "../x"), "cell id '../x' must be"),
    "id-slash": (_set_cell("id", "a/b"), "must be 1-64 letters"),
    "id-absolute": (_set_cell("id", "/etc/passwd"), "must be 1-64 letters"),
    "id-5000": (_set_cell("id", "a" * 5000), "must be 1-64 letters"),
    "id-65": (_set_cell("id", "a" * 65), "must be 1-64 letters"),
    "id-unicode": (_set_cell("id", "ñandú"), "must be 1-64 letters"),
    "id-emoji": (_set_cell("id", "cell-😀"), "must be 1-64 letters"),
    "id-rtl": (_set_cell("id", "a\u202eb"), "must be 1-64 letters"),
    "id-space": (_set_cell("id", "my cell"), "must be 1-64 letters"),
    "id-newline": (_set_cell("id", "a\nb"), "must be 1-64 letters"),
    "id-reserved": (_set_cell("id", "parameters"), "reserved"),
    "id-leading-dash": (_set_cell("id", "-x"), "must be 1-64 letters"),
    "celltype-typo": (_set_cell("celltype", "pyton"), "invalid value 'pyton'"),
    "celltype-list": (_set_cell("celltype", ["code"]), "invalid value"),
    "source-int": (_set_cell("source", 42), "expected a string"),
    "source-null": (_set_cell("source", None), "expected a string, got null"),
    "source-list": (_set_cell("source", ["a", "b"]), "expected a string, got a list"),
    "timeout-string": (_set_cell("timeout", "ten"), "expected a number"),
    "timeout-negative": (_set_cell("timeout", -1), "greater than 0"),
    "timeout-zero": (_set_cell("timeout", 0), "greater than 0"),
    "retries-float": (_set_cell("retries", 1.5), "expected an integer"),
    "retries-many": (_set_cell("retries", 11), "less than or equal to 10"),
    "retries-negative": (_set_cell("retries", -1), "greater than or equal to 0"),
    "allow-error-string": (_set_cell("allow_error", "yes"), "expected true or false"),
    "unknown-cell-key": (_set_cell("sorce", "x"), "did you mean 'source'?"),
    "reserved-line-key": (_set_cell("line", 3), "unknown key 'line'"),
    "unknown-top-key": (_top("cels", []), "did you mean 'cells'?"),
    "metadata-list": (_top("metadata", ["a"]), "metadata: expected a mapping"),
    "metadata-typo": (_top("metadata", {"titel": "x"}), "did you mean 'title'?"),
    "tags-string": (_top("metadata", {"tags": "x"}), "metadata.tags: expected a list"),
    "parameters-list": (_drop_parameters_mapping, "parameters: expected a mapping"),
    "param-keyword": (_param("class", 1), "parameter name 'class' is not a valid"),
    "param-dash": (_param("my-param", 1), "is not a valid Python identifier"),
    "param-int-name": (_param(3, 1), "must be a string"),
    "param-set-value": (_param("s", {1: 2}), "must be a string"),
    "if-faild": (_with_if('cells.{prev}.status == "faild"'), "did you mean 'failed'?"),
    "if-status-number": (_with_if("cells.{prev}.status == 1"), "a status is a string"),
    "if-status-order": (_with_if("cells.{prev}.status < 'x'"), "can only be compared"),
    "if-later-cell": (_if_names_a_later_cell, "is not an earlier cell"),
    "if-unknown-cell": (_with_if("cells.ghost.status == 'success'"), "not an earlier cell"),
    "if-import": (_with_if("__import__('os').system('id')"), "the only functions are"),
    "if-syntax": (_with_if("success("), "'if' is not a valid Python expression"),
    "if-attribute": (_with_if("cells.{prev}.source == 'x'"), "cells.<id> has only"),
    "if-name": (_with_if("os"), "unknown name 'os'"),
    "if-long": (_with_if("x" * 2000), "longer than 1000"),
    "if-not-bomb": (_with_if("not " * 100_000 + "x"), "longer than 1000"),
    "if-number": (_set_cell("if", 3), "expected a string"),
    "document-list": (lambda d: d["cells"], "a notebook must be a mapping"),
    "document-scalar": (lambda d: "just text", "a notebook must be a mapping"),
    "document-null": (lambda d: None, "the notebook is empty"),
}


def _bomb(levels: int = 9) -> str:
    lines = ["x-bomb:", '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _insert(text: str, needle: str, extra: str) -> str:
    index = text.index(needle) + len(needle)
    return text[:index] + extra + text[index:]


# Text mutations: (new text or bytes from the base text, expected piece of the message).
TEXT_MUTATIONS: dict[str, tuple[Callable[[str], str | bytes], str]] = {
    "nul": (lambda t: _insert(t, "source:", " \x00"), "U+0000 (NUL)"),
    "nul-first-byte": (lambda t: "\x00" + t, "U+0000 (NUL)"),
    "bel": (lambda t: _insert(t, "source:", " \x07"), "U+0007 (BEL)"),
    "esc": (lambda t: _insert(t, "cells:", "\x1b[31m"), "U+001B (ESC)"),
    "backspace": (lambda t: _insert(t, "id:", "\x08"), "U+0008 (BS)"),
    "form-feed": (lambda t: _insert(t, "cells:", "\x0c"), "U+000C (FF)"),
    "vertical-tab": (lambda t: _insert(t, "cells:", "\x0b"), "U+000B (VT)"),
    "del": (lambda t: _insert(t, "id:", " \x7f"), "U+007F (DEL)"),
    "c1-control": (lambda t: _insert(t, "id:", " \x9b"), "U+009B"),
    "nonchar-fffe": (lambda t: _insert(t, "id:", " \ufffe"), "U+FFFE"),
    "invalid-utf8": (lambda t: _insert(t, "id:", " ").encode() + b"\xff\xfe", "not valid UTF-8"),
    "latin1": (lambda t: t.replace("cells:", "cells: # caf\xe9").encode("latin-1"), "UTF-8"),
    "utf8-truncated": (lambda t: t.encode() + "é".encode()[:1], "not valid UTF-8"),
    "overlong-utf8": (lambda t: t.encode() + b"\xc0\xaf", "not valid UTF-8"),
    "surrogate-utf8": (lambda t: t.encode() + b"\xed\xa0\x80", "not valid UTF-8"),
    "utf16-bom": (lambda t: t.encode("utf-16"), "not valid UTF-8"),
    "bom-then-nul": (lambda t: "\ufeff" + _insert(t, "source:", " \x00"), "NUL"),
    "bom-twice-then-tab": (lambda t: "\ufeff\ufeff\tcells: 1\n" + t, ""),
    "tab-indent": (lambda t: t.replace("\n  - id:", "\n\t- id:", 1), "tab"),
    "unclosed-quote": (lambda t: t + '\nx-q: "never closed\n', "YAML syntax error"),
    "unclosed-flow": (lambda t: t + "\nx-f: [1, 2\n", "YAML syntax error"),
    "second-document": (lambda t: t + "\n---\nfoo: 1\n", "expected a single document"),
    "duplicate-top-key": (lambda t: t + "\nmetadata: {}\n", "duplicate key 'metadata'"),
    "duplicate-cell-key": (
        lambda t: t.replace("\n  - id:", "\n  - source: x\n    source: y\n    id:", 1),
        "duplicate key 'source'",
    ),
    "alias-bomb": (lambda t: _bomb() + t, "aliases expand to more than"),
    "alias-bomb-in-parameters": (
        lambda t: t + "\nx-p: &p [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + _bomb(),
        "aliases expand",
    ),
    "undefined-alias": (lambda t: t + "\nx-a: *nope\n", "undefined alias"),
    "recursive-alias": (lambda t: t + "\nx-r: &r [*r]\n", "recursive YAML alias"),
    "deep-flow": (lambda t: t + "\nx-d: " + "[" * 5000 + "\n", "nest"),
    "deep-flow-closed": (lambda t: t + "\nx-d: " + "[" * 150 + "]" * 150 + "\n", "nest"),
    "deep-mapping": (lambda t: t + "\nx-d: " + "{a: " * 5000 + "\n", "nest"),
    "deep-block": (
        lambda t: t + "\nx-d:\n" + "".join("  " * i + " k:\n" for i in range(1, 160)),
        "nest",
    ),
    "node-count": (lambda t: t + "\nx-n: [" + "0," * MAX_NODES + "0]\n", "values"),
    "python-tag": (lambda t: t + "\nx-t: !!python/object:os.system x\n", "unsupported"),
    "unknown-tag": (lambda t: t + "\nx-t: !foo bar\n", "unsupported"),
    "seq-tag-on-map": (lambda t: t + "\nx-t: !!seq {a: 1}\n", "unsupported YAML tag"),
    "huge-int": (lambda t: t + "\nx-i: " + "9" * 5000 + "\n", "too many digits"),
    "bad-date": (lambda t: t + "\nx-d: 2020-13-45\n", "month must be in 1..12"),
    "truncated": (lambda t: t[: len(t) // 2] + "\n  - id: [\n", ""),
    "only-comments": (lambda t: "# nothing here\n# at all\n", "the notebook is empty"),
    "empty": (lambda t: "", "the notebook is empty"),
    "whitespace": (lambda t: "   \n\n  \n", "the notebook is empty"),
    "key-without-value-colon": (lambda t: t + "\ncells\n", "YAML syntax error"),
}
TEXT_BASES = ("example", "minimal")


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8", "surrogatepass"))
    return path


def _notebook_cases(tmp: Path) -> Iterator[Case]:
    for base_name, base in BASES.items():
        for name, (mutate, expect) in MUTATIONS.items():
            data = mutate(copy.deepcopy(_load(base)))
            path = tmp / f"{base_name}--{name}.yml"
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
            yield Case(f"{base_name}/{name}", _validate(path), str(path), expect=expect)
    for base_name in TEXT_BASES:
        text = BASES[base_name].read_text()
        for name, (mutate, expect) in TEXT_MUTATIONS.items():
            path = _write(tmp / f"{base_name}--{name}.yml", mutate(text))
            yield Case(f"{base_name}/{name}", _validate(path), str(path), expect=expect)


def _special_file_cases(tmp: Path) -> Iterator[Case]:
    fifo = tmp / "fifo.yml"
    os.mkfifo(fifo)
    big = _write(tmp / "big.yml", "#" * (11 * 2**20))  # 11 MB of comment
    sparse = tmp / "sparse.yml"
    with sparse.open("wb") as f:
        f.truncate(50 * 2**20)
    (tmp / "dir.yml").mkdir()
    loop = tmp / "loop.yml"
    loop.symlink_to(loop)
    dangling = tmp / "dangling.yml"
    dangling.symlink_to(tmp / "nowhere.yml")
    to_fifo = tmp / "to-fifo.yml"
    to_fifo.symlink_to(fifo)
    odd_name = _write(tmp / "spaced ñame ✓.yml", "[1]\n")
    line_break_name = _write(tmp / "cr\rnel\x85ls\u2028.yml", "[1]\n")
    files: dict[str, tuple[Path, str]] = {
        "fifo": (fifo, "FIFO"),
        "symlink-to-fifo": (to_fifo, "FIFO"),
        "directory": (tmp / "dir.yml", "is a directory"),
        "dev-zero": (Path("/dev/zero"), "character device"),
        "dev-null": (Path("/dev/null"), "character device"),
        "big-11mb": (big, "larger than the 10 MB limit"),
        "sparse-50mb": (sparse, "larger than the 10 MB limit"),
        "missing": (tmp / "missing.yml", "no such file"),
        "symlink-loop": (loop, "cannot read file"),
        "dangling-symlink": (dangling, "no such file"),
        "not-a-directory": (GOOD / "x.yml", "cannot read file"),
        "name-too-long": (tmp / ("n" * 300 + ".yml"), "cannot read file"),
        "odd-name": (odd_name, "must be a mapping"),
        "line-breaks-in-name": (line_break_name, "must be a mapping"),
    }
    if hasattr(socket, "AF_UNIX"):
        sock_path = tmp / "sock.yml"
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(sock_path))
        sock.close()  # the socket file stays
        files["socket"] = (sock_path, "is a socket")
    for name, (path, expect) in files.items():
        # A name with line breaks in it is printed with spaces instead: still one line.
        shown = " ".join(str(path).split()) if len(str(path).splitlines()) > 1 else str(path)
        yield Case(f"notebook-file/{name}", _validate(path), shown, expect=expect)
        yield Case(f"params-file/{name}", _validate(GOOD, "-f", str(path)), shown, expect=expect)


# Parameter files given with -f to a valid notebook: (suffix, content, expected piece).
PARAM_FILES: dict[str, tuple[str, str | bytes, str]] = {
    "list": (".yml", "[1, 2]\n", "parameters must be a mapping"),
    "scalar": (".yml", "7\n", "parameters must be a mapping"),
    "keyword-name": (".yml", "class: 1\n", "not a valid Python identifier"),
    "dash-name": (".yml", "my-param: 1\n", "not a valid Python identifier"),
    "int-name": (".yml", "1: 1\n", "must be a string"),
    "binary-value": (".yml", "b: !!binary aGk=\n", "unsupported value of type bytes"),
    "set-value": (".yml", "s: !!set {a, b}\n", "unsupported YAML tag"),
    "nested-int-key": (".yml", "m: {1: 2}\n", "mapping key 1 must be a string"),
    "duplicate": (".yml", "days: 1\ndays: 2\n", "duplicate key 'days'"),
    "syntax": (".yml", "days: [1\n", "YAML syntax error"),
    "tab": (".yml", "a:\n\tb: 1\n", ""),
    "nul": (".yml", "days: 1\x00\n", "NUL"),
    "esc": (".yml", "days: '\x1b[0m'\n", "ESC"),
    "invalid-utf8": (".yml", b"days: \xff\n", "not valid UTF-8"),
    "bomb": (".yml", _bomb() + "days: 1\n", "aliases expand"),
    "deep": (".yml", "days: " + "[" * 5000 + "\n", "nest"),
    # (A date or a 5000-digit number in a -f file is text under the YAML 1.2 core schema,
    # as with -y: tests/notebook/test_injection.py.)
    "node-count": (".yml", "xs: [" + "0," * MAX_NODES + "0]\n", f"more than {MAX_NODES} values"),
    "second-document": (".yml", "a: 1\n---\nb: 2\n", "expected a single document"),
    "json-syntax": (".json", '{"days": 1,}\n', "JSON syntax error"),
    "json-list": (".json", "[1]\n", "parameters must be a mapping"),
    "json-deep": (".json", '{"a": ' + "[" * 5000 + "]" * 5000 + "}\n", "nest"),
    "json-huge-int": (".json", '{"a": ' + "1" * 5000 + "}\n", "too many digits"),
    "json-nul": (".json", '{"a": "\x00"}\n', "NUL"),
    "json-bad-name": (".json", '{"a b": 1}\n', "not a valid Python identifier"),
    "json-utf16": (".json", '{"a": 1}'.encode("utf-16"), "not valid UTF-8"),
}


def _param_file_cases(tmp: Path) -> Iterator[Case]:
    for name, (suffix, content, expect) in PARAM_FILES.items():
        path = _write(tmp / f"params-{name}{suffix}", content)
        yield Case(f"params/{name}", _validate(GOOD, "-f", str(path)), str(path), expect=expect)


INLINE: dict[str, tuple[str, str]] = {
    "no-equals": ("days", "expected NAME=VALUE"),
    "no-name": ("=1", "expected NAME=VALUE"),
    "blank-name": ("  =1", "expected NAME=VALUE"),
    "digit-name": ("1x=2", "not a valid Python identifier"),
    "keyword": ("class=1", "not a valid Python identifier"),
    "dash": ("a-b=1", "not a valid Python identifier"),
    "space": ("a b=1", "not a valid Python identifier"),
    "path-like": ("../x=1", "not a valid Python identifier"),
    "long-name": ("x-" * 2500 + "=1", "not a valid Python identifier"),
    "nul": ("days=1\x00", "NUL"),
    "esc": ("days=\x1b[31mred", "ESC"),
    "del": ("days=\x7f", "DEL"),
    "bad-byte": ("days=\udcff", "invalid UTF-8 (byte 0xFF)"),
    "c1": ("days=\x85\x9b", "U+009B"),
}

ACTION_INPUTS: dict[str, tuple[str, str]] = {
    "list": ("[1, 2]", "parameters must be a mapping"),
    "scalar": ("just text", "parameters must be a mapping"),
    "syntax": ("days: [", "YAML syntax error"),
    "keyword": ("class: 1", "not a valid Python identifier"),
    "duplicate": ("a: 1\na: 2", "duplicate key 'a'"),
    "nul": ("days: 1\x00", "NUL"),
    "esc": ("days: 1\n\x1b: 2", "ESC"),
    "bomb": (_bomb() + "days: 1", "aliases expand"),
    "deep": ("days: " + "[" * 5000, "nest"),
    "huge-int": ("days: " + "1" * 5000, "too many digits"),
    "bad-date": ("days: 2020-13-45", "month must be in 1..12"),
    "date": ("days: 2020-01-02", "unsupported value of type date"),
    "python-tag": ("days: !!python/name:os.system", "unsupported"),
    "second-document": ("a: 1\n---\nb: 2", "expected a single document"),
}


def _inline_cases() -> Iterator[Case]:
    for name, (item, expect) in INLINE.items():
        yield Case(f"-p/{name}", _validate(GOOD, "-p", item), "-p ", False, expect)
    for name, (text, expect) in ACTION_INPUTS.items():
        argv = _validate(GOOD, "--parameters", text)
        yield Case(f"action-input/{name}", argv, ACTION_INPUT, expect=expect)


def build_corpus(tmp: Path) -> list[Case]:
    return [
        *_notebook_cases(tmp),
        *_special_file_cases(tmp),
        *_param_file_cases(tmp),
        *_inline_cases(),
    ]


# -- checking ------------------------------------------------------------------------------


def problems(case: Case, code: int, out: str, err: str, elapsed: float, limit: float) -> list[str]:
    """Everything wrong with one outcome (empty when the case passes)."""
    found = []
    if code != 2:
        found.append(f"exit {code}, expected 2")
    if out:
        found.append(f"stdout not empty: {out[:200]!r}")
    if err.count("\n") != 1 or not err.endswith("\n") or len(err.splitlines()) != 1:
        found.append(f"stderr is not exactly one line: {err[:300]!r}")
    if "Traceback" in err or "internal error" in err:
        found.append(f"crash: {err[:300]!r}")
    if not err.startswith(case.source):
        found.append(f"does not start with {case.source!r}: {err[:300]!r}")
    elif case.located and not re.match(r":\d+:\d+: \S", err[len(case.source) :]):
        found.append(f"no :line:col: after the source: {err[:300]!r}")
    if case.expect and case.expect not in err:
        found.append(f"{case.expect!r} not in {err[:300]!r}")
    if elapsed > limit:
        found.append(f"took {elapsed:.2f} s (limit {limit} s)")
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Built once per module (it writes ~70 MB of files, most of them sparse)."""
    cases = build_corpus(tmp_path_factory.mktemp("corpus"))
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"
    return {c.name: c for c in cases}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "RUNT_")) or name in _PLAIN_ENV:
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_every_malformed_input_is_one_located_line_exit_2(
    corpus: dict[str, Case], capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(corpus) >= 150
    failures: dict[str, list[str]] = {}
    slowest = (0.0, "")
    started = time.perf_counter()
    for case in corpus.values():
        t0 = time.perf_counter()
        code = main(case.argv)
        elapsed = time.perf_counter() - t0
        out, err = capsys.readouterr()
        slowest = max(slowest, (elapsed, case.name))
        found = problems(case, code, out, err, elapsed, LIMIT_S)
        if found:
            failures[case.name] = found
    total = time.perf_counter() - started
    passed = len(corpus) - len(failures)
    with capsys.disabled():
        print(
            f"\nmalformed-input corpus: {passed}/{len(corpus)} passed "
            f"({100 * passed / len(corpus):.1f}%) in {total:.1f} s; "
            f"slowest {slowest[1]} {slowest[0]:.2f} s"
        )
    assert not failures, "\n".join(f"{k}: {'; '.join(v)}" for k, v in failures.items())


def test_the_mutations_start_from_valid_notebooks(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Otherwise a case could pass for a reason unrelated to its mutation."""
    for base in BASES.values():
        assert main(_validate(base)) == 0, capsys.readouterr().err
    assert main(_validate(GOOD, "-p", "days=3", "--parameters", "days: 4")) == 0


# Cases that would hang or exhaust memory in-process if a bound regressed: a real process,
# with a timeout, proves no traceback escapes and nothing blocks.
SUBPROCESS_CASES = (
    "minimal/alias-bomb",
    "minimal/deep-flow",
    "notebook-file/fifo",
    "notebook-file/dev-zero",
    "notebook-file/big-11mb",
    "params-file/fifo",
    "params/bomb",
    "action-input/bomb",
    "-p/esc",  # argv cannot carry a NUL; the in-process corpus covers -p/nul
    "example/nul",
)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_real_process_stays_one_line_and_prompt(name: str, corpus: dict[str, Case]) -> None:
    case = corpus[name]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INPUT_", "GITHUB_", "RUNT_")) and k not in _PLAIN_ENV
    }
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "runt_action", *case.argv],
        capture_output=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - t0
    err = done.stderr.decode("utf-8", "backslashreplace")
    out = done.stdout.decode("utf-8", "backslashreplace")
    assert problems(case, done.returncode, out, err, elapsed, SUBPROCESS_LIMIT_S) == []
