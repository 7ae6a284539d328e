from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runt_action.schema.fractional import (
    RANDOM_JITTER,
    TestJitterProvider,
    initial_key,
    is_valid_key,
    key_after,
    key_before,
    key_between,
    keys_between,
)


class NoJitter:
    """The spec's vectors were computed with random() = 0.99, i.e. jitter never fires."""

    def random(self) -> float:
        return 0.99

    def random_int(self, maximum: int) -> int:
        raise AssertionError("jitter must not fire")


def test_append_sequence_from_initial() -> None:
    keys = [initial_key(jitter=NoJitter())]
    for _ in range(14):
        keys.append(key_after(keys[-1], jitter=NoJitter()))
    assert keys == ["m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "yh", "yi"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("m", "n", "mh"),
        (None, "m", "b"),
        (None, "1", "0h"),
        ("a0", "a1", "a0h"),
        ("m", "m5", "m2"),
        (None, None, "m"),
        ("", "", "m"),  # empty strings are "no bound", like JS falsiness
    ],
)
def test_spec_vectors(a: str | None, b: str | None, expected: str) -> None:
    assert key_between(a, b, jitter=NoJitter()) == expected
    assert key_between(a, b) == expected  # jitter=None is deterministic


def test_before_helper_matches_vector() -> None:
    assert key_before("m") == "b"
    assert key_before("1") == "0h"


def test_adjacent_keys_raise_the_spec_message() -> None:
    with pytest.raises(ValueError, match=r'^No string exists between "m" and "m0"'):
        key_between("m", "m0")


@pytest.mark.parametrize(("a", "b"), [("n", "m"), ("m", "m")])
def test_invalid_range(a: str, b: str) -> None:
    with pytest.raises(ValueError, match=rf"^Invalid range: {a} >= {b}$"):
        key_between(a, b)


def test_invalid_character() -> None:
    with pytest.raises(ValueError, match=r"^Invalid character: V$"):
        key_between("a0", "aV")


def test_seeded_jitter_vector() -> None:
    jitter = TestJitterProvider(42)
    keys = [initial_key(jitter=jitter)]
    for _ in range(8):
        keys.append(key_between(keys[-1], None, jitter=jitter))
    assert keys == ["m", "n", "o", "p", "q", "r", "s", "t1", "t2a"]


def test_keys_between_is_sequential_and_ascending() -> None:
    keys = keys_between("m", "n", 5)
    assert keys == sorted(keys)
    assert all("m" < k < "n" for k in keys)
    assert keys_between(None, None, 0) == []


def test_before_all_zero_key_stays_below() -> None:
    # The TS code returns "0" + b here, which sorts *above* b; we return a shorter key.
    assert key_before("000") < "000"
    with pytest.raises(ValueError, match="No string exists"):
        key_before("0")


def test_random_jitter_stays_in_bounds() -> None:
    for _ in range(200):
        k = key_between("m", "n", jitter=RANDOM_JITTER)
        assert "m" < k < "n"
        assert is_valid_key(k)


def test_is_valid_key() -> None:
    assert is_valid_key("a0h")
    assert not is_valid_key("")
    assert not is_valid_key("Zz")
    assert not is_valid_key("a-b")


@st.composite
def generated_keys(draw: st.DrawFn) -> list[str]:
    """Keys as clients make them: inserts before, after and between, with or without jitter."""
    seed = draw(st.integers(min_value=0, max_value=2**31 - 2))
    jitter = TestJitterProvider(seed) if draw(st.booleans()) else None
    keys = [initial_key(jitter=jitter)]
    for where in draw(st.lists(st.integers(min_value=-1, max_value=60), max_size=40)):
        keys.sort()
        if where < 0:
            lo, hi = None, keys[0]
        elif where >= len(keys) - 1:
            lo, hi = keys[-1], None
        else:
            lo, hi = keys[where], keys[where + 1]
        try:
            keys.append(key_between(lo, hi, jitter=jitter))
        except ValueError:
            assert lo is not None and hi == lo + "0"
    return sorted(set(keys))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(keys=generated_keys(), data=st.data())
def test_key_between_two_generated_keys_sorts_strictly_between(
    keys: list[str], data: st.DataObject
) -> None:
    assert len(keys) == len(set(keys))
    assert all(is_valid_key(k) for k in keys)
    bounds = [None, *keys, None]
    i = data.draw(st.integers(min_value=0, max_value=len(bounds) - 2))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(bounds) - 1))
    lo, hi = bounds[i], bounds[j]
    if lo is None and hi is None:
        hi = keys[0]
    seed = data.draw(st.integers(min_value=0, max_value=1000))
    try:
        key = key_between(lo, hi, jitter=TestJitterProvider(seed))
    except ValueError:
        # The only gap with no base36 string in it: b == a + "0".
        assert lo is not None and hi == lo + "0"
        return
    assert is_valid_key(key)
    assert lo is None or lo < key
    assert hi is None or key < hi
