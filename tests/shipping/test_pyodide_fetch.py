"""Pyodide packages fetched one file at a time, each checked against pyodide-lock.json.

A real HTTP server on 127.0.0.1 stands in for Pyodide's CDN (unreachable here). The unit tests
use a made-up lock over wheels written here; the script test runs the real
scripts/setup-pyodide.sh over a fake npm install (its stamp matches, so npm is not contacted).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyodide_mirror import serve
from shipping_wheels import make_wheel

from runt_action.agents.pyodide import PyodideEngine, paths
from runt_action.agents.pyodide.fetch import fetch_packages, main, split_names
from runt_action.agents.recording import RecordingSink
from runt_action.errors import EXIT_BAD_INPUT, PackageFetchError, UsageError

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "runt_action" / "agents" / "pyodide" / "bridge"
SCRIPT = ROOT / "scripts" / "setup-pyodide.sh"
WASM_WHEELS = ROOT / ".cache" / "wasm-wheels"  # scripts/setup-wasm-wheels.sh


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The mirror's directory: three wheels (alpha needs beta; gamma stands alone)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_wheel(mirror, "alpha", "1.0", {"alpha.py": "from beta import B\nA = B + 1\n"})
    make_wheel(mirror, "beta", "2.0", {"beta.py": "B = 41\n"})
    make_wheel(mirror, "gamma", "3.0", {"gamma.py": "G = 3\n"})
    return mirror


@pytest.fixture
def install(tmp_path: Path, files: Path) -> Path:
    """A Pyodide install (package.json + lock) whose lock names the mirror's wheels."""
    pkg = tmp_path / "home" / "node_modules" / "pyodide"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": "314.0.7"}))
    (pkg / "pyodide.mjs").write_text("// fake\n")
    packages = {}
    for name, version, depends, imports in [
        ("alpha", "1.0", ["beta"], ["alpha"]),
        ("beta", "2.0", [], ["beta"]),
        ("gamma", "3.0", [], ["gamma", "gammalib"]),
    ]:
        file_name = f"{name}-{version}-py3-none-any.whl"
        packages[name] = {
            "name": name,
            "version": version,
            "file_name": file_name,
            "sha256": _sha(files / file_name),
            "depends": depends,
            "imports": imports,
        }
    lock = {"info": {"python": "3.14.2", "abi_version": "2026_0", "arch": "wasm32"}}
    (pkg / "pyodide-lock.json").write_text(json.dumps({**lock, "packages": packages}))
    return pkg


def _installed(pkg: Path) -> list[str]:
    return sorted(p.name for p in pkg.glob("*.whl"))


def _no_staging_left(pkg: Path) -> bool:
    return not list(pkg.parent.glob(".runt-fetch-*"))


def test_names_are_split_on_spaces_and_commas() -> None:
    assert split_names(" numpy, pandas matplotlib,,\n") == ["numpy", "pandas", "matplotlib"]


def test_the_closure_is_fetched_verified_and_installed_once(install: Path, files: Path) -> None:
    with serve(files) as (url, requested):
        report = fetch_packages(["alpha"], install, url)
        assert sorted(report.fetched) == sorted(
            (f.name, f.stat().st_size) for f in files.glob("[ab]*.whl")
        )
        assert _installed(install) == ["alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"]
        assert _sha(install / "beta-2.0-py3-none-any.whl") == _sha(
            files / "beta-2.0-py3-none-any.whl"
        )
        first = len(requested)
        again = fetch_packages(["alpha"], install, url)  # everything there: nothing downloaded
        assert again.fetched == [] and len(again.present) == 2
        assert len(requested) == first == 2
    assert _no_staging_left(install)


