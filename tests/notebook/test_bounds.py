"""Bounded input: size, file kind, characters, nesting, node count and alias expansion.

Each bound is exercised just past its limit (and, where it matters, just inside it), and every
refusal must be a located :class:`SourceError`, never a hang, a RecursionError or a MemoryError.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import time
from pathlib import Path

import pytest

from runt_action.errors import NotebookError, ParameterError
from runt_action.notebook import load_notebook, parse_notebook
from runt_action.notebook.params import (
    load_parameters_file,
    parse_action_parameters,
    parse_inline,
)
from runt_action.notebook.yamlsrc import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_INPUT_BYTES,
    MAX_NODES,
    Mark,
    SourceError,
    check_text,
    parse_yaml,
    read_source,
)
from runt_action.results import CellStatus

ROOT = Path(__file__).resolve().parents[2]
CELLS = 'cells:\n  - id: a\n    source: "1"\n'


def _error(text: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        parse_yaml(text)
    return info.value


def _bomb(levels: int = 9, width: int = 9) -> str:
    """The classic "billion laughs": each anchor repeats the previous one ``width`` times."""
    lines = ["x-bomb:", '  l0: &l0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n" + CELLS


# -- size and file kind -------------------------------------------------------------------


def test_file_over_the_cap_is_refused_from_its_size_alone(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)  # sparse: the size is known without writing it
    with pytest.raises(SourceError) as info:
        read_source(big)
    assert "larger than the 10 MB limit" in info.value.message


def test_file_at_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "full.yml"
    path.write_bytes(b"#" * (MAX_INPUT_BYTES - 1) + b"\n")
    assert len(read_source(path)) == MAX_INPUT_BYTES


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yml"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    with pytest.raises(SourceError) as info:
        read_source(fifo)
    assert info.value.message == "is a FIFO (named pipe), expected a regular file"


def test_directory_device_and_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory"):
        read_source(tmp_path)
    assert stat.S_ISCHR(os.stat("/dev/zero").st_mode)
    with pytest.raises(SourceError, match="is a character device"):
        read_source(Path("/dev/zero"))  # stat only: never read, so no endless zeros
    sock_path = tmp_path / "s.yml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(SourceError, match="is a socket"):
            read_source(sock_path)


def test_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.yml"
    target.write_text(CELLS)
    link = tmp_path / "link.yml"
    link.symlink_to(target)
    assert read_source(link) == CELLS
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "to-fifo.yml").symlink_to(fifo)
    with pytest.raises(SourceError, match="FIFO"):
        read_source(tmp_path / "to-fifo.yml")


def test_text_over_the_cap_is_refused() -> None:
    with pytest.raises(SourceError, match="larger than the 10 MB limit"):
        check_text("é" * (MAX_INPUT_BYTES // 2 + 1))  # few characters, too many bytes
    check_text("a" * MAX_INPUT_BYTES)


# -- characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "words"),
    [
        ("\x00", "control character U+0000 (NUL)"),
        ("\x07", "control character U+0007 (BEL)"),
        ("\x1b", "control character U+001B (ESC)"),
        ("\x7f", "control character U+007F (DEL)"),
        ("\x80", "control character U+0080"),
        ("\x9f", "control character U+009F"),
        ("\ufffe", "character U+FFFE"),
        ("\udcff", "invalid UTF-8 (byte 0xFF)"),
    ],
)
def test_control_characters_are_refused_at_their_place(char: str, words: str) -> None:
    error = _error(f'cells:\n  - id: a\n    source: "ab{char}"\n')
    assert error.message == f"{words} is not allowed" or error.message == words
    assert error.mark == Mark(3, 16)


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\x85", "\xa0", "\u2028", "\ufeff", "😀"])
def test_ordinary_characters_pass(char: str) -> None:
    check_text(f"a{char}b")


def test_invalid_utf8_is_located_in_characters(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_bytes("cells:\n  - id: é\xe9".encode() + b"\xff\n")
    with pytest.raises(SourceError) as info:
        read_source(path)
    assert info.value.message == "file is not valid UTF-8 (byte 0xFF)"
    assert info.value.mark == Mark(2, 11)  # two characters before it are two bytes each


def test_nul_in_a_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "nul.yml"
    path.write_bytes(b"cells:\n  - id: a\n    source: |\n      x = 1\x00\n")
    with pytest.raises(SourceError) as info:
        read_source(path)
    assert info.value.mark == Mark(4, 12)


# -- nesting and counts --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "{a: " * 5000,
        "- " * 5000 + "x",
        "".join("  " * i + "k:\n" for i in range(MAX_DEPTH + 2)),
    ],
)
def test_deep_nesting_is_refused_not_a_recursion_error(text: str) -> None:
    error = _error(text)
    assert "nest" in error.message
    assert error.mark.line >= 1 and error.mark.column >= 1


def test_nesting_at_the_limit_is_fine() -> None:
    depth = MAX_DEPTH
    assert parse_yaml("[" * depth + "]" * depth).data is not None


def test_depth_through_chained_aliases_is_bounded() -> None:
    # Each anchor is 60 deep and holds the previous one: 60 * 20 levels once expanded.
    lines = ["a0: &a0 " + "[" * 60 + "]" * 60]
    for i in range(1, 20):
        lines.append(f"a{i}: &a{i} " + "[" * 59 + f"*a{i - 1}" + "]" * 59)
    error = _error("\n".join(lines) + "\n")
    assert "nested more than" in error.message
    assert error.mark.line >= 2


def test_node_count_is_capped() -> None:
    error = _error("xs: [" + "1," * MAX_NODES + "1]")
    assert error.message == f"YAML has more than {MAX_NODES} values"
    assert error.mark.line == 1


def test_billion_laughs_is_refused_fast_at_the_alias() -> None:
    started = time.perf_counter()
    error = _error(_bomb())
    elapsed = time.perf_counter() - started
    assert error.message == f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes"
    # Points at an alias of the bomb, not at the top of the file.
    assert error.mark.line >= 3
    assert elapsed < 1.0  # generous: the cap is hit after ~10,000 nodes (milliseconds)


def test_merge_key_chains_do_not_grow_exponentially() -> None:
    # PyYAML's flatten_mapping would hold 9**29 pairs for m29; merged keys are kept once.
    lines = ["x-m:", "  m0: &m0 {a: 1, b: 2, c: 3}"]
    for level in range(1, 30):
        refs = ", ".join([f"*m{level - 1}"] * 9)
        lines.append(f"  m{level}: &m{level} {{<<: [{refs}], k{level}: {level}}}")
    started = time.perf_counter()
    data = parse_yaml("\n".join(lines) + "\n").data
    assert time.perf_counter() - started < 1.0
    assert data["x-m"]["m29"] == {"a": 1, "b": 2, "c": 3, **{f"k{i}": i for i in range(1, 30)}}


def test_merge_of_big_values_counts_as_alias_expansion() -> None:
    big = "[" + ", ".join(["1"] * 2000) + "]"
    refs = ", ".join(f"{{<<: *m, k{i}: {i}}}" for i in range(10))
    error = _error(f"m: &m {{v: {big}}}\nxs: [{refs}]\n")
    assert "aliases expand to more than" in error.message


def test_modest_alias_reuse_is_fine() -> None:
    text = "x-opts: &opts {timeout: 5, retries: 1}\ncells:\n" + "".join(
        f'  - {{<<: *opts, id: c{i}, source: "{i}"}}\n' for i in range(300)
    )
    notebook = parse_notebook(text)
    assert [c.timeout for c in notebook.cells] == [5.0] * 300


def test_an_anchored_mapping_with_a_merge_may_be_reused() -> None:
    # Reusing a mapping whose own key overrides a merged one is not a duplicate key.
    located = parse_yaml("base: &b {a: 1}\nc: &c {<<: *b, a: 2}\nd: *c\ne: *c\n")
    assert located.data["d"] == located.data["e"] == {"a": 2}


def test_merge_keeps_the_first_listed_mapping_like_pyyaml() -> None:
    import yaml

    text = "a: &a {k: 1, x: 1}\nb: &b {k: 2, y: 2}\nc: {<<: [*a, *b], z: 3}\n"
    assert parse_yaml(text).data == yaml.safe_load(text)
    assert list(parse_yaml(text).data["c"]) == list(yaml.safe_load(text)["c"])


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1" * 5000, "integer has too many digits"),
        ("2020-13-45", "month must be in 1..12"),
    ],
)
def test_scalars_python_cannot_build_are_located(value: str, words: str) -> None:
    error = _error(f"k:\n  v: {value}\n")
    assert words in error.message
    assert error.mark == Mark(2, 6)


# -- the same bounds through every entry point --------------------------------------------


def test_notebook_errors_are_one_located_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(_bomb())
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+: YAML aliases expand .*", str(info.value))


def test_parameters_file_and_action_input_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text("x: " + "[" * 5000)
    with pytest.raises(ParameterError, match=r"params\.yml:1:\d+: .*nest"):
        load_parameters_file(path)
    json_path = tmp_path / "params.json"
    json_path.write_text('{"x": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(ParameterError, match=r"params\.json:1:\d+: .*nest"):
        load_parameters_file(json_path)
    json_path.write_text('{"x": ' + "9" * 5000 + "}")
    with pytest.raises(ParameterError, match="too many digits"):
        load_parameters_file(json_path)
    with pytest.raises(ParameterError, match=r"^<input parameters>:2:4: control character"):
        parse_action_parameters("a: 1\nb: \x00\n")
    with pytest.raises(ParameterError, match="aliases expand"):
        parse_action_parameters(_bomb())


def test_inline_values_are_bounded() -> None:
    with pytest.raises(ParameterError, match=r"^-p 'x=a\\x00b': control character .* at column 4$"):
        parse_inline(["x=a\x00b"])
    with pytest.raises(ParameterError, match=r"invalid UTF-8 \(byte 0xFF\)"):
        parse_inline(["x=\udcff"])
    # Deep or bomb-like values are not scalars: kept as the text given, as papermill does.
    deep = "[" * 5000
    assert parse_inline([f"x={deep}"]) == {"x": deep}
    long_item = "x-" * 2500 + "=1"
    with pytest.raises(ParameterError) as info:
        parse_inline([long_item])
    assert len(str(info.value)) < 200  # the item is quoted shortened


def test_if_longer_than_the_limit_is_refused_before_compiling() -> None:
    text = CELLS + '  - id: b\n    source: "1"\n    if: "' + "not " * 100_000 + 'x"\n'
    with pytest.raises(NotebookError, match=r"<string>:6:9: .*'if' is longer than 1000"):
        parse_notebook(text)


def test_long_ids_are_quoted_shortened() -> None:
    with pytest.raises(NotebookError) as info:
        parse_notebook(f'cells:\n  - id: {"a" * 5000}\n    source: "1"\n')
    assert "must be 1-64 letters" in str(info.value)
    assert len(str(info.value)) < 200


# -- documentation -----------------------------------------------------------------------


def test_readme_documents_the_limits_and_the_statuses() -> None:
    readme = (ROOT / "README.md").read_text()
    limits = readme.split("### Input limits", 1)[1].split("\n## ", 1)[0]
    assert f"{MAX_INPUT_BYTES // 2**20} MB" in limits
    assert f"{MAX_DEPTH} levels" in limits
    assert f"{MAX_NODES:,} values" in limits
    assert f"{MAX_ALIAS_NODES:,} further values" in limits
    section = readme.split("### Conditions (`if:`)", 1)[1].split("###", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [s.value for s in CellStatus]
