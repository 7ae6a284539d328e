"""Parameter sweeps: one run per parameter set, from a list or a GitHub-style matrix.

Matrix semantics follow GitHub Actions: the product of the lists (in key order), then every
``exclude`` entry removes the combinations it matches (all its keys equal), then every
``include`` entry is added to each combination it can extend without changing an original
matrix value (values added by an earlier include may be overwritten); an entry that extends
none becomes a combination of its own.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from runt_action.errors import ParameterError
from runt_action.notebook.model import SweepMatrix, SweepSpec
from runt_action.notebook.yamlsrc import SourceError, parse_yaml, read_source

__all__ = ["expand_sweep", "load_sweep_file", "set_label"]


def expand_sweep(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter sets of ``spec``, in order."""
    if not isinstance(spec, SweepMatrix):
        return [dict(item) for item in spec]
    names = list(spec.matrix)
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(spec.matrix[n] for n in names))
    ]
    combos = [c for c in combos if not any(_matches(c, ex) for ex in spec.exclude)]
    originals = [dict(c) for c in combos]  # only these can be extended by an include
    added_sets: list[dict[str, Any]] = []
    for extra in spec.include:
        added = False
        for combo, original in zip(combos, originals, strict=True):
            if all(original[k] == v for k, v in extra.items() if k in original):
                combo.update(extra)
                added = True
        if not added:
            added_sets.append(dict(extra))
    return combos + added_sets


def _matches(combo: dict[str, Any], pattern: dict[str, Any]) -> bool:
    return all(k in combo and combo[k] == v for k, v in pattern.items())


def load_sweep_file(path: str | Path) -> list[dict[str, Any]]:
    """``--sweep FILE``: a YAML/JSON list of sets or a ``matrix:`` mapping, checked like a
    notebook's ``sweep:``; errors are one located line (exit 2)."""
    path = Path(path)
    try:
        located = parse_yaml(read_source(path))
    except SourceError as exc:
        raise exc.located(ParameterError, path) from None
    try:
        spec = TypeAdapter(SweepSpec).validate_python(located.data, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        mark = located.mark(tuple(p for p in loc if p not in ("SweepMatrix",)))
        raise ParameterError(
            f"invalid sweep: {error['msg']}", file=path, line=mark.line, column=mark.column
        ) from None
    sets = expand_sweep(spec)
    if not sets:
        raise ParameterError("the sweep has no parameter sets", file=path, line=1)
    return sets


def set_label(index: int, params: dict[str, Any]) -> str:
    """A short, file-name-safe label: ``3-region-north-days-7`` (1-based index first)."""
    parts = [str(index)]
    for name, value in params.items():
        text = "".join(ch if ch.isalnum() else "-" for ch in f"{name}-{value}")
        parts.append(text.strip("-")[:24])
    return "-".join(parts)[:80]
