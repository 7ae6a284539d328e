"""The native engine: a real ipykernel of the current interpreter, driven by jupyter_client.

The kernel talks over IPC sockets in a private temp dir (no open TCP ports, and no ipykernel
"running over TCP without encryption" warning). Kernel death is watched through a pidfd, so an
execution never hangs on a dead kernel: it raises errors.RuntimeDied as soon as the process exits.

Speed matters here because the kernel's boot is most of a short run. So the process is launched
with a plain ``subprocess.Popen`` (no event loop: ``prestart()`` can run before the caller's own
heavy imports and overlap them), readiness is one kernel_info round trip seen on shell *and*
iopub (jupyter_client's ``wait_for_ready`` also sits out 0.2 s of iopub silence), and exits are
observed through the pidfd instead of 0.1 s polling. The client is jupyter_client's
AsyncKernelClient; its import overlaps the kernel's boot, which is the critical path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from runt_action.agents.engine import ExecOutcome, ExecStatus, OutputSink
from runt_action.agents.spill import discard_spilled
from runt_action.errors import RuntimeAgentError, RuntimeDied

if TYPE_CHECKING:
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.connect import KernelConnectionInfo

    from runt_action.agents.forkserver import ForkedProcess, ForkServer

__all__ = ["NativeEngine", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_POLL_S = 0.02  # liveness poll interval where pidfd is unavailable (non-Linux)
_RECONNECT_MS = 10  # zmq retries connecting every 100 ms by default; the kernel binds mid-boot
_READY_RESEND_S = 1.0  # re-send kernel_info if nothing came back (as jupyter_client does)
_IOPUB_PROBE_S = 0.25  # after a kernel_info reply, how long its iopub status may lag
_EXIT_WAIT_S = 2.5  # per stage of a polite shutdown (jupyter_client: shutdown_wait_time / 2)
_KERNEL_ARGS = ("-m", "ipykernel_launcher", "-f")
_KERNEL_OPTS = ("--InteractiveShell.colors=NoColor",)
_V = sys.version_info
_PYTHON_NAMES = {"python", f"python{_V[0]}", f"python{_V[0]}.{_V[1]}"}  # as jupyter_client
_TEMPLATE = re.compile(r"\{([A-Za-z0-9_]+)\}")

# Sent once per kernel (silently, before its first cell): IPython names a cell's code
# "<cell ID>" when the execute_request's metadata carries cellId (ipykernel passes it to
# run_cell, pre_run_cell sees it), so tracebacks read ``File "<cell ID>", line N`` as on
# Pyodide. A kernel that is not IPython ignores it (the silent request's error is not ours).
_NAME_CELLS = """
def __runt_name_cells():
    ip = get_ipython()
    comp = ip.compile
    if getattr(comp, "_runt_named", False):
        return
    state = {"id": None}

    def pre(info):
        state["id"] = getattr(info, "cell_id", None)

    def post(result):
        state["id"] = None

    get_name, fmt = comp.get_code_name, comp.format_code_name

    def get_code_name(raw_code, transformed_code, number):
        cid = state["id"]
        return f"<cell {cid}>" if cid else get_name(raw_code, transformed_code, number)

    def format_code_name(name):
        if name.startswith("<cell ") and name.endswith(">"):
            return "File", f'"{name}"'
        return fmt(name)

    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)
    comp.get_code_name = get_code_name
    comp.format_code_name = format_code_name
    comp._runt_named = True


def __runt_fast_exit():
    # Registered first, so it runs after every atexit handler of the user's: the final
    # teardown then skips a full collection of everything IPython imported (measured: the
    # kernel's exit 0.40 s -> 0.08 s median, ~25% of a short run end to end). Only garbage in
    # reference cycles still alive at exit loses its __del__, which Python never guarantees.
    import atexit
    import gc

    atexit.register(gc.freeze)


try:
    __runt_name_cells()
    __runt_fast_exit()
except Exception:
    pass
finally:
    del __runt_name_cells, __runt_fast_exit
"""


def strip_ansi(text: str) -> str:
    """IPython colours tracebacks; the runt error output and the job summary want plain text."""
    return _ANSI.sub("", text)


def _client(conn: dict[str, Any]) -> AsyncKernelClient:
    """A jupyter_client client on the prestarted kernel's sockets (shell, iopub, control)."""
    import zmq

    from runt_action.agents.kernel_wire import SpillingKernelClient, SpillingSession

    # Large outputs go to files as they arrive, never twice in memory (agents/kernel_wire.py).
    kc = SpillingKernelClient(session=SpillingSession())
    kc.load_connection_info(cast("KernelConnectionInfo", conn))
    # zmq retries connecting every 100 ms by default; the kernel binds mid-boot.
    kc.context.setsockopt(zmq.RECONNECT_IVL, _RECONNECT_MS)
    kc.context.setsockopt(zmq.LINGER, 0)
    kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=True)
    return kc


