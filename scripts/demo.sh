#!/usr/bin/env bash
# README command 1: set up what is missing, then run the orchestrator demo (`pnpm demo`).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
cd "$ISTHMUS_ROOT"
exec pnpm demo "$@"
