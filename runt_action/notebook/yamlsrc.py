"""YAML parsed together with the position of every node, so errors can say ``file:line:col``.

PyYAML's constructors drop the marks; we compose the node graph ourselves and build plain
Python values while recording, for every path into the document, where its value (and the key
that introduced it) starts. Duplicate keys, which PyYAML silently overwrites, are errors here.

Input is bounded before and while it is parsed, so no file or string can hang the loader or
exhaust memory: size (``MAX_INPUT_BYTES``, checked from ``stat`` before reading), file kind
(regular files only; a FIFO is never opened), characters (no NUL or other control
characters), nesting (``MAX_DEPTH``), values (``MAX_NODES``) and alias expansion
(``MAX_ALIAS_NODES``, so a "billion laughs" is refused in milliseconds). Each refusal is a
:class:`SourceError` at the offending line and column.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from runt_action.notebook.core12 import resolve_core12
from runt_action.notebook.literals import shown

if yaml.__with_libyaml__:
    from yaml._yaml import CParser as _Parser
else:  # pragma: no cover - PyYAML built without libyaml: the pure-Python reader and parser
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)


E = TypeVar("E", bound=Exception)

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_NODES",
    "Loc",
    "Located",
    "Mark",
    "SourceError",
    "check_text",
    "describe_character",
    "parse_yaml",
    "read_source",
]

Loc = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE12_TAG = "tag:runt,2026:core12"  # a plain scalar left for resolve_core12 to type

# Input bounds (documented in the README): every notebook, parameters file, action input and
# -p value. Larger or stranger input is refused with one located line, never read blindly.
MAX_INPUT_BYTES = 10 * 2**20  # 10 MB: a notebook is source code; this is generous
MAX_NODES = 50_000  # values in one document (a 7,000-cell notebook has ~37,000)
MAX_DEPTH = 100  # nesting of sequences and mappings, aliases expanded
# Nodes built a second time or more, through aliases or merge keys. Reuse of a few anchors
# stays far below; a "billion laughs" bomb hits it in milliseconds.
MAX_ALIAS_NODES = 10_000

# What the YAML reader refuses (yaml.reader.Reader.NON_PRINTABLE), plus lone surrogates.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL"}


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, mark: Any) -> Mark:
        """From a PyYAML or libyaml mark (0-based), or None."""
        if mark is None:
            return cls(1, 1)
        return cls(mark.line + 1, mark.column + 1)


class SourceError(Exception):
    """A problem at a place in the text; callers turn it into their own located error."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark

    def located(self, error: Callable[..., E], file: str | Path) -> E:
        """The caller's own error class (NotebookError, ParameterError) at this place."""
        return error(self.message, file=file, line=self.mark.line, column=self.mark.column)


@dataclass(slots=True)
class Located:
    """Plain YAML data plus where each part of it came from."""

    data: Any
    root: Mark = field(default_factory=lambda: Mark(1, 1))
    values: dict[Loc, Mark] = field(default_factory=dict)  # where the value at a path starts
    keys: dict[Loc, Mark] = field(default_factory=dict)  # where the key naming a path starts

    def mark(self, loc: Loc, *, key: bool = False) -> Mark:
        """The most precise known position for ``loc`` (its longest known prefix)."""
        for end in range(len(loc), 0, -1):
            prefix = loc[:end]
            if key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
            if prefix in self.keys:
                return self.keys[prefix]
        return self.root


class _Loader(Composer, _Parser, SafeConstructor, Resolver):
    """A safe loader with bounds: nesting depth while composing, merge keys flattened once and
    deduplicated (so ``<<`` chains cannot grow exponentially), and where each alias stood.

    libyaml's parser (when PyYAML has it) with PyYAML's Python composer on top: the C parser
    reads ~20x faster, and composing in Python is what lets us bound depth and note aliases."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self.depth = 0
        self.nodes = 0
        # (id(parent node), index or id(key node)) -> where the alias placed there was written
        self.alias_marks: dict[tuple[int, int], Mark] = {}
        self.merged: dict[int, int] = {}  # id(mapping node) -> pairs that came from merge keys

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self._next_mark()
            self.alias_marks[(id(parent), _index_key(index))] = mark
            return super().compose_node(parent, index)
        self.depth += 1
        self.nodes += 1
        try:
            if self.nodes > MAX_NODES:
                raise SourceError(f"YAML has more than {MAX_NODES} values", self._next_mark())
            if self.depth > MAX_DEPTH:
                mark = self._next_mark()
                raise SourceError(f"YAML nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _next_mark(self) -> Mark:
        event: Any = self.peek_event()
        return Mark.of(event.start_mark)

    def flatten_mapping(self, node: MappingNode) -> None:
        """PyYAML's merge, once per node, keeping one pair per merged key (the one it keeps)."""
        if id(node) in self.merged:
            return
        own = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
        super().flatten_mapping(node)
        count = len(node.value) - own
        if count:
            merged = node.value[:count]
            last: dict[object, tuple[Node, Node]] = {}
            for key_node, value_node in merged:
                last[_key_identity(key_node)] = (key_node, value_node)
            node.value = [last[k] for k in last] + node.value[count:]
            count = len(last)
        self.merged[id(node)] = count


