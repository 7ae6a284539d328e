"""Def/use analysis and the dependency graph (pure: no runtime needed)."""

from __future__ import annotations

import pytest

from runt_action.notebook.graph import analyze, build_graph


@pytest.mark.parametrize(
    ("source", "defines", "uses"),
    [
        ("x = 1", {"x"}, set()),
        ("a, (b, *c) = data", {"a", "b", "c"}, {"data"}),
        ("x += 1", {"x"}, {"x"}),
        ("x = x + 1", {"x"}, {"x"}),
        ("x = 1\nprint(x)", {"x"}, set()),  # read after its own binding: no outside use
        ("y: int = z", {"y"}, {"z"}),
        ("if (n := len(items)) > 2: pass", {"n"}, {"items"}),
        ("import numpy as np, os.path", {"np", "os"}, set()),
        ("from a.b import c as d, e", {"d", "e"}, set()),
        ("def f(a, b=default):\n    return a + b + g", {"f"}, {"default", "g"}),
        ("def f():\n    return f()", {"f"}, set()),  # recursion is no outside use
        ("def f():\n    return later\nlater = 1", {"f", "later"}, set()),
        ("class K(Base):\n    attr = value\n    other = attr", {"K"}, {"Base", "value"}),
        ("def f():\n    global g\n    g = 1", {"f", "g"}, set()),
        ("del old", {"old"}, set()),
        ("[i * k for i in range(n)]", set(), {"k", "n"}),  # i stays in the comprehension
        ("{k: v for k, v in pairs.items()}", set(), {"pairs"}),
        ("[y := i for i in xs]", {"y"}, {"xs"}),  # walrus binds outside the comprehension
        ("df['a'] = 1", set(), {"df"}),  # a subscript write is a use of the base
        ("obj.attr = 2", set(), {"obj"}),
        ("for i, row in enumerate(rows): total = row", {"i", "row", "total"}, {"rows"}),
        ("with open(p) as fh: text = fh.read()", {"fh", "text"}, {"p"}),
        ("try:\n    pass\nexcept E as err:\n    msg = err", {"err", "msg"}, {"E"}),
        (
            "match cmd:\n    case [a, *rest]: pass\n    case {'k': v, **kw}: pass",
            {"a", "rest", "v", "kw"},
            {"cmd"},
        ),
        ("f = lambda q: q + w", {"f"}, {"w"}),
        ("print(len(x))", set(), {"x"}),  # builtins are no uses
    ],
)
def test_defines_and_uses(source: str, defines: set[str], uses: set[str]) -> None:
    facts = analyze(source)
    assert set(facts.defines) == defines
    assert set(facts.uses) == uses
    assert not facts.opaque


@pytest.mark.parametrize(
    "source", ["from m import *", "exec('x = 1')", "globals()['x'] = 1", "eval(s)", "def ("]
)
def test_opaque_cells(source: str) -> None:
    assert analyze(source).opaque


def test_graph_edges_point_at_the_latest_definer() -> None:
    graph = build_graph(
        [
            ("parameters", "n = 3"),
            ("load", "import json\ndata = list(range(n))"),
            ("redefine", "data = data[1:]"),
            ("plot", "print(len(data))"),
            ("alone", "print('hi')"),
        ]
    )
    assert graph.deps == {
        "parameters": set(),
        "load": {"parameters"},
        "redefine": {"load"},
        "plot": {"redefine"},
        "alone": set(),
    }
    assert graph.dependencies("plot") == {"redefine", "load", "parameters"}
    assert graph.dependents(["load"]) == {"redefine", "plot"}
    assert graph.closure(["plot"]) == {"plot", "redefine", "load", "parameters"}
    assert "plot <- redefine (data)" in graph.to_text()


def test_opaque_cell_depends_on_everything_before_and_resolves_unknown_names() -> None:
    graph = build_graph(
        [("a", "x = 1"), ("b", "y = 2"), ("star", "from os.path import *"), ("c", "join(x)")]
    )
    assert graph.deps["star"] == {"a", "b"}
    assert graph.deps["c"] == {"a", "star"}  # x from a, join from the star import


def test_mermaid_is_a_valid_looking_flowchart() -> None:
    graph = build_graph([("a", "x = 1"), ("b-2", 'print(x, "q")')])
    text = graph.to_mermaid()
    assert text.startswith("graph TD\n")
    assert '  c_a -->|"x"| c_b_2' in text
