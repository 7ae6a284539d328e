"""Which cell depends on which: static def/use analysis of code cells with :mod:`ast`.

A cell *uses* a name when it reads it before binding it itself (at module level, in order),
or when a function, lambda or class body in it reads a global the cell never binds. A cell
*defines* the names it binds at module level: assignments (tuple, starred, augmented, walrus),
imports, ``def``/``class``, ``for``/``with``/``except``/``match`` targets, ``del``, and
``global`` names assigned inside functions. Comprehension variables stay in their own scope.
An attribute or subscript write (``df["a"] = 1``, ``obj.x = 2``) is a use of the base name.

A cell depends on the latest earlier cell that defines each name it uses. ``from x import *``,
``exec``, ``eval`` and ``globals()``/``vars()``/``locals()`` at module level make a cell depend on
every cell before it (what it reads or binds cannot be known); a name no cell defines resolves
to the latest earlier such cell. The analysis never runs code; a cell that does not parse
depends on every earlier cell.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["CellDefs", "DependencyGraph", "analyze", "build_graph"]

_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__builtins__", "display"}
_NESTED_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_OPAQUE_CALLS = frozenset({"exec", "eval", "globals", "vars", "locals", "__import__"})


@dataclass(frozen=True, slots=True)
class CellDefs:
    """What one cell binds and reads at module level."""

    defines: frozenset[str]
    uses: frozenset[str]
    opaque: bool = False  # star import, exec/eval/globals(): depends on everything before


class _Scope:
    def __init__(self, kind: str, bound: set[str] | None = None) -> None:
        self.kind = kind  # "module" | "function" | "class" | "comprehension"
        self.bound: set[str] = bound or set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()


class _Analyzer(ast.NodeVisitor):
    """Walks in evaluation order, so ``x = x + 1`` reads ``x`` before binding it."""

    def __init__(self) -> None:
        self.module = _Scope("module")
        self.scopes: list[_Scope] = [self.module]
        self.defines: set[str] = set()
        self.uses: set[str] = set()
        self.deferred_reads: set[str] = set()  # globals read inside functions
        self.opaque = False

    # -- binding and reading ----------------------------------------------------------------

    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    def _bind(self, name: str) -> None:
        scope = self.scope
        if scope.kind == "module" or name in scope.globals:
            self.module.bound.add(name)
            self.defines.add(name)
        else:
            scope.bound.add(name)

    def _read(self, name: str) -> None:
        for scope in reversed(self.scopes):
            if name in scope.globals:
                break
            if scope.kind == "class" and scope is not self.scope:
                continue  # class bodies do not enclose nested functions
            if name in scope.bound:
                return
        if name in _BUILTINS and name not in self.module.bound:
            return
        if any(s.kind == "function" for s in self.scopes):
            self.deferred_reads.add(name)  # runs later: a use unless the cell binds it
        elif name not in self.module.bound:
            self.uses.add(name)

    def _bind_target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value)
        else:  # attribute / subscript: evaluates (reads) the base, binds nothing
            self.visit(target)

    # -- statements ---------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._bind_target(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
            self._bind(node.target.id)
        else:
            self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._bind_target(node.target)
        elif not isinstance(node.target, ast.Name):
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        # PEP 572: the target binds in the nearest enclosing non-comprehension scope.
        depth = len(self.scopes) - 1
        while depth > 0 and self.scopes[depth].kind == "comprehension":
            depth -= 1
        saved, self.scopes = self.scopes, self.scopes[: depth + 1]
        try:
            self._bind(node.target.id)
        finally:
            self.scopes = saved

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._bind_target(target)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.opaque = True
            else:
                self._bind(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.nonlocals.update(node.names)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._bind_target(node.target)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._bind(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        if node.rest:
            self._bind(node.rest)

    # -- scopes -------------------------------------------------------------------------------

    def _function(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
        body: Sequence[ast.AST],
    ) -> None:
        args = node.args
        for default in (*args.defaults, *(d for d in args.kw_defaults if d is not None)):
            self.visit(default)
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        scope = _Scope("function", params | _local_bindings(body))
        self.scopes.append(scope)
        try:
            for stmt in body:
                self.visit(stmt)
        finally:
            self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        if node.returns is not None:
            self.visit(node.returns)
        self._function(node, node.body)
        self._bind(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expr)
        self.scopes.append(_Scope("class"))
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scopes.pop()
        self._bind(node.name)

    def _comprehension(self, node: ast.AST, elements: Sequence[ast.expr]) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        self.visit(generators[0].iter)  # evaluated in the enclosing scope
        self.scopes.append(_Scope("comprehension"))
        try:
            for i, gen in enumerate(generators):
                if i:
                    self.visit(gen.iter)
                self._bind_target(gen.target)
                for cond in gen.ifs:
                    self.visit(cond)
            for element in elements:
                self.visit(element)
        finally:
            self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp  # type: ignore[assignment]
    visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    # -- reads ----------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _OPAQUE_CALLS:
            self.opaque = True
        self.generic_visit(node)


def _local_bindings(body: Iterable[ast.AST]) -> set[str]:
    """Names a function body binds in its own scope (Python decides scope per function)."""
    bound: set[str] = set()
    declared: set[str] = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue  # its body is its own scope
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, _NESTED_SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return bound - declared


def analyze(source: str) -> CellDefs:
    """Defines and uses of one code cell; a cell that does not parse is opaque."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return CellDefs(frozenset(), frozenset(), opaque=True)
    analyzer = _Analyzer()
    for stmt in tree.body:
        analyzer.visit(stmt)
    uses = analyzer.uses | (analyzer.deferred_reads - analyzer.defines)
    return CellDefs(frozenset(analyzer.defines), frozenset(uses), analyzer.opaque)


