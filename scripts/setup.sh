#!/usr/bin/env bash
# Toolchain set-up shared by the README commands and CI. Source it (". scripts/setup.sh") so
# PATH changes carry over. Idempotent and quick when already done:
#   1. a Node >= 22.19: the system one if it is new enough, else `node@22` from the npm registry
#      installed into .toolchain/ (the registry package ships the official binary);
#   2. pnpm 12.21.0, into .toolchain/;
#   3. `pnpm install --frozen-lockfile` when the lockfile or a manifest changed since the last one.
# Nothing is fetched from anywhere but the npm registry.
set -euo pipefail

ISTHMUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAIN="$ISTHMUS_ROOT/.toolchain"
NODE_VERSION="22.23.3"
PNPM_VERSION="12.21.0"

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

export PATH="$TOOLCHAIN/node_modules/.bin:$PATH"
if ! node_ok || ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  want=("pnpm@$PNPM_VERSION")
  node_ok || want+=("node@$NODE_VERSION")
  echo "setup: installing ${want[*]} into .toolchain/ from the npm registry" >&2
  mkdir -p "$TOOLCHAIN"
  [ -f "$TOOLCHAIN/package.json" ] || echo '{"private":true}' >"$TOOLCHAIN/package.json"
  (cd "$TOOLCHAIN" && npm install --no-save --no-audit --no-fund --loglevel=error "${want[@]}" >&2)
  hash -r
  node_ok || { echo "setup: could not get Node >= 22.19" >&2; exit 1; }
fi

# Re-install only when a manifest or the lockfile is newer than the last install.
stamp="$ISTHMUS_ROOT/node_modules/.isthmus-installed"
if [ ! -f "$stamp" ] || [ -n "$(find "$ISTHMUS_ROOT/pnpm-lock.yaml" "$ISTHMUS_ROOT/pnpm-workspace.yaml" \
  "$ISTHMUS_ROOT/package.json" "$ISTHMUS_ROOT"/packages/*/package.json "$ISTHMUS_ROOT"/examples/*/package.json \
  -newer "$stamp" 2>/dev/null | head -1)" ]; then
  (cd "$ISTHMUS_ROOT" && CI=true pnpm install --frozen-lockfile >&2)
  touch "$stamp"
fi
