"""Build ahead of time what makes Pyodide boot fast (setup script, container image build).

``python -m runt_action.agents.pyodide.prepare [--force]`` does two things when missing (or
with --force):

1. compiles Pyodide's standard library (bridge/stdlib.mjs): Pyodide ships it as sources only,
   so without this every stdlib import is compiled in wasm, on every boot (~2 s of a cold
   boot, and the first imports of a notebook after a snapshot boot);
2. boots Pyodide once to make the memory snapshot, so later runs boot in a fraction of the
   cold time. It is keyed on the stdlib zip, so it is made after step 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

from runt_action.agents.pyodide import paths
from runt_action.agents.pyodide.engine import PyodideEngine, snapshot_looks_whole
from runt_action.errors import RuntActionError, RuntimeAgentError

__all__ = ["build_compiled_stdlib", "main"]

_STDLIB_TIMEOUT = 600.0


async def build_compiled_stdlib(
    directory: Path | None = None, target: Path | None = None
) -> paths.CompiledStdlib:
    """Compile the stdlib into ``target`` (default: the install dir, else the cache dir).

    The zip and then its sidecar (size, sha256, Pyodide version, builder digest) are renamed
    into place, so a reader never takes a half-written zip for a whole one.
    """
    directory = directory or paths.pyodide_dir()
    version = paths.pyodide_version(directory)
    if target is None:
        target = directory if os.access(directory, os.W_OK) else paths.cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    final = target / paths.compiled_stdlib_name(version)
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    argv = [
        paths.find_deno(),
        "run",
        "--no-prompt",
        "--no-config",
        "--no-lock",
        "--quiet",
        f"--allow-read={directory},{paths.BRIDGE_DIR}",
        f"--allow-write={target}",
        str(paths.BRIDGE_DIR / "stdlib.mjs"),
        str(directory),
        str(tmp),
    ]
    env = {**os.environ, "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), _STDLIB_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeAgentError(
                f"compiling the Pyodide stdlib took over {_STDLIB_TIMEOUT} s"
            ) from None
        if proc.returncode != 0:
            tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-15:])
            raise RuntimeAgentError(f"compiling the Pyodide stdlib failed:\n{tail}")
        data = tmp.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        meta = {
            "size": len(data),
            "sha256": sha256,
            "pyodide": version,
            "builder": paths.stdlib_builder_digest(),
        }
        sidecar = tmp.with_name(tmp.name + ".json")
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(final)
        sidecar.replace(final.with_name(final.name + ".json"))
    except OSError as exc:
        raise RuntimeAgentError(f"could not write the compiled stdlib to {target}: {exc}") from exc
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".json")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return paths.CompiledStdlib(final, sha256)


async def _make_snapshot() -> str:
    engine = PyodideEngine(snapshot=True)
    try:
        await engine.start()
        return str(engine.boot_info.get("boot", "?"))
    finally:
        await engine.shutdown()


def main() -> int:
    force = "--force" in sys.argv[1:]
    try:
        stdlib = paths.compiled_stdlib()
        if stdlib is None or force:
            try:
                stdlib = asyncio.run(build_compiled_stdlib())
                print(f"pyodide stdlib compiled: {stdlib.path}")
            except RuntimeAgentError as exc:  # slower imports, but everything still works
                print(f"prepare: {exc}; using Pyodide's source-only stdlib", file=sys.stderr)
        else:
            print(f"pyodide stdlib already compiled: {stdlib.path}")
        path = paths.snapshot_path(stdlib=stdlib)
        if force:
            for stale in (path, path.with_name(path.name + ".json")):
                stale.unlink(missing_ok=True)
        elif snapshot_looks_whole(path):
            print(f"pyodide snapshot already built: {path}")
            return 0
        mode = asyncio.run(_make_snapshot())
    except RuntActionError as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return exc.exit_code
    if not snapshot_looks_whole(path):
        print(
            f"prepare: the snapshot was not written to {path} (see the log above)", file=sys.stderr
        )
        return 1
    print(f"pyodide snapshot ready ({mode}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
