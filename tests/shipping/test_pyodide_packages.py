"""Notebook packages on Pyodide: planned before Deno starts, installed before the first cell.

The plan is tested on made-up distributions (fast, no Deno); the install against a real
Deno + Pyodide with a wheelhouse of pure-Python wheels written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shipping_wheels import make_wheel

from runt_action.agents.pyodide import PyodideEngine
from runt_action.agents.pyodide.packages import plan_packages
from runt_action.agents.recording import RecordingSink
from runt_action.errors import EXIT_BAD_INPUT, MissingPackageError


def _dist(tmp_path: Path, *, local: bool) -> Path:
    """A Pyodide directory with a lock file naming 'regex' (present locally or not)."""
    dist = tmp_path / "pyodide"
    dist.mkdir(parents=True)
    lock = {
        "info": {
            "python": "3.14.2",
            "platform": "emscripten_5_0_3",
            "abi_version": "2026_0",
            "arch": "wasm32",
        },
        "packages": {
            "regex": {"name": "regex", "version": "2026.1", "file_name": "regex-2026.1.whl"},
        },
    }
    (dist / "pyodide-lock.json").write_text(json.dumps(lock))
    if local:
        (dist / "regex-2026.1.whl").write_bytes(b"wheel")
    return dist


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    make_wheel(house, "tinypkg", "1.0", {"tinypkg/__init__.py": "VALUE = 1\n"})
    make_wheel(
        house,
        "tinypkg",
        "2.0",
        {"tinypkg/__init__.py": "from tinydep import X\nVALUE = 40 + X\n"},
        requires=(
            "tinydep>=1",
            "winonly; sys_platform == 'win32'",
            "extraonly; extra == 'fancy'",
        ),
    )
    make_wheel(house, "tinydep", "1.5", {"tinydep.py": "X = 2\n"})
    make_wheel(house, "native-only", "1.0", {"n.py": ""}, tag="cp314-cp314-manylinux_x86_64")
    return house


def test_plan_takes_the_best_matching_wheel_and_its_dependencies(
    tmp_path: Path, wheelhouse: Path
) -> None:
    plan = plan_packages(["tinypkg"], _dist(tmp_path, local=False), wheelhouse)
    assert [p.name for p in plan.wheels] == [
        "tinypkg-2.0-py3-none-any.whl",
        "tinydep-1.5-py3-none-any.whl",
    ]
    assert plan.load == [] and plan.pip == []
    assert "package tinypkg 2.0 from the wheelhouse" in plan.notes
    plan = plan_packages(["tinypkg<2"], _dist(tmp_path / "b", local=False), wheelhouse)
    assert [p.name for p in plan.wheels] == ["tinypkg-1.0-py3-none-any.whl"]


def test_plan_evaluates_markers_for_pyodide_and_says_what_it_skipped(
    tmp_path: Path, wheelhouse: Path
) -> None:
    plan = plan_packages(
        ["tinydep", "pywin32; sys_platform == 'win32'", "tinypkg[fancy]; python_version >= '3.14'"],
        _dist(tmp_path, local=False),
        wheelhouse,
        allow_downloads=True,
    )
    skipped = [n for n in plan.notes if "skipped" in n]
    assert skipped == [
        "package \"pywin32; sys_platform == 'win32'\" skipped: its marker excludes Pyodide"
    ]
    assert plan.pip == ["extraonly"]  # tinypkg[fancy] pulls it; only PyPI may have it


def test_compiled_wheels_for_this_pyodide_are_taken_others_are_not(tmp_path: Path) -> None:
    house = tmp_path / "house"
    house.mkdir()
    for tag in [
        "cp314-cp314-pyemscripten_2026_0_wasm32",
        "cp312-abi3-pyemscripten_2026_0_wasm32",
        "cp313-cp313-pyemscripten_2026_0_wasm32",  # another CPython
        "cp314-cp314-pyemscripten_2025_0_wasm32",  # another Pyodide ABI
        "cp314-cp314-manylinux_2_17_x86_64",
    ]:
        (house / tag).mkdir()
        make_wheel(house / tag, "fast", "1.0", {"fast.py": ""}, tag=tag)
    dist = _dist(tmp_path, local=False)
    for tag, taken in [
        ("cp314-cp314-pyemscripten_2026_0_wasm32", True),
        ("cp312-abi3-pyemscripten_2026_0_wasm32", True),
        ("cp313-cp313-pyemscripten_2026_0_wasm32", False),
        ("cp314-cp314-pyemscripten_2025_0_wasm32", False),
        ("cp314-cp314-manylinux_2_17_x86_64", False),
    ]:
        if taken:
            plan = plan_packages(["fast"], dist, house / tag)
            assert [p.name for p in plan.wheels] == [f"fast-1.0-{tag}.whl"], tag
        else:
            with pytest.raises(MissingPackageError, match="'fast'"):
                plan_packages(["fast"], dist, house / tag)


def test_plan_uses_the_local_distribution_then_the_cdn(tmp_path: Path) -> None:
    assert plan_packages(["regex"], _dist(tmp_path / "a", local=True)).load == ["regex"]
    with pytest.raises(MissingPackageError, match="'regex'"):
        plan_packages(["regex"], _dist(tmp_path / "b", local=False))
    cdn = plan_packages(["regex"], _dist(tmp_path / "c", local=False), allow_downloads=True)
    assert cdn.load == ["regex"] and "from Pyodide's CDN" in cdn.notes[0]


def test_a_missing_package_is_one_error_naming_it_and_how_to_get_it(
    tmp_path: Path, wheelhouse: Path
) -> None:
    with pytest.raises(MissingPackageError) as info:
        plan_packages(
            ["tinypkg>=3", "native-only", "tinydep"], _dist(tmp_path, local=False), wheelhouse
        )
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == EXIT_BAD_INPUT
    assert "'tinypkg>=3'" in message and "'native-only'" in message and "tinydep" not in message
    assert (
        "pip download --platform pyemscripten_2026_0_wasm32 --python-version 3.14 "
        f"--only-binary=:all: -d {wheelhouse} 'tinypkg>=3' native-only`"
    ) in message
    assert "RUNT_PYODIDE_CDN=1" in message


@pytest.mark.pyodide
async def test_wheelhouse_packages_are_importable_in_the_first_cell(wheelhouse: Path) -> None:
    engine = PyodideEngine(packages=["tinypkg>=2"], wheelhouse=wheelhouse, package_cdn=False)
    await engine.start()
    try:
        sink = RecordingSink()
        outcome = await engine.execute(
            "import tinypkg, tinydep\nprint(tinypkg.VALUE, tinydep.__file__)", sink
        )
        assert outcome.status.value == "ok", sink.of("error")
        value, where = sink.text().split()
        assert value == "42" and "site-packages" in where
        assert "package tinydep 1.5 from the wheelhouse" in engine.package_notes
    finally:
        await engine.shutdown()


@pytest.mark.pyodide
async def test_a_missing_package_stops_the_start_before_deno_runs(wheelhouse: Path) -> None:
    engine = PyodideEngine(packages=["nothere==1"], wheelhouse=wheelhouse, package_cdn=False)
    engine.prestart()
    assert engine._popen is None  # nothing launched
    with pytest.raises(MissingPackageError, match="'nothere==1' not available to Pyodide"):
        await engine.start()
    await engine.shutdown()


WASM_WHEELS = Path(__file__).resolve().parents[2] / ".cache" / "wasm-wheels"


@pytest.mark.pyodide
async def test_a_compiled_pyemscripten_wheel_from_pypi_runs_on_pyodide() -> None:
    """pydantic-core as PyPI publishes it for Pyodide (scripts/setup-wasm-wheels.sh)."""
    house = WASM_WHEELS / "wasm"
    assert list(house.glob("pydantic_core-*-pyemscripten_2026_0_wasm32.whl")), (
        f"no pydantic-core wasm wheel in {house}: run scripts/setup-wasm-wheels.sh (make setup)"
    )
    engine = PyodideEngine(packages=["pydantic-core"], wheelhouse=house, package_cdn=False)
    await engine.start()
    try:
        sink = RecordingSink()
        code = (
            "from pydantic_core import SchemaValidator, core_schema\n"
            "value = SchemaValidator(core_schema.int_schema()).validate_python('42')\n"
            "print(type(value).__name__, value)"
        )
        outcome = await engine.execute(code, sink)
        assert outcome.status.value == "ok", sink.of("error")
        assert sink.text() == "int 42\n"
        assert any(
            n.startswith("package pydantic-core 2.50.5 from the wheelhouse")
            for n in (engine.package_notes)
        )
    finally:
        await engine.shutdown()
