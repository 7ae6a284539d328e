"""The sync payload a runtime connects with: one builder for every way an agent is started."""

from __future__ import annotations

from typing import Any

__all__ = ["runtime_payload"]


def runtime_payload(
    *, auth_token: str | None, runtime_id: str, session_id: str, user_id: str | None
) -> dict[str, Any] | None:
    """runt-schema §5.3: with a token, anode's *Runtime* variant ``{authToken, runtime: true,
    runtimeId, sessionId, userId}``; without one (the embedded server), no payload at all.

    ``userId`` must be the token's user (anode refuses a runtime whose userId differs), so it
    is omitted rather than guessed when unknown.
    """
    if not auth_token:
        return None
    payload: dict[str, Any] = {
        "authToken": auth_token,
        "runtime": True,
        "runtimeId": runtime_id,
        "sessionId": session_id,
    }
    if user_id is not None:
        payload["userId"] = user_id
    return payload
