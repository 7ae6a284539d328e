"""The one exception hierarchy of runt_action.

Every error the product raises on purpose derives from :class:`RuntActionError`, and the
class decides the process exit code, so the CLI maps errors to codes in one place::

    RuntActionError                 base; exit_code 3
    ├── InputError                  bad input or usage; exit 2, printed as one line
    │   ├── UsageError              bad flags or option values
    │   ├── NotebookError           the YAML notebook is malformed or invalid (file:line:col)
    │   ├── ParameterError          a parameters file or -p value is malformed (file:line:col)
    │   └── MissingPackageError     a required package is not available to the runtime
    ├── InfrastructureError         the machinery failed, not the notebook; exit 3
    │   ├── SyncError               the LiveStore sync connection failed
    │   │   ├── SyncAuthError       the server refused the payload (bad token): HTTP 400
    │   │   ├── SyncConnectError    the server could not be reached / handshake failed
    │   │   ├── SyncProtocolError   the server sent something we cannot use
    │   │   └── SyncTimeout         our events were not confirmed within the request timeout
    │   ├── RuntimeAgentError       the runtime agent could not start or broke
    │   │   ├── RuntimeStartTimeout no runtime became ready within the startup timeout
    │   │   └── RuntimeDied         the kernel / Deno process went away mid-run
    │   ├── RunTimeout              the whole-notebook timeout expired
    │   ├── PackageFetchError       a Pyodide package file failed to download or its sha256
    │   └── OutputWriteError        a result file (--output, --summary, ...) could not be written
    └── Cancelled                   SIGTERM / SIGINT asked us to stop; exit 3

A cell that raises is not an exception of ours: it is a result (exit 1).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "Cancelled",
    "InfrastructureError",
    "InputError",
    "MissingPackageError",
    "NotebookError",
    "OutputWriteError",
    "PackageFetchError",
    "ParameterError",
    "RunTimeout",
    "RuntActionError",
    "RuntimeAgentError",
    "RuntimeDied",
    "RuntimeStartTimeout",
    "SyncAuthError",
    "SyncConnectError",
    "SyncError",
    "SyncProtocolError",
    "SyncTimeout",
    "UsageError",
]

EXIT_OK = 0
EXIT_CELL_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3


class RuntActionError(Exception):
    """Base of every error raised on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_INFRASTRUCTURE


class InputError(RuntActionError):
    """The user gave us something we cannot run; nothing has been started yet."""

    exit_code = EXIT_BAD_INPUT


class UsageError(InputError):
    """Bad command-line flags or action inputs."""


class MissingPackageError(InputError):
    """A notebook package (metadata.packages, --packages) the runtime cannot have; the message
    names it and the exact command that gets it. Nothing in the user's environment changes."""


class _LocatedInputError(InputError):
    """An input error that points at a place in a file, printed as ``file:line:col: msg``."""

    def __init__(
        self, message: str, *, file: str | Path | None = None, line: int = 0, column: int = 0
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line  # 1-based; 0 = unknown
        self.column = column  # 1-based; 0 = unknown
        super().__init__(self.one_line())

    def one_line(self) -> str:
        if self.file is None:
            return self.message
        return f"{self.file}:{self.line or 1}:{self.column or 1}: {self.message}"


class NotebookError(_LocatedInputError):
    """The notebook YAML is malformed or fails validation."""


class ParameterError(_LocatedInputError):
    """A parameter source (file, -p, action input) is malformed."""


class InfrastructureError(RuntActionError):
    """The sync server, the runtime or the clock failed us; the notebook may be fine."""


class SyncError(InfrastructureError):
    """The LiveStore sync connection failed."""


class SyncAuthError(SyncError):
    """The sync server rejected our payload (usually a bad or missing token)."""


class SyncConnectError(SyncError):
    """The sync server could not be reached, or the websocket handshake failed."""


class SyncProtocolError(SyncError):
    """The server answered with something unusable."""


class SyncTimeout(SyncError):
    """Our events were not confirmed by the server within the request timeout.

    Raised by ``Store.flush``; callers match the type, never the message text."""


class RuntimeAgentError(InfrastructureError):
    """The runtime agent could not start, or broke while running."""


class RuntimeStartTimeout(RuntimeAgentError):
    """No runtime session became ready within the startup timeout."""


class RuntimeDied(RuntimeAgentError):
    """The process executing cells (kernel, Deno) went away."""


class RunTimeout(InfrastructureError):
    """The whole-notebook timeout expired."""


class PackageFetchError(InfrastructureError):
    """A Pyodide package file could not be downloaded, or its sha256 is not the lock's: the
    whole fetch is refused and nothing is written where Pyodide loads from."""


class OutputWriteError(InfrastructureError):
    """A file the run was asked to write could not be written; everything else still was."""


class Cancelled(RuntActionError):
    """A signal asked us to stop; we still report what happened."""
