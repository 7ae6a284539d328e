#!/usr/bin/env bash
# placeholder until the owning issue lands
set -euo pipefail
