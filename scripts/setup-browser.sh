#!/usr/bin/env bash
# Make headless Chromium ready for the browser tests (tests/viewer/test_browser.py):
# Debian's `chromium` package, driven by Playwright for Python with executable_path (the
# browser builds Playwright would download cannot be fetched here, Debian's can).
# Idempotent: when /usr/bin/chromium runs, this takes a few milliseconds and touches nothing.
#
#   CHROMIUM   the browser binary to check (default /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup-browser %(%H:%M:%S)T] %s\n' -1 "$*"; }

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
  log "chromium present: $CHROMIUM"
  exit 0
fi
command -v apt-get >/dev/null || { log "no $CHROMIUM and no apt-get: install Chromium by hand"; exit 1; }
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null || { log "apt-get needs root (or sudo) to install chromium"; exit 1; }
  SUDO=sudo
fi
log "apt-get install chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  chromium fonts-dejavu-core >/dev/null
"$CHROMIUM" --version