class _Core12Loader(_Loader):
    """Plain scalars typed by the YAML 1.2 core schema (see :mod:`.core12`), not YAML 1.1."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0] and value != "<<":
            return _CORE12_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _index_key(index: object) -> int:
    return index if isinstance(index, int) else id(index)


def _key_identity(node: Node) -> object:
    if isinstance(node, ScalarNode):
        return (node.tag, node.value)
    return id(node)


def check_text(text: str, limit: int = MAX_INPUT_BYTES) -> None:
    """Reject what the YAML reader would choke on, at its line and column.

    Control characters other than tab, newline and carriage return (NUL included), and
    lone surrogates (undecodable bytes passed through the environment or argv)."""
    if len(text) > limit or (
        len(text) * 4 > limit and len(text.encode("utf-8", "replace")) > limit
    ):
        raise SourceError(f"input is larger than the {limit // 2**20} MB limit", Mark(1, 1))
    bad = _NON_PRINTABLE.search(text)
    if bad is None:
        return
    index = bad.start()
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    raise SourceError(describe_character(bad.group()), Mark(line, column))


def describe_character(char: str) -> str:
    """Why one character is refused, naming it by code point."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, smuggled in by surrogateescape
        return f"invalid UTF-8 (byte 0x{code - 0xDC00:02X})"
    if code < 0x20 or 0x7F <= code < 0xA0:
        name = _CONTROL_NAMES.get(code, "")
        return f"control character U+{code:04X}{f' ({name})' if name else ''} is not allowed"
    return f"character U+{code:04X} is not allowed"


def parse_yaml(text: str, *, core12: bool = False) -> Located:
    """Parse one YAML document; raises :class:`SourceError` for syntax and structure errors.

    Bounded: text size and characters (:func:`check_text`), nesting depth (``MAX_DEPTH``) and
    what aliases and merge keys may expand to (``MAX_ALIAS_NODES``). ``core12``: type plain
    scalars by the YAML 1.2 core schema (``014`` is 14, ``NO`` a string) instead of 1.1."""
    check_text(text)
    loader = (_Core12Loader if core12 else _Loader)(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return Located(data=None)
            located = Located(data=None, root=Mark.of(node.start_mark))
            located.data = _Builder(loader, located).build(node, ())
            return located
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, text) from None
        except yaml.YAMLError as exc:  # ReaderError and kin: check_text should catch them first
            raise SourceError(_one_line(str(exc)), Mark(1, 1)) from None
        except RecursionError:  # belt and braces: the depth checks should come first
            raise SourceError("YAML nested too deeply", Mark(1, 1)) from None
    finally:
        loader.dispose()


