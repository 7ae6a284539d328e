"""notice_of: the one parser of the agent's notices, over events, Media and state rows."""

from __future__ import annotations

from runt_action.schema import events as ev
from runt_action.schema.notices import (
    NOTICE_KINDS,
    notice_media,
    notice_metadata,
    notice_of,
    notice_text,
)
from runt_action.schema.state import materialize


class _E:
    def __init__(self, event: ev.RuntEvent) -> None:
        self.name, self.args = event.wire()


def test_notice_of_reads_terminal_and_display_notices_in_every_shape() -> None:
    media = notice_media("truncated", "output truncated: 3 MiB")
    assert media.data == "[runt-action] output truncated: 3 MiB\n" == notice_text(media.data[14:-1])
    assert notice_of(media) == ("truncated", "output truncated: 3 MiB")
    assert notice_of(media.model_dump()) == ("truncated", "output truncated: 3 MiB")
    assert notice_of(notice_metadata("restarted", "r")) == ("restarted", "r")
    events = [
        ev.CellCreated2(id="c", fractionalIndex="m", cellType="code", createdBy="a"),
        ev.TerminalOutputAdded(id="t", cellId="c", position=0, content=media, streamName="stderr"),
        ev.MultimediaDisplayOutputAdded(
            id="d",
            cellId="c",
            position=1,
            representations={"text/plain": notice_media("dropped", "a display was dropped")},
        ),
        ev.TerminalOutputAdded(
            id="plain",
            cellId="c",
            position=2,
            content=ev.InlineMedia(data="x"),
            streamName="stdout",
        ),
    ]
    state = materialize(_E(e) for e in events)
    found = [notice_of(o) for o in state.cell_outputs("c")]
    assert found == [
        ("truncated", "output truncated: 3 MiB"),
        ("dropped", "a display was dropped"),
        None,
    ]
    assert {"dropped", "truncated", "restarted", "retried", "context"} == NOTICE_KINDS


def test_notice_of_ignores_look_alikes() -> None:
    assert notice_of({"metadata": {"runt_action": {"kind": "other", "notice": "x"}}}) is None
    assert notice_of({"metadata": {"runt_action": {"kind": "dropped", "notice": 3}}}) is None
    assert notice_of({"metadata": {"runt_action": "dropped"}}) is None
    assert notice_of(ev.InlineMedia(data="[runt-action] not a notice\n")) is None
    assert notice_of(None) is None
