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


class _Stream:
    """sys.stdout / sys.stderr that hands every write over at once (no buffering)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            _emit("stream", json.dumps({"name": self.name, "text": text}))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

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


def _plain(obj: Any) -> str:
    try:
        if isinstance(obj, dict | list | tuple | set) and len(repr(obj)) > 79:
            return pprint.pformat(obj, width=79)
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
                display({"image/png": png, "text/plain": f"<matplotlib figure: {fig!r}>"}, raw=True)
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
        cell = _Cell(code, load_problem, filename)
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
    global _emit, _wait_interrupt, _ns
    _emit = emit
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
    return types.SimpleNamespace(run_cell=run_cell)
