"""The README is part of the product: its tables, commands and examples must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from runt_action import errors
from runt_action.notebook import parse_notebook

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _table(title: str) -> list[list[str]]:
    rows = [line for line in _section(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _plain(text: str) -> str:
    return text.replace("`", "").strip()


def test_inputs_table_equals_action_yml() -> None:
    rows = _table("Inputs")
    expected = [
        [
            name,
            "yes" if spec.get("required") else "no",
            str(spec.get("default", "")),
            " ".join(spec["description"].split()),
        ]
        for name, spec in ACTION["inputs"].items()
    ]
    assert [[_plain(c) if i < 3 else c for i, c in enumerate(r)] for r in rows] == expected


def test_outputs_table_equals_action_yml() -> None:
    rows = _table("Outputs")
    expected = [[name, " ".join(s["description"].split())] for name, s in ACTION["outputs"].items()]
    assert [[_plain(r[0]), r[1]] for r in rows] == expected


def test_exit_codes_table_matches_errors_module() -> None:
    codes = {int(row[0]): row[1] for row in _table("Exit codes")}
    assert set(codes) == {
        errors.EXIT_OK,
        errors.EXIT_CELL_FAILED,
        errors.EXIT_BAD_INPUT,
        errors.EXIT_INFRASTRUCTURE,
    }
    assert codes[errors.InputError.exit_code].startswith("bad input")
    assert codes[errors.InfrastructureError.exit_code].startswith("infrastructure")
    assert errors.Cancelled.exit_code == errors.EXIT_INFRASTRUCTURE


def test_the_two_commands_exist_and_ci_runs_the_test_command() -> None:
    block = re.search(r"```sh\n(.*?)```", _section("Two commands"), re.S)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "notebooks/example-stdlib.yml" in makefile
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in ci


def test_the_format_reference_is_a_valid_notebook() -> None:
    block = re.search(r"```yaml\n(.*?)```", _section("YAML notebook format"), re.S)
    assert block
    nb = parse_notebook(block.group(1), "README.md")
    assert [c.id for c in nb.cells] == ["intro", "load", "publish"]
    assert nb.cells[1].retries == 2 and nb.cells[2].if_ == "success()"


def test_the_action_usage_example_uses_real_inputs() -> None:
    block = re.search(r"```yaml\n(.*?)```", _section("GitHub Action"), re.S)
    assert block
    workflow = yaml.safe_load(block.group(1))
    steps = workflow["jobs"]["report"]["steps"]
    step = next(s for s in steps if str(s.get("uses", "")).startswith("runt/automate-action"))
    assert set(step["with"]) <= set(ACTION["inputs"])
    assert (ROOT / step["with"]["notebook"]).is_file()


def test_docker_example_uses_declared_inputs() -> None:
    section = _section("docker run")
    for name in re.findall(r"INPUT_([A-Z_-]+)=", section):
        assert name.lower().replace("_", "-") in ACTION["inputs"]
    assert "/github/workspace" in section and "GITHUB_STEP_SUMMARY" in section


def _sh_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", _section(title), re.S)


def test_docker_and_podman_examples_are_the_same_run() -> None:
    """The podman block (which make container runs as printed) is the docker block plus the
    script's two --ulimit flags, so the docker one is tested by proxy."""
    docker, podman = _sh_blocks("docker run")[:2]
    script = (ROOT / "scripts" / "container-test.sh").read_text()
    ulimits = re.search(r"^ULIMITS=\((.*)\)$", script, re.M)
    assert ulimits, "scripts/container-test.sh sets no ULIMITS=(...)"
    assert ulimits.group(1) in podman
    expected = docker.replace("docker ", "podman ").replace(
        "podman run --rm ", f"podman run --rm {ulimits.group(1)} "
    )
    assert podman == expected
    assert docker.startswith("docker build -t runt-automate .\n")
    assert "podman run" in podman and "docker" not in podman


def test_image_budget_is_stated_once_and_the_readme_agrees() -> None:
    script = (ROOT / "scripts" / "container-test.sh").read_text()
    budget = re.search(r"^IMAGE_BUDGET_MB=(\d+)$", script, re.M)
    assert budget, "scripts/container-test.sh sets no IMAGE_BUDGET_MB"
    section = _section("Image and dependencies")
    total = re.search(r"^\| \*\*total\*\* \| \*\*([\d.]+) MB\*\* \| budget (\d+) MB", section, re.M)
    assert total, "the Image budget table has no '| **total** | **N MB** | budget M MB' row"
    assert int(total.group(2)) == int(budget.group(1))
    assert float(total.group(1)) <= int(budget.group(1))
    layers = [
        float(row[1].removesuffix(" MB"))
        for row in (
            [c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith("| ") and " MB |" in line and "**total**" not in line
        )
    ]
    assert abs(sum(layers) - float(total.group(1))) < 1.0