@dataclass(slots=True)
class DependencyGraph:
    """Direct dependencies between code cells, in notebook order."""

    order: list[str]
    deps: dict[str, set[str]] = field(default_factory=dict)  # cell -> cells it reads from
    why: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (cell, dep) -> names

    def dependencies(self, cell: str) -> set[str]:
        """Every cell ``cell`` depends on, transitively."""
        seen: set[str] = set()
        stack = list(self.deps.get(cell, ()))
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack.extend(self.deps.get(dep, ()))
        return seen

    def dependents(self, cells: Iterable[str]) -> set[str]:
        """Every cell that depends, transitively, on any of ``cells`` (not themselves)."""
        start = set(cells)
        found: set[str] = set()
        for cell in self.order:  # deps always point backwards: one forward pass suffices
            if self.deps.get(cell, set()) & (start | found):
                found.add(cell)
        return found - start

    def closure(self, cells: Iterable[str]) -> set[str]:
        """``cells`` and everything they depend on."""
        chosen = set(cells)
        for cell in list(chosen):
            chosen |= self.dependencies(cell)
        return chosen

    def to_text(self) -> str:
        lines = []
        for cell in self.order:
            deps = sorted(self.deps.get(cell, ()), key=self.order.index)
            if not deps:
                lines.append(f"{cell}")
                continue
            parts = [f"{d} ({', '.join(sorted(self.why.get((cell, d), ())) or '*')})" for d in deps]
            lines.append(f"{cell} <- {', '.join(parts)}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        lines = ["graph TD"]
        for cell in self.order:
            lines.append(f"  {_mermaid_id(cell)}[{_mermaid_label(cell)}]")
        for cell in self.order:
            for dep in sorted(self.deps.get(cell, ()), key=self.order.index):
                names = ", ".join(sorted(self.why.get((cell, dep), ()))) or "*"
                lines.append(
                    f"  {_mermaid_id(dep)} -->|{_mermaid_label(names)}| {_mermaid_id(cell)}"
                )
        return "\n".join(lines) + "\n"


def build_graph(
    cells: Sequence[tuple[str, str]], known: Mapping[str, CellDefs] | None = None
) -> DependencyGraph:
    """The graph of ``(cell id, source)`` code cells, in order; ``known`` gives the facts of
    cells that are not Python (a SQL cell's, from notebook.sqlcells)."""
    graph = DependencyGraph(order=[cell_id for cell_id, _ in cells])
    last_definer: dict[str, str] = {}
    opaque_so_far: list[str] = []
    earlier: list[str] = []
    for cell_id, source in cells:
        facts = known[cell_id] if known and cell_id in known else analyze(source)
        deps: set[str] = set()
        if facts.opaque:
            deps.update(earlier)
            for dep in earlier:
                graph.why.setdefault((cell_id, dep), set())
        for name in facts.uses:
            definer = last_definer.get(name) or (opaque_so_far[-1] if opaque_so_far else None)
            if definer is not None:
                deps.add(definer)
                graph.why.setdefault((cell_id, definer), set()).add(name)
        graph.deps[cell_id] = deps
        for name in facts.defines:
            last_definer[name] = cell_id
        if facts.opaque:
            opaque_so_far.append(cell_id)
        earlier.append(cell_id)
    return graph


def _mermaid_id(cell: str) -> str:
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in cell)


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'
