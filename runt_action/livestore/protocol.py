"""Sans-I/O codec for the sync-cf 0.3 websocket protocol (``WSMessage.*``).

Frames are compact JSON text, keys in the order the real peers emit them, optional fields
omitted (never ``null``). Decoding is as strict as Effect Schema: anything the real peer
would drop decodes to ``None`` here, so both our client and our server ignore it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeGuard
from urllib.parse import parse_qsl, quote, unquote, urlencode

from runt_action.livestore.events import Event, EventDecodeError

__all__ = [
    "MAX_INBOUND_FRAME_BYTES",
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
    "PushReq",
    "QueryDecodeError",
    "ServerMessage",
    "decode_client",
    "decode_query",
    "decode_server",
    "dumps",
    "encode",
    "encode_query",
    "event_wire_bytes",
    "frame_bytes",
    "split_batch",
]

PING_TEXT = '{"_tag":"WSMessage.Ping","requestId":"ping"}'
PONG_TEXT = '{"_tag":"WSMessage.Pong","requestId":"ping"}'
PULL_CHUNK_SIZE = 100
PUSH_BATCH_MAX_EVENTS = 50
MAX_INBOUND_FRAME_BYTES = 1_048_576


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


def dumps(value: Any) -> str:
    """``JSON.stringify``: compact, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def frame_bytes(text: str) -> int:
    """Size of a text frame on the wire (the 1 MiB limit counts UTF-8 bytes)."""
    return len(text.encode("utf-8"))


def _event_item(event: Event) -> dict[str, Any]:
    metadata: dict[str, Any]
    if event.created_at is None:
        metadata = {"_tag": "None"}
    else:
        metadata = {"_tag": "Some", "value": {"createdAt": event.created_at}}
    return {"eventEncoded": event.to_wire(), "metadata": metadata}


def _to_obj(msg: ClientMessage | ServerMessage) -> dict[str, Any]:
    match msg:
        case PullReq(request_id=rid, cursor=cursor):
            obj: dict[str, Any] = {"_tag": "WSMessage.PullReq", "requestId": rid}
            if cursor is not None:
                obj["cursor"] = cursor
            return obj
        case PushReq(request_id=rid, batch=batch):
            return {
                "_tag": "WSMessage.PushReq",
                "requestId": rid,
                "batch": [e.to_wire() for e in batch],
            }
        case Ping():
            return {"_tag": "WSMessage.Ping", "requestId": "ping"}
        case AdminResetRoomReq(request_id=rid, admin_secret=secret):
            return {"_tag": "WSMessage.AdminResetRoomReq", "requestId": rid, "adminSecret": secret}
        case AdminInfoReq(request_id=rid, admin_secret=secret):
            return {"_tag": "WSMessage.AdminInfoReq", "requestId": rid, "adminSecret": secret}
        case PullRes(batch=batch, request_id=rid, context=context, remaining=remaining):
            return {
                "_tag": "WSMessage.PullRes",
                "batch": [_event_item(e) for e in batch],
                "requestId": {"context": context, "requestId": rid},
                "remaining": remaining,
            }
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
    for item in value:
        if not isinstance(item, dict):
            raise _DecodeError("batch item is not an object")
        meta = item.get("metadata")
        created_at: str | None = None
        if isinstance(meta, dict) and meta.get("_tag") == "Some":
            value_obj = meta.get("value")
            if not isinstance(value_obj, dict) or not isinstance(value_obj.get("createdAt"), str):
                raise _DecodeError("metadata.value.createdAt is not a string")
            created_at = value_obj["createdAt"]
        elif not (isinstance(meta, dict) and meta.get("_tag") == "None"):
            raise _DecodeError("metadata is not an Option")
        try:
            events.append(Event.from_wire(item.get("eventEncoded"), created_at))
        except EventDecodeError as exc:
            raise _DecodeError(str(exc)) from exc
    return tuple(events)


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _DecodeError("not JSON") from exc
    if not isinstance(obj, dict):
        raise _DecodeError("not an object")
    return obj


def _client_from_obj(obj: dict[str, Any]) -> ClientMessage:
    tag = obj.get("_tag")
    if tag == "WSMessage.PullReq":
        cursor = obj.get("cursor")
        if "cursor" in obj and not _is_int(cursor):
            raise _DecodeError("cursor is not an integer")
        return PullReq(_str(obj, "requestId"), cursor)
    if tag == "WSMessage.PushReq":
        return PushReq(_str(obj, "requestId"), _events(obj.get("batch")))
    if tag == "WSMessage.Ping":
        return Ping(_literal_ping(obj))
    if tag == "WSMessage.AdminResetRoomReq":
        return AdminResetRoomReq(_str(obj, "requestId"), _str(obj, "adminSecret"))
    if tag == "WSMessage.AdminInfoReq":
        return AdminInfoReq(_str(obj, "requestId"), _str(obj, "adminSecret"))
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
        payload = json.loads(text)
    except ValueError as exc:
        raise _payload_error(
            raw_payload, f"Unexpected token in JSON, {dumps(text)} is not valid JSON"
        ) from exc
    return store_id, payload


# --- batching --------------------------------------------------------------------------

# `{"_tag":"WSMessage.PushReq","requestId":"<id>","batch":[...]}` around the events;
# request ids are short (we use 21-char ids), 128 bytes of slack covers any sane one.
_PUSH_ENVELOPE_BYTES = len('{"_tag":"WSMessage.PushReq","requestId":"","batch":[]}') + 128


def event_wire_bytes(event: Event) -> int:
    return frame_bytes(dumps(event.to_wire()))


def split_batch(
    events: Sequence[Event],
    max_bytes: int = MAX_INBOUND_FRAME_BYTES - 1,
    max_events: int = PUSH_BATCH_MAX_EVENTS,
) -> list[list[Event]]:
    """Consecutive PushReq batches each encoding to at most ``max_bytes``.

    An event that cannot fit in a frame alone raises ValueError: the server would close
    the socket (1009) and we would retry it forever.
    """
    batches: list[list[Event]] = []
    current: list[Event] = []
    size = _PUSH_ENVELOPE_BYTES
    for event in events:
        cost = event_wire_bytes(event) + 1  # + the comma
        if _PUSH_ENVELOPE_BYTES + cost > max_bytes:
            raise ValueError(
                f"event {event.name!r} encodes to {cost - 1} bytes, more than a push frame "
                f"may carry ({max_bytes} bytes)"
            )
        if current and (len(current) >= max_events or size + cost > max_bytes):
            batches.append(current)
            current, size = [], _PUSH_ENVELOPE_BYTES
        current.append(event)
        size += cost
    if current:
        batches.append(current)
    return batches
