"""Notices: outputs the runtime agent adds so that nothing is lost without a trace.

A notice is a normal output event. Its Media carries ``metadata = {"runt_action": {"kind": K,
"notice": TEXT}}`` where K is one of :data:`NOTICE_KINDS` and TEXT is one human line:

- a terminal output (``v1.TerminalOutputAdded``, stream "stderr") with data
  ``"[runt-action] " + TEXT + "\\n"`` and the metadata on ``content``;
- a display or result whose only representation is ``text/plain`` with that same data and the
  metadata on that Media (it stands in for an output that could not be sent).

Consumers (orchestrator, report) parse notices only through :func:`notice_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from runt_action.schema.events import ArtifactMedia, InlineMedia

__all__ = [
    "CONTEXT",
    "DROPPED",
    "NOTICE_KINDS",
    "NOTICE_PREFIX",
    "RESTARTED",
    "RETRIED",
    "TRUNCATED",
    "NoticeKind",
    "notice_media",
    "notice_metadata",
    "notice_of",
    "notice_text",
]

NoticeKind = Literal["dropped", "truncated", "restarted", "retried", "context"]
DROPPED: Final = "dropped"  # an output too large for one sync event was replaced
TRUNCATED: Final = "truncated"  # output past the per-cell cap (or a long error) was cut
RESTARTED: Final = "restarted"  # the cell ignored its interrupt; the runtime was restarted
RETRIED: Final = "retried"  # a request (an AI cell's model call) failed and was retried
# What an AI cell sent the model was trimmed to its token budget: the model's input, not the
# cell's output, so it is shown but is no lost output (--strict does not fail on it).
CONTEXT: Final = "context"
_KINDS: Final[tuple[NoticeKind, ...]] = (DROPPED, TRUNCATED, RESTARTED, RETRIED, CONTEXT)
NOTICE_KINDS: Final[frozenset[str]] = frozenset(_KINDS)
NOTICE_PREFIX: Final = "[runt-action] "
_KEY: Final = "runt_action"


def notice_text(text: str) -> str:
    """The visible data of a notice: one prefixed line."""
    return f"{NOTICE_PREFIX}{text}\n"


def notice_metadata(kind: NoticeKind, text: str) -> dict[str, Any]:
    return {_KEY: {"kind": kind, "notice": text}}


def notice_media(kind: NoticeKind, text: str) -> InlineMedia:
    """The Media of a notice (terminal ``content`` or the ``text/plain`` representation)."""
    return InlineMedia(data=notice_text(text), metadata=notice_metadata(kind, text))


def notice_of(item: Any) -> tuple[NoticeKind, str] | None:
    """``(kind, text)`` if ``item`` is a notice, else None.

    ``item`` may be an output row of the materialised state (``schema.state.Output``), a
    Media model, or a plain Media / metadata dict as found in events.
    """
    for meta in _metadata_candidates(item):
        found = _parse(meta)
        if found is not None:
            return found
    return None


def _metadata_candidates(item: Any) -> list[Any]:
    if isinstance(item, InlineMedia | ArtifactMedia):
        return [item.metadata]
    if isinstance(item, Mapping):
        return [item.get("metadata"), item]
    out: list[Any] = []
    meta = getattr(item, "metadata", None)
    if meta is not None:
        out.append(meta)  # a terminal row: content.metadata
    reps = getattr(item, "representations", None)
    if isinstance(reps, Mapping):
        plain = reps.get("text/plain")
        if isinstance(plain, InlineMedia | ArtifactMedia):
            out.append(plain.metadata)
        elif isinstance(plain, Mapping):
            out.append(plain.get("metadata"))
    return out


def _parse(meta: Any) -> tuple[NoticeKind, str] | None:
    if not isinstance(meta, Mapping):
        return None
    body = meta.get(_KEY)
    if not isinstance(body, Mapping):
        return None
    kind, text = body.get("kind"), body.get("notice")
    if not isinstance(text, str):
        return None
    for known in _KINDS:
        if kind == known:
            return known, text
    return None
