#!/usr/bin/env bash
# README command 2: set up what is missing, then run every check (`pnpm test`): strict type-check
# of every package, test and example; oxlint + dprint; all vitest suites (including the browser
# tests in headless Chromium); and the packaging check. Ends with a one-line summary.
set -euo pipefail
. "$(dirname "$0")/setup.sh"
cd "$ISTHMUS_ROOT"

# Browser tests drive Debian's Chromium (no browser download exists on these machines); the SSH
# launcher's tests start a real OpenSSH server (Debian's openssh-server) in a network namespace
# (iproute2).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Debian's ${missing[*]} for the browser and SSH tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
fi

report="$ISTHMUS_ROOT/node_modules/.cache/vitest-report.json"
rm -f "$report"
status=0
pnpm test "$@" || status=$?
node scripts/test-summary.ts "$report" "$status"
exit "$status"
