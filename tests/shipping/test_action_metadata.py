"""The action as shipped: a prebuilt image, a test-only twin that builds the local Dockerfile,
every action pinned by SHA, every pinned thing covered by Dependabot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from runt_action import __version__

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
LOCAL_PATH = ROOT / ".github" / "actions" / "local" / "action.yml"
LOCAL = yaml.safe_load(LOCAL_PATH.read_text())
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _without_image(action: dict[str, Any]) -> dict[str, Any]:
    runs = {k: v for k, v in action["runs"].items() if k != "image"}
    return {"inputs": action["inputs"], "outputs": action["outputs"], "runs": runs}


def test_action_runs_the_prebuilt_image_of_this_version() -> None:
    image = ACTION["runs"]["image"]
    assert re.fullmatch(
        rf"docker://ghcr\.io/runt/automate-action(:{re.escape(__version__)}|@sha256:[0-9a-f]{{64}})",
        image,
    ), image


def test_the_local_action_is_the_same_action_built_from_the_dockerfile() -> None:
    assert _without_image(LOCAL) == _without_image(ACTION)
    assert list(LOCAL["inputs"]) == list(ACTION["inputs"])  # same order (README table)
    dockerfile = (LOCAL_PATH.parent / LOCAL["runs"]["image"]).resolve()
    assert dockerfile == ROOT / "Dockerfile"


def test_ci_self_test_uses_the_local_build() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    uses = [s.get("uses") for s in ci["jobs"]["self-test"]["steps"]]
    assert "./.github/actions/local" in uses and "./" not in uses


def test_every_action_is_pinned_by_commit_sha_with_its_tag() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            match = re.search(r"uses:\s*(\S+)(.*)", line)
            if not match or match.group(1).startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)), line
            assert re.search(r"#\s*v\d", match.group(2)), f"no tag comment: {line}"


def test_release_attests_signs_and_pins_the_image_in_action_yml() -> None:
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    release = yaml.safe_load(text)
    build = next(s for s in release["jobs"]["image"]["steps"] if s.get("id") == "build")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    assert "actions/attest-build-provenance@" in text and "cosign sign --yes" in text
    assert "image: docker://${IMAGE}@${DIGEST}" in text and 'git tag -f "$major"' in text


def test_base_image_is_pinned_by_digest() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.M)
    assert match and re.search(r"@sha256:[0-9a-f]{64}$", match.group(1))


def test_dependabot_covers_every_lockfile_and_pin() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    covered = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert {
        ("uv", "/"),
        ("pip", "/scripts"),
        ("npm", "/runt_action/agents/pyodide/bridge"),
        ("npm", "/tests/interop"),
        ("docker", "/"),
        ("github-actions", "/"),
    } <= covered
    for ecosystem, directory in covered:
        assert (ROOT / directory.lstrip("/")).is_dir(), (ecosystem, directory)


def test_both_setup_paths_install_python_deps_from_the_lockfile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "sync --locked" in makefile and "pip install --quiet -e" not in makefile
    assert "--require-hashes -r scripts/uv-requirements.txt" in makefile
    assert dockerfile.count("uv sync --frozen") == 2  # deps, build tools: both from uv.lock
    assert "uv build --offline --no-build-isolation" in dockerfile  # locked hatchling
    assert "--require-hashes -r scripts/uv-requirements.txt" in dockerfile
    assert re.search(r"^uv==[\d.]+ \\$", (ROOT / "scripts/uv-requirements.txt").read_text(), re.M)


def test_readme_documents_the_pyodide_switches_and_the_image_budget() -> None:
    readme = (ROOT / "README.md").read_text()
    for needle in ("PYODIDE_PACKAGES", "RUNT_PYODIDE_CDN=1", "### Image budget", "uv.lock"):
        assert needle in readme, needle
    assert "PYODIDE_FULL" not in readme and "pyodide-dist.json" not in readme  # retired
    budget = readme.split("### Image budget", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\*\*total\*\* \| \*\*\d+(\.\d+)? MB\*\*", budget)
    assert "Time from `podman run` to the first cell's output" in budget
