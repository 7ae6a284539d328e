"""The notebook tools an AI cell may call, and the policy that answers for an unattended run.

Tool names and parameters are upstream's (anode ``packages/ai-core`` tool-registry):
``create_cell``, ``modify_cell``, ``execute_cell``. Nobody is there to click "approve" in CI,
so ``ai-tools`` decides every call, and each decision is recorded as upstream's
``ToolApprovalRequested`` answered by ``ToolApprovalResponded``:

- ``none`` (the default): no tools are offered; a call is denied.
- ``create``: the model may add cells after itself (or after cells it created) and change the
  cells it created; never the user's cells.
- ``execute``: also run the cells it created (code cells only), through the agent's queue.

Why only its own cells: a CI run must not rewrite or re-run what the notebook's author wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from runt_action.schema.state import Cell, NotebookState

__all__ = [
    "AI_TOOL_CALL_MIME",
    "AI_TOOL_RESULT_MIME",
    "TOOL_POLICIES",
    "ToolPolicy",
    "assistant_id",
    "decide",
    "offered_tools",
]

ToolPolicy = Literal["none", "create", "execute"]
TOOL_POLICIES: Final[tuple[ToolPolicy, ...]] = ("none", "create", "execute")
AI_TOOL_CALL_MIME: Final = "application/vnd.anode.aitool+json"
AI_TOOL_RESULT_MIME: Final = "application/vnd.anode.aitool.result+json"
CELL_TYPES: Final = ("code", "markdown", "raw")

_CELL_ID: Final = {
    "type": "string",
    "description": "The actual cell ID from the context (shown as 'Cell <id>')",
}
_TOOLS: Final[dict[str, dict[str, Any]]] = {
    "create_cell": {
        "description": (
            "Create a new cell in the notebook after a specific cell. Use your own cell ID to "
            "place cells below yourself, or a cell you created to build sequences."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "cellType": {
                    "type": "string",
                    "enum": list(CELL_TYPES),
                    "description": "The type of cell to create (default 'code')",
                },
                "source": {"type": "string", "description": "The content of the cell"},
                "after_id": {
                    "type": "string",
                    "description": "The ID of the cell to place this new cell after",
                },
            },
            "required": ["source", "after_id"],
        },
    },
    "modify_cell": {
        "description": "Replace the source of a cell you created in this notebook.",
        "parameters": {
            "type": "object",
            "properties": {
                "cellId": _CELL_ID,
                "source": {"type": "string", "description": "The new source of the cell"},
            },
            "required": ["cellId", "source"],
        },
    },
    "execute_cell": {
        "description": (
            "Execute a code cell you created and get its outputs. Use it to run code after "
            "creating or modifying it."
        ),
        "parameters": {
            "type": "object",
            "properties": {"cellId": _CELL_ID},
            "required": ["cellId"],
        },
    },
}
_BY_POLICY: Final[dict[str, tuple[str, ...]]] = {
    "none": (),
    "create": ("create_cell", "modify_cell"),
    "execute": ("create_cell", "modify_cell", "execute_cell"),
}


def assistant_id(session_id: str) -> str:
    """Who a tool's cells and executions are by (upstream's ``ai-assistant-<sessionId>``)."""
    return f"ai-assistant-{session_id}"


def offered_tools(policy: ToolPolicy) -> list[dict[str, Any]]:
    """The ``tools`` of a chat request under ``policy`` (empty: none offered)."""
    return [
        {"type": "function", "function": {"name": name, **_TOOLS[name]}}
        for name in _BY_POLICY[policy]
    ]


def decide(
    policy: ToolPolicy,
    name: str,
    args: dict[str, Any],
    state: NotebookState,
    own: Cell,
    assistant: str,
) -> str | None:
    """None when ``policy`` allows this call, else why not (the model is told, and so is
    the cell)."""
    if name not in _TOOLS:
        return f"unknown tool {name!r}"
    missing = [p for p in _TOOLS[name]["parameters"]["required"] if p not in args]
    if missing:
        return f"missing required parameters: {', '.join(missing)}"
    if name not in _BY_POLICY[policy]:
        need = "execute" if name == "execute_cell" else "create"
        return f"ai-tools is {policy!r}: {name} needs ai-tools {need!r}"
    if name == "create_cell":
        after = str(args.get("after_id"))
        target = state.cells.get(after)
        if after != own.id and not _created_by(target, assistant):
            return (
                f"cells may only be created after this AI cell or a cell it created, not {after!r}"
            )
        cell_type = str(args.get("cellType") or "code")
        if cell_type not in CELL_TYPES:
            return f"cellType {cell_type!r} is not one of {', '.join(CELL_TYPES)}"
        return None
    cell_id = str(args.get("cellId"))
    cell = state.cells.get(cell_id)
    if cell is None:
        return f"cell not found: {cell_id!r}"
    if not _created_by(cell, assistant):
        return f"cell {cell_id!r} was not created by this AI cell; it may not be changed or run"
    if name == "execute_cell" and cell.cell_type != "code":
        return f"only code cells can be executed, {cell_id!r} is a {cell.cell_type} cell"
    return None


def _created_by(cell: Cell | None, assistant: str) -> bool:
    return cell is not None and cell.created_by == assistant
