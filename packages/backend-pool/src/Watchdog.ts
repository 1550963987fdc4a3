/**
 * `Watchdog`: a small POSIX `sh` wrapper between the host and a backend, so that a host that dies
 * (even by SIGKILL) leaves no backend process behind. Modelled on the verified `remote-run.sh` of
 * `shared/reference/ssh.md` §3.3 and used by the local (POSIX), WSL (inside the distro) and SSH
 * (on the remote) launchers.
 *
 * Invocation (one fixed script, no backend value is ever interpreted by a shell):
 *
 * ```text
 * sh -c <Watchdog.script> isthmus-watchdog [-g GRACE_MS] [-s SIGNAL] [-x] -- COMMAND [ARG...]
 * ```
 *
 * Contract:
 * - It **leads its process group**: started as a leader (a detached spawn, `setsid`, `wsl.exe
 *   --exec`, an ssh session command) it stays one; otherwise it makes itself the leader of a new
 *   group in place (same pid), or exits 125 saying why when it cannot. The backend and everything
 *   it starts run in that group, so the group id is the watchdog's pid.
 * - **stdout**: first the line `@@pgid <PGID>` (before any output of the backend), then the
 *   backend's stdout unchanged; with `-x` a last line `@@exit <STATUS>` once the backend exited.
 *   {@link OutputDecoder} removes both lines and reports their values.
 * - **stdin** is the control channel. Everything written to it is relayed to the backend's stdin
 *   (a bootstrap line, the lifetime pipe, an RPC stream: the backend sees what it would see
 *   without the watchdog). When it reaches EOF (the host closed it, or died), the backend's stdin
 *   reaches EOF too and the watchdog, from outside the group, sends SIGNAL (default TERM, plus
 *   CONT) to the whole group, waits up to GRACE_MS (default 10000) for it to empty, then sends
 *   KILL. Processes that left the group (`setsid`) are not reached (as on every POSIX stop).
 * - **stderr**: the backend's stderr.
 * - **exit status**: the backend's, the shell way (128 + N when signal N ended it; see
 *   {@link decodeExit}). The watchdog survives TERM, INT and HUP sent to its group (so a group stop
 *   still reports the backend's own status) and dies only with the group's KILL.
 *
 * It needs `sh`, `cat`, `kill`, `sleep` with fractions of a second (GNU, busybox, BSD), and
 * `setsid` (util-linux, busybox) or `perl` (macOS) to leave the group before stopping it; without
 * either it still stops the group but always waits the whole grace period. There is no heartbeat:
 * a half-open connection (SSH) gives no EOF; use keepalives on the connection for that.
 *
 * {@link stopScript} is the same TERM → grace → KILL loop on its own, for a stop run in one shell
 * where the host cannot signal (inside a WSL distro, on an SSH remote); it reports one line,
 * `@@stop <exited|graceful|forced|survivors> [PID...]` ({@link parseStopLine}).
 *
 * @module
 */
import { Effect, Stream } from "effect"
import type { ProcessExit } from "./Launcher.ts"

/**
 * The stop loop: `sh -c <stopScript> isthmus-stop PGID GRACE_MS SIGNAL [now]`. Where `/proc` exists
 * the group counts as empty when only zombies are left in it (an init that does not reap, as in
 * some containers, must not turn every stop into a forced one); each poll reads only the members
 * it saw last, and the whole of `/proc` only when none of them is left. With `now` the signal goes
 * out before the first look at `/proc` (the watchdog's relay: nobody reads its report, and a
 * shell scan of a busy `/proc` takes ~0.3 s at load 14 here, time a dying host's backends keep
 * running); a group of zombies only then reports `graceful` rather than `exited`. The grace is
 * measured on `/proc/uptime` (monotonic, centiseconds) where it exists, so the cost of each poll
 * under load does not stretch it (counting 0.1 s polls, as it does without `/proc`, let a 1 s
 * grace last 1.4 s at load 14).
 */
