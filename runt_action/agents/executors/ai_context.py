"""What an AI cell's model reads: the notebook before the cell, in order, within a budget.

As upstream's ``gatherNotebookContext``: the cells before this one (by fractional index),
skipping those marked out of AI context (``aiContextVisible: false``), each with its source
and its outputs as text. Images become a short placeholder, a long output is cut with a
marker, and when the budget (tokens, estimated as characters / 4) cannot hold every cell the
nearest ones win and a marker says how many earlier cells were left out. Nothing is dropped
silently: :class:`Context` counts what was cut so the cell can say so.

Secrets never reach the model: the injected parameters cell reads secret parameters from
the environment (their values are in no cell), and the whole text is masked with the run's
scrubber before it leaves (a secret printed by an earlier cell is already masked in its
output, this is the second fence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from runt_action.masking import Scrubber
    from runt_action.schema.state import Cell, NotebookState, Output

__all__ = ["CHARS_PER_TOKEN", "OUTPUT_CHARS", "Context", "gather_context", "output_text"]

CHARS_PER_TOKEN: Final = 4  # the usual estimate for English text and code
OUTPUT_CHARS: Final = 4000  # characters kept of one output
_TEXT_PREFERENCE: Final = ("text/markdown", "text/plain", "application/json")


@dataclass(slots=True)
class Context:
    """The notebook as the model reads it, and what had to be cut to fit."""

    text: str
    cells: int = 0  # cells included
    omitted: int = 0  # earlier cells left out: the budget was full
    hidden: int = 0  # cells marked out of AI context
    truncated: int = 0  # outputs cut to OUTPUT_CHARS
    images: int = 0  # image outputs replaced by a placeholder
    notes: list[str] = field(default_factory=list)


def gather_context(
    state: NotebookState,
    cell: Cell,
    *,
    budget_tokens: int,
    mask: Scrubber | None = None,
    output_chars: int = OUTPUT_CHARS,
) -> Context:
    """The cells before ``cell`` as text, nearest first to fit ``budget_tokens``."""
    ordered = state.ordered_cells()
    before: list[Cell] = []
    for other in ordered:
        if other.id == cell.id:
            break
        before.append(other)
    ctx = Context(text="")
    visible = [c for c in before if c.ai_context_visible]
    ctx.hidden = len(before) - len(visible)
    room = max(0, budget_tokens) * CHARS_PER_TOKEN
    blocks: list[str] = []
    for index in range(len(visible) - 1, -1, -1):
        block = _block(state, visible[index], ctx, output_chars)
        if len(block) > room:
            ctx.omitted = index + 1
            break
        room -= len(block)
        blocks.append(block)
    blocks.reverse()
    ctx.cells = len(blocks)
    if ctx.omitted:
        blocks.insert(
            0,
            f"[{ctx.omitted} earlier cell(s) left out: the AI context budget of "
            f"{budget_tokens} tokens is full]\n",
        )
        ctx.notes.append(
            f"{ctx.omitted} earlier cell(s) were left out of the model's context "
            f"(budget {budget_tokens} tokens; raise ai-context-tokens)"
        )
    if ctx.truncated:
        ctx.notes.append(
            f"{ctx.truncated} output(s) were cut to {output_chars} characters in the model's "
            "context"
        )
    text = "\n".join(blocks)
    ctx.text = mask.text(text) if mask is not None else text
    return ctx


def _block(state: NotebookState, cell: Cell, ctx: Context, output_chars: int) -> str:
    label = "parameters (injected)" if cell.id == "parameters" else cell.cell_type
    lang = {"code": "python", "sql": "sql"}.get(cell.cell_type, "")
    lines = [f"### Cell {cell.id} ({label})", f"```{lang}", cell.source, "```"]
    texts = [output_text(state, out, ctx, output_chars) for out in state.cell_outputs(cell.id)]
    texts = [t for t in texts if t]
    if texts:
        lines.append("Output:")
        lines.extend(texts)
    return "\n".join(lines) + "\n"


def output_text(
    state: NotebookState, out: Output, ctx: Context | None = None, limit: int = OUTPUT_CHARS
) -> str:
    """One output as the model reads it: text, or a placeholder for what is not text."""
    kind = out.output_type
    if kind in ("terminal", "markdown"):
        text = state.final_content(out)
    elif kind == "error":
        data = out.data
        text = _error_text(data)
    else:
        text = _bundle_text(out.representations or {}, ctx)
        if not text and out.data is not None:
            text = str(out.data)
    if len(text) > limit:
        if ctx is not None:
            ctx.truncated += 1
        text = f"{text[:limit]}\n[output truncated: {len(text) - limit} more characters]"
    return text


def _error_text(data: Any) -> str:
    import json

    try:
        err = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        return str(data)
    if not isinstance(err, dict):
        return str(err)
    tb = [str(x) for x in err.get("traceback") or []][-5:]
    head = f"Error: {err.get('ename', 'Error')}: {err.get('evalue', '')}"
    return "\n".join([head, *tb]) if tb else head


def _bundle_text(reps: dict[str, Any], ctx: Context | None) -> str:
    def inline(mime: str) -> Any:
        media = reps.get(mime)
        return getattr(media, "data", None) if getattr(media, "type", "") == "inline" else None

    images = [m for m in reps if m.startswith("image/")]
    for mime in _TEXT_PREFERENCE:
        value = inline(mime)
        if value is None:
            continue
        if mime == "text/plain" and images:
            break  # a figure's text/plain is its repr ("<Figure ...>"): say it is an image
        if not isinstance(value, str):
            import json

            value = json.dumps(value, ensure_ascii=False)
        return value
    if images:
        if ctx is not None:
            ctx.images += 1
        return f"[{images[0]} image output, not shown to the model]"
    if reps:
        return f"[{next(iter(reps))} output, not shown to the model]"
    return ""
