from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livestore_helpers import captured_lines

from runt_action.livestore.events import Event, EventDecodeError
from runt_action.livestore.protocol import (
    PING_TEXT,
    PONG_TEXT,
    AdminInfoReq,
    AdminInfoRes,
    AdminResetRoomReq,
    AdminResetRoomRes,
    Error,
    Ping,
    Pong,
    PullReq,
    PullRes,
    PushAck,
    PushReq,
    QueryDecodeError,
    check_event_fits,
    decode_client,
    decode_query,
    decode_server,
    dumps,
    encode,
    encode_event,
    encode_query,
    event_args_json,
    event_wire_bytes,
    frame_bytes,
    metadata_json,
    pull_item_json,
    pull_res_json,
    split_batch,
)

E1 = Event(
    "v1.NoteAdded",
    {"id": "A-30ywsz", "text": "hello from A", "author": "A"},
    1,
    0,
    "client-A",
    "session-A",
)
E2 = Event("v1.Bare", None, 2, 1, "c", "s", created_at="2026-11-24T14:29:19.915Z")
E2_PUSHED = Event("v1.Bare", None, 2, 1, "c", "s")  # createdAt is server metadata only

CLIENT_MESSAGES = [
    PullReq("r1"),
    PullReq("r2", cursor=6),
    PushReq("r3", (E1, E2_PUSHED)),
    PushReq("r4", ()),
    Ping(),
    AdminResetRoomReq("r5", "secret"),
    AdminInfoReq("r6", "secret"),
]
SERVER_MESSAGES = [
    PullRes((), "r1", "pull", 0),
    PullRes((E1, E2), "r2", "push", 0),
    PullRes((E2,), "r3", "pull", 150),
    PushAck("r4"),
    Error("r5", "Invalid parent event number. Received e4 but expected e5"),
    Pong(),
    AdminResetRoomRes("r6"),
    AdminInfoRes("r7", "25065c22"),
]


@pytest.mark.parametrize("msg", CLIENT_MESSAGES, ids=repr)
def test_client_messages_round_trip(msg: Any) -> None:
    text = encode(msg)
    assert decode_client(text) == msg
    assert ": " not in text and ", " not in text  # compact like JSON.stringify
    assert "null" not in text  # optional fields are omitted


@pytest.mark.parametrize("msg", SERVER_MESSAGES, ids=repr)
def test_server_messages_round_trip(msg: Any) -> None:
    text = encode(msg)
    assert decode_server(text) == msg
    assert "null" not in text


def test_ping_and_pong_are_byte_exact() -> None:
    assert encode(Ping()) == '{"_tag":"WSMessage.Ping","requestId":"ping"}' == PING_TEXT
    assert encode(Pong()) == '{"_tag":"WSMessage.Pong","requestId":"ping"}' == PONG_TEXT


def test_field_order_matches_the_real_peers() -> None:
    assert encode(PullReq("x", 2)) == '{"_tag":"WSMessage.PullReq","requestId":"x","cursor":2}'
    assert list(json.loads(encode(PushReq("x", (E1,))))) == ["_tag", "requestId", "batch"]
    assert list(json.loads(encode(PullRes((E1,), "x", "push")))) == [
        "_tag",
        "batch",
        "requestId",
        "remaining",
    ]
    assert list(json.loads(encode(Error("x", "m")))) == ["_tag", "requestId", "message"]
    assert list(json.loads(encode(AdminInfoRes("x", "d")))) == ["_tag", "requestId", "info"]
    assert list(E1.to_wire()) == ["name", "args", "seqNum", "parentSeqNum", "clientId", "sessionId"]
    assert "args" not in E2.to_wire()


def test_metadata_option_encoding() -> None:
    obj = json.loads(encode(PullRes((E1, E2), "x", "pull")))
    assert obj["batch"][0]["metadata"] == {"_tag": "None"}
    assert obj["batch"][1]["metadata"] == {
        "_tag": "Some",
        "value": {"createdAt": "2026-11-24T14:29:19.915Z"},
    }


def _frames(direction: str) -> list[str]:
    # The harness truncated a few huge frames in the capture; those cannot be parsed.
    return [
        d["data"]
        for d in captured_lines()
        if d.get("dir") == direction and "data" in d and "[truncated by harness" not in d["data"]
    ]


def test_every_captured_server_frame_decodes_and_re_encodes_byte_exact() -> None:
    frames = _frames("s2c")
    assert len(frames) > 40
    for text in frames:
        msg = decode_server(text)
        assert msg is not None, text
        assert encode(msg) == text


def test_captured_client_frames_decode_like_the_real_server() -> None:
    decoded = {text: decode_client(text) for text in _frames("c2s")}
    # Dropped by the real server too: unknown tag and non-JSON.
    assert decoded['{"_tag":"WSMessage.Nope","requestId":"x"}'] is None
    assert decoded["not json at all"] is None
    # The non-exact ping still decodes as a Ping (the server then answers with an Error).
    assert decoded['{"_tag": "WSMessage.Ping", "requestId": "ping"}'] == Ping()
    for text, msg in decoded.items():
        if msg is not None and text.startswith('{"_tag":"WSMessage.P'):
            assert encode(msg) == text, text