export const stopScript = `pg=$1 g=$2 s=$3 known=
member() {
  l=
  read -r l 2>/dev/null <"/proc/$1/stat" || return 1
  l=\${l##*) }
  set -- $l
  [ "$3" = "$pg" ] && [ "$1" != Z ]
}
members() {
  for f in /proc/[0-9]*; do
    f=\${f#/proc/}
    member "$f" && printf " %s" "$f"
  done
}
clock() {
  c=
  read -r c _ 2>/dev/null </proc/uptime || return 1
  c=\${c%.*}\${c#*.}
  c=\${c#"\${c%%[!0]*}"}
  c=\${c:-0}
}
alive() {
  kill -0 -"$pg" 2>/dev/null || return 1
  [ -r /proc/self/stat ] || return 0
  for p in $known; do member "$p" && return 0; done
  known=$(members)
  [ -n "$known" ]
}
[ "$4" = now ] || alive || { echo "@@stop exited"; exit 0; }
kill -"$s" -"$pg" 2>/dev/null
[ "$s" = KILL ] || kill -CONT -"$pg" 2>/dev/null
n=$(( (g + 99) / 100 )) end=
clock && end=$((c + (g + 9) / 10))
while [ "$n" -gt 0 ]; do
  sleep 0.1
  alive || { echo "@@stop graceful"; exit 0; }
  if [ -n "$end" ] && clock; then [ "$c" -lt "$end" ] || n=0; else n=$((n - 1)); fi
done
kill -KILL -"$pg" 2>/dev/null
n=20
while [ "$n" -gt 0 ]; do
  alive || { echo "@@stop forced"; exit 0; }
  sleep 0.1
  n=$((n - 1))
done
echo "@@stop survivors$(members)"`

/**
 * The watchdog's body, run by a process group leader. The stop loop is embedded in a single-quoted
 * shell word, so {@link stopScript} contains no single quote (checked by the tests).
 */
const body = `s=TERM g=10000 x=0
while [ $# -gt 0 ]; do
  case $1 in
    -g) g=$2; shift 2 ;;
    -s) s=$2; shift 2 ;;
    -x) x=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
case $g in ''|*[!0-9]*) echo "isthmus-watchdog: -g takes whole milliseconds, got '$g'" >&2; exit 125 ;; esac
case $s in TERM|INT|HUP|QUIT|USR1|USR2|KILL) ;; *) echo "isthmus-watchdog: -s takes TERM, INT, HUP, QUIT, USR1, USR2 or KILL, got '$s'" >&2; exit 125 ;; esac
[ $# -gt 0 ] || { echo "isthmus-watchdog: no command to run (usage: ... -- COMMAND [ARG...])" >&2; exit 125; }
pg=$$
stop='${stopScript}'
leave() {
  if command -v setsid >/dev/null 2>&1; then exec setsid "$@"; fi
  if command -v perl >/dev/null 2>&1; then exec perl -e 'setpgrp(0,0); exec {$ARGV[0]} @ARGV or die "exec $ARGV[0]: $!\\n"' "$@"; fi
  exec "$@"
}
printf '@@pgid %s\\n' "$pg"
exec 9<&0 </dev/null
trap 'sig=1' TERM INT HUP
{
  { leave sh -c "cat <&9 9<&-; exec >/dev/null 9<&-; $stop" isthmus-relay "$pg" "$g" "$s" now; } 2>/dev/null &
} | "$@" 9<&-
rc=$?
[ "$x" = 1 ] && printf '@@exit %s\\n' "$rc"
exit "$rc"`

