"""Who may talk to a server of ours: secrets compared as bytes, the Origin/Host rule. Sans-I/O.

A server we start on loopback is reachable by every local process and, through DNS rebinding
or a local page, by any web page. So every client must prove it holds the server's token, and
browser requests must come from the server's own origin to a Host name the server was bound
for (the same rules as Jupyter Server's ``local_hostnames`` and ``allow_origin``).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["OriginPolicy", "new_secret", "same_secret"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def new_secret() -> str:
    """A fresh random token or session id (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _bytes(value: str | bytes) -> bytes:
    # surrogatepass: a lone surrogate from a query or cookie must compare, not raise.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def same_secret(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Constant-time equality on UTF-8 bytes; False when either side is missing or empty."""
    if not given or not expected:
        return False
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` of a Host header as (lower-case host, port); None when malformed."""
    value = value.strip()
    if not value or any(c in value for c in "/@?# \t\\"):
        return None
    try:
        parts = urlsplit("//" + value)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    return host.lower(), default_port if port is None else port


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The Host names and Origins a server bound to ``bind_host`` answers.

    - Bound to loopback: Host must name loopback (``localhost``, ``127.x.y.z``, ``[::1]``).
    - Bound to one address: that address, loopback, or an ``extra_hosts`` name.
    - Bound to every address (``0.0.0.0``): any Host; the token is then the only guard.

    The port is not checked: a rebound name is caught by its host part, and a local proxy
    (or port forward) legitimately shows another port. An Origin, when a browser sends one, must be
    ``http(s)://`` plus exactly the request's Host: the server's own origin. Requests without
    an Origin (every non-browser client) pass that check.
    """

    bind_host: str
    extra_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_bind(cls, bind_host: str, extra_hosts: Iterable[str] = ()) -> OriginPolicy:
        return cls(bind_host, frozenset(h.lower() for h in extra_hosts))

    def host_ok(self, host_header: str | None) -> bool:
        if host_header is None:
            return False
        split = _split_host(host_header, 80)
        if split is None:
            return False
        host = split[0]
        bound = self.bind_host.strip("[]").lower()
        if bound in _WILDCARDS:
            return True
        if _is_loopback(host) or host in self.extra_hosts:
            return True
        return not _is_loopback(bound) and host == bound

    def origin_ok(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True
        if host_header is None:
            return False
        try:
            parts = urlsplit(origin.strip())
            port = parts.port
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return False  # includes the opaque origin "null" (sandboxed frames, file:)
        if parts.path or parts.query or parts.fragment or parts.username:
            return False
        expected = _split_host(host_header, _DEFAULT_PORTS[scheme])
        return expected == (parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])

    def refusal(self, host_header: str | None, origin: str | None) -> str | None:
        """Why a request is refused (for a 403 body), or None when it may proceed."""
        if not self.host_ok(host_header):
            return "this server does not answer to that Host"
        if not self.origin_ok(origin, host_header):
            return "cross-origin requests are refused"
        return None
