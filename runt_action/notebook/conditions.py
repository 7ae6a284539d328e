"""The `if:` language: a tiny, safe expression over earlier cells' results.

Parsed with :mod:`ast` and walked by hand, so nothing is ever ``eval``-ed. The grammar is
the GitHub Actions idea of status functions plus cell lookups::

    success()                         no earlier cell failed (the default condition)
    failure()                         some earlier cell failed
    always()                          run regardless
    cells.<id>.status == "success"    an earlier cell's status (a CellStatus value, checked)
    cells["my-id"].attempts >= 2      ids with dashes use the subscript form
    not / and / or, ==, !=, <, <=, >, >=, in, not in, string/number/bool literals, tuples

A condition that mentions a cell that is not *earlier* in the notebook, or anything outside
the grammar, is a :class:`~runt_action.errors.NotebookError` when the notebook is loaded.
So is a status literal that no cell can have (``cells.x.status == "faild"``): a typo there
would make the condition silently never (or always) true.

Stop-on-error: a condition that uses ``failure()`` or ``always()`` (``overrides_stop``) may
run after a failure; any other condition is only evaluated while nothing has failed.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runt_action.errors import NotebookError
from runt_action.notebook.literals import shown
from runt_action.notebook.model import MAX_CONDITION_LENGTH
from runt_action.results import CellStatus

__all__ = [
    "STATUS_VALUES",
    "CellFacts",
    "Condition",
    "compile_condition",
    "validate_conditions",
]

_FUNCTIONS = ("success", "failure", "always")
# What ``cells.<id>.status`` can be: the documented CellStatus values (README, "if:").
STATUS_VALUES: tuple[str, ...] = tuple(status.value for status in CellStatus)
_ATTRIBUTES = ("status", "attempts", "duration_ms")
_MAX_LENGTH = MAX_CONDITION_LENGTH
_MAX_NODES = 200

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


@dataclass(frozen=True, slots=True)
class CellFacts:
    """What a condition may know about one earlier cell."""

    status: str
    attempts: int = 0
    duration_ms: float = 0.0


class _Reject(Exception):
    """Internal: the expression left the grammar (message says where)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A validated `if:` expression; ``evaluate`` walks the checked tree."""

    source: str
    _tree: ast.expr
    cells: frozenset[str]  # the cell ids it refers to
    uses_status_function: bool  # mentions success(), failure() or always()
    overrides_stop: bool  # mentions failure() or always(): may run after a failure

    def evaluate(self, facts: Mapping[str, CellFacts], *, failed: bool) -> bool:
        """``facts`` holds earlier cells; ``failed`` is whether any earlier cell failed."""
        return bool(_Evaluator(facts, failed).visit(self._tree))


def compile_condition(
    source: str,
    *,
    earlier_cells: Sequence[str] | None = None,
    file: str | Path | None = None,
    line: int = 0,
) -> Condition:
    """Parse and check an `if:` expression; raise NotebookError if it is not allowed.

    ``earlier_cells`` (when given) are the ids a condition may name.
    """
    text = source.strip()
    # A leading "${{ ... }}" is accepted because users copy it from workflow files.
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()

    def fail(message: str) -> NotebookError:
        return NotebookError(
            f"invalid `if:` expression {shown(source, 100)}: {message}", file=file, line=line
        )

    if not text:
        raise fail("it is empty")
    if len(text) > _MAX_LENGTH:
        raise fail(f"it is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise fail(f"syntax error ({exc.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise fail("it is too complex")
    checker = _Checker()
    try:
        checker.check(tree.body)
    except _Reject as exc:
        raise fail(str(exc)) from None
    if earlier_cells is not None:
        allowed = set(earlier_cells)
        for ref in sorted(checker.cells):
            if ref not in allowed:
                raise fail(f"cell {ref!r} is not an earlier cell of this notebook")
    return Condition(
        source=source,
        _tree=tree.body,
        cells=frozenset(checker.cells),
        uses_status_function=bool(checker.functions),
        overrides_stop=bool(checker.functions & {"failure", "always"}),
    )


def validate_conditions(cells: Sequence[Any], *, file: str | Path | None = None) -> None:
    """Check every cell's ``if_`` against the cells before it (called at load/validate time)."""
    earlier: list[str] = []
    for cell in cells:
        expr = getattr(cell, "if_", None)
        if expr:
            compile_condition(
                expr, earlier_cells=earlier, file=file, line=int(getattr(cell, "line", 0) or 0)
            )
        earlier.append(str(cell.id))