@pytest.mark.parametrize(
    "text",
    [
        '{"_tag":"WSMessage.PullReq","requestId":"r","cursor":null}',
        '{"_tag":"WSMessage.PullReq","requestId":"r","cursor":"6"}',
        '{"_tag":"WSMessage.PullReq","requestId":"r","cursor":true}',
        '{"_tag":"WSMessage.PushReq","requestId":"r","batch":[{"name":"n","seqNum":"8",'
        '"parentSeqNum":7,"clientId":"c","sessionId":"s"}]}',
        '{"_tag":"WSMessage.PushReq","requestId":"r","batch":[{"name":"n","seqNum":'
        '{"global":8,"client":0},"parentSeqNum":7,"clientId":"c","sessionId":"s"}]}',
        '{"_tag":"WSMessage.Ping","requestId":"pong"}',
        '{"_tag":"WSMessage.PullReq"}',
        "[1,2]",
        "",
    ],
)
def test_undecodable_client_frames_are_none(text: str) -> None:
    assert decode_client(text) is None


def test_key_order_is_irrelevant_for_decoding() -> None:
    assert decode_client('{"requestId":"order","_tag":"WSMessage.PullReq","cursor":6}') == (
        PullReq("order", 6)
    )


def test_undecodable_server_frames_are_none() -> None:
    assert (
        decode_server('{"_tag":"WSMessage.PullRes","batch":[],"requestId":"x","remaining":0}')
        is None
    )
    assert decode_server('{"_tag":"WSMessage.PushAck"}') is None
    assert decode_server("nope") is None


# --- query ------------------------------------------------------------------------------


def test_payload_is_double_percent_encoded_like_the_js_client() -> None:
    query = encode_query("harness-store", {"authToken": "test-token"})
    assert query == (
        "storeId=harness-store&payload=%257B%2522authToken%2522%253A%2522test-token%2522%257D"
    )
    assert decode_query(query) == ("harness-store", {"authToken": "test-token"})


def test_captured_upgrade_urls_decode() -> None:
    urls = [d["url"] for d in captured_lines() if d.get("event") == "client-upgrade"]
    ok = [u for u in urls if "storeId" in u and "notjson" not in u]
    for url in ok:
        store_id, payload = decode_query(url.split("?", 1)[1])
        assert store_id in ("harness-store", "scratch-store", "dup-store", "big-store")
        assert payload is None or "authToken" in payload
    # Single-encoded payloads are accepted too (decoding twice is a no-op without '%').
    assert decode_query("storeId=x&payload=%7B%22authToken%22:%22test-token%22%7D") == (
        "x",
        {"authToken": "test-token"},
    )


@settings(derandomize=True, database=None)
@given(
    store_id=st.text(min_size=1),
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    ),
)
def test_query_round_trip(store_id: str, payload: Any) -> None:
    sid, decoded = decode_query(encode_query(store_id, payload))
    assert sid == store_id
    assert decoded == payload


def test_query_errors_have_the_upstream_body() -> None:
    bodies: dict[str, str] = {}
    lines = captured_lines()
    for i, d in enumerate(lines):
        if d.get("status") == 500:
            url = next(
                x["url"]
                for x in reversed(lines[:i])
                if x.get("event") == "client-upgrade" and x["conn"] == d["conn"]
            )
            bodies[url] = d["body"]
    missing = "/livestore/websocket?payload=%257B%2522authToken%2522%253A%2522test-token%2522%257D"
    with pytest.raises(QueryDecodeError) as exc:
        decode_query(missing.split("?", 1)[1])
    assert str(exc.value) == bodies[missing]
    with pytest.raises(QueryDecodeError) as exc:
        decode_query("storeId=harness-store&payload=notjson")
    body = bodies["/livestore/websocket?storeId=harness-store&payload=notjson"]
    ours = str(exc.value)
    # Same tree; only V8's JSON.parse wording of the innermost line differs.
    assert ours.splitlines()[:9] == body.splitlines()[:9]
    assert ours.splitlines()[-1] == body.splitlines()[-1]


def test_parse_of_our_query_matches_url_search_params_once() -> None:
    pairs = dict(parse_qsl(encode_query("a b&c", {"k": "v w"})))
    assert pairs["storeId"] == "a b&c"
    assert pairs["payload"] == "%7B%22k%22%3A%22v%20w%22%7D"


# --- batching ---------------------------------------------------------------------------


def _ev(i: int, size: int = 10) -> Event:
    return Event("v1.Big", {"blob": "x" * size}, i + 1, i, "c", "s")


def test_split_batch_respects_count_and_bytes() -> None:
    events = [_ev(i, 30_000) for i in range(120)]
    batches = split_batch(events)
    assert [e for b in batches for e in b] == events
    for batch in batches:
        assert len(batch) <= 50
        frame = encode(PushReq("A" * 21, tuple(batch)))
        assert frame_bytes(frame) < 1_048_576
    assert len(batches) == 4  # 34 events of ~30 KB fit in 1 MiB


