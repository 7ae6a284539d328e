"""--shard I/N: every notebook in exactly one shard; combine of real shards == one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import JUnitXml

from runt_action.batch.shard import parse_shard, read_durations, split
from runt_action.errors import UsageError
from tests.batch.conftest import run_command

PATHS = [f"nbs/{d}/nb{i:02}.yml" for d in ("a", "b", "c") for i in range(13)]


@pytest.mark.parametrize("total", [1, 2, 3, 4])
@pytest.mark.parametrize("timed", [False, True])
def test_the_shards_union_is_every_notebook_once(total: int, timed: bool) -> None:
    durations = {p: float(len(p) % 7 + i) for i, p in enumerate(PATHS)} if timed else None
    shards = split(PATHS, total, durations)
    groups = [[p for p, s in zip(PATHS, shards, strict=True) if s == k] for k in range(total)]
    assert sorted(p for g in groups for p in g) == sorted(PATHS)  # each exactly once
    assert split(list(reversed(PATHS)), total, durations)[::-1] == shards  # order-free
    if total > 1:
        assert all(groups), "no shard left empty with 39 notebooks"


def test_durations_balance_longest_first() -> None:
    durations = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 4.0, "e": 1.0}
    shards = split(list(durations), 2, durations)
    loads = [
        sum(durations[p] for p, s in zip(durations, shards, strict=True) if s == k) for k in (0, 1)
    ]
    # a: 10|0 -> b: 10|6 -> c: 10|11 -> d: 14|11 -> e: 14|12 (each onto the lighter shard)
    assert shards == [0, 1, 1, 0, 1]
    assert loads == [14.0, 12.0]


def test_unknown_notebooks_count_as_the_median(tmp_path: Path) -> None:
    results = tmp_path / "runt-results.json"
    results.write_text(
        json.dumps(
            {
                "format": "runt-results",
                "entries": [
                    {"path": "x", "duration_ms": 3000},
                    {"path": "y", "duration_ms": 1000},
                    {"path": "y", "duration_ms": 1000},  # two sets of a sweep add up
                ],
            }
        )
    )
    assert read_durations(results) == {"x": 3.0, "y": 2.0}
    assert split(["x", "y", "new"], 2, {"x": 3.0, "y": 2.0}) == [0, 1, 1]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="expected I/N"):
        parse_shard(text)


async def test_combine_of_real_shards_equals_one_run(suite_dir: Path) -> None:
    args = ("--runtime", "python", "--no-html")
    whole = await run_command(suite_dir, "test", "nbs", *args, "--junit-xml", "all.xml")
    assert whole.returncode == 1, whole.stderr[-2000:]
    seen: list[str] = []
    for i in (1, 2):
        shard = await run_command(
            suite_dir,
            *("test", "nbs", *args, "--shard", f"{i}/2", "--report-dir", f"shard{i}"),
            *("--durations", "runt-output/runt-results.json"),
        )
        assert shard.returncode in (0, 1), shard.stderr[-2000:]
        seen += [r["notebook"] for r in json.loads(shard.outputs["results"])]
    assert sorted(seen) == sorted(e["notebook"] for e in json.loads(whole.outputs["results"]))
    (suite_dir / "summary.md").unlink()
    combined = await run_command(
        suite_dir,
        "combine",
        "shard1",
        "shard2",
        "--junit-xml",
        "combined.xml",
        "--index",
        "combined.html",
    )
    assert combined.returncode == 1, combined.stderr[-2000:]
    one, merged = (
        JUnitXml.fromfile(str(suite_dir / "all.xml")),
        JUnitXml.fromfile(str(suite_dir / "combined.xml")),
    )
    counts = lambda x: sorted((s.name, s.tests, s.failures, s.errors, s.skipped) for s in x)  # noqa: E731
    assert counts(merged) == counts(one)
    assert len(list(merged)) == 4
    assert combined.outputs["failed-notebooks"] == "nbs/fail.yml"
    assert combined.summary.count("| nbs") == 4
    index = (suite_dir / "combined.html").read_text()
    assert 'href="shard' in index and "nbs/sub/nb.ipynb" in index


async def test_combine_refuses_a_directory_without_results(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = await run_command(tmp_path, "combine", "empty")
    assert run.returncode == 2
    assert run.stderr.strip() == "runt-automate combine: empty: no runt-results.json in it"
