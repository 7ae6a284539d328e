"""livestore.auth: secrets compared as bytes, and the Origin/Host rule, as pure functions."""

from __future__ import annotations

import pytest

from runt_action.livestore.auth import OriginPolicy, new_secret, same_secret


def test_new_secrets_are_long_random_and_url_safe() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and len(a) >= 43
    assert all(c.isalnum() or c in "-_" for c in a)


@pytest.mark.parametrize(
    ("given", "expected", "ok"),
    [
        ("tok", "tok", True),
        ("tok", "tok2", False),
        ("", "", False),  # an empty secret never matches: no token means no access
        (None, "tok", False),
        ("tok", None, False),
        ("pä", "pä", True),  # non-ASCII: compared as UTF-8 bytes, never a TypeError
        ("pä", "pa", False),
        ("\udcff", "tok", False),  # a lone surrogate (from a query or cookie) compares
        (b"tok", "tok", True),
    ],
)
def test_same_secret(given: str | bytes | None, expected: str | None, ok: bool) -> None:
    assert same_secret(given, expected) is ok


LOOPBACK = OriginPolicy.for_bind("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1:8787", True),
        ("localhost:8787", True),
        ("LOCALHOST:8787", True),
        ("[::1]:8787", True),
        ("127.0.0.2:8787", True),
        ("127.0.0.1:9999", True),  # a local port forward or proxy shows another port
        ("evil.example:8787", False),  # DNS rebinding: the page's own name
        ("10.0.0.5:8787", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
        (None, False),
        ("user@127.0.0.1", False),
        ("127.0.0.1/x", False),
        ("[::1", False),
    ],
)
def test_a_loopback_server_answers_only_loopback_names(host: str | None, ok: bool) -> None:
    assert LOOPBACK.host_ok(host) is ok


def test_other_binds() -> None:
    anywhere = OriginPolicy.for_bind("0.0.0.0")
    assert anywhere.host_ok("evil.example:8787")  # the token is then the only guard
    one = OriginPolicy.for_bind("192.0.2.7", extra_hosts=["Notebooks.Example"])
    assert one.host_ok("192.0.2.7:8787") and one.host_ok("localhost:8787")
    assert one.host_ok("notebooks.example:8787")
    assert not one.host_ok("evil.example:8787")


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "127.0.0.1:8787", True),  # non-browser clients send no Origin
        ("http://127.0.0.1:8787", "127.0.0.1:8787", True),
        ("HTTP://LOCALHOST:8787", "localhost:8787", True),
        ("http://127.0.0.1", "127.0.0.1:80", True),
        ("https://127.0.0.1", "127.0.0.1:443", True),
        ("http://127.0.0.1:8788", "127.0.0.1:8787", False),  # a page on another port
        ("http://localhost:8787", "127.0.0.1:8787", False),  # another origin, same machine
        ("http://evil.example", "127.0.0.1:8787", False),
        ("null", "127.0.0.1:8787", False),  # sandboxed frames, file: pages
        ("file://", "127.0.0.1:8787", False),
        ("http://127.0.0.1:8787/path", "127.0.0.1:8787", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8787", False),
        ("http://127.0.0.1:8787", None, False),
    ],
)
def test_only_the_servers_own_origin(origin: str | None, host: str | None, ok: bool) -> None:
    assert LOOPBACK.origin_ok(origin, host) is ok


def test_refusal_says_why() -> None:
    assert LOOPBACK.refusal("127.0.0.1:8787", None) is None
    assert "Host" in (LOOPBACK.refusal("evil.example:8787", None) or "")
    assert "cross-origin" in (LOOPBACK.refusal("127.0.0.1:8787", "http://x.example") or "")
