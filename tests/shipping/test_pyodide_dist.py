"""The full Pyodide distribution is verified against its pinned sha256 before it is unpacked.

Runs the real scripts/setup-pyodide.sh on a tarball made here (file:// URL override), over a
fake npm install whose stamp matches the lockfile, so neither npm nor GitHub is contacted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "runt_action" / "agents" / "pyodide" / "bridge"
SCRIPT = ROOT / "scripts" / "setup-pyodide.sh"
PIN = json.loads((BRIDGE / "pyodide-dist.json").read_text(encoding="utf-8"))


def _tarball(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:bz2") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"pyodide/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An installed npm package as setup-pyodide.sh leaves it (lockfile stamp included)."""
    home = tmp_path / "home"
    pkg = home / "node_modules" / "pyodide"
    pkg.mkdir(parents=True)
    shutil.copy(BRIDGE / "package-lock.json", home / "package-lock.json")
    lock_sum = hashlib.sha256((BRIDGE / "package-lock.json").read_bytes()).hexdigest()
    (home / "node_modules" / ".runt-installed").write_text(lock_sum + "\n")
    (pkg / "pyodide.mjs").write_text("// fake\n")
    (pkg / "package.json").write_text(json.dumps({"version": PIN["version"]}))
    return home


def _setup(home: Path, url: str, sha256: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RUNT_PYODIDE_HOME": str(home),
        "PYODIDE_FULL": "1",
        "RUNT_PYODIDE_PREPARE": "0",
        "RUNT_PYODIDE_DIST_URL": url,
    }
    env.pop("RUNT_PYODIDE_DIST_SHA256", None)
    if sha256 is not None:
        env["RUNT_PYODIDE_DIST_SHA256"] = sha256
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_pin_names_the_npm_version_and_a_github_release_asset() -> None:
    lock = json.loads((BRIDGE / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/pyodide"]["version"] == PIN["version"]
    assert PIN["url"].endswith(f"/{PIN['version']}/pyodide-{PIN['version']}.tar.bz2")
    assert PIN["sha256"] == "" or len(PIN["sha256"]) == 64


def test_a_matching_tarball_is_unpacked(tmp_path: Path, home: Path) -> None:
    sha = _tarball(tmp_path / "dist.tar.bz2", {"numpy-2.0-any.whl": b"wheel", "x.json": b"{}"})
    result = _setup(home, (tmp_path / "dist.tar.bz2").as_uri(), sha)
    assert result.returncode == 0, result.stderr
    pkg = home / "node_modules" / "pyodide"
    assert (pkg / "numpy-2.0-any.whl").read_bytes() == b"wheel"
    assert (pkg / f".runt-full-{PIN['version']}").is_file()


def test_a_corrupted_tarball_is_refused_before_unpacking(tmp_path: Path, home: Path) -> None:
    tarball = tmp_path / "dist.tar.bz2"
    sha = _tarball(tarball, {"evil.whl": b"payload"})
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in transit
    tarball.write_bytes(bytes(data))
    result = _setup(home, tarball.as_uri(), sha)
    assert result.returncode != 0
    assert "refusing to unpack" in result.stderr and sha in result.stderr
    pkg = home / "node_modules" / "pyodide"
    assert not (pkg / "evil.whl").exists()
    assert not (pkg / f".runt-full-{PIN['version']}").exists()


def test_a_tarball_other_than_the_pinned_one_is_refused(tmp_path: Path, home: Path) -> None:
    _tarball(tmp_path / "dist.tar.bz2", {"other.whl": b"not the release"})
    result = _setup(home, (tmp_path / "dist.tar.bz2").as_uri(), "0" * 64)
    assert result.returncode != 0 and "refusing to unpack" in result.stderr
    assert not (home / "node_modules" / "pyodide" / "other.whl").exists()


def test_no_pinned_hash_means_no_unpacking(tmp_path: Path, home: Path) -> None:
    _tarball(tmp_path / "dist.tar.bz2", {"a.whl": b"a"})
    result = _setup(home, (tmp_path / "dist.tar.bz2").as_uri(), "not-a-hash")
    assert result.returncode != 0 and "no valid sha256 pinned" in result.stderr
    assert not (home / "node_modules" / "pyodide" / "a.whl").exists()
