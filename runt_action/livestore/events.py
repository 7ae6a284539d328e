"""The synced event, as it travels on the sync-cf 0.3 wire."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

__all__ = ["Event", "EventDecodeError"]


class EventDecodeError(ValueError):
    """A wire object is not a valid encoded event (the peer would drop the frame)."""


def _is_int(value: Any) -> TypeGuard[int]:
    # bool is an int subclass in Python but not a number in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Event:
    """One synced event; ``args is None`` means absent (the server stores NULL).

    ``args_json``, when set, is ``protocol.dumps(args)``: whoever encoded the args once
    (a commit, the server) keeps the text so frames and the SQLite log reuse it instead of
    encoding the same value again. It is a cache, so it takes no part in equality.
    """

    name: str
    args: Any
    seq_num: int
    parent_seq_num: int
    client_id: str
    session_id: str
    created_at: str | None = None
    args_json: str | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> dict[str, Any]:
        """The ``AnyEncodedGlobal`` object, keys in the order the JS peers emit them."""
        wire: dict[str, Any] = {"name": self.name}
        if self.args is not None:
            wire["args"] = self.args
        wire["seqNum"] = self.seq_num
        wire["parentSeqNum"] = self.parent_seq_num
        wire["clientId"] = self.client_id
        wire["sessionId"] = self.session_id
        return wire

    @classmethod
    def from_wire(cls, obj: Any, created_at: str | None = None) -> Event:
        """Strict like Effect Schema: wrong types are errors, not coercions.

        On every received event's path (server and each client), hence one combined check
        and positional construction.
        """
        if not isinstance(obj, dict):
            raise EventDecodeError("event is not an object")
        get = obj.get
        name = get("name")
        seq = get("seqNum")
        parent = get("parentSeqNum")
        client_id = get("clientId")
        session_id = get("sessionId")
        if (
            type(name) is not str
            or type(seq) is not int
            or type(parent) is not int
            or type(client_id) is not str
            or type(session_id) is not str
        ):
            # Rare path: the exact reason, with the same leniency as before for subclasses.
            if not isinstance(name, str):
                raise EventDecodeError("event name is not a string")
            if not _is_int(seq) or not _is_int(parent):
                raise EventDecodeError("event seqNum/parentSeqNum is not an integer")
            if not isinstance(client_id, str) or not isinstance(session_id, str):
                raise EventDecodeError("event clientId/sessionId is not a string")
        return cls(name, get("args"), seq, parent, client_id, session_id, created_at)

    def renumbered(self, seq_num: int, parent_seq_num: int) -> Event:
        """The same event placed elsewhere in the log (rebase)."""
        return replace(self, seq_num=seq_num, parent_seq_num=parent_seq_num)

    def same_origin_and_content(self, other: Event) -> bool:
        """Equality ignoring numbering, like LiveStore's ``isEqualEncoded``.

        Used to recognise our own push in a pull after a reconnect, whatever number it got.
        """
        return (
            self.client_id == other.client_id
            and self.session_id == other.session_id
            and self.name == other.name
            and self.args == other.args
        )
