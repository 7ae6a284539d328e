"""The python runtime's run-local environment (--requirements): made with the real uv from
PyPI (reachable here), the kernel started in it, bad requirements one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runt_action.agents.uvenv import build_environment, find_uv
from runt_action.errors import EXIT_BAD_INPUT, MissingPackageError

# A tiny pure-Python package from PyPI, and its wheel's sha256 as PyPI publishes it.
TABULATE = "tabulate==0.9.0"
TABULATE_SHA256 = "024ca478df22e9340661486f85298cff5f6dcdba14f3813e8830015b9ed1948f"


@pytest.fixture(scope="module")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the module, as `uv-cache-dir` with actions/cache keeps one."""
    return tmp_path_factory.mktemp("uv-cache")


def _notebook(tmp_path: Path) -> Path:
    notebook = tmp_path / "nb.yml"
    notebook.write_text(
        "cells:\n"
        "  - id: table\n"
        "    source: |\n"
        "      import sys, tabulate\n"
        "      print(tabulate.__version__, sys.prefix)\n"
    )
    return notebook


def _run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "runt_action", *args, "--no-html", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_uv_is_found() -> None:
    assert Path(find_uv()).name == "uv"


def test_requirements_with_hashes_install_and_a_wrong_hash_is_refused(
    tmp_path: Path, uv_cache: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text(f"{TABULATE} --hash=sha256:{TABULATE_SHA256}\n")
    made = build_environment(good, cache_dir=uv_cache, directory=tmp_path / "venv")
    assert made.installed == [TABULATE]
    assert any(item.startswith("ipykernel==") for item in made.kernel)
    assert "installed 1 package(s) (tabulate==0.9.0)" in made.note()
    shown = subprocess.run(
        [str(made.python), "-c", "import tabulate; print(tabulate.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "0.9.0\n"
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{TABULATE} --hash=sha256:{'0' * 64}\n")
    with pytest.raises(MissingPackageError) as caught:
        build_environment(bad, cache_dir=uv_cache, directory=tmp_path / "venv2")
    message = str(caught.value)
    assert "\n" not in message and "Hash mismatch" in message and TABULATE_SHA256 in message


def test_the_kernel_runs_in_the_environment_from_the_cli(tmp_path: Path, uv_cache: Path) -> None:
    requirements = tmp_path / "req.txt"
    requirements.write_text(TABULATE + "\n")
    out = tmp_path / "nb.ipynb"
    done = _run(
        tmp_path,
        str(_notebook(tmp_path)),
        "--runtime",
        "python",
        "--requirements",
        str(requirements),
        "--uv-cache-dir",
        str(uv_cache),
        "--output",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "python runtime: installed 1 package(s) (tabulate==0.9.0)" in done.stderr
    cell = json.loads(out.read_text())["cells"][0]
    version, prefix = "".join(cell["outputs"][0]["text"]).split()
    assert version == "0.9.0" and "runt-venv-" in prefix and prefix != sys.prefix
    assert not Path(prefix).exists()  # run-local: removed when the run ends


def test_an_uninstallable_requirement_is_exit_2_in_one_line(tmp_path: Path, uv_cache: Path) -> None:
    requirements = tmp_path / "req.txt"
    requirements.write_text("no-such-package-runt-h24==1.0\n")
    done = _run(
        tmp_path,
        str(_notebook(tmp_path)),
        "--runtime",
        "python",
        "--requirements",
        str(requirements),
        "--uv-cache-dir",
        str(uv_cache),
    )
    assert done.returncode == EXIT_BAD_INPUT
    lines = [line for line in done.stderr.splitlines() if "no-such-package-runt-h24" in line]
    assert len(lines) == 1 and "not found in the package registry" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_requirements_on_pyodide_are_refused(tmp_path: Path) -> None:
    requirements = tmp_path / "req.txt"
    requirements.write_text(TABULATE + "\n")
    done = _run(
        tmp_path,
        str(_notebook(tmp_path)),
        "--runtime",
        "pyodide",
        "--requirements",
        str(requirements),
    )
    assert done.returncode == EXIT_BAD_INPUT
    assert "'requirements' is for the python runtime" in done.stderr


def test_in_the_image_the_notebook_packages_install_the_same_way(
    tmp_path: Path, uv_cache: Path
) -> None:
    """The image's Python has no pip and sees the workspace at /github/workspace: there the
    packages input installs into the run's environment; outside it is only checked."""
    args = [str(_notebook(tmp_path)), "--runtime", "python", "--packages", TABULATE]
    args += ["--uv-cache-dir", str(uv_cache), "--output", str(tmp_path / "nb.ipynb")]
    image = {"GITHUB_WORKSPACE": "/github/workspace"}
    assert "pip" not in {
        p.name for p in (Path(sys.prefix) / "lib").glob("python3*/site-packages/*")
    }
    done = _run(tmp_path, *args, **image)
    assert done.returncode == 0, done.stderr
    assert "python runtime: installed 1 package(s) (tabulate==0.9.0)" in done.stderr
    outside = _run(tmp_path, *args)
    assert outside.returncode == EXIT_BAD_INPUT
    assert "package 'tabulate==0.9.0' is not installed" in outside.stderr