class NativeEngine:
    """One ipykernel process with a persistent namespace."""

    runtime_type = "python3"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        *,
        startup_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
        kernel: str | None = None,
        python: str | os.PathLike[str] | None = None,
        forks: ForkServer | None = None,
    ) -> None:
        """``cwd``: the kernel's working directory (default ours); ``kernel``: an installed
        Jupyter kernelspec to start instead of this interpreter's ipykernel (``-k``);
        ``python``: the interpreter whose ipykernel runs (default this one; a run-local
        environment's, agents/uvenv.py); ``forks``: a fork server the default kernel is
        forked from (a batch's, agents/forkserver.py)."""
        self._python = os.fspath(python) if python is not None else sys.executable
        default = kernel is None and self._python == sys.executable
        self._forks = forks if default else None
        self._deferred: tuple[list[str], dict[str, str]] | None = None  # waits for _forks
        # env: extra variables for the kernel, on top of ``environ`` (the base environment,
        # default this process's: the orchestrator passes its own minus every token).
        self._env = dict(env or {})
        # The base environment, as given here or to prestart (a restart reuses it).
        self._environ: Mapping[str, str] | None = dict(environ) if environ is not None else None
        self._cwd = str(cwd) if cwd is not None else None
        self._kernel = kernel
        self._named = False  # the cell-naming hook was sent to this kernel
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._conn: dict[str, Any] = {}
        self._kc: AsyncKernelClient | None = None
        # The kernel's own kernel_info_reply language_info (the executed .ipynb's, as papermill).
        self.language_info: dict[str, Any] | None = None
        self._tmp: str | None = None
        self._log: IO[bytes] | None = None
        self._exited: asyncio.Future[str] | None = None  # resolves when the process is gone
        self._pidfd: int | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None  # the one shutdown, shared by callers
        self._running = False
        self._interrupted = False
        self._closing = False

    @property
    def pid(self) -> int | None:
        """The kernel process id once launched (for fault injection and diagnostics)."""
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle -------------------------------------------------------------------------

    def prestart(self, environ: Mapping[str, str] | None = None) -> None:
        """Launch the kernel process now; ``start()`` adopts it. Needs no event loop.

        The environment (``environ``, default ``os.environ``, + ``env``) is taken here, so
        call it after removing anything the kernel must not inherit. Idempotent.
        """
        if self._proc is not None or self._deferred is not None or self._closing:
            return
        if environ is not None:
            self._environ = dict(environ)
        environ = self._environ
        self._tmp = tempfile.mkdtemp(prefix="runt-kernel-")
        self._conn = {
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "ip": os.path.join(self._tmp, "k"),
            "key": secrets.token_hex(16),
            "transport": "ipc",
            "signature_scheme": "hmac-sha256",
            "kernel_name": "runt-python3",
        }
        conn_file = os.path.join(self._tmp, "kernel.json")
        fd = os.open(conn_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._conn, f)
        try:
            argv, spec_env = self._argv(conn_file)
        except RuntimeAgentError:
            self._release()
            raise
        env = {**(os.environ if environ is None else environ), **spec_env, **self._env}
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules noise
        env["JPY_PARENT_PID"] = str(os.getpid())  # the kernel exits if we die (ParentPoller)
        self._log = open(os.path.join(self._tmp, "kernel.log"), "wb")  # noqa: SIM115
        if self._forks is not None and self._forks.failed is None:
            if not self._forks.ready_nowait():
                self._deferred = (argv, env)  # start() forks it once the server is ready
                return
            self._proc = self._forks.spawn(argv[3:], env, self._cwd, self._log.name)
            if self._proc is not None:
                return
        self._popen(argv, env)

    def _popen(self, argv: list[str], env: dict[str, str]) -> None:
        assert self._log is not None
        try:
            # As jupyter_client launches kernels: own session (interrupts go to the group),
            # stdin a pipe nobody writes to.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=self._log,
                env=env,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._release()
            raise RuntimeAgentError(f"could not start the Python kernel: {exc}") from exc

    def _argv(self, conn_file: str) -> tuple[list[str], dict[str, str]]:
        """The kernel's command line and extra environment: this interpreter's ipykernel, or
        the kernelspec's argv templated as jupyter_client does (``python`` = sys.executable)."""
        if self._kernel is None:
            return [self._python, *_KERNEL_ARGS, conn_file, *_KERNEL_OPTS], {}
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            spec = KernelSpecManager().get_kernel_spec(self._kernel)
        except NoSuchKernel as exc:
            raise RuntimeAgentError(f"kernel {self._kernel!r} is not installed") from exc
        ns = {"connection_file": conn_file, "prefix": sys.prefix}
        ns["resource_dir"] = spec.resource_dir
        argv = [_TEMPLATE.sub(lambda m: ns.get(m.group(1), m.group()), a) for a in spec.argv]
        if argv and argv[0] in _PYTHON_NAMES:
            argv[0] = sys.executable
        return argv, {str(k): str(v) for k, v in (spec.env or {}).items()}

    async def start(self) -> None:
        if self._closing:
            raise RuntimeAgentError("the Python kernel was shut down")
        self.prestart()
        if self._deferred is not None:
            argv, env = self._deferred
            assert self._forks is not None and self._log is not None
            forks, log = self._forks, self._log.name
            self._proc = await asyncio.to_thread(forks.spawn, argv[3:], env, self._cwd, log)
            self._deferred = None
            if self._proc is None:
                self._popen(argv, env)
        assert self._proc is not None
        self._exited = asyncio.get_running_loop().create_future()
        self._watch(self._proc.pid)
        try:
            self._kc = _client(self._conn)
            ready = asyncio.ensure_future(self._handshake())
            try:
                await asyncio.wait(
                    [ready, cast("asyncio.Future[Any]", self._exited)],
                    timeout=self._startup_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                if not ready.done():
                    ready.cancel()
                    with contextlib.suppress(BaseException):
                        await ready
            if self._exited.done():
                raise RuntimeAgentError(f"Python kernel died during startup: {self._death()}")
            if ready.cancelled():
                raise RuntimeAgentError(
                    "Python kernel did not become ready: "
                    f"no reply within {self._startup_timeout:g} s"
                )
            ready.result()
        except RuntimeAgentError:
            await self.shutdown()
            raise
        except Exception as exc:
            await self.shutdown()
            raise RuntimeAgentError(f"Python kernel did not become ready: {exc}") from exc

    async def _handshake(self) -> None:
        """Ready = a kernel_info reply on shell and its busy/idle status on iopub.

        The iopub half proves our subscription is live, so no output of the first cell can be
        lost. Earlier requests stay queued in zmq until the kernel binds, so a slow boot is
        only waited for, not retried; replies to any of our requests count.
        """
        kc = self._kc
        assert kc is not None
        sent: set[str] = set()
        while True:
            sent.add(kc.kernel_info())
            try:
                async with asyncio.timeout(_READY_RESEND_S):
                    while True:
                        msg = await kc.get_shell_msg()
                        if msg["parent_header"].get("msg_id") in sent:
                            info = msg.get("content", {}).get("language_info")
                            if isinstance(info, dict):
                                self.language_info = info
                            break
            except TimeoutError:
                continue
            try:
                async with asyncio.timeout(_IOPUB_PROBE_S):
                    while True:
                        msg = await kc.get_iopub_msg()
                        if msg["parent_header"].get("msg_id") in sent:
                            return
            except TimeoutError:
                continue  # subscribed too late for that one: ask again

    async def shutdown(self) -> None:
        """Politely (shutdown_request, then SIGTERM, then SIGKILL) unless a cell is running
        or the kernel is already dead; every caller waits for the same, single shutdown."""
        if self._closed is None:
            self._closing = True
            self._closed = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closed)

    async def _shutdown(self) -> None:
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                exited = self._exit_future(proc)
                if not self._running and self._kc is not None:
                    # As jupyter_client: an interrupt to the group first (stray children;
                    # an idle ipykernel ignores SIGINT), then shutdown_request.
                    self._signal(signal.SIGINT)
                    with contextlib.suppress(Exception):
                        self._kc.shutdown()
                    for sig in (signal.SIGTERM, None):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(exited), _EXIT_WAIT_S)
                            break
                        if sig is not None:
                            self._signal(sig)
                if proc.poll() is None:
                    self._signal(signal.SIGKILL)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(exited), _EXIT_WAIT_S)
        finally:
            self._release()

    async def restart(self) -> None:
        """SIGKILL the kernel (a running execute() raises RuntimeDied) and start a new one."""
        if self._closed is not None:
            raise RuntimeAgentError("the Python kernel was shut down")
        proc = self._proc
        self._closing = True  # a running execute() reports the death, not a socket error
        if proc is not None and proc.poll() is None:
            exited = self._exit_future(proc)
            self._signal(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), _EXIT_WAIT_S)
        self._release()
        self._proc, self._exited, self._conn, self._named = None, None, {}, False
        self._deferred = None
        self._running = self._interrupted = self._closing = False
        await self.start()

    def kill(self) -> None:
        """Synchronous last resort (no event loop needed): SIGKILL the kernel, clean up."""
        self._closing = True
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(_EXIT_WAIT_S)
        self._release()

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # its own session: pgid == pid
        except OSError:
            with contextlib.suppress(OSError):
                proc.send_signal(sig)

    def _exit_future(self, proc: subprocess.Popen[bytes] | ForkedProcess) -> asyncio.Future[str]:
        if self._exited is None:  # shut down before start(): watch it now
            self._exited = asyncio.get_running_loop().create_future()
            self._watch(proc.pid)
        return self._exited

    def _release(self) -> None:
        """Close everything of ours; the process must be gone or abandoned by now."""
        self._unwatch()
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
            self._kc = None
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.poll()  # reap
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- execution -------------------------------------------------------------------------

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        """``cell_id`` travels in the request's metadata (``cellId``, as JupyterLab sends it);
        the hook sent first (_NAME_CELLS) makes IPython name the code ``<cell ID>``."""
        if self._kc is None or self._exited is None or self._closing:
            raise RuntimeAgentError("the Python kernel is not running")
        exited = self._exited  # this kernel's: a restart replaces the attribute
        if exited.done():
            raise RuntimeDied(f"Python kernel died: {exited.result()}")
        self._interrupted = False
        self._running = True
        try:
            kc = self._kc
            if not self._named:  # queued before the cell: the kernel runs them in order
                kc.execute(_NAME_CELLS, silent=True, store_history=False, stop_on_error=False)
                self._named = True
            fields = {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            }
            request = kc.session.msg(
                "execute_request", fields, metadata={"cellId": cell_id} if cell_id else None
            )
            kc.shell_channel.send(request)
            msg_id = request["header"]["msg_id"]
            pump = asyncio.ensure_future(self._pump_iopub(kc, msg_id, sink))
            reply = asyncio.ensure_future(self._shell_reply(kc, msg_id))
            both = asyncio.gather(pump, reply)
            finished = False
            try:
                await asyncio.wait({both, exited}, return_when=asyncio.FIRST_COMPLETED)
                finished = both.done() and not both.cancelled() and both.exception() is None
            finally:
                if not both.done():
                    both.cancel()
                    with contextlib.suppress(BaseException):
                        await both
            if not finished and (exited.done() or self._closing or exited is not self._exited):
                # Also when the sockets failed first because the kernel went away.
                why = exited.result() if exited.done() else "the kernel was killed"
                raise RuntimeDied(f"Python kernel died: {why}")
            both.result()
            content = reply.result()
        finally:
            self._running = False
        return self._outcome(content)

    async def interrupt(self) -> None:
        if self._proc is None or not self._running:
            return
        self._interrupted = True
        self._signal(signal.SIGINT)  # the kernelspec's interrupt_mode is "signal"

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

    async def _shell_reply(self, kc: AsyncKernelClient, msg_id: str) -> dict[str, Any]:
        while True:
            msg = await kc.get_shell_msg()
            if msg["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = msg["content"]
                return content

    async def _pump_iopub(self, kc: AsyncKernelClient, msg_id: str, sink: OutputSink) -> None:
        while True:
            msg = await kc.get_iopub_msg()
            if msg["parent_header"].get("msg_id") != msg_id:
                discard_spilled(msg.get("content"))  # not this cell's: its files go now
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
        """Resolve ``self._exited`` the moment the kernel process exits."""
        loop = asyncio.get_running_loop()
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._poll_task = loop.create_task(self._poll_alive())
            return
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        self._unwatch()
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.poll()  # reap, so the exit code is known
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(self._exit_description())

    async def _poll_alive(self) -> None:
        while self._proc is not None and self._proc.poll() is None:  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)  # no pidfd here: a process exit has no event to await
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(self._exit_description())

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
        if self._exited is not None and self._exited.done():
            return self._exited.result()
        return self._exit_description()

    def _exit_description(self) -> str:
        code = self._proc.poll() if self._proc is not None else None
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
