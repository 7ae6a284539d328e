"""Issue 21, on the command line: papermill's `IN.ipynb OUT.ipynb`, `-p` typing and
defaults, one prefix for the command's own messages, the location note said once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runt_action.cli import main, second_argument
from runt_action.errors import UsageError
from tests.jupyter import write_ipynb

ROOT = Path(__file__).resolve().parents[1]
PARAMS_CELL = (
    "from datetime import date\nb = 1\nb = b * 10\nstart = '2020-01-01'\n"
    "start = date.fromisoformat(start)\n"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "RUNT_")) or name in ("CI", "RUNT_API_KEY"):
            monkeypatch.delenv(name)


def _notebook(tmp_path: Path) -> Path:
    return write_ipynb(
        tmp_path / "in.ipynb",
        ("params", PARAMS_CELL, ["parameters"]),
        ("show", "print('b', repr(b), 'start', repr(start))", []),
    )


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    return subprocess.run(
        [sys.executable, "-m", "runt_action", *args, "--runtime", "python", "--no-html"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _shown(out_path: Path) -> str:
    data = json.loads(out_path.read_text())
    texts = [
        "".join(o.get("text", ""))
        for c in data["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    ]
    return "".join(texts)


# -- the second positional argument ------------------------------------------------------------


def test_second_argument_readings(tmp_path: Path) -> None:
    (tmp_path / "old.ipynb").write_text('{"cells": [], "nbformat": 4}')
    (tmp_path / "p.yml").write_text("a: 1\n")
    (tmp_path / "params").write_text("a: 1\n")
    (tmp_path / "prev").write_text('{"cells": [], "metadata": {}, "nbformat": 4}')
    (tmp_path / "empty").write_text("")
    assert second_argument(tmp_path / "new.ipynb") == "output"
    assert second_argument(tmp_path / "old.ipynb") == "output"  # replaced, as papermill does
    assert second_argument(tmp_path / "p.yml") == "parameters"
    assert second_argument(tmp_path / "params") == "parameters"  # runt-eval's, any name
    assert second_argument(tmp_path / "prev") == "output"  # a notebook is never parameters
    assert second_argument(tmp_path / "empty") == "output"
    assert second_argument(tmp_path / "out") == "output"  # nothing there yet


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yml", None, "missing.yml: no such parameters file (a second argument ending"),
        ("nb.json", '{"cells": [], "nbformat": 4}', "holds a Jupyter notebook, not parameters"),
        ("list", "[1, 2]\n", "refusing to read it as a parameters file (it holds a YAML list"),
        ("dir", "<dir>", "refusing to read it as a parameters file (a directory"),
    ],
)
def test_ambiguous_second_argument_is_refused_in_one_line(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=r"^runt-automate: ") as info:
        second_argument(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_exit_2_for_an_output_given_twice_or_an_ambiguous_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _notebook(tmp_path)
    out = str(tmp_path / "out.ipynb")
    assert main([str(nb), out, "--output", str(tmp_path / "x.ipynb"), "--validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the output is given twice" in err
    assert main([str(nb), str(tmp_path / "nope.yaml"), "--validate"]) == 2
    assert "no such parameters file" in capsys.readouterr().err
    (tmp_path / "p.yml").write_text("b: 2\n")
    assert main([str(nb), str(tmp_path / "p.yml"), "-f", str(tmp_path / "p.yml")]) == 2
    assert "give the parameters file once" in capsys.readouterr().err


def test_prepare_only_writes_to_the_output_positional(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _notebook(tmp_path)
    out = tmp_path / "prepared.ipynb"
    out.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert main([str(nb), str(out), "--prepare-only"]) == 0  # an old output: replaced
    captured = capsys.readouterr()
    assert captured.out == f"{out}: prepared (2 cells, nothing run)\n"
    assert "not declared" not in captured.err  # cells=, nbformat= are not read as parameters
    cells = json.loads(out.read_text())["cells"]
    assert [c["id"] for c in cells] == ["params", "show"]  # nothing given: nothing injected


def test_validate_reads_a_yaml_second_argument_as_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _notebook(tmp_path)
    (tmp_path / "p.yml").write_text("b: 2\n")
    assert main([str(nb), str(tmp_path / "p.yml"), "--validate"]) == 0
    assert capsys.readouterr().out == f"{nb}: valid (3 cells, 2 parameters)\n"


# -- real runs (python runtime) ----------------------------------------------------------------


def test_papermill_command_line_runs_with_defaults_untouched(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    proc = _cli(tmp_path, str(nb), "out.ipynb")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out.ipynb"
    assert "b 10 start datetime.date(2020, 1, 1)" in _shown(out)  # papermill's result
    ids = [c["id"] for c in json.loads(out.read_text())["cells"]]
    assert "parameters" not in ids  # nothing given: nothing injected
    # Every line the command prints about itself carries one prefix; the note saying where
    # to look at the notebook is printed once, in the report.
    own = [line for line in proc.stderr.splitlines() if not line.startswith("warning")]
    assert own and all(line.startswith("runt-automate: ") for line in own), proc.stderr
    assert (proc.stdout + proc.stderr).count("Embedded run") == 1
    assert "Embedded run" in proc.stdout

    # Run again onto the existing output: still the output, never a parameters file.
    again = _cli(tmp_path, str(nb), "out.ipynb", "-p", "b", "5", "-p", "start", "None")
    assert again.returncode == 0, again.stderr
    assert "not declared" not in again.stderr
    assert "b 5 start None" in _shown(out)
    injected = [c for c in json.loads(out.read_text())["cells"] if c["id"] == "parameters"]
    assert len(injected) == 1 and "injected-parameters" in injected[0]["metadata"]["tags"]
    assert "".join(injected[0]["source"]).splitlines()[1:] == ["b = 5", "start = None"]


def test_p_values_reach_the_kernel_typed_as_papermill_types_them(tmp_path: Path) -> None:
    nb = write_ipynb(
        tmp_path / "types.ipynb",
        ("params", "a = b = c = d = e = f = g = 0", ["parameters"]),
        ("show", "print([(v, type(v).__name__) for v in (a, b, c, d, e, f, g)])", []),
    )
    args = ["-p", "a", "None", "-p", "b", "True", "-p", "c", "true", "-p", "d", "1_000"]
    args += ["-p", "e", "0x1F", "-p", "f", "inf", "-r", "g", "None"]
    proc = _cli(tmp_path, str(nb), "out.ipynb", *args)
    assert proc.returncode == 0, proc.stderr
    expected = (
        "[(None, 'NoneType'), (True, 'bool'), ('true', 'str'), (1000, 'int'), "
        "('0x1F', 'str'), (inf, 'float'), ('None', 'str')]"
    )
    assert expected in _shown(tmp_path / "out.ipynb")


def test_y_value_papermill_reads_differently_warns_in_one_line(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    proc = _cli(tmp_path, str(nb), "out.ipynb", "-y", "b: yes", "--validate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "warning: -y: parameter b is 'yes' (str) (YAML 1.2 core); papermill's YAML 1.1 reads "
        "True (bool)"
    ]


# -- newcomer friction -------------------------------------------------------------------------


def test_help_describes_yaml_and_ipynb_notebooks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    head = out.split("positional arguments")[0]
    assert "YAML notebook" in head and ".ipynb" in head and "IN.ipynb OUT.ipynb" in head
    assert "OUTPUT.ipynb|PARAMETERS_FILE" in out


def test_no_message_says_runt_action_any_more() -> None:
    """The prefix lives in runt_action.console; no module spells the old one."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "runt_action").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "runt-action:" in line or "runt-action watch:" in line
    ]
    assert offenders == []
