"""YAML parsed together with the position of every node, so errors can say ``file:line:col``.

PyYAML's constructors drop the marks; we compose the node graph ourselves and build plain
Python values while recording, for every path into the document, where its value (and the key
that introduced it) starts. Duplicate keys, which PyYAML silently overwrites, are errors here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

E = TypeVar("E", bound=Exception)

__all__ = ["Loc", "Located", "Mark", "SourceError", "parse_yaml", "read_source"]

Loc = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, mark: yaml.Mark | None) -> Mark:
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


class _Loader(yaml.SafeLoader):
    """SafeLoader; only its composer and scalar constructors are used."""


def parse_yaml(text: str) -> Located:
    """Parse one YAML document; raises :class:`SourceError` for syntax and structure errors."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        if node is None:
            return Located(data=None)
        located = Located(data=None, root=Mark.of(node.start_mark))
        located.data = _Builder(loader, located).build(node, ())
        return located
    finally:
        loader.dispose()


def read_source(path: Path) -> str:
    """The file's text; raises :class:`SourceError` when it cannot be read as UTF-8."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise SourceError("is a directory, expected a YAML file", Mark(1, 1)) from None
    except FileNotFoundError:
        raise SourceError("no such file", Mark(1, 1)) from None
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}", Mark(1, 1)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SourceError("file is not valid UTF-8", Mark(line, column)) from None


def _syntax_error(exc: yaml.MarkedYAMLError) -> SourceError:
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    if isinstance(exc, yaml.constructor.ConstructorError):
        return SourceError(f"unsupported YAML value: {problem or context}", Mark.of(mark))
    if problem.startswith("but "):  # "expected a single document ..., but found another"
        text = f"{context}, {problem}"
    elif context and problem:
        start = exc.context_mark
        at = f" started at {Mark.of(start).line}:{Mark.of(start).column}" if start else ""
        text = f"{problem} ({context}{at})"
    else:
        text = problem or context or "invalid YAML"
    return SourceError(f"YAML syntax error: {text}", Mark.of(mark))


class _Builder:
    def __init__(self, loader: _Loader, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.active: set[int] = set()

    def build(self, node: Node, loc: Loc) -> Any:
        self.located.values[loc] = Mark.of(node.start_mark)
        if id(node) in self.active:
            raise SourceError("recursive YAML alias", Mark.of(node.start_mark))
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode):
                self._check_tag(node, _SEQ_TAG)
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))
        raise SourceError("unsupported YAML node", Mark.of(node.start_mark))  # pragma: no cover

    def _scalar(self, node: ScalarNode) -> Any:
        construct: Callable[[Node], Any] = self.loader.construct_object
        try:
            return construct(node)
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        self._check_tag(node, _MAP_TAG)
        own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            self.loader.flatten_mapping(node)  # YAML merge keys (<<) come first, then own keys
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        merged = len(node.value) - own
        result: dict[Any, Any] = {}
        from_merge: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key_mark = Mark.of(key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                raise SourceError("mapping keys must be plain scalars", key_mark)
            key = self._scalar(key_node)
            if key in result and key not in from_merge:
                raise SourceError(f"duplicate key {key!r}", key_mark)
            if index < merged:
                from_merge.add(key)
            else:
                from_merge.discard(key)
            self.located.keys[(*loc, key)] = key_mark
            result[key] = self.build(value_node, (*loc, key))
        return result

    @staticmethod
    def _check_tag(node: Node, expected: str) -> None:
        if node.tag != expected:
            raise SourceError(f"unsupported YAML tag {node.tag!r}", Mark.of(node.start_mark))
