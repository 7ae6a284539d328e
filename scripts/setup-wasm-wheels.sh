#!/usr/bin/env bash
# A wheelhouse of real compiled wasm wheels from PyPI for the tests (tests/shipping): pydantic-core
# as published for Pyodide (pyemscripten_2026_0_wasm32, CPython 3.14), with its dependencies,
# and six (a pure wheel the loopback-mirror test serves). Cached under .cache/wasm-wheels;
# idempotent (nothing is downloaded when the pinned files are there).
#
#   WASM_WHEELHOUSE  where to put them (default .cache/wasm-wheels)
#   PIP              a pip to download with (default: uv's venv from the Makefile, else python3 -m pip)
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${WASM_WHEELHOUSE:-.cache/wasm-wheels}
PIP=${PIP:-.cache/uv/bin/pip}
[ -x "$PIP" ] || PIP="python3 -m pip"
PYDANTIC_CORE=pydantic-core==2.50.5
SIX=six==1.17.0

log() { printf '[setup-wasm-wheels %(%H:%M:%S)T] %s\n' -1 "$*"; }

mkdir -p "$DEST/wasm" "$DEST/pure"
if compgen -G "$DEST/wasm/pydantic_core-2.50.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl" >/dev/null \
  && compgen -G "$DEST/pure/six-1.17.0-*.whl" >/dev/null; then
  log "wheels already in $DEST"
  exit 0
fi
log "pip download $PYDANTIC_CORE (pyemscripten_2026_0_wasm32) and $SIX into $DEST"
# shellcheck disable=SC2086 # PIP may be "python3 -m pip"
$PIP download --quiet --disable-pip-version-check --platform pyemscripten_2026_0_wasm32 \
  --python-version 3.14 --only-binary=:all: -d "$DEST/wasm" "$PYDANTIC_CORE"
# shellcheck disable=SC2086
$PIP download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$DEST/pure" "$SIX"
