"""Shared fixtures: sample results, and parsers that read our output the way GitHub does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from markdown_it import MarkdownIt

from runt_action.results import (
    CellOutput,
    CellResult,
    CellStatus,
    RunResult,
    RunStatus,
)

# -- the actions/runner command parser (src/Runner.Common/ActionCommand.cs), re-implemented --
REGISTERED = {
    "set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
    "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup", "echo",
    "stop-commands",
}  # fmt: skip


def _unescape(text: str, pairs: list[tuple[str, str]]) -> str:
    for escaped, char in pairs:
        text = text.replace(escaped, char)
    return text


_DATA = [("%0D", "\r"), ("%0A", "\n"), ("%25", "%")]
_PROP = [("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")]
_V1 = [("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%")]


@dataclass
class Command:
    name: str
    props: dict[str, str]
    data: str


def _parse_v2(line: str, registered: set[str]) -> Command | None:
    msg = line.lstrip()
    if not msg.startswith("::"):
        return None
    end = msg.find("::", 2)
    if end < 0:
        return None
    info = msg[2:end]
    name, _, rest = info.partition(" ")
    if name.lower() not in registered:
        return None
    props: dict[str, str] = {}
    for item in rest.strip().split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            if k and v:
                props[k.lower()] = _unescape(v, _PROP)
    return Command(name.lower(), props, _unescape(msg[end + 2 :], _DATA))


def _parse_v1(line: str, registered: set[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    rb = line.find("]", start)
    if rb < 0:
        return None
    info = line[start + 3 : rb]
    name, _, rest = info.partition(" ")
    if name.lower() not in registered:
        return None
    props: dict[str, str] = {}
    for item in rest.split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            if k and v:
                props[k.lower()] = _unescape(v, _V1)
    return Command(name.lower(), props, _unescape(line[rb + 1 :], _V1))


@dataclass
class RunnerLog:
    """What the runner did with a log: the commands it obeyed and the lines it showed."""

    commands: list[Command] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    unmasked_lines_before_first_mask: int = 0

    def obeyed(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.name == name]


def run_runner(text: str) -> RunnerLog:
    """Feed stdout through the runner's line loop, with stop-commands and masking."""
    log = RunnerLog()
    registered = set(REGISTERED)
    stop_token: str | None = None
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            continue
        cmd = _parse_v2(line, registered) or _parse_v1(line, registered)
        if stop_token is not None:
            if cmd is not None and cmd.name == stop_token:
                registered.discard(stop_token)
                stop_token = None
                continue
            shown = line
        elif cmd is not None:
            log.commands.append(cmd)
            if cmd.name == "stop-commands":
                stop_token = cmd.data.lower()
                registered.add(stop_token)
            if cmd.name == "add-mask":
                log.masks.append(cmd.data)
            continue
        else:
            shown = line
        if not log.masks:
            log.unmasked_lines_before_first_mask += 1
        for mask in sorted(log.masks, key=len, reverse=True):
            shown = shown.replace(mask, "***")
        log.shown.append(shown)
    return log


@pytest.fixture
def runner() -> Callable[[str], RunnerLog]:
    return run_runner


# -- GITHUB_OUTPUT, as the runner's SetOutputFileCommand reads it ---------------------------
def parse_github_output(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc >= 0 and (eq < 0 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            assert name and delimiter, f"bad heredoc line {line!r}"
            body: list[str] = []
            while True:
                assert i < len(lines), f"delimiter {delimiter!r} never found"
                if lines[i] == delimiter:
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        else:
            assert eq > 0, f"bad output line {line!r}"
            out[line[:eq]] = line[eq + 1 :]
    return out


@pytest.fixture
def github_output_parser() -> Callable[[str], dict[str, str]]:
    return parse_github_output


# -- markdown as GitHub renders it (CommonMark + tables + autolinks) -------------------------
@pytest.fixture(scope="session")
def render_md() -> Callable[[str], str]:
    md = MarkdownIt("gfm-like", {"html": True})
    return md.render


# -- sample results ---------------------------------------------------------------------------
def make_cell(cell_id: str, status: CellStatus = CellStatus.SUCCESS, **kw: Any) -> CellResult:
    kw.setdefault("cell_type", "code")
    kw.setdefault("source", f"print({cell_id!r})")
    kw.setdefault("duration_ms", 12.5)
    kw.setdefault("attempts", 1)
    return CellResult(id=cell_id, status=status, **kw)


def make_result(cells: list[CellResult], **kw: Any) -> RunResult:
    failed = any(c.status in (CellStatus.FAILED, CellStatus.TIMEOUT) for c in cells)
    kw.setdefault("status", RunStatus.FAILED if failed else RunStatus.SUCCESS)
    kw.setdefault("notebook_id", "nb-123")
    kw.setdefault("notebook_url", "https://app.runt.run/?notebook=nb-123")
    kw.setdefault("title", "Example")
    kw.setdefault("source_file", "notebooks/example.yml")
    kw.setdefault("parameters", {"n": 3})
    kw.setdefault("duration_ms", 2345.0)
    kw.setdefault("runtime", "pyodide")
    kw.setdefault("started_at", "2026-11-25T12:00:00Z")
    return RunResult(cells=cells, **kw)


def error_output(ename: str = "ValueError", evalue: str = "boom") -> CellOutput:
    return CellOutput(
        "error",
        ename=ename,
        evalue=evalue,
        traceback=[
            "\x1b[0;31m---------------------------------------------------------------\x1b[0m",
            "\x1b[0;31mValueError\x1b[0m                Traceback (most recent call last)",
            f"Cell In[2], line 1\n----> 1 raise {ename}({evalue!r})",
            f"\x1b[0;31m{ename}\x1b[0m: {evalue}",
        ],
    )


@pytest.fixture
def sample_result() -> RunResult:
    return make_result(
        [
            make_cell(
                "parameters",
                source="# Parameters injected by automation\nn = 3",
                execution_count=1,
                line=None,
            ),
            make_cell(
                "intro", cell_type="markdown", source="# Hello", status=CellStatus.NOT_EXECUTED
            ),
            make_cell(
                "compute",
                execution_count=2,
                line=12,
                outputs=[
                    CellOutput("stream", name="stdout", text="hello\n"),
                    CellOutput("stream", name="stdout", text="world\n"),
                    CellOutput("stream", name="stderr", text="careful\n"),
                    CellOutput(
                        "execute_result",
                        data={"text/plain": "42", "application/json": {"answer": 42}},
                        execution_count=2,
                    ),
                    CellOutput(
                        "display_data",
                        data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                        metadata={"image/png": {"width": 10}},
                    ),
                ],
            ),
            make_cell(
                "explode",
                status=CellStatus.FAILED,
                execution_count=3,
                line=20,
                outputs=[error_output()],
            ),
            make_cell("later", status=CellStatus.SKIPPED, reason="after a failure", attempts=0),
        ],
        timings={"startup": 812.0, "cells": 1500.0},
    )


@pytest.fixture
def make() -> Any:
    """Builders for results: ``make.cell(...)``, ``make.result([...])``, ``make.error()``."""
    from types import SimpleNamespace

    return SimpleNamespace(cell=make_cell, result=make_result, error=error_output)