def read_source(path: Path, limit: int = MAX_INPUT_BYTES) -> str:
    """The file's text, read with bounds; raises :class:`SourceError` when it cannot be used.

    Only a regular file of at most ``MAX_INPUT_BYTES`` is read: it is stat-ed first, so a FIFO,
    device, socket or directory is refused without being opened, and opened non-blocking and
    read to the cap only, in case it was swapped meanwhile. Its text must be UTF-8 (a BOM is
    allowed) and pass :func:`check_text`."""
    try:
        info = os.stat(path)
        kind = _special_kind(info.st_mode)
        if kind:
            raise SourceError(f"is {kind}, expected a regular file", Mark(1, 1))
        if info.st_size > limit:
            raise SourceError(_too_large(info.st_size, limit), Mark(1, 1))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            kind = _special_kind(os.fstat(handle.fileno()).st_mode)
            if kind:
                raise SourceError(f"is {kind}, expected a regular file", Mark(1, 1))
            raw = handle.read(limit + 1)
    except FileNotFoundError:
        raise SourceError("no such file", Mark(1, 1)) from None
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}", Mark(1, 1)) from None
    except ValueError as exc:  # e.g. an embedded NUL in the path
        raise SourceError(f"cannot read file: {exc}", Mark(1, 1)) from None
    if len(raw) > limit:
        raise SourceError(_too_large(len(raw), limit), Mark(1, 1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        byte = raw[exc.start]
        raise SourceError(
            f"file is not valid UTF-8 (byte 0x{byte:02X})", Mark(line, column)
        ) from None
    check_text(text, limit)
    return text


def _special_kind(mode: int) -> str:
    """What a non-regular file is, in words; "" for a regular file."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"  # pragma: no cover


def _too_large(size: int, limit: int = MAX_INPUT_BYTES) -> str:
    return f"file is {size / 2**20:.1f} MB, larger than the {limit // 2**20} MB limit"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _syntax_error(exc: yaml.MarkedYAMLError, source: str | None = None) -> SourceError:
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    if isinstance(exc, yaml.constructor.ConstructorError):
        return SourceError(f"unsupported YAML value: {problem or context}", Mark.of(mark))
    if "maximum nesting depth" in problem:  # libyaml's own cap (1000) can come first
        return SourceError(f"YAML nested more than {MAX_DEPTH} levels deep", Mark.of(mark))
    if problem.startswith("but "):  # "expected a single document ..., but found another"
        text = f"{context}, {problem}"
    elif context and problem:
        start = exc.context_mark
        at = f" started at {Mark.of(start).line}:{Mark.of(start).column}" if start else ""
        text = f"{problem} ({context}{at})"
    else:
        text = problem or context or "invalid YAML"
    if source is not None and _char_at(source, Mark.of(mark)) == "\t" and "tab" not in text:
        text += "; it is a tab: indent with spaces"
    return SourceError(f"YAML syntax error: {text}", Mark.of(mark))


def _char_at(text: str, mark: Mark) -> str:
    """The character at ``mark`` in ``text`` ("" when out of range)."""
    start = 0
    for _ in range(mark.line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    index = start + mark.column - 1
    return text[index] if index < len(text) and "\n" not in text[start:index] else ""


class _Builder:
    """Plain values from the node graph, with marks; bounded in depth and alias expansion."""

    def __init__(self, loader: _Loader, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.active: set[int] = set()
        self.done: set[int] = set()  # nodes built at least once
        self.repeated = 0  # nodes built again (through an alias or a merge key)
        self.alias: Mark | None = None  # the outermost alias being expanded

    def build(self, node: Node, loc: Loc, alias: Mark | None = None) -> Any:
        """``alias`` is where the alias naming ``node`` was written, when it was one."""
        mark = Mark.of(node.start_mark)
        self.located.values[loc] = alias or mark
        if id(node) in self.active:
            raise SourceError("recursive YAML alias", alias or mark)
        outer = self.alias
        if self.alias is None and id(node) in self.done:
            self.alias = alias or mark  # from here down, every node is built again
        if self.alias is not None:
            self.repeated += 1
        where = self.alias or mark
        if len(loc) > MAX_DEPTH:
            raise SourceError(f"YAML nested more than {MAX_DEPTH} levels deep", where)
        if self.repeated > MAX_ALIAS_NODES:
            raise SourceError(f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes", where)
        self.done.add(id(node))
        try:
            if isinstance(node, ScalarNode):
                return self._scalar(node)
            self.active.add(id(node))
            try:
                if isinstance(node, MappingNode):
                    return self._mapping(node, loc)
                if isinstance(node, SequenceNode):
                    self._check_tag(node, _SEQ_TAG)
                    return [
                        self.build(item, (*loc, i), self._alias_at(node, i))
                        for i, item in enumerate(node.value)
                    ]
            finally:
                self.active.discard(id(node))
        finally:
            self.alias = outer
        raise SourceError("unsupported YAML node", mark)  # pragma: no cover

    def _alias_at(self, parent: Node, index: object) -> Mark | None:
        return self.loader.alias_marks.get((id(parent), _index_key(index)))

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag == _CORE12_TAG:
            return resolve_core12(str(node.value))
        construct: Callable[[Node], Any] = self.loader.construct_object
        try:
            return construct(node)
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        except (ValueError, OverflowError) as exc:  # 5000-digit ints, 2020-13-45, ...
            value = node.value if isinstance(node.value, str) else ""
            detail = "integer has too many digits" if "digits" in str(exc) else _one_line(str(exc))
            raise SourceError(
                f"unsupported YAML value {shown(value)}: {detail}", Mark.of(node.start_mark)
            ) from None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        self._check_tag(node, _MAP_TAG)
        try:
            self.loader.flatten_mapping(node)  # YAML merge keys (<<) come first, then own keys
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        merged = self.loader.merged[id(node)]
        result: dict[Any, Any] = {}
        from_merge: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key_mark = Mark.of(key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                raise SourceError("mapping keys must be plain scalars", key_mark)
            key = self._scalar(key_node)
            if key in result and key not in from_merge:
                raise SourceError(f"duplicate key {shown(key)}", key_mark)
            if index < merged:
                from_merge.add(key)
            else:
                from_merge.discard(key)
            self.located.keys[(*loc, key)] = key_mark
            result[key] = self.build(value_node, (*loc, key), self._alias_at(node, key_node))
        return result

    @staticmethod
    def _check_tag(node: Node, expected: str) -> None:
        if node.tag != expected:
            raise SourceError(f"unsupported YAML tag {shown(node.tag)}", Mark.of(node.start_mark))
