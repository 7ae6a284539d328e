"""Sans-I/O codec for the sync-cf 0.3 websocket protocol (``WSMessage.*``).

Frames are compact JSON text, keys in the order the real peers emit them, optional fields
omitted (never ``null``). Decoding is as strict as Effect Schema: anything the real peer
would drop decodes to ``None`` here, so both our client and our server ignore it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeGuard
from urllib.parse import parse_qsl, quote, unquote, urlencode

from runt_action.livestore.events import Event, EventDecodeError

__all__ = [
    "MAX_ARGS_DEPTH",
    "MAX_INBOUND_FRAME_BYTES",
    "MAX_SEQ_NUM",
    "PING_TEXT",
    "PONG_TEXT",
    "PULL_CHUNK_SIZE",
    "PUSH_BATCH_MAX_EVENTS",
    "AdminInfoReq",
    "AdminInfoRes",
    "AdminResetRoomReq",
    "AdminResetRoomRes",
    "ClientMessage",
    "Error",
    "Ping",
    "Pong",
    "PullReq",
    "PullRes",
    "PushAck",
    "PushRejected",
    "PushReq",
    "QueryDecodeError",
    "ServerMessage",
    "check_event_fits",
    "check_push",
    "decode_client",
    "decode_query",
    "decode_server",
    "dumps",
    "encode",
    "encode_event",
    "encode_query",
    "event_args_json",
    "event_json",
    "event_wire_bytes",
    "frame_bytes",
    "is_utf8_text",
    "json_deeper_than",
    "metadata_json",
    "pull_item_json",
    "pull_res_json",
    "split_batch",
    "strict_loads",
]

PING_TEXT = '{"_tag":"WSMessage.Ping","requestId":"ping"}'
PONG_TEXT = '{"_tag":"WSMessage.Pong","requestId":"ping"}'
PULL_CHUNK_SIZE = 100
PUSH_BATCH_MAX_EVENTS = 50
MAX_INBOUND_FRAME_BYTES = 1_048_576
MAX_SEQ_NUM = 2**63 - 1  # SQLite's largest integer
# Deeper args would be stored, then fail to decode in every Python peer (RecursionError).
MAX_ARGS_DEPTH = 256


# --- client -> server ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullReq:
    request_id: str
    cursor: int | None = None  # None = from the beginning


@dataclass(frozen=True, slots=True)
class PushReq:
    request_id: str
    batch: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    request_id: Literal["ping"] = "ping"


@dataclass(frozen=True, slots=True)
class AdminResetRoomReq:
    request_id: str
    admin_secret: str


@dataclass(frozen=True, slots=True)
class AdminInfoReq:
    request_id: str
    admin_secret: str


# --- server -> client ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullRes:
    """A pull answer (``context="pull"``) or a push broadcast (``context="push"``).

    Each event's ``created_at`` is the ``metadata`` Option: ``Some`` when set.
    """

    batch: tuple[Event, ...]
    request_id: str
    context: Literal["pull", "push"]
    remaining: int = 0


@dataclass(frozen=True, slots=True)
class PushAck:
    request_id: str


@dataclass(frozen=True, slots=True)
class Error:
    request_id: str
    message: str


@dataclass(frozen=True, slots=True)
class Pong:
    request_id: Literal["ping"] = "ping"


@dataclass(frozen=True, slots=True)
class AdminResetRoomRes:
    request_id: str


@dataclass(frozen=True, slots=True)
class AdminInfoRes:
    request_id: str
    durable_object_id: str


ClientMessage: TypeAlias = PullReq | PushReq | Ping | AdminResetRoomReq | AdminInfoReq
ServerMessage: TypeAlias = PullRes | PushAck | Error | Pong | AdminResetRoomRes | AdminInfoRes


class _DecodeError(ValueError):
    """A frame the real peer would drop; kept internal, decoders return None."""


# One encoder for every frame: ``json.dumps`` would build an identical one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The string encoder json itself uses for ``ensure_ascii=False``, so bytes stay identical.
_str_json: Callable[[str], str] = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """``JSON.stringify``: compact, non-ASCII kept as is."""
    return _ENCODER.encode(value)


def frame_bytes(text: str) -> int:
    """Size of a text frame on the wire (the 1 MiB limit counts UTF-8 bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def is_utf8_text(text: str) -> bool:
    """False for a string holding a lone surrogate (a ``\\ud800`` escape decodes to one):
    neither a frame nor SQLite can carry it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_deeper_than(value: Any, limit: int, text: str | None = None) -> bool:
    """Whether the JSON value ``value`` nests arrays/objects more than ``limit`` deep.

    ``text``, its encoding, clears almost every value at once: nesting that deep needs more
    than ``limit`` opening brackets. Only a value with that many (CSS in an HTML output, a
    table of arrays) is walked, one level at a time, containers only.
    """
    if text is not None and text.count("[") + text.count("{") <= limit:
        return False
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):  # after `limit` levels, any container left is one level deeper
        if not level:
            return False
        children: list[Any] = []
        for node in level:
            children.extend(node.values() if type(node) is dict else node)
        level = [c for c in children if type(c) is dict or type(c) is list]
    return bool(level)


# --- event encoding by concatenation ----------------------------------------------------
# Events are the bulk of every frame. Building their JSON from already-encoded parts lets
# the args be encoded once per event (by the committer, or once by the server) and reused
# for sizing, pushing, broadcasting, storing and pulling. Byte-identical to ``dumps`` of
# the equivalent objects (tests/livestore/test_protocol.py checks it).


def event_args_json(event: Event) -> str | None:
    """The event's args as JSON text, from the cache when the event carries it."""
    if event.args is None:
        return None
    return event.args_json if event.args_json is not None else dumps(event.args)


def event_json(
    name: str,
    args_json: str | None,
    seq_num: int,
    parent_seq_num: int,
    client_id: str,
    session_id: str,
) -> str:
    """``dumps(event.to_wire())`` from its parts; ``args_json`` None = args absent."""
    args = "" if args_json is None else ',"args":' + args_json
    return (
        f'{{"name":{_str_json(name)}{args},"seqNum":{seq_num},'
        f'"parentSeqNum":{parent_seq_num},"clientId":{_str_json(client_id)},'
        f'"sessionId":{_str_json(session_id)}}}'
    )


def encode_event(event: Event) -> str:
    """``dumps(event.to_wire())``, reusing ``event.args_json``."""
    return event_json(
        event.name,
        event_args_json(event),
        event.seq_num,
        event.parent_seq_num,
        event.client_id,
        event.session_id,
    )


_NO_METADATA = '{"_tag":"None"}'


def metadata_json(created_at: str | None) -> str:
    """The pull item's ``metadata`` Option."""
    if created_at is None:
        return _NO_METADATA
    return '{"_tag":"Some","value":{"createdAt":' + _str_json(created_at) + "}}"


def pull_item_json(event_json_text: str, metadata: str) -> str:
    return '{"eventEncoded":' + event_json_text + ',"metadata":' + metadata + "}"


def pull_res_json(
    items: Sequence[str], request_id: str, context: Literal["pull", "push"], remaining: int
) -> str:
    """A ``WSMessage.PullRes`` frame around already-encoded pull items."""
    return (
        '{"_tag":"WSMessage.PullRes","batch":[' + ",".join(items) + '],"requestId":'
        f'{{"context":{_str_json(context)},"requestId":{_str_json(request_id)}}},'
        f'"remaining":{remaining}}}'
    )


def _push_req_json(request_id: str, batch: Sequence[Event]) -> str:
    return (
        f'{{"_tag":"WSMessage.PushReq","requestId":{_str_json(request_id)},"batch":['
        + ",".join([encode_event(e) for e in batch])
        + "]}"
    )


def _to_obj(msg: ClientMessage | ServerMessage) -> dict[str, Any]:
    # PushReq and PullRes, the hot frames, are built by concatenation in ``encode``.
    match msg:
        case PullReq(request_id=rid, cursor=cursor):
            obj: dict[str, Any] = {"_tag": "WSMessage.PullReq", "requestId": rid}
            if cursor is not None:
                obj["cursor"] = cursor
            return obj
        case Ping():
            return {"_tag": "WSMessage.Ping", "requestId": "ping"}
        case AdminResetRoomReq(request_id=rid, admin_secret=secret):
            return {"_tag": "WSMessage.AdminResetRoomReq", "requestId": rid, "adminSecret": secret}
        case AdminInfoReq(request_id=rid, admin_secret=secret):
            return {"_tag": "WSMessage.AdminInfoReq", "requestId": rid, "adminSecret": secret}
        case PushAck(request_id=rid):
            return {"_tag": "WSMessage.PushAck", "requestId": rid}
        case Error(request_id=rid, message=message):
            return {"_tag": "WSMessage.Error", "requestId": rid, "message": message}
        case Pong():
            return {"_tag": "WSMessage.Pong", "requestId": "ping"}
        case AdminResetRoomRes(request_id=rid):
            return {"_tag": "WSMessage.AdminResetRoomRes", "requestId": rid}
        case AdminInfoRes(request_id=rid, durable_object_id=do_id):
            return {
                "_tag": "WSMessage.AdminInfoRes",
                "requestId": rid,
                "info": {"durableObjectId": do_id},
            }
    raise TypeError(f"not a protocol message: {msg!r}")


def encode(msg: ClientMessage | ServerMessage) -> str:
    """One text frame. Ping/Pong are byte-exact with the runtime auto-response pair."""
    if isinstance(msg, Ping):
        return PING_TEXT
    if isinstance(msg, Pong):
        return PONG_TEXT
    if isinstance(msg, PushReq):
        return _push_req_json(msg.request_id, msg.batch)
    if isinstance(msg, PullRes):
        items = [pull_item_json(encode_event(e), metadata_json(e.created_at)) for e in msg.batch]
        return pull_res_json(items, msg.request_id, msg.context, msg.remaining)
    return dumps(_to_obj(msg))


# --- decoding --------------------------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _DecodeError(f"{key} is not a string")
    return value


def _literal_ping(obj: dict[str, Any]) -> Literal["ping"]:
    if obj.get("requestId") != "ping":
        raise _DecodeError("requestId is not 'ping'")
    return "ping"


def _events(value: Any) -> tuple[Event, ...]:
    if not isinstance(value, list):
        raise _DecodeError("batch is not an array")
    try:
        return tuple(Event.from_wire(item) for item in value)
    except EventDecodeError as exc:
        raise _DecodeError(str(exc)) from exc


def _pull_items(value: Any) -> tuple[Event, ...]:
    if not isinstance(value, list):
        raise _DecodeError("batch is not an array")
    events: list[Event] = []
    append = events.append
    from_wire = Event.from_wire
    for item in value:
        if not isinstance(item, dict):
            raise _DecodeError("batch item is not an object")
        meta = item.get("metadata")
        if not isinstance(meta, dict):
            raise _DecodeError("metadata is not an Option")
        tag = meta.get("_tag")
        created_at: str | None = None
        if tag == "Some":
            value_obj = meta.get("value")
            if not isinstance(value_obj, dict) or not isinstance(value_obj.get("createdAt"), str):
                raise _DecodeError("metadata.value.createdAt is not a string")
            created_at = value_obj["createdAt"]
        elif tag != "None":
            raise _DecodeError("metadata is not an Option")
        try:
            append(from_wire(item.get("eventEncoded"), created_at))
        except EventDecodeError as exc:
            raise _DecodeError(str(exc)) from exc
    return tuple(events)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ``JSON.parse`` rejects NaN and Infinity, which ``json.loads`` accepts by default.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def strict_loads(text: str) -> Any:
    """``JSON.parse``: ValueError for NaN/Infinity, and for nesting too deep for Python's
    stack (a RecursionError the caller could not tell from a bug)."""
    try:
        return _DECODER.decode(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        obj = strict_loads(text if isinstance(text, str) else text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _DecodeError("not JSON") from exc
    if not isinstance(obj, dict):
        raise _DecodeError("not an object")
    return obj


def _request_id(obj: dict[str, Any]) -> str:
    """Every answer echoes it, so it must be text a frame can carry (no lone surrogate)."""
    value = _str(obj, "requestId")
    if not is_utf8_text(value):
        raise _DecodeError("requestId is not valid Unicode")
    return value


def _client_from_obj(obj: dict[str, Any]) -> ClientMessage:
    tag = obj.get("_tag")
    if tag == "WSMessage.PullReq":
        cursor = obj.get("cursor")
        if "cursor" in obj and not _is_int(cursor):
            raise _DecodeError("cursor is not an integer")
        return PullReq(_request_id(obj), cursor)
    if tag == "WSMessage.PushReq":
        return PushReq(_request_id(obj), _events(obj.get("batch")))
    if tag == "WSMessage.Ping":
        return Ping(_literal_ping(obj))
    if tag == "WSMessage.AdminResetRoomReq":
        return AdminResetRoomReq(_request_id(obj), _str(obj, "adminSecret"))
    if tag == "WSMessage.AdminInfoReq":
        return AdminInfoReq(_request_id(obj), _str(obj, "adminSecret"))
    raise _DecodeError(f"unknown client _tag {tag!r}")


def _server_from_obj(obj: dict[str, Any]) -> ServerMessage:
    tag = obj.get("_tag")
    if tag == "WSMessage.PullRes":
        rid = obj.get("requestId")
        if not isinstance(rid, dict):
            raise _DecodeError("requestId is not an object")
        context = rid.get("context")
        if context not in ("pull", "push"):
            raise _DecodeError("requestId.context is not pull|push")
        remaining = obj.get("remaining")
        if not _is_int(remaining):
            raise _DecodeError("remaining is not an integer")
        return PullRes(_pull_items(obj.get("batch")), _str(rid, "requestId"), context, remaining)
    if tag == "WSMessage.PushAck":
        return PushAck(_str(obj, "requestId"))
    if tag == "WSMessage.Error":
        return Error(_str(obj, "requestId"), _str(obj, "message"))
    if tag == "WSMessage.Pong":
        return Pong(_literal_ping(obj))
    if tag == "WSMessage.AdminResetRoomRes":
        return AdminResetRoomRes(_str(obj, "requestId"))
    if tag == "WSMessage.AdminInfoRes":
        info = obj.get("info")
        if not isinstance(info, dict):
            raise _DecodeError("info is not an object")
        return AdminInfoRes(_str(obj, "requestId"), _str(info, "durableObjectId"))
    raise _DecodeError(f"unknown server _tag {tag!r}")


def decode_client(text: str | bytes) -> ClientMessage | None:
    """A client frame, or None when the real server would silently drop it."""
    try:
        return _client_from_obj(_load(text))
    except _DecodeError:
        return None


def decode_server(text: str | bytes) -> ServerMessage | None:
    """A server frame, or None when it does not decode (the caller ignores it)."""
    try:
        return _server_from_obj(_load(text))
    except _DecodeError:
        return None


# --- handshake query -------------------------------------------------------------------

# encodeURIComponent leaves these unescaped.
_URI_COMPONENT_SAFE = "-_.!~*'()"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

_SCHEMA_TEXT = (
    "{ readonly storeId: string; readonly payload: "
    "(StringFromUriComponent <-> (parseJson <-> JsonValue)) | undefined }"
)


class QueryDecodeError(ValueError):
    """The handshake query is invalid; ``str(exc)`` is the exact HTTP 500 body."""


def encode_query(store_id: str, payload: Any = None) -> str:
    """``storeId=..&payload=..`` with the payload percent-encoded twice, like the JS client."""
    params = {"storeId": store_id}
    if payload is not None:
        params["payload"] = quote(dumps(payload), safe=_URI_COMPONENT_SAFE)
    return urlencode(params, safe="", quote_via=quote)


def _decode_uri_component(text: str) -> str:
    if _BAD_PERCENT.search(text):
        raise ValueError("URI malformed")
    return unquote(text, errors="strict")


def _payload_error(raw: str, reason: str) -> QueryDecodeError:
    shown = dumps(raw)
    return QueryDecodeError(
        f"Invalid search params: {_SCHEMA_TEXT}\n"
        '└─ ["payload"]\n'
        "   └─ (StringFromUriComponent <-> (parseJson <-> JsonValue)) | undefined\n"
        "      ├─ (StringFromUriComponent <-> (parseJson <-> JsonValue))\n"
        "      │  └─ Type side transformation failure\n"
        "      │     └─ (parseJson <-> JsonValue)\n"
        "      │        └─ Encoded side transformation failure\n"
        "      │           └─ parseJson\n"
        "      │              └─ Transformation process failure\n"
        f"      │                 └─ {reason}\n"
        f"      └─ Expected undefined, actual {shown}"
    )


def decode_query(raw_query: str) -> tuple[str, Any]:
    """``(store_id, payload)`` from a raw query string, decoded like ``SearchParamsSchema``.

    URLSearchParams decoding once, then decodeURIComponent, then JSON.parse. A missing
    payload is ``None``.
    """
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params.setdefault(key, value)
    store_id = params.get("storeId")
    if store_id is None:
        raise QueryDecodeError(
            f'Invalid search params: {_SCHEMA_TEXT}\n└─ ["storeId"]\n   └─ is missing'
        )
    raw_payload = params.get("payload")
    if raw_payload is None:
        return store_id, None
    try:
        text = _decode_uri_component(raw_payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _payload_error(raw_payload, "URI malformed") from exc
    try:
        payload = strict_loads(text)
    except ValueError as exc:
        raise _payload_error(
            raw_payload, f"Unexpected token in JSON, {dumps(text)} is not valid JSON"
        ) from exc
    return store_id, payload


# --- push validation -------------------------------------------------------------------


class PushRejected(ValueError):
    """A push batch the server refuses as a whole; ``str(exc)`` is the Error message."""


def check_push(batch: Sequence[Event], head: int) -> list[str | None]:
    """Each event's args JSON text, once the whole batch is known to be storable after
    ``head``; else PushRejected.

    Everything that could fail later (in SQLite, in a peer's decoder) is checked here, before
    the server touches any state, so a batch is stored whole or not at all. The args are
    encoded once, and that text is what the server stores and broadcasts.
    """
    first = batch[0]
    if first.parent_seq_num != head:
        raise PushRejected(
            f"Invalid parent event number. Received e{first.parent_seq_num} but expected e{head}"
        )
    texts: list[str | None] = []
    for offset, event in enumerate(batch):
        expected = head + 1 + offset
        # Stricter than upstream (which acks and then fails in D1): numbers must chain.
        if event.seq_num != expected or event.parent_seq_num != expected - 1:
            raise PushRejected(
                f"Invalid event number. Received e{event.seq_num} (parent "
                f"e{event.parent_seq_num}) but expected e{expected}"
            )
        if expected > MAX_SEQ_NUM:
            raise PushRejected(f"Invalid event number e{expected}: the log is full")
        if not (
            is_utf8_text(event.name)
            and is_utf8_text(event.client_id)
            and is_utf8_text(event.session_id)
        ):
            raise PushRejected(
                f"Invalid event e{expected}: its name, clientId or sessionId is not valid "
                "Unicode (a lone surrogate)"
            )
        try:
            text = event_args_json(event)
        except (ValueError, TypeError, RecursionError) as exc:
            raise PushRejected(
                f"Invalid event e{expected}: its args are not JSON ({exc})"
            ) from None
        if text is not None:
            if not is_utf8_text(text):
                raise PushRejected(
                    f"Invalid event e{expected}: its args are not valid Unicode (a lone surrogate)"
                )
            if json_deeper_than(event.args, MAX_ARGS_DEPTH, text):
                raise PushRejected(
                    f"Invalid event e{expected}: its args nest deeper than {MAX_ARGS_DEPTH} levels"
                )
        texts.append(text)
    return texts


# --- batching --------------------------------------------------------------------------

# `{"_tag":"WSMessage.PushReq","requestId":"<id>","batch":[...]}` around the events;
# request ids are short (we use 21-char ids), 128 bytes of slack covers any sane one.
_PUSH_ENVELOPE_BYTES = len('{"_tag":"WSMessage.PushReq","requestId":"","batch":[]}') + 128


def event_wire_bytes(event: Event) -> int:
    return frame_bytes(encode_event(event))


def check_event_fits(name: str, size: int, max_bytes: int = MAX_INBOUND_FRAME_BYTES - 1) -> None:
    """ValueError when an event of ``size`` bytes cannot fit in a push frame alone.

    The server would close the socket (1009) and we would retry it forever.
    """
    if _PUSH_ENVELOPE_BYTES + size + 1 > max_bytes:
        raise ValueError(
            f"event {name!r} encodes to {size} bytes, more than a push frame "
            f"may carry ({max_bytes} bytes)"
        )


def split_batch(
    events: Sequence[Event],
    max_bytes: int = MAX_INBOUND_FRAME_BYTES - 1,
    max_events: int = PUSH_BATCH_MAX_EVENTS,
    *,
    sizes: Sequence[int] | None = None,
) -> list[list[Event]]:
    """Consecutive PushReq batches each encoding to at most ``max_bytes``.

    ``sizes`` are the events' ``event_wire_bytes`` when the caller already knows them
    (the sync machine does, from the one encoding made at commit). An event that cannot
    fit in a frame alone raises ValueError (see :func:`check_event_fits`).
    """
    batches: list[list[Event]] = []
    current: list[Event] = []
    size = _PUSH_ENVELOPE_BYTES
    for index, event in enumerate(events):
        wire = event_wire_bytes(event) if sizes is None else sizes[index]
        check_event_fits(event.name, wire, max_bytes)
        cost = wire + 1  # + the comma
        if current and (len(current) >= max_events or size + cost > max_bytes):
            batches.append(current)
            current, size = [], _PUSH_ENVELOPE_BYTES
        current.append(event)
        size += cost
    if current:
        batches.append(current)
    return batches
