"""Cell execution inside Pyodide: IPython-like results, display(), streams, tracebacks.

Runs in Pyodide, not in runt_action's interpreter. The worker calls ``setup`` once and then
``run_cell`` per cell; everything a cell produces leaves through ``emit(kind, json)``.
IPython is optional: without it a small IPython.display-compatible shim is installed.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import builtins
import importlib
import json
import linecache
import os
import pprint
import random
import re
import sys
import time
import traceback
import types
from typing import Any, SupportsIndex, TextIO, cast

_emit: Any = None
_wait_interrupt: Any = None
_ns: dict[str, Any] = {}
_count = 0
_display_ids = 0

_TEXT_MIME = {
    "text/plain",
    "text/html",
    "text/markdown",
    "text/latex",
    "text/csv",
    "image/svg+xml",
    "application/javascript",
}
_BINARY_MIME = {"image/png", "image/jpeg", "image/gif", "application/pdf"}
_JSON_MIME = {"application/json", "application/geo+json"}
_REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_javascript_", "application/javascript"),
    ("_repr_pdf_", "application/pdf"),
)
_TAG = re.compile(r"<[^>]*>")


def _send(kind: str, **payload: Any) -> None:
    _emit(kind, json.dumps(payload, default=str))


# Stream text is gathered here and handed over in batches: one event per write (two per
# print) cost a Python->JS call, a JSON round trip and a postMessage each, ~5x the time of the
# prints themselves (bench/output.py). A batch leaves when it reaches _FLUSH_BYTES, when a
# line ends _FLUSH_S after the last batch, before any other event (order is kept), on
# flush(), sleep, input() and at the end of the cell, and when the bridge's ticker raises
# _FLUSH_SIGNAL while a cell runs (so a burst followed by a long computation shows at once).
_FLUSH_S = 0.05
_FLUSH_BYTES = 1 << 16
_FLUSH_SIGNAL = 10  # SIGUSR1, written into Pyodide's interrupt buffer by bridge.mjs
_raw_emit: Any = None
_pending: list[str] = []
_pending_name = "stdout"
_pending_size = 0
_last_flush = 0.0


def flush_streams() -> None:
    """Hand the gathered stream text over as one event (also the _FLUSH_SIGNAL handler)."""
    global _pending, _pending_size, _last_flush
    if not _pending:
        return
    chunks, _pending, _pending_size = _pending, [], 0
    _last_flush = time.monotonic()
    _raw_emit("stream", json.dumps({"name": _pending_name, "text": "".join(chunks)}))


def _on_flush_signal(signum: int, frame: Any) -> None:
    """Runs inside whatever the cell is doing: it must never raise into the cell."""
    try:
        flush_streams()
    except Exception:  # a handler inside user code: nothing may escape
        return


def _emit_in_order(kind: str, payload: str) -> None:
    """Every other event leaves after the text written before it."""
    if _pending:
        flush_streams()
    _raw_emit(kind, payload)


class _Stream:
    """sys.stdout / sys.stderr: writes are gathered and handed over in batches (see above)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        global _pending_name, _pending_size
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            if self.name != _pending_name:
                flush_streams()
                _pending_name = self.name
            _pending.append(text)
            _pending_size += len(text)
            if _pending_size >= _FLUSH_BYTES or (
                text[-1] == "\n" and time.monotonic() - _last_flush >= _FLUSH_S
            ):
                flush_streams()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        flush_streams()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


# ---------------------------------------------------------------------------------- formatting


