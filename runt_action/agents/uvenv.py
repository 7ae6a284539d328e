"""A run-local environment for the python runtime, made with uv, where the kernel starts.

A Docker action cannot see what the workflow installed on the runner, so the python runtime in
the image would only have the standard library. With ``--requirements FILE`` (pip's format,
hashes honoured) or, inside the image, the notebook's packages, the run creates a venv with
uv from this interpreter, installs into it (plus the ipykernel this process runs, at its
version) and starts the kernel there. uv's cache directory is an input so ``actions/cache``
can keep it between runs. A package uv cannot install is one MissingPackageError line (exit
2) with uv's reason; what was installed and how long it took is printed.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runt_action.errors import MissingPackageError, RuntimeAgentError

__all__ = ["RunEnvironment", "build_environment", "find_uv"]

#: Where the image keeps uv (Dockerfile) and where `make setup` puts it.
_UV_PLACES = ("/opt/uv/bin/uv", ".cache/uv/bin/uv")
_INSTALLED = re.compile(r"^\s*\+\s+(\S+)$")
_HASHES = re.compile(r"--hash[=\s]")
_NOISE = ("hint:", "help:", "Using Python", "Resolved ", "Prepared ", "Audited ")


@dataclass(frozen=True)
class RunEnvironment:
    """The venv a run's kernel starts in, and what went into it."""

    python: Path
    installed: list[str] = field(default_factory=list)  # "name==version", as uv reported
    kernel: list[str] = field(default_factory=list)  # what ipykernel added on top
    seconds: float = 0.0

    def note(self) -> str:
        shown = ", ".join(self.installed) if self.installed else "nothing new"
        return (
            f"python runtime: installed {len(self.installed)} package(s) ({shown}) and "
            f"{len(self.kernel)} for ipykernel into {self.python.parent.parent} in "
            f"{self.seconds:.1f} s"
        )


def find_uv() -> str:
    """uv: $RUNT_UV, PATH, the image's, or the one `make setup` installs."""
    explicit = os.environ.get("RUNT_UV")
    if explicit:
        return explicit
    found = shutil.which("uv")
    if found:
        return found
    root = Path(__file__).resolve().parents[2]
    for place in _UV_PLACES:
        path = Path(place) if place.startswith("/") else root / place
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise RuntimeAgentError(
        "uv is needed to install the notebook's requirements and was not found: install it "
        "(`pip install uv`) or set RUNT_UV"
    )


def build_environment(
    requirements_file: Path | None,
    packages: Sequence[str] = (),
    *,
    cache_dir: Path | None = None,
    directory: Path | None = None,
) -> RunEnvironment:
    """Create the venv (``directory``, default a temporary one removed at exit) and install
    ``requirements_file`` then ``packages`` and ipykernel into it."""
    started = time.monotonic()
    uv = find_uv()
    if directory is None:
        directory = _run_local_dir(cache_dir)
        atexit.register(shutil.rmtree, directory, True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(directory)}
    env.pop("PYTHONPATH", None)
    if cache_dir is not None:
        env["UV_CACHE_DIR"] = str(cache_dir)
    _uv(
        [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(directory)],
        env,
        "create the environment",
    )
    python = directory / "bin" / "python"
    installed: list[str] = []
    if requirements_file is not None:
        args = ["-r", str(requirements_file)]
        if _HASHES.search(_read(requirements_file)):
            args.insert(0, "--require-hashes")
        installed += _install(uv, python, args, env, str(requirements_file))
    if packages:
        installed += _install(uv, python, list(packages), env, ", ".join(packages))
    kernel = f"ipykernel=={importlib.metadata.version('ipykernel')}"
    added = _install(uv, python, [kernel], env, kernel)
    return RunEnvironment(python, installed, added, time.monotonic() - started)


def _run_local_dir(cache_dir: Path | None) -> Path:
    """A new directory for the venv, beside the uv cache when one is given: uv then hardlinks
    from its cache instead of copying every file (a container's /tmp and a mounted cache are
    two file systems); the system's temporary directory when that cannot be written."""
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".runt-venv-", dir=cache_dir.parent))
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="runt-venv-"))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MissingPackageError(f"requirements file {path} cannot be read: {exc}") from None


def _install(uv: str, python: Path, args: list[str], env: dict[str, str], what: str) -> list[str]:
    out = _uv([uv, "pip", "install", "--python", str(python), *args], env, f"install {what}")
    return [m.group(1) for line in out.splitlines() if (m := _INSTALLED.match(line))]


def _uv(argv: list[str], env: dict[str, str], doing: str) -> str:
    """Run uv; its report (stderr) on success, one MissingPackageError line on failure."""
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise RuntimeAgentError(f"could not run uv ({argv[0]}): {exc}") from None
    if result.returncode != 0:
        raise MissingPackageError(f"could not {doing}: {_one_line(result.stderr)}")
    return result.stderr


def _one_line(text: str) -> str:
    """uv's multi-line, box-drawn reason as one line (hints dropped, the reason kept)."""
    parts: list[str] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("\u00d7\u2570\u2500\u25b6\u2502 ").strip()
        if line and not line.startswith(_NOISE):
            parts.append(line)
    return " ".join(parts) or "uv failed without saying why"
