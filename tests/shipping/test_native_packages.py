"""Notebook packages on the native runtime are checked, never installed; requirement lists
from the packages input and metadata.packages parse as pip would parse them."""

from __future__ import annotations

import shlex
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from runt_action.errors import EXIT_BAD_INPUT, MissingPackageError, NotebookError, UsageError
from runt_action.notebook import parse_notebook
from runt_action.packages import check_installed, merge_requirements, split_requirements
from runt_action.settings import load_settings


def test_installed_requirements_pass_and_markers_that_exclude_are_noted() -> None:
    notes = check_installed(["pytest>=1", "packaging", "pywin32; sys_platform == 'win32'"])
    assert notes == [
        "package \"pywin32; sys_platform == 'win32'\" skipped: its marker excludes this Python"
    ]


def test_missing_packages_are_one_error_with_the_exact_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runt_action.packages.has_pip", lambda: True)  # a venv with pip
    monkeypatch.setattr("runt_action.packages.in_image", lambda environ=None: False)
    with pytest.raises(MissingPackageError) as info:
        check_installed(["pytest>=1", "runt-no-such-package>=2", "packaging<1"])
    message = str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT and "\n" not in message
    assert "package 'runt-no-such-package>=2' is not installed" in message
    assert f"package 'packaging' is {version('packaging')}, the notebook needs <1" in message
    command = (
        f"{shlex.quote(sys.executable)} -m pip install 'runt-no-such-package>=2' 'packaging<1'"
    )
    assert f"`{command}`" in message


def test_an_extra_counts_only_when_its_dependencies_are_installed() -> None:
    check_installed(["markdown-it-py[linkify]"])  # linkify-it-py is a dev dependency
    with pytest.raises(MissingPackageError, match=r"needed by pydantic\[email\]"):
        check_installed(["pydantic[email]"])  # email-validator is not installed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy, pandas>=2,<3", ["numpy", "pandas>=2,<3"]),
        (
            "requests[socks,security]>=2\n# a comment\nattrs  # why",
            ["requests[socks,security]>=2", "attrs"],
        ),
        ("a,b\nc", ["a", "b", "c"]),
        ("x>=1, <2", ["x>=1, <2"]),
        ("", []),
    ],
)
def test_split_requirements(text: str, expected: list[str]) -> None:
    assert split_requirements(text) == expected


def test_merge_keeps_the_notebook_order_and_drops_repeats() -> None:
    assert merge_requirements(["a", "b"], ["b", "c"]) == ["a", "b", "c"]


def test_packages_input_and_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INPUT_PACKAGES", "numpy\npandas>=2,<3, attrs")
    monkeypatch.setenv("INPUT_WHEELHOUSE", str(tmp_path))
    settings = load_settings()
    assert settings.packages == ["numpy", "pandas>=2,<3", "attrs"]
    assert settings.wheelhouse == tmp_path
    assert load_settings(packages="six").packages == ["six"]
    with pytest.raises(UsageError, match=r"^invalid input 'packages' .*invalid package"):
        load_settings(packages="good, bad name!")


def test_metadata_packages_are_checked_where_they_are_written() -> None:
    text = (
        "metadata:\n  packages:\n    - attrs>=22\n    - 'no good!'\n"
        "cells:\n  - id: a\n    source: x\n"
    )
    with pytest.raises(NotebookError) as info:
        parse_notebook(text, "nb.yml")
    assert str(info.value).startswith("nb.yml:4:7: metadata.packages[1]: invalid package")
    ok = parse_notebook(text.replace("    - 'no good!'\n", ""), "nb.yml")
    assert ok.metadata.packages == ["attrs>=22"]