def _b64(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def normalize_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe bundle: text as str, binary as base64, JSON as objects, text/plain present."""
    out: dict[str, Any] = {}
    for mime, value in data.items():
        if value is None:
            continue
        if mime in _BINARY_MIME:
            out[mime] = _b64(value)
        elif mime in _JSON_MIME or mime.endswith("+json"):
            out[mime] = json.loads(value) if isinstance(value, str | bytes) else value
        elif mime in _TEXT_MIME or mime.startswith("text/"):
            out[mime] = value.decode() if isinstance(value, bytes) else str(value)
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            out[mime] = value
    if "text/plain" not in out:
        if "text/html" in out:
            out["text/plain"] = _TAG.sub("", out["text/html"]).strip()
        elif "text/markdown" in out:
            out["text/plain"] = out["text/markdown"]
        else:
            out["text/plain"] = f"<{', '.join(out) or 'empty'} output>"
    return out


def _call_repr(obj: Any, method: str) -> tuple[Any, Any]:
    fn = getattr(obj, method, None)
    if fn is None or isinstance(obj, type):
        return None, None
    try:
        value = fn()
    except Exception:
        return None, None
    if isinstance(value, tuple) and len(value) == 2:
        return value
    return value, None


def format_object(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The MIME bundle IPython would show for ``obj``."""
    data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if mimebundle is not None and not isinstance(obj, type):
        try:
            result = mimebundle(include=None, exclude=None)
        except Exception:
            result = None
        if isinstance(result, tuple):
            data.update(result[0] or {})
            metadata.update(result[1] or {})
        elif isinstance(result, dict):
            data.update(result)
    for method, mime in _REPR_METHODS:
        if mime in data:
            continue
        value, md = _call_repr(obj, method)
        if value is not None:
            data[mime] = value
            if md:
                metadata[mime] = md
    if _is_figure(obj):
        png = _figure_png(obj)
        if png is not None:
            data.setdefault("image/png", png)
    if "text/plain" not in data:
        data["text/plain"] = _plain(obj)
    return normalize_bundle(data), metadata


_OBJECT_REPR: Any = object.__repr__


def _plain(obj: Any) -> str:
    try:
        if isinstance(obj, dict | list | tuple | set) and len(repr(obj)) > 79:
            return pprint.pformat(obj, width=79)
        if type(obj).__repr__ is _OBJECT_REPR:  # IPython's default: no "object" in it
            klass = type(obj)
            module = getattr(klass, "__module__", None)
            name = klass.__qualname__
            if module not in (None, "builtins"):
                name = f"{module}.{name}"
            return f"<{name} at {hex(id(obj))}>"
        return repr(obj)
    except Exception as exc:
        return f"<unrepresentable {type(obj).__name__}: {exc!r}>"


def _is_figure(obj: Any) -> bool:
    mpl = sys.modules.get("matplotlib.figure")
    return mpl is not None and isinstance(obj, mpl.Figure)


def _figure_png(fig: Any) -> str | None:
    import io

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight")
    except Exception:
        return None
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------- display


def _raw_bundle(obj: Any) -> dict[str, Any]:
    """display(raw=True) data; a bare string with tags is HTML, as the reference agent has it."""
    if isinstance(obj, str):
        if "<" in obj and ">" in obj:
            return {"text/html": obj, "text/plain": _TAG.sub("", obj).strip()}
        return {"text/plain": obj}
    return dict(obj)


def display(
    *objs: Any,
    raw: bool = False,
    metadata: dict[str, Any] | None = None,
    display_id: Any = None,
    transient: dict[str, Any] | None = None,
    include: Any = None,
    exclude: Any = None,
    **kwargs: Any,
) -> Any:
    """IPython.display.display: publish each object as display_data."""
    global _display_ids
    if display_id is True:
        _display_ids += 1
        display_id = f"runt-{_display_ids}"
    if transient and "display_id" in transient:
        display_id = transient["display_id"]
    for obj in objs:
        if raw:
            data, md = normalize_bundle(_raw_bundle(obj)), dict(metadata or {})
        else:
            data, md = format_object(obj)
            md.update(metadata or {})
        _send("display", data=data, metadata=md, display_id=display_id, update=False)
    if display_id is not None:
        return DisplayHandle(display_id)
    return None


def update_display(obj: Any, *, display_id: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        data, md = normalize_bundle(_raw_bundle(obj)), dict(kwargs.get("metadata") or {})
    else:
        data, md = format_object(obj)
    _send("display", data=data, metadata=md, display_id=str(display_id), update=True)


def clear_output(wait: bool = False) -> None:
    _send("clear", wait=bool(wait))


class DisplayHandle:
    def __init__(self, display_id: Any = None) -> None:
        global _display_ids
        if display_id is None:
            _display_ids += 1
            display_id = f"runt-{_display_ids}"
        self.display_id = str(display_id)

    def __repr__(self) -> str:
        return f"<DisplayHandle display_id={self.display_id}>"

    def display(self, obj: Any, **kwargs: Any) -> None:
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj: Any, **kwargs: Any) -> None:
        update_display(obj, display_id=self.display_id, **kwargs)


class DisplayObject:
    """Base of the shim's HTML, Markdown, ... (data held as given; one MIME type each)."""

    mime = "text/plain"

    def __init__(
        self,
        data: Any = None,
        url: str | None = None,
        filename: str | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if data is None and filename is not None:
            mode = "rb" if self.mime in _BINARY_MIME else "r"
            with open(filename, mode) as f:
                data = f.read()
        self.data = data
        self.url = url
        self.metadata = metadata

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        data = {self.mime: self.data, "text/plain": repr(self)}
        return (data, {self.mime: self.metadata}) if self.metadata else data

    def __repr__(self) -> str:
        return f"<IPython.core.display.{type(self).__name__} object>"


def _display_class(name: str, mime: str) -> type[DisplayObject]:
    return type(name, (DisplayObject,), {"mime": mime})


HTML = _display_class("HTML", "text/html")
Markdown = _display_class("Markdown", "text/markdown")
Latex = _display_class("Latex", "text/latex")
SVG = _display_class("SVG", "image/svg+xml")
Javascript = _display_class("Javascript", "application/javascript")
JSON = _display_class("JSON", "application/json")


class Image(DisplayObject):
    def __init__(
        self,
        data: Any = None,
        url: str | None = None,
        filename: str | None = None,
        format: str = "png",
        **kwargs: Any,
    ) -> None:
        if isinstance(data, str) and data.endswith((".png", ".jpg", ".jpeg", ".gif")):
            filename, data = data, None
        fmt = (filename or "").rsplit(".", 1)[-1].lower() if filename else format
        self.mime = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}.get(
            fmt, "image/png"
        )
        super().__init__(data, url, filename, **kwargs)


class Pretty(DisplayObject):
    mime = "text/plain"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return {"text/plain": str(self.data)}


_IPYTHON_DISPLAY_MODULES = ("IPython.core.display_functions", "IPython.display", "IPython")


def _install_display() -> None:
    """Give cells IPython's display API, real IPython when importable, the shim otherwise."""
    builtins.display = display  # type: ignore[attr-defined]
    try:
        modules = [importlib.import_module(name) for name in _IPYTHON_DISPLAY_MODULES]
        for module in modules:
            for name in ("display", "update_display", "clear_output"):
                setattr(module, name, globals()[name])
        return
    except Exception:
        pass
    shim = types.ModuleType("IPython.display")
    names = [
        "display", "update_display", "clear_output", "DisplayHandle", "DisplayObject", "HTML",
        "Markdown", "Latex", "SVG", "Javascript", "JSON", "Image", "Pretty",
    ]  # fmt: skip
    for name in names:
        setattr(shim, name, globals()[name])
    package = types.ModuleType("IPython")
    package.__path__ = []
    package.display = shim  # type: ignore[attr-defined]
    for name in ("display", "update_display", "clear_output"):
        setattr(package, name, getattr(shim, name))
    sys.modules.setdefault("IPython", package)
    sys.modules.setdefault("IPython.display", shim)
    # `from IPython.core.display import display, HTML` and IPython.core.error, as in IPython.
    core = types.ModuleType("IPython.core")
    core.__path__ = []
    error = types.ModuleType("IPython.core.error")
    error.StdinNotImplementedError = StdinNotImplementedError  # type: ignore[attr-defined]
    error.UsageError = UsageError  # type: ignore[attr-defined]
    for name, module in (
        ("IPython.core", core),
        ("IPython.core.display", shim),
        ("IPython.core.display_functions", shim),
        ("IPython.core.error", error),
    ):
        sys.modules.setdefault(name, module)
        setattr(sys.modules["IPython.core"], name.rsplit(".", 1)[-1], sys.modules[name])
    package.core = sys.modules["IPython.core"]  # type: ignore[attr-defined]
    package.get_ipython = get_ipython  # type: ignore[attr-defined]


# ------------------------------------------------------------ IPython's input transformations
# Cells written for Jupyter use IPython syntax: %magics, %%cell magics and !shell commands.
# IPython's own TransformerManager turns them into get_ipython() calls when IPython is
# installed; without it (the core distribution has no IPython wheel) the common forms are
# rewritten here. A cell that parses as Python is never touched. The calls reach _Shell, which
# runs the magics that make sense in Pyodide and fails clearly on the rest.


class StdinNotImplementedError(NotImplementedError):
    """IPython.core.error.StdinNotImplementedError: what input() raises under a kernel that
    does not allow stdin (papermill's), and here."""


class UsageError(Exception):
    """IPython.core.error.UsageError: a magic that does not exist or cannot run."""


def _no_stdin(*args: Any, **kwargs: Any) -> str:
    raise _ipython_error("StdinNotImplementedError", StdinNotImplementedError)(
        "raw_input was called, but this frontend does not support input requests."
    )


def _ipython_error(name: str, fallback: type[BaseException]) -> type[BaseException]:
    module = sys.modules.get("IPython.core.error")
    found = getattr(module, name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else fallback


_MAGIC_LINE = re.compile(r"^(\s*)(?:([\w.\[\], ]+?)\s*=\s*)?(%{1,2}|!!?)(.*)$")
_transformer: Any = None  # IPython's TransformerManager, False when IPython is not importable


def transform_cell(code: str) -> str:
    """``code`` with IPython's syntax turned into Python (get_ipython() calls)."""
    global _transformer
    try:
        ast.parse(code)
        return code
    except SyntaxError:
        pass
    if _transformer is None:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            _transformer = TransformerManager()  # type: ignore[no-untyped-call]
        except Exception:
            _transformer = False
    if _transformer:
        try:
            return str(_transformer.transform_cell(code))
        except Exception:
            return code
    lines = code.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name, _, args = lines[first].strip()[2:].partition(" ")
        body = "\n".join(lines[first + 1 :]) + "\n"
        return f"get_ipython().run_cell_magic({name!r}, {args.strip()!r}, {body!r})\n"
    out = []
    for line in lines:
        match = _MAGIC_LINE.match(line)
        if match is None or line.lstrip().startswith("%%"):
            out.append(line)
            continue
        indent, target, prefix, rest = match.groups()
        rest = rest.strip()
        if prefix.startswith("!"):
            call = f"getoutput({rest!r})" if target else f"system({rest!r})"
        else:
            name, _, args = rest.partition(" ")
            call = f"run_line_magic({name!r}, {args.strip()!r})"
        out.append(f"{indent}{target + ' = ' if target else ''}get_ipython().{call}")
    return "\n".join(out) + "\n"


_CELL_MAGIC_MIME = {
    "html": "text/html",
    "HTML": "text/html",
    "markdown": "text/markdown",
    "latex": "text/latex",
    "svg": "image/svg+xml",
    "javascript": "application/javascript",
    "js": "application/javascript",
}


def _timing(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("µs", 1e6)):
        if seconds * scale >= 1:
            return f"{seconds * scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


class _Shell:
    """The part of IPython's InteractiveShell that transformed cells call."""

    def _run(self, source: str, filename: str) -> Any:
        """Exec ``source`` in the notebook's namespace; the last expression's value back."""
        tree = ast.parse(source, filename=filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)  # type: ignore[attr-defined]
        exec(compile(tree, filename, "exec"), _ns)
        return eval(compile(last, filename, "eval"), _ns) if last is not None else None

    def _time(self, source: str) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return self._run(source, "<timed exec>")
        finally:
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"CPU times: total: {_timing(cpu)}\nWall time: {_timing(wall)}")

    def _timeit(self, stmt: str, setup: str = "pass") -> None:
        import statistics
        import timeit

        timer = timeit.Timer(stmt, setup, globals=_ns)
        number, _ = timer.autorange()
        runs = [t / number for t in timer.repeat(7, number)]
        mean, std = statistics.mean(runs), statistics.pstdev(runs)
        loops = "loop" if number == 1 else "loops"
        print(
            f"{_timing(mean)} ± {_timing(std)} per loop "
            f"(mean ± std. dev. of 7 runs, {number:,} {loops} each)"
        )

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        if name == "time":
            return self._time(line)
        if name == "timeit":
            return self._timeit(line)
        if name in ("matplotlib", "config"):  # figures are shown inline already
            return None
        if name == "env":
            key, sep, value = line.replace("=", " ", 1).partition(" ")
            if sep:
                os.environ[key.strip()] = value.strip()
                return None
            return os.environ.get(key.strip()) if key.strip() else dict(os.environ)
        if name in ("pip", "conda", "mamba", "sx", "system"):
            raise _ipython_error("UsageError", UsageError)(
                f"%{name} is not available on Pyodide: declare packages in the notebook's "
                "metadata.packages or the packages input instead"
            )
        raise _ipython_error("UsageError", UsageError)(
            f"Line magic function `%{name}` not found (on Pyodide)."
        )

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        if name == "time":
            return self._time(cell)
        if name == "timeit":
            return self._timeit(cell, line or "pass")
        if name == "capture":
            return self._run(cell, "<captured>")
        if name == "writefile":
            append = line.split()[:1] == ["-a"]
            path = line.split()[-1]
            print(f"{'Appending to' if append else 'Writing'} {path}")
            with open(path, "a" if append else "w", encoding="utf-8") as f:
                f.write(cell)
            return None
        mime = _CELL_MAGIC_MIME.get(name)
        if mime is not None:
            plain = f"<IPython.core.display.{name.upper()} object>"
            display({mime: cell, "text/plain": plain}, raw=True)
            return None
        if name in ("bash", "sh", "script", "system"):
            raise _ipython_error("UsageError", UsageError)(
                f"shell commands are not available on Pyodide: %%{name}"
            )
        raise _ipython_error("UsageError", UsageError)(
            f"Cell magic `%%{name}` not found (on Pyodide)."
        )

    def system(self, cmd: str) -> None:
        raise RuntimeError(f"shell commands are not available on Pyodide: !{cmd}")

    getoutput = system


_SHELL = _Shell()


def get_ipython() -> Any:
    """The shell transformed cells call (IPython's get_ipython() under a kernel)."""
    return _SHELL


def _install_matplotlib_hook() -> None:
    """plt.show() publishes the current figures as PNG display_data (matplotlib is optional)."""

    class _Finder:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
            if name != "matplotlib.pyplot":
                return None
            sys.meta_path.remove(self)
            try:
                import importlib.util

                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            original = loader.exec_module

            def exec_module(module: Any) -> None:
                os.environ.setdefault("MPLBACKEND", "Agg")
                original(module)
                _patch_pyplot(module)

            setattr(loader, "exec_module", exec_module)  # noqa: B010 (mypy: method-assign)
            return spec

    sys.meta_path.insert(0, _Finder())


def _flush_figures() -> None:
    """Figures left open by a cell are shown at its end, as IPython's inline backend does."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and plt.get_fignums():
        try:
            plt.show()
        except Exception as exc:
            _emit("stream", json.dumps({"name": "stderr", "text": f"matplotlib: {exc}\n"}))


def _patch_pyplot(plt: Any) -> None:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.rcParams.update(
        {"figure.dpi": 100, "figure.figsize": (8, 6), "figure.facecolor": "white"}
    )

    def show(*args: Any, **kwargs: Any) -> None:
        for num in plt.get_fignums():
            fig = plt.figure(num)
            png = _figure_png(fig)
            if png is not None:
                display({"image/png": png, "text/plain": repr(fig)}, raw=True)  # as IPython
        plt.close("all")

    plt.show = show


# ----------------------------------------------------------------------------------- execution


def _user_tb(tb: Any, filename: str) -> Any:
    """Drop the frames of this runtime (and Pyodide) above the first frame of the cell."""
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


def _error(exc: BaseException, filename: str, load_problem: str) -> None:
    tb = _user_tb(exc.__traceback__, filename)
    exc = exc.with_traceback(tb)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        exc.msg = f"No module named '{top}': the package is not available in this Pyodide runtime"
        if load_problem:
            exc.msg += f" ({load_problem.strip().splitlines()[-1]})"
        exc.args = (exc.msg,)
    lines = traceback.format_exception(type(exc), exc, tb)
    evalue = str(exc) if not isinstance(exc, SyntaxError) else (exc.msg or str(exc))
    _send(
        "error",
        ename=type(exc).__name__,
        evalue=evalue,
        traceback=[line.rstrip("\n") for line in lines],
    )


class _Cell:
    """One execution: parsed up front, run synchronously unless it uses top-level await.

    Synchronous cells never enter asyncio: a KeyboardInterrupt landing inside asyncio's own
    machinery would escape the loop instead of reaching the cell.
    """

    def __init__(self, code: str, load_problem: str, filename: str) -> None:
        self.count = _count
        self.filename = filename
        self.load_problem = load_problem
        linecache.cache[self.filename] = (len(code), None, code.splitlines(True), self.filename)
        self.body: types.CodeType | None = None
        self.last: types.CodeType | None = None
        tree = ast.parse(code, filename=self.filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            expr = tree.body.pop()
            assert isinstance(expr, ast.Expr)
            last = ast.Expression(expr.value)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self.body = compile(tree, self.filename, "exec", flags=flags)
        if last is not None:
            self.last = compile(last, self.filename, "eval", flags=flags)

    @property
    def is_async(self) -> bool:
        return any(c is not None and c.co_flags & _CO_COROUTINE for c in (self.body, self.last))

    def show(self, value: Any) -> None:
        if value is not None:
            builtins._ = value  # type: ignore[attr-defined]
            _ns["_"] = value
            data, md = format_object(value)
            _send("result", data=data, metadata=md)

    def outcome(self, status: str) -> dict[str, Any]:
        _flush_figures()
        return {"status": status, "execution_count": self.count}

    def failed(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, SystemExit):
            # As IPython reports it: no traceback. The agent reads sys.exit(0) (evalue "", "0"
            # or "None") as a clean end of the notebook, any other code as a failure.
            code = str(exc)
            _send(
                "error",
                ename="SystemExit",
                evalue=code,
                traceback=[
                    "An exception has occurred, use %tb to see the full traceback.",
                    f"SystemExit: {code}" if code else "SystemExit",
                ],
            )
            return self.outcome("error")
        interrupted = isinstance(exc, KeyboardInterrupt)
        _error(exc, self.filename, "" if interrupted else self.load_problem)
        return self.outcome("interrupted" if interrupted else "error")


_CO_COROUTINE = 0x80


def cell_filename(cell_id: str | None, count: int) -> str:
    """``<cell ID>`` as tracebacks name the cell (the native kernel says the same), so an
    error points at the notebook's cell, not at a retry-shifted execution count."""
    return f"<cell {cell_id}>" if cell_id else f"<cell-{count}>"


def run_cell(code: str, load_problem: str = "", cell_id: str | None = None) -> Any:
    """Run one cell in the shared namespace; the last expression becomes execute_result.

    Returns the outcome dict, or for a cell with top-level await a coroutine resolving to it.
    """
    global _count
    _count += 1
    filename = cell_filename(cell_id, _count)
    try:
        cell = _Cell(transform_cell(code), load_problem, filename)
    except BaseException as exc:  # SyntaxError, or an interrupt while parsing (count is taken)
        _error(exc, filename, "")
        return {"status": "error", "execution_count": _count}
    if cell.is_async:
        return asyncio.ensure_future(_run_async(cell))  # a Task, so an interrupt can cancel it
    try:
        assert cell.body is not None
        eval(cell.body, _ns)
        if cell.last is not None:
            cell.show(eval(cell.last, _ns))
    except BaseException as exc:  # SystemExit too: a cell must not end the runtime
        return cell.failed(exc)
    return cell.outcome("ok")


async def _run_async(cell: _Cell) -> dict[str, Any]:
    try:
        for code in (cell.body, cell.last):
            if code is None:
                continue
            value = eval(code, _ns)
            if code.co_flags & _CO_COROUTINE:
                value = await value
            if code is cell.last:
                cell.show(value)
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError):  # the worker's answer to an interrupt
            exc = KeyboardInterrupt().with_traceback(exc.__traceback__)
        return cell.failed(exc)
    return cell.outcome("ok")


