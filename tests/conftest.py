"""Session-wide test plumbing: only what every test directory needs."""

from __future__ import annotations

import gc
from collections.abc import Generator

import pytest

pytest_plugins = ["pytester"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failure's report is built with the cyclic GC paused.

    pytest parses the source of every traceback entry to show a failure. On CPython 3.11
    before 3.11.8 (the interpreter these machines have), a nested ``ast.parse`` while
    ``ast.parse`` builds its tree breaks a shared recursion counter (cpython gh-106905);
    a collection started there can run such a nested parse (a garbage coroutine of a timed-out
    test whose ``finally:`` logs a traceback), and the report becomes an INTERNALERROR that ends
    the session and hides every later result. Collecting before and after keeps the garbage's
    own messages; tests/test_conftest.py reproduces the crash without this.
    """
    if call.excinfo is None:
        return (yield)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return (yield)
    finally:
        if enabled:
            gc.enable()