def test_split_batch_counts_utf8_bytes() -> None:
    events = [Event("v1.U", {"t": "é" * 100_000}, i + 1, i, "c", "s") for i in range(10)]
    for batch in split_batch(events):
        assert frame_bytes(encode(PushReq("r" * 21, tuple(batch)))) < 1_048_576


def test_split_batch_rejects_an_event_too_large_for_any_frame() -> None:
    with pytest.raises(ValueError, match="more than a push frame"):
        split_batch([_ev(0, 1_100_000)])


def test_split_batch_small_events_go_fifty_per_frame() -> None:
    assert [len(b) for b in split_batch([_ev(i) for i in range(120)])] == [50, 50, 20]


# --- encoding by concatenation (events are encoded once and reused) -----------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
EVENTS = st.builds(
    Event,
    name=st.text(min_size=1),
    args=JSON_VALUES,
    seq_num=st.integers(min_value=0, max_value=2**63 - 1),
    parent_seq_num=st.integers(min_value=-1, max_value=2**63 - 1),
    client_id=st.text(),
    session_id=st.text(),
    created_at=st.none() | st.text(),
)


def _reference_dumps(value: Any) -> str:
    """What every frame was before: ``json.dumps`` of the plain object."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reference_item(event: Event) -> dict[str, Any]:
    meta: dict[str, Any] = (
        {"_tag": "None"}
        if event.created_at is None
        else {"_tag": "Some", "value": {"createdAt": event.created_at}}
    )
    return {"eventEncoded": event.to_wire(), "metadata": meta}


def _cached(event: Event) -> Event:
    return replace(event, args_json=None if event.args is None else dumps(event.args))


@settings(max_examples=200, deadline=None)
@given(events=st.lists(EVENTS, max_size=5), rid=st.text(), remaining=st.integers(0, 10**6))
def test_push_and_pull_frames_are_byte_identical_to_plain_json_dumps(
    events: list[Event], rid: str, remaining: int
) -> None:
    push_ref = _reference_dumps(
        {"_tag": "WSMessage.PushReq", "requestId": rid, "batch": [e.to_wire() for e in events]}
    )
    for context in ("pull", "push"):
        pull_ref = _reference_dumps(
            {
                "_tag": "WSMessage.PullRes",
                "batch": [_reference_item(e) for e in events],
                "requestId": {"context": context, "requestId": rid},
                "remaining": remaining,
            }
        )
        for batch in (events, [_cached(e) for e in events]):  # with and without args_json
            assert encode(PullRes(tuple(batch), rid, context, remaining)) == pull_ref
    for batch in (events, [_cached(e) for e in events]):
        assert encode(PushReq(rid, tuple(batch))) == push_ref
        for e in batch:
            assert encode_event(e) == _reference_dumps(e.to_wire())
            assert event_wire_bytes(e) == len(_reference_dumps(e.to_wire()).encode())


def test_the_args_json_cache_is_used_and_takes_no_part_in_equality() -> None:
    cached = replace(E1, args_json='{"cached":true}')
    assert cached == E1 and "args_json" not in repr(cached)
    # The cache is trusted (it is only ever set from dumps(args)): the frame carries it.
    assert json.loads(encode_event(cached))["args"] == {"cached": True}
    assert cached.renumbered(7, 6).args_json == cached.args_json  # args unchanged by rebase
    assert event_args_json(E2) is None and "args" not in encode_event(replace(E2, args_json="1"))


def test_pull_items_built_from_parts_match_the_pull_res_encoding() -> None:
    text = pull_res_json(
        [pull_item_json(encode_event(e), metadata_json(e.created_at)) for e in (E1, E2)],
        "r",
        "pull",
        3,
    )
    assert text == encode(PullRes((E1, E2), "r", "pull", 3))


def test_split_batch_with_known_sizes_splits_the_same() -> None:
    events = [_ev(i, 1000 * (i % 7)) for i in range(300)]
    sizes = [event_wire_bytes(e) for e in events]
    for max_bytes in (20_000, 100_000, 1_048_575):
        assert split_batch(events, max_bytes, 50, sizes=sizes) == split_batch(events, max_bytes, 50)
    with pytest.raises(ValueError, match="encodes to 5000 bytes"):
        check_event_fits("v1.Big", 5000, 4000)


def test_decoding_is_strict_about_bool_numbers_and_subclassed_strings() -> None:
    good = E1.to_wire()
    assert decode_client(dumps({"_tag": "WSMessage.PushReq", "requestId": "r", "batch": [good]}))
    for key, bad in (("seqNum", True), ("parentSeqNum", 1.0), ("name", 3), ("clientId", None)):
        frame = {"_tag": "WSMessage.PushReq", "requestId": "r", "batch": [{**good, key: bad}]}
        assert decode_client(dumps(frame)) is None, key

    class Name(str):
        pass

    assert Event.from_wire({**good, "name": Name("v1.X")}).name == "v1.X"
    with pytest.raises(EventDecodeError, match="seqNum/parentSeqNum"):
        Event.from_wire({**good, "seqNum": False})
