"""``--shard I/N``: a deterministic 1/N of a suite's notebooks, for GitHub's matrix.

With ``--durations FILE`` (a results file of an earlier run, see report/records.py, or a
``{path: seconds}`` mapping) the notebooks are spread greedily, longest first, each onto the
shard with the least time so far (ties: the lower shard; unknown notebooks count as the
median); else each goes to ``sha256(path) mod N``. Every shard computes the same split from the
same inputs, so the shards' union is every notebook exactly once.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from runt_action.errors import UsageError

__all__ = ["parse_shard", "read_durations", "shard_of", "split"]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); 1-based, I between 1 and N."""
    head, sep, tail = text.partition("/")
    try:
        index, total = int(head), int(tail)
    except ValueError:
        index = total = 0
    if not sep or total < 1 or not 1 <= index <= total:
        raise UsageError(f"--shard {text!r}: expected I/N with 1 <= I <= N (for example 2/4)")
    return index, total


def read_durations(path: Path) -> dict[str, float]:
    """Seconds per notebook path from a results file (``runt-results.json``) or a mapping."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--durations {path}: cannot read it ({exc})") from None
    out: dict[str, float] = {}
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        for entry in data["entries"]:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                seconds = float(entry.get("duration_ms", 0) or 0) / 1000
                out[entry["path"]] = out.get(entry["path"], 0.0) + seconds
        return out
    if isinstance(data, dict) and all(isinstance(v, int | float) for v in data.values()):
        return {str(k): float(v) for k, v in data.items()}
    raise UsageError(
        f"--durations {path}: expected a runt results file or a {{path: seconds}} mapping"
    )


def split(paths: Sequence[str], total: int, durations: Mapping[str, float] | None) -> list[int]:
    """The shard (0-based) of each path."""
    if not durations:
        return [shard_of(p, total) for p in paths]
    known = [durations[p] for p in paths if p in durations]
    default = statistics.median(known) if known else 1.0
    order = sorted(range(len(paths)), key=lambda i: (-durations.get(paths[i], default), paths[i]))
    load = [0.0] * total
    shards = [0] * len(paths)
    for i in order:
        target = min(range(total), key=lambda s: (load[s], s))
        shards[i] = target
        load[target] += durations.get(paths[i], default)
    return shards


def shard_of(path: str, total: int) -> int:
    return int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:8], "big") % total