/** `text` as one single-quoted shell word. */
const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`

/**
 * The watchdog. When it does not lead its process group (a launcher that could not start it so),
 * it first makes itself the leader of a new one without changing its pid (`setsid`, or `perl`'s
 * `setpgrp`; neither forks a process that is not a group leader); without either it exits 125.
 */
export const script = `lead=${quote(body)}
if kill -0 -$$ 2>/dev/null; then eval "$lead"
elif command -v setsid >/dev/null 2>&1; then exec setsid sh -c "$lead" "$0" "$@"
elif command -v perl >/dev/null 2>&1; then exec perl -e 'setpgrp(0,0); exec {$ARGV[0]} @ARGV or die "exec: $!\\n"' sh -c "$lead" "$0" "$@"
else echo "isthmus-watchdog: it must lead its process group, and neither setsid nor perl is here to make it so; start it with a detached spawn, setsid, wsl.exe --exec, or as an ssh session command" >&2; exit 125
fi`

// Why the script has this shape (each point was checked with dash 0.5 and bash 5):
// - The backend is the last element of a *foreground* pipeline: an asynchronous list would start
//   it with SIGINT and SIGQUIT ignored (POSIX XCU 2.11), which dash cannot undo.
// - The relay (`cat`) is started in the background from the pipeline's first element, which exits
//   at once: the shell waits only for the backend, and its status is the backend's.
// - The relay leaves the group at once with `setsid` (no fork: it is not a group leader), so the
//   group is only the leader and the backend's tree (a host's group stop does not end the relay,
//   and a group whose backend exited is empty at once). It knows the group (`$$` is the leader's
//   pid in every subshell); after EOF it closes the backend's stdin and runs the stop loop from
//   outside the group, so `kill -0 -PGID` says whether the group is empty. Its stderr is
//   /dev/null: it must not hold the backend's stderr open after the backend exited.
// - The leader catches TERM, INT and HUP (caught traps are reset in subshells, so the backend
//   keeps the default actions) and keeps waiting for the backend.

/** The signals the watchdog accepts for its graceful step. */
export type Signal = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2" | "SIGKILL"

/** Options of one watchdog invocation. */
export interface WatchdogOptions {
  /** How long the group gets between the graceful signal and KILL when the channel closes. */
  readonly graceMs: number
  /** The graceful signal (default SIGTERM). */
  readonly signal?: Signal | undefined
  /** Print `@@exit <status>` as the last line of stdout (default false). */
  readonly reportExit?: boolean | undefined
}

const bareSignal = (signal: Signal | undefined) => (signal ?? "SIGTERM").replace(/^SIG/, "")

/**
 * The arguments for `sh` (or the path of any POSIX shell) that run `command` under the watchdog:
 * `["-c", script, "isthmus-watchdog", "-g", ms, "-s", SIG, ("-x",) "--", command, ...args]`.
 */
export const shellArgs = (
  options: WatchdogOptions,
  command: string,
  args: ReadonlyArray<string>
): ReadonlyArray<string> => [
  "-c",
  script,
  "isthmus-watchdog",
  "-g",
  String(Math.max(0, Math.round(options.graceMs))),
  "-s",
  bareSignal(options.signal),
  ...(options.reportExit === true ? ["-x"] : []),
  "--",
  command,
  ...args
]

/**
 * The arguments for `sh` that stop group `pgid` (graceful signal, `graceMs`, KILL, up to 2 s for
 * the group to empty) and print one `@@stop` line ({@link parseStopLine}).
 */
export const stopArgs = (pgid: number, graceMs: number, signal?: Signal): ReadonlyArray<string> => [
  "-c",
  stopScript,
  "isthmus-stop",
  String(pgid),
  String(Math.max(0, Math.round(graceMs))),
  bareSignal(signal)
]

/** What the stop loop reported. */
export interface StopReport {
  /** `exited`: no group; `graceful`: empty within the grace; `forced`: KILL was needed. */
  readonly method: "exited" | "graceful" | "forced"
  /** Members still alive 2 s after KILL (empty unless the kernel could not kill them). */
  readonly survivors: ReadonlyArray<number>
}

/** Parses the stop loop's `@@stop` line; `undefined` for any other line. */
export const parseStopLine = (line: string): StopReport | undefined => {
  const match = /^@@stop (exited|graceful|forced|survivors)((?: \d+)*)\s*$/.exec(line)
  if (match === null) return undefined
  const survivors = match[2]!.trim() === "" ? [] : match[2]!.trim().split(" ").map(Number)
  return { method: match[1] === "survivors" ? "forced" : match[1] as StopReport["method"], survivors }
}

/** Signal names by number on Linux (what a backend in WSL or on an SSH remote dies of). */
const linuxSignals: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ"
}

/**
 * The backend's exit from the watchdog's status, the shell way: 128 + N is signal N (a backend
 * that itself exits with such a code is read as killed by that signal, as every shell does).
 */
export const decodeExit = (status: number): ProcessExit => {
  if (status > 128 && status < 128 + 65) {
    const n = status - 128
    return { code: null, signal: linuxSignals[n] ?? `SIG${n}` }
  }
  return { code: status, signal: null }
}

const pgidLine = /^@@pgid (\d{1,10})\r?$/
const exitPrefix = new TextEncoder().encode("@@exit ")
const maxNoiseBytes = 64 * 1024

/** Options of an {@link OutputDecoder}. */
export interface DecoderOptions {
  /** Remove `@@exit N` lines and record N (when the watchdog runs with `-x`). */
  readonly reportExit?: boolean | undefined
  /** Called once with the header's pgid, or `null` when it cannot come any more. */
  readonly onHeader?: ((pgid: number | null) => void) | undefined
}

/**
 * Splits the watchdog's stdout into the backend's bytes and the watchdog's own lines, without
 * copying the backend's chunks once the header is past (pure, incremental).
 *
 * - The header `@@pgid N` must be the first line; lines before it (a login shell's noise on an SSH
 *   remote) are passed through, up to 64 KiB, after which the header is given up for.
 * - With `reportExit`, a line that is exactly `@@exit N` is removed and N recorded (the last one
 *   wins); a backend that prints such a line itself loses it.
 */
export class OutputDecoder {
  /** The group, once the header was read; `null` once given up for; `undefined` before. */
  pgid: number | null | undefined = undefined
  /** The status of an `@@exit` line, when one was seen. */
  exitStatus: number | undefined = undefined
  private head: Array<Uint8Array> = []
  private headBytes = 0
  private atLineStart = true
  private held: Uint8Array | undefined = undefined

  private readonly options: DecoderOptions

  constructor(options: DecoderOptions = {}) {
    this.options = options
  }

  /** Feeds one chunk; returns the backend's bytes in it (possibly empty). */
  push(chunk: Uint8Array): Uint8Array {
    if (this.pgid === undefined) return this.pushHead(chunk)
    return this.options.reportExit === true ? this.scanExit(chunk) : chunk
  }

  /** The stream ended: returns what was held back. */
  end(): Uint8Array {
    let out: Uint8Array = new Uint8Array(0)
    if (this.pgid === undefined) {
      out = concat(this.head)
      this.head = []
      this.setHeader(null)
    }
    if (this.held !== undefined) {
      out = concat([out, this.held])
      this.held = undefined
    }
    return out
  }

  /** The stream stopped early (failed or interrupted): the header cannot come any more. */
  close(): void {
    if (this.pgid === undefined) this.setHeader(null)
  }

  private setHeader(pgid: number | null) {
    this.pgid = pgid
    this.options.onHeader?.(pgid)
  }

  private pushHead(chunk: Uint8Array): Uint8Array {
    this.head.push(chunk)
    this.headBytes += chunk.length
    const buffered = concat(this.head)
    let start = 0
    const passed: Array<Uint8Array> = []
    while (true) {
      const nl = buffered.indexOf(10, start)
      if (nl === -1) break
      const line = new TextDecoder().decode(buffered.subarray(start, nl))
      const match = pgidLine.exec(line)
      if (match !== null) {
        this.head = []
        this.setHeader(Number(match[1]))
        const rest = buffered.subarray(nl + 1)
        return concat([...passed, this.push(rest)])
      }
      passed.push(buffered.subarray(start, nl + 1))
      start = nl + 1
    }
    if (this.headBytes > maxNoiseBytes) {
      this.head = []
      this.setHeader(null)
      return buffered
    }
    // Keep only the incomplete last line; noise lines go through now.
    this.head = start < buffered.length ? [buffered.subarray(start)] : []
    this.headBytes = buffered.length - start
    return concat(passed)
  }

  private scanExit(chunk: Uint8Array): Uint8Array {
    const data = this.held === undefined ? chunk : concat([this.held, chunk])
    this.held = undefined
    const out: Array<Uint8Array> = []
    let emitFrom = 0
    let i = 0
    let lineStart = this.atLineStart ? 0 : -1
    while (i <= data.length) {
      if (lineStart === i) {
        // A line starts here: is it (a prefix of) "@@exit N\n"?
        const verdict = exitLineAt(data, i)
        if (verdict === "partial") {
          out.push(data.subarray(emitFrom, i))
          this.held = data.subarray(i)
          this.atLineStart = true
          return concat(out)
        }
        if (typeof verdict === "object") {
          out.push(data.subarray(emitFrom, i))
          this.exitStatus = verdict.status
          i = verdict.end
          emitFrom = i
          lineStart = i
          continue
        }
      }
      if (i === data.length) break
      const nl = data.indexOf(10, i)
      if (nl === -1) {
        i = data.length
        lineStart = -1
        break
      }
      i = nl + 1
      lineStart = i
    }
    this.atLineStart = lineStart === data.length
    out.push(data.subarray(emitFrom))
    return out.length === 1 ? out[0]! : concat(out)
  }
}

/**
 * The backend's stdout from the watchdog's: every chunk through `decoder` (which learns the
 * header and the exit line), what it held back at the end, and empty chunks dropped.
 */
export const decodeOutput = <E, R>(
  stdout: Stream.Stream<Uint8Array, E, R>,
  decoder: OutputDecoder
): Stream.Stream<Uint8Array, E, R> =>
  stdout.pipe(
    Stream.map((chunk) => decoder.push(chunk)),
    Stream.concat(Stream.suspend(() => Stream.make(decoder.end()))),
    Stream.filter((chunk) => chunk.length > 0),
    Stream.ensuring(Effect.sync(() => decoder.close()))
  )

/** At `at`: a whole `@@exit N\n` line (its status and end), a possible prefix, or neither. */
const exitLineAt = (data: Uint8Array, at: number): { status: number; end: number } | "partial" | "no" => {
  for (let k = 0; k < exitPrefix.length; k++) {
    if (at + k >= data.length) return at + k === at ? "no" : "partial"
    if (data[at + k] !== exitPrefix[k]) return "no"
  }
  let j = at + exitPrefix.length
  let digits = 0
  while (j < data.length && data[j]! >= 48 && data[j]! <= 57 && digits < 4) {
    j++
    digits++
  }
  if (j === data.length) return "partial"
  if (digits === 0) return "no"
  if (data[j] === 13) {
    j++
    if (j === data.length) return "partial"
  }
  if (data[j] !== 10) return "no"
  return {
    status: Number(new TextDecoder().decode(data.subarray(at + exitPrefix.length, at + exitPrefix.length + digits))),
    end: j + 1
  }
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let size = 0
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
