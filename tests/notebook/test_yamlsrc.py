from __future__ import annotations

from pathlib import Path

import pytest

from runt_action.notebook.yamlsrc import Mark, SourceError, parse_yaml, read_source


def test_marks_point_at_values_and_keys() -> None:
    located = parse_yaml("a:\n  b: [1, 2]\n  c: {d: x}\n")
    assert located.data == {"a": {"b": [1, 2], "c": {"d": "x"}}}
    assert located.values[("a", "b", 1)] == Mark(2, 10)
    assert located.keys[("a", "c")] == Mark(3, 3)
    assert located.values[("a", "c", "d")] == Mark(3, 10)


def test_mark_falls_back_to_longest_known_prefix() -> None:
    located = parse_yaml("cells:\n  - id: a\n")
    assert located.mark(("cells", 0, "source")) == Mark(2, 5)
    assert located.mark(("cells", 0, "id"), key=True) == Mark(2, 5)
    assert located.mark(("nothing",)) == Mark(1, 1)


def test_duplicate_keys_are_errors() -> None:
    with pytest.raises(SourceError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n")
    assert info.value.mark == Mark(3, 1)
    assert "duplicate key 'a'" in info.value.message


def test_merge_keys_may_be_overridden_without_a_duplicate_error() -> None:
    located = parse_yaml("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
    assert located.data["thing"] == {"x": 1, "y": 3}


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    with pytest.raises(SourceError, match="recursive"):
        parse_yaml("a: &x [*x]\n")


def test_empty_document_is_none() -> None:
    assert parse_yaml("# only a comment\n").data is None


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [("a: [1\n", 2, 1), ("a:\n\tb: 1\n", 2, 1), ("a: 1\n---\nb: 2\n", 2, 1)],
)
def test_syntax_errors_carry_one_based_marks(text: str, line: int, column: int) -> None:
    with pytest.raises(SourceError) as info:
        parse_yaml(text)
    assert (info.value.mark.line, info.value.mark.column) == (line, column)
    assert "\n" not in info.value.message


def test_python_tags_are_refused() -> None:
    with pytest.raises(SourceError, match="unsupported YAML"):
        parse_yaml("a: !!python/object/apply:os.system [echo hi]\n")


def test_read_source_reports_invalid_utf8_position(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(SourceError) as info:
        read_source(path)
    assert info.value.mark == Mark(2, 7)


def test_read_source_strips_a_bom_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "bom.yml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_source(path) == "a: 1\n"
    with pytest.raises(SourceError, match="no such file"):
        read_source(tmp_path / "missing.yml")
    with pytest.raises(SourceError, match="directory"):
        read_source(tmp_path)
