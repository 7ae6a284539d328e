from __future__ import annotations

import io
from typing import Any

import pytest

from runt_action.report.commands import WorkflowCommands, in_github_actions
from runt_action.report.scrub import Scrubber


def test_masks_come_before_anything_else(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True, masks=["s3cr3t", "multi\nline-secret"])
    cmd.line("using s3cr3t now")
    log = runner(out.getvalue())
    assert log.unmasked_lines_before_first_mask == 0
    assert log.masks[:4] == ["s3cr3t", "multi\nline-secret", "multi", "line-secret"]
    assert log.shown == ["using *** now"]


def test_line_can_never_become_a_command(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True)
    cmd.line("  ::error::boom")
    cmd.line("prefix ##[error]legacy boom")
    cmd.line("two\n::warning::lines")
    log = runner(out.getvalue())
    assert log.commands == []
    assert len(log.shown) == 3


def test_stop_commands_fence(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True)
    with cmd.stop_commands() as token:
        cmd.write("::add-mask::x\n::error::boom\n##[set-output name=a]b\npartial")
        with pytest.raises(RuntimeError):
            cmd.error("would be ignored")
    cmd.error("real")
    log = runner(out.getvalue())
    names = [c.name for c in log.commands]
    assert names == ["add-mask", "stop-commands", "error"]
    assert log.commands[0].data == token  # masked before the fence opens
    assert log.commands[1].data == token
    assert log.commands[2].data == "real"
    assert "::add-mask::x" in log.shown and "partial" in log.shown


def test_fence_token_in_user_output_cannot_close_the_fence(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True)
    with cmd.stop_commands() as token:
        cmd.write(f"::{token}::\n::error::after fake close\n")
    log = runner(out.getvalue())
    assert not log.obeyed("error")


def test_annotation_properties_and_data_are_escaped(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True)
    title = "Cell a,b:c failed 100%"
    message = "ValueError: x\n::error::injected\r\n50%"
    cmd.error(message, file="dir,x/nb:1.yml", line=7, title=title)
    cmd.warning("w", title="t")
    cmd.notice("n")
    log = runner(out.getvalue())
    err, warn, note = log.commands
    assert (err.name, err.data) == ("error", message)
    assert err.props == {"file": "dir,x/nb:1.yml", "line": "7", "title": title}
    assert (warn.name, warn.props, note.name) == ("warning", {"title": "t"}, "notice")


def test_group_title_is_escaped(runner: Any) -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=True)
    with cmd.group("Cell x\n::error::pwned"):
        cmd.write("inside\n")
    log = runner(out.getvalue())
    assert [c.name for c in log.commands] == ["group", "endgroup"]


def test_plain_mode_prints_no_commands() -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=False, masks=["secret"])
    with cmd.group("Cell a"), cmd.stop_commands():
        cmd.write("hello\n")
    cmd.error("ValueError: boom", file="nb.yml", line=3, title="Cell a failed")
    cmd.debug("hidden")
    text = out.getvalue()
    assert "::" not in text
    assert text == "== Cell a\nhello\nerror: nb.yml:3: Cell a failed: ValueError: boom\n"


def test_writes_are_scrubbed() -> None:
    out = io.StringIO()
    cmd = WorkflowCommands(out, github_actions=False, scrubber=Scrubber(["hunter2"]))
    cmd.write("pw=hunter2\n")
    cmd.error("bad hunter2", title="hunter2")
    assert "hunter2" not in out.getvalue()


def test_detects_github_actions() -> None:
    assert in_github_actions({"GITHUB_ACTIONS": "true"})
    assert not in_github_actions({"CI": "true"})
