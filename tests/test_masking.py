"""Scrubber.stream masks a text that comes in pieces exactly as Scrubber.text masks it whole,
wherever the pieces are cut (a secret across a boundary included)."""

from __future__ import annotations

import itertools
import random

from runt_action.masking import Scrubber


def _pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_a_secret_across_any_piece_boundary_is_masked() -> None:
    scrubber = Scrubber(["hunter2-token", "pw"])
    text = "a hunter2-token b <pw> hunter2-tokenhunter2-token pw" * 3
    whole = scrubber.text(text)
    assert "hunter2" not in whole and "pw" not in whole
    for cut in range(1, len(text)):
        assert "".join(scrubber.stream(_pieces(text, [cut]))) == whole
    rng = random.Random(7)
    for _ in range(300):
        cuts = [rng.randrange(len(text)) for _ in range(rng.randrange(1, 12))]
        assert "".join(scrubber.stream(_pieces(text, cuts))) == whole


def test_without_secrets_the_pieces_pass_unchanged() -> None:
    pieces = ["abc", "", "def"]
    assert list(Scrubber([]).stream(pieces)) == ["abc", "def"]
