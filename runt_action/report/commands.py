"""GitHub workflow commands (``::error::``, ``::group::``, ``::add-mask::`` ...) on stdout.

The runner parses every line we print, so this writer is the only place that prints
commands, and it keeps track of line starts and of the ``stop-commands`` fence: a command
must start a line, and one issued inside a fence would silently be ignored.
Outside GitHub Actions the same calls print plain, readable lines instead.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from runt_action.report.escape import (
    escape_command_data,
    escape_command_property,
    strip_controls,
)
from runt_action.report.scrub import MASK, Scrubber
from runt_action.workspace import workspace_relative

__all__ = ["WorkflowCommands", "in_github_actions"]

_ZWSP = "\u200b"  # not whitespace to .NET's TrimStart, so it defuses a leading "::"


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


class WorkflowCommands:
    """Writes workflow commands (Actions) or plain lines (elsewhere) to one stream.

    ``masks`` are ``::add-mask::``ed in the constructor, before anything else is printed:
    the runner only hides a value from lines printed after its mask.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        github_actions: bool | None = None,
        masks: Iterable[str] = (),
        scrubber: Scrubber | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.github_actions = in_github_actions() if github_actions is None else github_actions
        self.scrubber = scrubber or Scrubber()
        self._at_line_start = True
        self._fence: str | None = None
        for value in masks:
            self.add_mask(value)

    # -- raw output -------------------------------------------------------------------
    @property
    def fenced(self) -> bool:
        return self._fence is not None

    def write(self, text: str) -> None:
        """Untrusted text; only safe in Actions inside :meth:`stop_commands`."""
        if not text:
            return
        text = self.scrubber.text(text)
        if self._fence:
            text = text.replace(self._fence, MASK)
        self.raw(text)

    def raw(self, text: str, *, line_start: bool | None = None) -> None:
        """Our own bytes (commands, terminal control): not scrubbed, never user data."""
        self.stream.write(text)
        self.stream.flush()
        self._at_line_start = text.endswith(("\n", "\r")) if line_start is None else line_start

    def ensure_newline(self) -> None:
        if not self._at_line_start:
            self.write("\n")

    def line(self, text: str) -> None:
        """One line of our own text (which may quote user input) that can never be a command."""
        text = strip_controls(text).replace("\n", " ")
        if self.github_actions:
            text = text.replace("##[", "##" + _ZWSP + "[")
            if text.lstrip().startswith("::"):
                text = _ZWSP + text
        self.ensure_newline()
        self.write(text + "\n")

    # -- commands ---------------------------------------------------------------------
    def _command(
        self, name: str, data: str = "", *, scrub: bool = True, **props: str | int | None
    ) -> None:
        if self._fence is not None:
            raise RuntimeError(f"::{name}:: inside a stop-commands fence would be ignored")
        if scrub:
            data = self.scrubber.text(data)
            props = {k: self.scrubber.text(str(v)) for k, v in props.items() if v}
        parts = [f"{k}={escape_command_property(str(v))}" for k, v in props.items() if v]
        head = name + (" " + ",".join(parts) if parts else "")
        self.ensure_newline()
        self.raw(f"::{head}::{escape_command_data(data)}\n")

    def add_mask(self, value: str) -> None:
        """Ask the runner to hide ``value`` (and each of its lines) in all later log lines."""
        if not self.github_actions or not value.strip():
            return
        self._command("add-mask", value, scrub=False)
        lines = [ln for ln in value.splitlines() if ln.strip()]
        if len(lines) > 1:
            for ln in lines:
                self._command("add-mask", ln, scrub=False)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsible log section; plain mode prints the title as a header line."""
        if self.github_actions:
            self._command("group", strip_controls(title).replace("\n", " "))
        else:
            self.line(f"== {title}")
        try:
            yield
        finally:
            if self.github_actions:
                self._close_fence()
                self._command("endgroup")

    @contextmanager
    def stop_commands(self) -> Iterator[str]:
        """Between enter and exit the runner obeys no command, whatever :meth:`write` prints.

        The random token is masked first, so a notebook cannot read it from the log either.
        """
        if not self.github_actions:
            yield ""
            return
        token = secrets.token_hex(16)
        self.add_mask(token)
        self._command("stop-commands", token)
        self._fence = token
        try:
            yield token
        finally:
            self._close_fence()

    def _close_fence(self) -> None:
        token, self._fence = self._fence, None
        if token is not None:
            self.ensure_newline()
            self.raw(f"::{token}::\n")

    def _annotation(
        self,
        kind: str,
        message: str,
        *,
        file: str | None,
        line: int | None,
        end_line: int | None,
        col: int | None,
        title: str | None,
    ) -> None:
        if self.github_actions:
            # GitHub attaches an annotation to a file only by its path in the repository:
            # "notebooks/x.yml", never "./notebooks/x.yml" or "/github/workspace/...".
            shown = workspace_relative(file) if file else file
            self._command(
                kind, message, file=shown, line=line, endLine=end_line, col=col, title=title
            )
            return
        where = ":".join(str(p) for p in (file, line, col) if p)
        first, *rest = self.scrubber.text(message).splitlines() or [""]
        parts = [kind, where, self.scrubber.text(title) if title else "", first]
        self.line(": ".join(p for p in parts if p))
        for more in rest:
            self.line("    " + more)

    def error(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        title: str | None = None,
    ) -> None:
        self._annotation(
            "error", message, file=file, line=line, end_line=end_line, col=col, title=title
        )

    def warning(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        title: str | None = None,
    ) -> None:
        self._annotation(
            "warning", message, file=file, line=line, end_line=end_line, col=col, title=title
        )

    def notice(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        end_line: int | None = None,
        col: int | None = None,
        title: str | None = None,
    ) -> None:
        self._annotation(
            "notice", message, file=file, line=line, end_line=end_line, col=col, title=title
        )

    def debug(self, message: str) -> None:
        if self.github_actions:
            self._command("debug", message)