def _cell_ref(node: ast.expr) -> tuple[str, str] | None:
    """``cells.<id>.<attr>`` or ``cells["id"].<attr>`` -> (id, attr); anything else -> None."""
    if not isinstance(node, ast.Attribute):
        return None
    target = node.value
    cell_id: str | None = None
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "cells"
    ):
        cell_id = target.attr
    elif (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id == "cells"
        and isinstance(target.slice, ast.Constant)
        and isinstance(target.slice.value, str)
    ):
        cell_id = target.slice.value
    if cell_id is None:
        return None
    return cell_id, node.attr


class _Checker:
    def __init__(self) -> None:
        self.cells: set[str] = set()
        self.functions: set[str] = set()  # status functions used

    def check(self, node: ast.expr) -> None:
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.check(node.operand)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if not (isinstance(node.operand, ast.Constant) and _is_number(node.operand.value)):
                raise _Reject("unary minus is only allowed on a number")
        elif isinstance(node, ast.Compare):
            self.check(node.left)
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _COMPARE:
                    raise _Reject(f"operator {type(op).__name__} is not allowed")
                self.check(right)
                _check_status_comparison(left, op, right)
                left = right
        elif isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in _FUNCTIONS
                or node.args
                or node.keywords
            ):
                raise _Reject(
                    "the only functions are success(), failure() and always(), without arguments"
                )
            self.functions.add(node.func.id)
        elif isinstance(node, ast.Constant):
            if not (
                isinstance(node.value, str) or _is_number(node.value) or node.value in (True, False)
            ):
                raise _Reject(f"literal {node.value!r} is not allowed")
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                if not isinstance(elt, ast.Constant):
                    raise _Reject("lists may hold only literals")
                self.check(elt)
        elif (ref := _cell_ref(node)) is not None:
            cell_id, attr = ref
            if attr not in _ATTRIBUTES:
                raise _Reject(f"cells.<id> has only {', '.join(_ATTRIBUTES)} (got {attr!r})")
            self.cells.add(cell_id)
        elif isinstance(node, ast.Name):
            raise _Reject(
                f"unknown name {node.id!r} (use cells.<id>.status, success(), failure(), always())"
            )
        else:
            raise _Reject(f"{type(node).__name__} is not allowed")


def _is_status(node: ast.expr) -> bool:
    ref = _cell_ref(node)
    return ref is not None and ref[1] == "status"


def _check_status_comparison(left: ast.expr, op: ast.cmpop, right: ast.expr) -> None:
    """A status is compared for (in)equality with a known status, or tested with ``in``
    against a tuple of them; anything else is a mistake that would never match."""
    if not (_is_status(left) or _is_status(right)):
        return
    if _is_status(left) and _is_status(right):
        if isinstance(op, ast.Eq | ast.NotEq):
            return
        raise _Reject("two statuses can only be compared with == or !=")
    other = right if _is_status(left) else left
    if isinstance(op, ast.Eq | ast.NotEq):
        if isinstance(other, ast.Constant):
            _check_status_literal(other.value)
        return
    if isinstance(op, ast.In | ast.NotIn) and _is_status(left):
        if isinstance(other, ast.Tuple | ast.List):
            for elt in other.elts:
                if isinstance(elt, ast.Constant):
                    _check_status_literal(elt.value)
            return
        raise _Reject('test a status against a tuple: cells.<id>.status in ("failed", "timeout")')
    raise _Reject("a status can only be compared with ==, != or in (...)")


def _check_status_literal(value: object) -> None:
    if isinstance(value, str) and value in STATUS_VALUES:
        return
    expected = f"(expected one of: {', '.join(STATUS_VALUES)})"
    if not isinstance(value, str):
        raise _Reject(f"a status is a string, not {shown(value)} {expected}")
    close = difflib.get_close_matches(value, STATUS_VALUES, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise _Reject(f"unknown status {shown(value)}{hint} {expected}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Evaluator:
    def __init__(self, facts: Mapping[str, CellFacts], failed: bool) -> None:
        self.facts = facts
        self.failed = failed

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self.visit(v) for v in node.values)
            return any(self.visit(v) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.visit(right_node)
                try:
                    ok = _COMPARE[type(op)](left, right)
                except TypeError:
                    ok = False  # "success" < 3: false, not a crash
                if not ok:
                    return False
                left = right
            return True
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if name == "always":
                return True
            if name == "failure":
                return self.failed
            return not self.failed
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple | ast.List):
            return tuple(self.visit(e) for e in node.elts)
        ref = _cell_ref(node)
        if ref is None:  # unreachable: the checker vetted the tree
            raise NotebookError(f"unexpected node {type(node).__name__}")
        cell_id, attr = ref
        fact = self.facts.get(cell_id, CellFacts(status="skipped"))
        return getattr(fact, attr)
