"""Placeholders in a SQL cell's text: ``$name`` and ``:name``, outside strings and comments.

Why one scanner: ``--validate`` and the dependency graph need the names a query binds, and the
kernel helper rewrites the same placeholders into the driver's parameter style, so both must
read the text the same way. This module is plain standard-library Python with no imports from
the package: its source is shipped into the kernel (both runtimes) ahead of the helper.
"""

from __future__ import annotations

__all__ = ["Placeholder", "placeholders", "rewrite", "sql_words"]


class Placeholder:
    """One ``$name`` / ``:name`` at ``start`` (a character offset) spanning ``end - start``."""

    __slots__ = ("end", "name", "start")

    def __init__(self, name: str, start: int, end: int) -> None:
        self.name = name
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Placeholder({self.name!r}, {self.start}, {self.end})"


def _ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _ident_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _skip_quoted(text: str, i: int, quote: str) -> int:
    """The offset after the quoted run starting at ``i`` (doubled quotes escape)."""
    n = len(text)
    i += 1
    while i < n:
        if text[i] == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _dollar_tag(text: str, i: int) -> str | None:
    """PostgreSQL's ``$$`` / ``$tag$`` string opener at ``i``, or None."""
    j = i + 1
    while j < len(text) and _ident_char(text[j]):
        j += 1
    if j < len(text) and text[j] == "$" and (j == i + 1 or _ident_start(text[i + 1])):
        return text[i : j + 1]
    return None


def _scan(text: str) -> tuple[list[Placeholder], list[tuple[int, int]]]:
    """Placeholders, and the spans of plain code (outside strings and comments)."""
    found: list[Placeholder] = []
    code: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    start = 0
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            code.append((start, i))
            i = _skip_quoted(text, i, ch)
            start = i
        elif ch == "-" and text.startswith("--", i):
            code.append((start, i))
            end = text.find("\n", i)
            i = n if end < 0 else end
            start = i
        elif ch == "/" and text.startswith("/*", i):
            code.append((start, i))
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            start = i
        elif ch == "$":
            tag = _dollar_tag(text, i)
            if tag is not None:
                code.append((start, i))
                end = text.find(tag, i + len(tag))
                i = n if end < 0 else end + len(tag)
                start = i
            elif i + 1 < n and _ident_start(text[i + 1]):
                j = i + 2
                while j < n and _ident_char(text[j]):
                    j += 1
                found.append(Placeholder(text[i + 1 : j], i, j))
                i = j
            else:
                i += 1
        elif ch == ":":
            prev = text[i - 1] if i else ""
            if text.startswith("::", i):  # a PostgreSQL/DuckDB cast
                i += 2
            elif (
                prev != ":"
                and i + 1 < n
                and _ident_start(text[i + 1])
                and not (prev and _ident_char(prev))
            ):
                j = i + 2
                while j < n and _ident_char(text[j]):
                    j += 1
                found.append(Placeholder(text[i + 1 : j], i, j))
                i = j
            else:
                i += 1
        else:
            i += 1
    code.append((start, n))
    return found, code


def placeholders(text: str) -> list[Placeholder]:
    """Every ``$name`` and ``:name`` outside string literals, quoted names and comments."""
    return _scan(text)[0]


def sql_words(text: str) -> set[str]:
    """The bare identifiers of the query's code (tables, columns, placeholders' names).

    The dependency graph reads these as the kernel names a cell may use: DuckDB scans a data
    frame by its variable's name. A column that happens to share a variable's name only adds
    a dependency, which errs on the safe side.
    """
    found, code = _scan(text)
    words = {p.name for p in found}
    for start, end in code:
        i = start
        while i < end:
            if _ident_start(text[i]) and (i == start or not _ident_char(text[i - 1])):
                j = i + 1
                while j < end and _ident_char(text[j]):
                    j += 1
                words.add(text[i:j])
                i = j
            else:
                i += 1
    return words


def rewrite(text: str, style: str) -> tuple[str, list[str]]:
    """The query with each placeholder in the driver's style, and the names in order.

    ``style``: ``"qmark"`` (``?``, sqlite3 and DuckDB: positional, one value per occurrence)
    or ``"named"`` (``:name``, SQLAlchemy's ``text()``).
    """
    out: list[str] = []
    names: list[str] = []
    last = 0
    for p in placeholders(text):
        out.append(text[last : p.start])
        out.append("?" if style == "qmark" else ":" + p.name)
        names.append(p.name)
        last = p.end
    out.append(text[last:])
    return "".join(out), names
