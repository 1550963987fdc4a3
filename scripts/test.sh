#!/usr/bin/env bash
# README command 2: set up what is missing, then run every check (`pnpm test`).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
cd "$ISTHMUS_ROOT"
exec pnpm test "$@"
