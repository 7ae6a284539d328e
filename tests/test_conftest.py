"""The session plumbing of tests/conftest.py, checked on a real inner pytest run."""

from __future__ import annotations

from pathlib import Path

import pytest

# A collection that runs a nested ast.parse (here a GC callback standing in for a garbage
# coroutine's finally: block formatting a traceback), then a failure pytest must report.
INNER = """
import ast
import gc

import pytest


def nested_parse(phase, info):
    if phase == "start":
        ast.parse("a = (1 + 2) * b[3]")


@pytest.fixture
def collections_parse():
    threshold = gc.get_threshold()
    gc.callbacks.append(nested_parse)
    gc.set_threshold(50)
    yield
    gc.callbacks.remove(nested_parse)
    gc.set_threshold(*threshold)


def test_fails(collections_parse):
    assert 1 + 1 == 3
"""


def run_inner(pytester: pytest.Pytester, *, with_conftest: bool) -> pytest.RunResult:
    if with_conftest:
        pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")


def test_a_failure_is_reported_even_if_a_collection_parses_source(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(pytester, with_conftest=True)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert (1 + 1) == 3*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_without_it_the_interpreter_bug_ends_the_session(pytester: pytest.Pytester) -> None:
    """The control: the crash the hook prevents is real on this interpreter."""
    result = run_inner(pytester, with_conftest=False)
    if "INTERNALERROR" not in result.stdout.str():
        pytest.xfail("this interpreter has the gh-106905 fix (3.11.8+, 3.12.2+)")
    result.stdout.fnmatch_lines(["*SystemError: AST constructor recursion depth mismatch*"])