def _interruptible_sleep(seconds: float | SupportsIndex) -> None:
    """time.sleep that waits without spinning and wakes on an interrupt.

    Pyodide's own sleep busy-waits in C, where the interrupt buffer is never looked at.
    """
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    flush_streams()  # what was printed before a wait is shown during it
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if _wait_interrupt(remaining * 1000):
            raise KeyboardInterrupt


# Imported before the memory snapshot is taken, so a notebook's first cell finds them loaded
# (an import after a snapshot boot costs unmarshalling or, without prepare.py's precompiled
# stdlib, compiling the module in wasm). What data notebooks commonly import, not everything:
# the run that makes the snapshot pays for each one.
WARM_MODULES = (
    "array", "base64", "bisect", "calendar", "cmath", "collections", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "enum", "fractions", "functools", "hashlib",
    "heapq", "io", "itertools", "json", "math", "numbers", "operator", "pathlib", "pprint",
    "random", "re", "statistics", "string", "struct", "textwrap", "time", "typing",
    "unicodedata", "urllib.parse", "zlib",
)  # fmt: skip


def warm() -> None:
    """Import WARM_MODULES; called only when making the snapshot (a cold boot would pay)."""
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # missing from a trimmed distribution: it just stays cold
            continue


def setup(emit: Any, wait_interrupt: Any, env: Any) -> Any:
    """Wire the runtime to the worker; returns what the worker calls per cell."""
    global _emit, _raw_emit, _wait_interrupt, _ns
    _raw_emit = emit
    _emit = _emit_in_order
    _wait_interrupt = wait_interrupt
    # random's global generator was seeded when the snapshot was made: without a fresh seed
    # every run restored from it would draw the same "random" numbers.
    random.seed()
    time.sleep = _interruptible_sleep
    for key, value in dict(env).items():
        os.environ[str(key)] = str(value)
    sys.stdout = cast(TextIO, _Stream("stdout"))
    sys.stderr = cast(TextIO, _Stream("stderr"))
    _ns = sys.modules["__main__"].__dict__  # cells run as __main__, like IPython
    _install_display()
    _install_matplotlib_hook()
    _ns.setdefault("get_ipython", get_ipython)  # as IPython puts it in the user namespace
    builtins.input = _no_stdin  # papermill's kernels allow no stdin: ipykernel raises this
    import getpass

    getpass.getpass = _no_stdin
    try:  # the bridge's ticker: Pyodide runs this handler between bytecodes of a busy cell
        import signal

        signal.signal(_FLUSH_SIGNAL, _on_flush_signal)
    except Exception:  # no signal module: batches still leave at the other points
        pass
    return types.SimpleNamespace(run_cell=run_cell, flush=flush_streams)
