#!/usr/bin/env bash
# Runs the whole suite (./scripts/test.sh, i.e. `pnpm test`) while CPU hogs keep every core busy:
# a shared CI machine is never quiet, and a test that only passes on an idle one is a flaky test.
# Run it before landing any change to timing-sensitive code (timeouts, waits, process control).
#
#   ./scripts/test-under-load.sh            # 2 x nproc busy loops, the whole suite
#   HOGS=8 ./scripts/test-under-load.sh     # choose the number of busy loops
#   ./scripts/test-under-load.sh pnpm exec vitest run --project backend-pool   # any command instead
#
# The hogs are plain shell busy loops at normal priority; they are killed when the script exits,
# however it exits (trap on EXIT, INT, TERM). Exit status is the command's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

hogs="${HOGS:-$(($(nproc) * 2))}"
pids=()
child=""
stop_hogs() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
# The command runs in the background, in its own process group (set -m), and the script waits for
# it: a signal to the script is handled at once (bash runs traps only between foreground commands)
# and passed on to the command's whole group (test.sh -> pnpm -> vitest -> workers).
on_signal() {
  [ -n "$child" ] && kill "-$1" -- "-$child" 2>/dev/null || true
  stop_hogs
  exit "$2"
}
trap stop_hogs EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

for _ in $(seq "$hogs"); do
  (while :; do :; done) &
  pids+=("$!")
done
echo "test-under-load: $hogs busy loops on $(nproc) cores (pids ${pids[*]}); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

start=$(date +%s)
status=0
if [ "$#" -eq 0 ]; then set -- "$root/scripts/test.sh"; fi
set -m
"$@" &
child=$!
set +m
wait "$child" || status=$?
child=""
echo "test-under-load: exit $status after $(($(date +%s) - start)) s with $hogs busy loops; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
