"""Base36 fractional indexing, key for key the scheme of ``@runtimed/schema`` (runt-schema §4).

Cells are ordered by comparing these keys as plain byte strings (SQLite ``ORDER BY``), so
keys from every client must come from the same algorithm: we port the TS functions
(``generateKeyBetween`` and friends) line by line rather than invent a nicer one.

Jitter is opt-in here (``jitter=None`` is deterministic); pass :data:`RANDOM_JITTER` for the
JS default, which spreads concurrent inserts of different clients apart.

One deliberate deviation: TS ``generateKeyBefore`` of an all-zero key returns a *larger* key
("0" + b); we return a shorter run of zeros, or raise when none exists.
"""

from __future__ import annotations

import random as _random
from typing import Final, Protocol

__all__ = [
    "DIGITS",
    "RANDOM_JITTER",
    "JitterProvider",
    "RandomJitter",
    "TestJitterProvider",
    "initial_key",
    "is_valid_key",
    "key_after",
    "key_before",
    "key_between",
    "keys_between",
]

DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE: Final = len(DIGITS)
_JITTER_PROBABILITY: Final = 0.3
_JITTER_MAX_LEN: Final = 10


class JitterProvider(Protocol):
    """The randomness the TS ``JitterProvider`` injects; swap it for deterministic tests."""

    def random(self) -> float: ...  # in [0, 1)

    def random_int(self, maximum: int) -> int: ...  # in [0, maximum)


class RandomJitter:
    """``Math.random`` equivalent (not cryptographic: keys only need to spread)."""

    def __init__(self, rng: _random.Random | None = None) -> None:
        self._rng = rng or _random.Random()

    def random(self) -> float:
        return self._rng.random()

    def random_int(self, maximum: int) -> int:
        return int(self._rng.random() * maximum)


RANDOM_JITTER: Final = RandomJitter()


class TestJitterProvider:
    """``createTestJitterProvider(seed)``: the TS LCG, float64 overflow included.

    The JS code multiplies in float64 before ``& 0x7fffffff``; the product exceeds 2**53,
    so we repeat the float rounding and the ToInt32 wrap to get the same sequence.
    """

    __test__ = False  # not a pytest class

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed

    def random(self) -> float:
        product = float(self._seed) * 1103515245.0 + 12345.0
        self._seed = (int(product) % 2**32) & 0x7FFFFFFF
        return self._seed / 0x7FFFFFFF

    def random_int(self, maximum: int) -> int:
        return int(self.random() * maximum)


def _value(char: str) -> int:
    index = DIGITS.find(char)
    if index < 0 or len(char) != 1:
        raise ValueError(f"Invalid character: {char}")
    return index


def _char(value: int) -> str:
    if not 0 <= value < _BASE:
        raise ValueError(f"Value out of range: {value}")
    return DIGITS[value]


def _no_string(a: str, b: str) -> ValueError:
    return ValueError(f'No string exists between "{a}" and "{b}" in base36 encoding')


def _key_before(b: str) -> str:
    i = 0
    while i < len(b) and b[i] == "0":
        i += 1
    if i == len(b):
        # Only a shorter run of zeros sorts below an all-zero key.
        if len(b) < 2:
            raise _no_string("", b)
        return "0" * (len(b) // 2)
    val = _value(b[i])
    if i == 0 and val > 1:
        return _char(val // 2)
    prefix = b[:i]
    if val > 1:
        return prefix + _char(val // 2)
    return prefix + "0h"


def _key_after(a: str) -> str:
    i = len(a) - 1
    while i >= 0 and a[i] == "z":
        i -= 1
    if i == -1:
        return a + "h"
    val = _value(a[i])
    if val < _BASE - 2:
        return a[:i] + _char(val + 1)
    # 'y' -> 'z' would crowd the top of the range; extend instead.
    return a + "h"


def _key_between_plain(a: str | None, b: str | None) -> str:
    """``generateKeyBetween``: empty strings count as "no bound", like JS falsiness."""
    if not a and not b:
        return "m"
    if not a:
        assert b is not None
        return _key_before(b)
    if not b:
        return _key_after(a)
    if a >= b:
        raise ValueError(f"Invalid range: {a} >= {b}")
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    if i == len(a):
        next_val = _value(b[i])
        if next_val > 0:
            return a + _char(next_val // 2)
        if len(b) > i + 1:
            j = i
            while j < len(b) and b[j] == "0":
                j += 1
            zero_count = j - i
            if j == len(b) and zero_count > 1:
                return a + "0" * (zero_count // 2)
            if j < len(b):
                return a + "0" * (j - i) + _char(_value(b[j]) // 2)
        raise _no_string(a, b)
    a_val = _value(a[i])
    b_val = _value(b[i])
    if b_val - a_val > 1:
        return a[:i] + _char((a_val + b_val) // 2) + a[i + 1 :]
    if i < len(a) - 1:
        return a[: i + 1] + _key_after(a[i + 1 :])
    return a[: i + 1] + "h"


def key_between(a: str | None, b: str | None, *, jitter: JitterProvider | None = None) -> str:
    """A key strictly between ``a`` and ``b`` (``None`` = open end): ``fractionalIndexBetween``.

    Raises ValueError "Invalid range: …" when a >= b, "No string exists between …" when the
    keys are adjacent (b == a + "0"), "Invalid character: …" for keys outside base36.
    """
    key = _key_between_plain(a, b)
    if jitter is not None and jitter.random() < _JITTER_PROBABILITY and len(key) < _JITTER_MAX_LEN:
        candidate = key + _char(jitter.random_int(_BASE))
        if (not a or candidate > a) and (not b or candidate < b):
            return candidate
    return key


def key_before(b: str, *, jitter: JitterProvider | None = None) -> str:
    return key_between(None, b, jitter=jitter)


def key_after(a: str, *, jitter: JitterProvider | None = None) -> str:
    return key_between(a, None, jitter=jitter)


def initial_key(*, jitter: JitterProvider | None = None) -> str:
    """``initialFractionalIndex``: "m", or "m" plus one jitter char."""
    return key_between(None, None, jitter=jitter)


def keys_between(
    a: str | None, b: str | None, n: int, *, jitter: JitterProvider | None = None
) -> list[str]:
    """``generateFractionalIndices``: n ascending keys, each after the previous one."""
    keys: list[str] = []
    prev = a
    for _ in range(max(n, 0)):
        prev = key_between(prev, b, jitter=jitter)
        keys.append(prev)
    return keys


def is_valid_key(key: str) -> bool:
    """``isValidFractionalIndex``: non-empty and base36 lowercase only."""
    return bool(key) and all(c in DIGITS for c in key)