def test_a_corrupted_file_refuses_the_whole_step(install: Path, files: Path) -> None:
    beta = files / "beta-2.0-py3-none-any.whl"
    want = _sha(beta)
    data = bytearray(beta.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in transit
    beta.write_bytes(bytes(data))
    with serve(files) as (url, _), pytest.raises(PackageFetchError) as caught:
        fetch_packages(["alpha"], install, url)
    message = str(caught.value)
    assert "\n" not in message
    assert "beta-2.0-py3-none-any.whl" in message
    assert want in message and _sha(beta) in message
    assert "nothing was installed" in message
    assert _installed(install) == []  # alpha passed its check, and is not installed either
    assert _no_staging_left(install)


def test_a_missing_file_refuses_the_whole_step(install: Path, files: Path) -> None:
    (files / "beta-2.0-py3-none-any.whl").unlink()
    with serve(files) as (url, _), pytest.raises(PackageFetchError) as caught:
        fetch_packages(["alpha"], install, url)
    assert "beta-2.0-py3-none-any.whl" in str(caught.value) and "404" in str(caught.value)
    assert _installed(install) == []
    assert _no_staging_left(install)


def test_an_unknown_name_says_what_was_meant(install: Path) -> None:
    with pytest.raises(UsageError) as caught:
        fetch_packages(["alpah", "gammalib", "zzz"], install, "http://127.0.0.1:9/")
    message = str(caught.value)
    assert "'alpah' is not a package of this Pyodide distribution: did you mean 'alpha'?" in (
        message
    )
    assert "'gammalib' is not a package of this Pyodide distribution: did you mean 'gamma'?" in (
        message
    )
    assert "'zzz' is not a package of this Pyodide distribution;" in message + ";"
    assert _installed(install) == []


def test_the_cli_reads_the_environment_and_fails_in_one_line(
    install: Path, files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(files) as (url, _):
        monkeypatch.setenv("PYODIDE_PACKAGE_BASE_URL", url)
        monkeypatch.setenv("PYODIDE_PACKAGES", "gamma, beta")
        assert main(["--dir", str(install)]) == 0
        assert _installed(install) == ["beta-2.0-py3-none-any.whl", "gamma-3.0-py3-none-any.whl"]
        assert "2 file(s) fetched" in capsys.readouterr().out
        assert main(["--dir", str(install), "betta"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'beta'?" in err


def _fake_npm_home(install: Path) -> Path:
    """Make ``install``'s home look like setup-pyodide.sh's npm install (stamp included)."""
    home = install.parent.parent
    shutil.copy(BRIDGE / "package.json", home / "package.json")
    shutil.copy(BRIDGE / "package-lock.json", home / "package-lock.json")
    lock_sum = hashlib.sha256((BRIDGE / "package-lock.json").read_bytes()).hexdigest()
    (home / "node_modules" / ".runt-installed").write_text(lock_sum + "\n")
    return home


def _setup(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYODIDE_")},
        "RUNT_PYODIDE_HOME": str(home),
        "RUNT_PYODIDE_PREPARE": "0",
        "PYTHON": sys.executable,
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_setup_script_fetches_pyodide_packages(install: Path, files: Path) -> None:
    home = _fake_npm_home(install)
    with serve(files) as (url, _):
        result = _setup(home, PYODIDE_PACKAGES="alpha", PYODIDE_PACKAGE_BASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert _installed(install) == ["alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"]


def test_the_setup_script_stops_on_a_bad_file(install: Path, files: Path) -> None:
    home = _fake_npm_home(install)
    (files / "gamma-3.0-py3-none-any.whl").write_bytes(b"not the wheel the lock names")
    with serve(files) as (url, _):
        result = _setup(home, PYODIDE_PACKAGES="alpha gamma", PYODIDE_PACKAGE_BASE_URL=url)
    assert result.returncode != 0
    assert "gamma-3.0-py3-none-any.whl" in result.stderr and "refused" in result.stderr
    assert _installed(install) == []


def _install_trusting_pypi_six(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the real Pyodide install whose lock trusts PyPI's six wheel (see below)."""
    six = next((WASM_WHEELS / "pure").glob("six-1.17.0-*.whl"), None)
    assert six is not None, f"no six wheel in {WASM_WHEELS}: run scripts/setup-wasm-wheels.sh"
    real = paths.pyodide_dir()
    pkg = tmp_path / "home" / "node_modules" / "pyodide"
    pkg.mkdir(parents=True)
    for item in real.iterdir():
        if item.is_file() and item.name != "pyodide-lock.json" and not item.name.endswith(".map"):
            shutil.copy(item, pkg / item.name)
    lock = json.loads((real / "pyodide-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["six"]["file_name"] == six.name
    lock["packages"]["six"]["sha256"] = _sha(six)
    (pkg / "pyodide-lock.json").write_text(json.dumps(lock))
    return pkg, six


@pytest.mark.pyodide
async def test_a_fetched_package_loads_when_a_cell_imports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path on the real Pyodide: fetched from the mirror, imported by a cell.

    The CDN's files cannot be had here and none of the lock's pure wheels is byte-identical
    to PyPI's (Pyodide rebuilds them), so this install's lock is the real one with one change:
    six's sha256 is that of PyPI's six-1.17.0-py2.py3-none-any.whl (the same file name)."""
    pkg, six = _install_trusting_pypi_six(tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(six, mirror / six.name)
    with serve(mirror) as (url, requested):
        report = fetch_packages(["six"], pkg, url)
    assert report.fetched == [(six.name, six.stat().st_size)] and requested == [f"/{six.name}"]

    monkeypatch.setenv("RUNT_PYODIDE_HOME", str(pkg.parent.parent))
    engine = PyodideEngine(snapshot=False, package_cdn=False, cache_dir=tmp_path / "cache")
    await engine.start()
    try:
        sink = RecordingSink()
        outcome = await engine.execute("import six\nprint(six.__version__)", sink)
        assert outcome.status.value == "ok", sink.of("error")
        assert sink.text() == "1.17.0\n"
    finally:
        await engine.shutdown()


def _run_cli(tmp_path: Path, pkg: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    notebook = tmp_path / "nb.yml"
    notebook.write_text(
        "cells:\n  - id: six\n    source: |\n      import six\n      print(six.__version__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(
        RUNT_PYODIDE_HOME=str(pkg.parent.parent),
        RUNT_PYODIDE_CACHE=str(tmp_path / "cache"),
        RUNT_PYODIDE_FETCH="1",
        RUNT_PYODIDE_PACKAGE_BASE_URL=base_url,
    )
    return subprocess.run(
        [sys.executable, "-m", "runt_action", str(notebook), "--no-html"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.pyodide
def test_a_run_fetches_what_its_cells_import_verified_and_says_so(tmp_path: Path) -> None:
    """Under GitHub Actions (here RUNT_PYODIDE_FETCH=1, the mirror for the CDN)."""
    pkg, six = _install_trusting_pypi_six(tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(six, mirror / six.name)
    with serve(mirror) as (url, requested):
        done = _run_cli(tmp_path, pkg, url)
    assert done.returncode == 0, done.stderr
    assert f"fetched {six.name} (0.0 MB) from {url}, sha256 checked" in done.stdout
    assert requested == [f"/{six.name}"]
    assert (pkg / six.name).is_file()


@pytest.mark.pyodide
def test_offline_the_import_fails_as_before_with_a_warning(tmp_path: Path) -> None:
    pkg, six = _install_trusting_pypi_six(tmp_path)
    done = _run_cli(tmp_path, pkg, "http://127.0.0.1:9/")  # nothing listens on port 9
    assert done.returncode == 1
    assert "Pyodide packages could not be fetched: could not download" in done.stdout
    assert six.name in done.stdout
    assert "No module named 'six'" in done.stdout + done.stderr
    assert not (pkg / six.name).exists()


def test_fetching_at_run_time_is_on_under_github_actions_only() -> None:
    from runt_action.agents.pyodide.ondemand import enabled

    assert enabled({"GITHUB_ACTIONS": "true"})
    assert not enabled({})
    assert not enabled({"GITHUB_ACTIONS": "true", "RUNT_PYODIDE_FETCH": "0"})
    assert enabled({"RUNT_PYODIDE_FETCH": "1"})
