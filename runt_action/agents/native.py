"""The native engine: a real ipykernel of the current interpreter, driven by jupyter_client.

The kernel talks over IPC sockets in a private temp dir (no open TCP ports, and no ipykernel
"running over TCP without encryption" warning). Kernel death is watched through a pidfd, so an
execution never hangs on a dead kernel: it raises errors.RuntimeDied as soon as the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink
from runt_action.errors import RuntimeAgentError, RuntimeDied

__all__ = ["NativeEngine", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_POLL_S = 0.1  # liveness poll interval where pidfd is unavailable (non-Linux)


def strip_ansi(text: str) -> str:
    """IPython colours tracebacks; the runt error output and the job summary want plain text."""
    return _ANSI.sub("", text)


class _SpecManager(KernelSpecManager):
    """Always this interpreter's ipykernel, whatever kernelspecs the machine has installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
                "--InteractiveShell.colors=NoColor",
            ],
            display_name="Python 3 (runt)",
            language="python",
            interrupt_mode="signal",
        )


class NativeEngine:
    """One ipykernel process with a persistent namespace."""

    runtime_type = "python3"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        *,
        startup_timeout: float = 60.0,
    ) -> None:
        # env: extra variables for the kernel, on top of this process's environment.
        self._env = dict(env or {})
        self._cwd = str(cwd) if cwd is not None else None
        self._startup_timeout = startup_timeout
        self._km: Any = None
        self._kc: Any = None
        self._tmp: str | None = None
        self._log: Any = None
        self._died: asyncio.Future[str] | None = None
        self._pidfd: int | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._running = False
        self._interrupted = False
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tmp = tempfile.mkdtemp(prefix="runt-kernel-")
        env = {**os.environ, **self._env}
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules noise
        env.pop("JPY_PARENT_PID", None)
        km: Any = AsyncKernelManager(
            kernel_name="runt-python3",
            kernel_spec_manager=_SpecManager(),
            transport="ipc",
            ip=os.path.join(self._tmp, "k"),
        )
        km.connection_file = os.path.join(self._tmp, "kernel.json")
        self._km = km
        self._log = open(os.path.join(self._tmp, "kernel.log"), "wb")  # noqa: SIM115, ASYNC230
        try:
            await km.start_kernel(env=env, cwd=self._cwd, stdout=self._log, stderr=self._log)
        except Exception as exc:
            await self.shutdown()
            raise RuntimeAgentError(f"could not start the Python kernel: {exc}") from exc
        self._died = loop.create_future()
        self._watch(km.provisioner.process.pid)
        kc = km.client()
        kc.start_channels()
        self._kc = kc
        ready: asyncio.Future[Any] = asyncio.ensure_future(
            kc.wait_for_ready(timeout=self._startup_timeout)
        )
        try:
            await asyncio.wait([ready, self._died], return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
                raise RuntimeAgentError(f"Python kernel died during startup: {self._death()}")
            ready.result()
        except RuntimeAgentError:
            await self.shutdown()
            raise
        except Exception as exc:
            await self.shutdown()
            raise RuntimeAgentError(f"Python kernel did not become ready: {exc}") from exc

    async def shutdown(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._unwatch()
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
        km = self._km
        if km is not None and km.has_kernel:
            now = self._running or (self._died is not None and self._died.done())
            try:
                await asyncio.wait_for(km.shutdown_kernel(now=now), timeout=10)
            except Exception:
                with contextlib.suppress(Exception):
                    await km.shutdown_kernel(now=True)
        if self._log is not None:
            self._log.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    # -- execution -------------------------------------------------------------------------

    async def execute(self, code: str, sink: OutputSink) -> ExecOutcome:
        if self._kc is None or self._died is None or self._closing:
            raise RuntimeAgentError("the Python kernel is not running")
        if self._died.done():
            raise RuntimeDied(f"Python kernel died: {self._died.result()}")
        self._interrupted = False
        self._running = True
        try:
            msg_id: str = self._kc.execute(
                code, store_history=True, allow_stdin=False, stop_on_error=False
            )
            pump = asyncio.ensure_future(self._pump_iopub(msg_id, sink))
            reply = asyncio.ensure_future(self._shell_reply(msg_id))
            both = asyncio.gather(pump, reply)
            finished = False
            try:
                await asyncio.wait({both, self._died}, return_when=asyncio.FIRST_COMPLETED)
                finished = both.done()
            finally:
                if not both.done():
                    both.cancel()
                    with contextlib.suppress(BaseException):
                        await both
            if not finished:
                raise RuntimeDied(f"Python kernel died: {self._death()}")
            both.result()
            content = reply.result()
        finally:
            self._running = False
        return self._outcome(content)

    async def interrupt(self) -> None:
        if self._km is None or not self._running:
            return
        self._interrupted = True
        with contextlib.suppress(Exception):
            await self._km.interrupt_kernel()

    def _outcome(self, content: dict[str, Any]) -> ExecOutcome:
        status = content.get("status")
        count = content.get("execution_count")
        if status == "ok":
            return ExecOutcome(ExecStatus.OK, count)
        if self._interrupted and (
            status == "aborted" or content.get("ename") == "KeyboardInterrupt"
        ):
            return ExecOutcome(ExecStatus.INTERRUPTED, count)
        return ExecOutcome(ExecStatus.ERROR, count, {"ename": content.get("ename")})

    async def _shell_reply(self, msg_id: str) -> dict[str, Any]:
        while True:
            msg = await self._kc.get_shell_msg()
            if msg["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = msg["content"]
                return content

    async def _pump_iopub(self, msg_id: str, sink: OutputSink) -> None:
        while True:
            msg = await self._kc.get_iopub_msg()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            c = msg["content"]
            if kind == "status":
                if c.get("execution_state") == "idle":
                    return
            elif kind == "stream":
                sink.stream(c.get("name", "stdout"), c.get("text", ""))
            elif kind in ("display_data", "update_display_data"):
                display_id = (c.get("transient") or {}).get("display_id")
                sink.display(
                    c.get("data", {}),
                    c.get("metadata") or None,
                    display_id,
                    update=kind == "update_display_data",
                )
            elif kind == "execute_result":
                sink.result(c.get("data", {}), c.get("metadata") or None)
            elif kind == "error":
                sink.error(
                    c.get("ename", "Error"),
                    strip_ansi(c.get("evalue", "")),
                    [strip_ansi(line) for line in c.get("traceback", [])],
                )
            elif kind == "clear_output":
                sink.clear(bool(c.get("wait", False)))

    # -- death watch -----------------------------------------------------------------------

    def _watch(self, pid: int) -> None:
        """Resolve ``self._died`` the moment the kernel process exits."""
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._poll_task = loop.create_task(self._poll_alive())
            return
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        self._unwatch()
        if self._died is not None and not self._died.done():
            self._died.set_result(self._exit_description())

    async def _poll_alive(self) -> None:
        while self._km is not None and await self._km.is_alive():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)  # no pidfd here: a process exit has no event to await
        if self._died is not None and not self._died.done():
            self._died.set_result(self._exit_description())

    def _unwatch(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._poll_task is not None and self._poll_task is not asyncio.current_task():
            self._poll_task.cancel()
            self._poll_task = None

    def _death(self) -> str:
        if self._died is not None and self._died.done():
            return self._died.result()
        return self._exit_description()

    def _exit_description(self) -> str:
        proc = self._km.provisioner.process if self._km and self._km.provisioner else None
        code = proc.poll() if proc is not None else None
        if code is None:
            text = "the kernel process went away"
        elif code < 0:
            try:
                text = f"kernel process killed by {signal.Signals(-code).name}"
            except ValueError:
                text = f"kernel process killed by signal {-code}"
        else:
            text = f"kernel process exited with code {code}"
        tail = self._log_tail()
        return f"{text}; last kernel output: {tail}" if tail else text

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        try:
            data = Path(self._tmp, "kernel.log").read_bytes()[-2000:]
        except OSError:
            return ""
        lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        return " | ".join(lines[-3:])
