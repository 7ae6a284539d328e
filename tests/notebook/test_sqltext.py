"""Placeholders in SQL text: found outside strings and comments, rewritten per driver."""

from __future__ import annotations

import pytest

from runt_action.notebook.sqltext import placeholders, rewrite, sql_words


def _names(text: str) -> list[str]:
    return [p.name for p in placeholders(text)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("SELECT * FROM t WHERE a = $region AND b = :since", ["region", "since"]),
        ("SELECT '$not' || \"also:not\" FROM t WHERE x = $yes", ["yes"]),
        ("SELECT 1 -- $comment :too\nWHERE a = :real", ["real"]),
        ("SELECT /* $x :y */ 1, $z", ["z"]),
        ("SELECT a::int, b::text FROM t WHERE c = :c", ["c"]),  # casts are not placeholders
        ("SELECT $1, $$ $dollar :quoted $$, $tag$ :x $tag$, :after", ["after"]),
        ("SELECT 'it''s $x' , :y", ["y"]),
        ("SELECT arr[1:n], t.a:b", []),  # a slice and a name before ':' are not placeholders
        ("SELECT * FROM t WHERE a = $région", ["région"]),
    ],
)
def test_placeholders(text: str, names: list[str]) -> None:
    assert _names(text) == names


def test_rewrite_qmark_keeps_order_and_repeats() -> None:
    sql, names = rewrite("SELECT $a, :b, $a FROM t WHERE s = '$a'", "qmark")
    assert sql == "SELECT ?, ?, ? FROM t WHERE s = '$a'"
    assert names == ["a", "b", "a"]


def test_rewrite_named_is_sqlalchemy_style_and_keeps_newlines() -> None:
    text = "SELECT $a\nFROM t\nWHERE b = :b::int"
    sql, names = rewrite(text, "named")
    assert sql == "SELECT :a\nFROM t\nWHERE b = :b::int"
    assert names == ["a", "b"]
    assert sql.count("\n") == text.count("\n")  # error positions map to the same lines


def test_sql_words_skip_strings_and_comments() -> None:
    words = sql_words("SELECT x FROM frame -- hidden\nWHERE y = 'lit' AND z = $p")
    assert {"SELECT", "x", "FROM", "frame", "WHERE", "y", "AND", "z", "p"} <= words
    assert "hidden" not in words and "lit" not in words
