/**
 * What the SSH launcher runs on the remote, and how it reads what comes back. Pure.
 *
 * ssh's remote command is always the same five words, {@link remoteCommand} (`exec sh -s`): the
 * login shell (bash, dash, zsh, fish and tcsh all accept it) replaces itself with `sh` reading
 * its script from stdin, so nothing variable is ever in an argv on the remote and no quoting has
 * to survive a non-POSIX login shell (ssh joins its words and the login shell re-parses them,
 * `shared/reference/ssh.md` §2.1).
 *
 * A run's stdin, in order:
 * 1. {@link loaderScript}, one `{ … }` group. `sh` parses the whole group before running it and
 *    reads nothing beyond it, because the launcher sends nothing more until the group printed
 *    {@link handshake} (dash reads its script in blocks: data sent earlier could be swallowed by
 *    the parser instead of reaching `read`).
 * 2. The header ({@link header}): one line each for the watchdog script, argv, cwd, environment
 *    (secrets included), grace and signal, as single-quoted `sh` words ({@link SshConnection.quoteWord}),
 *    then `go`. The loader reads it with the `read` builtin and `eval`s only words we quoted.
 * 3. Everything after is relayed by the `Watchdog` to the backend's stdin: the bootstrap line, then
 *    the lifetime pipe. EOF (we closed it, we died, the connection dropped) stops the group.
 *
 * The loader `exec`s the watchdog, which leads the session's process group (sshd made the login
 * shell a session leader, `session.c`; ssh.md §3.1), prints `@@pgid`, and `@@exit` at the end.
 *
 * @module
 */
import { quoteWord } from "./SshConnection.ts"
import * as Watchdog from "./Watchdog.ts"

/** ssh's remote command for every run and every short script. */
export const remoteCommand = "exec sh -s"

/** The loader's first line: it is running and will read the header now. */
export const handshake = "@@isthmus-ssh 1"

/** A line the loader prints instead of starting the watchdog: `@@isthmus-error <what>`. */
export const errorPrefix = "@@isthmus-error "

/** Why the loader did not start the backend. */
export type LoaderError = "header" | "cwd" | "command"

/** What a loader error means, as the line that replaces it in the run's output. */
export const loaderErrors: Readonly<Record<LoaderError, string>> = {
  header: "the run's header did not arrive whole (the connection closed early?); nothing was started",
  cwd: "the working directory does not exist on the host, or cannot be entered; nothing was started",
  command: "the command is not on the PATH of the host's login shell; nothing was started"
}

/** The loader, sent as the first bytes of a run's stdin. */
export const loaderScript = `{
printf '%s\\n' '${handshake}'
nl='
'
wd= g=10000 s=TERM cwd= have=0
while IFS= read -r h; do
  case $h in
    go) break ;;
    'wd '*) eval "wd=\${h#wd }" ;;
    'argv '*) eval "set -- \${h#argv }"; have=1 ;;
    'cwd '*) eval "cwd=\${h#cwd }" ;;
    'env '*) eval "export \${h#env }" ;;
    'grace '*) g=\${h#grace } ;;
    'signal '*) s=\${h#signal } ;;
    *) printf '${errorPrefix}header\\n'; exit 125 ;;
  esac
done
{ [ "$have" = 1 ] && [ -n "$wd" ]; } || { printf '${errorPrefix}header\\n'; exit 125; }
if [ -n "$cwd" ]; then cd "$cwd" 2>/dev/null || { printf '${errorPrefix}cwd\\n'; exit 126; }; fi
command -v "$1" >/dev/null 2>&1 || { printf '${errorPrefix}command\\n'; exit 127; }
exec sh -c "$wd" isthmus-watchdog -g "$g" -s "$s" -x -- "$@"
}
`

/** What one run needs on the remote. */
export interface RunHeader {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string | undefined
  /** Plain and secret variables together; names are `EnvName`s (checked by the spec schema). */
  readonly env: Readonly<Record<string, string>>
  readonly graceMs: number
  readonly signal: Watchdog.Signal
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The header lines (each ending in a newline, the last one `go`). A relative `cwd` starting with
 * `-` is prefixed with `./` so `cd` cannot read it as an option. Throws on a NUL byte or a bad
 * variable name, which the spec schema rules out.
 */
export const header = (run: RunHeader): string => {
  const words = [run.command, ...run.args]
  for (const w of [...words, ...Object.values(run.env), run.cwd ?? ""]) {
    if (w.includes("\u0000")) throw new Error("a NUL byte cannot be passed to a remote process")
  }
  const lines = [
    `wd ${quoteWord(Watchdog.script)}`,
    `argv ${words.map(quoteWord).join(" ")}`,
    ...(run.cwd === undefined ? [] : [`cwd ${quoteWord(run.cwd.startsWith("-") ? `./${run.cwd}` : run.cwd)}`]),
    ...Object.entries(run.env).map(([name, value]) => {
      if (!envName.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`)
      return `env ${name}=${quoteWord(value)}`
    }),
    `grace ${Math.max(0, Math.round(run.graceMs))}`,
    `signal ${run.signal.replace(/^SIG/, "")}`,
    "go"
  ]
  return lines.map((l) => `${l}\n`).join("")
}

// ---------------------------------------------------------------------------------------------
// The run's stdout before the watchdog's: noise, the handshake, a loader error
// ---------------------------------------------------------------------------------------------

const handshakeBytes = new TextEncoder().encode(handshake)
const maxNoiseBytes = 64 * 1024

/**
 * Reads a run's stdout up to the handshake: lines before it (a login shell's rc noise) pass
 * through, the handshake line is removed and reported; everything after is passed on unchanged
 * (to the `Watchdog.OutputDecoder`), except a loader error line right after the handshake, which
 * is recorded and replaced by a line saying what it means ({@link loaderErrors}).
 */
export class HandshakeDecoder {
  /** True once the handshake was read. */
  seen = false
  /** A loader error, when the loader printed one. */
  error: LoaderError | undefined = undefined
  private pending: Uint8Array = new Uint8Array(0)
  private afterHandshake = false
  private readonly onHandshake: () => void

  constructor(onHandshake: () => void) {
    this.onHandshake = onHandshake
  }

  /** Feeds one chunk; returns the bytes to pass on. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.seen && !this.afterHandshake) return chunk
    const data = concat(this.pending, chunk)
    const out: Array<Uint8Array> = []
    let start = 0
    while (true) {
      const nl = data.indexOf(10, start)
      if (nl === -1) break
      const line = data.subarray(start, nl)
      if (!this.seen && sameLine(line, handshakeBytes)) {
        this.seen = true
        this.afterHandshake = true
        this.onHandshake()
      } else if (this.afterHandshake) {
        // Only the first line after the handshake can be the loader's error.
        this.afterHandshake = false
        const text = new TextDecoder().decode(line).replace(/\r$/, "")
        if (text.startsWith(errorPrefix)) {
          this.error = text.slice(errorPrefix.length) as LoaderError
          out.push(new TextEncoder().encode(`isthmus-ssh: ${loaderErrors[this.error] ?? text}\n`))
        } else out.push(data.subarray(start, nl + 1))
        start = nl + 1
        out.push(data.subarray(start))
        this.pending = new Uint8Array(0)
        return join(out)
      } else {
        out.push(data.subarray(start, nl + 1))
      }
      start = nl + 1
    }
    const rest = data.subarray(start)
    if (!this.seen && rest.length > maxNoiseBytes) {
      // No handshake in 64 KiB of one line: pass it on as output.
      out.push(rest)
      this.pending = new Uint8Array(0)
    } else {
      this.pending = rest
    }
    return join(out)
  }

  /** The stream ended: what was held back. */
  end(): Uint8Array {
    const rest = this.pending
    this.pending = new Uint8Array(0)
    return rest
  }
}

const sameLine = (line: Uint8Array, expected: Uint8Array) => {
  const n = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length
  if (n !== expected.length) return false
  for (let i = 0; i < n; i++) if (line[i] !== expected[i]) return false
  return true
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

const join = (parts: ReadonlyArray<Uint8Array>) => parts.reduce(concat, new Uint8Array(0))

// ---------------------------------------------------------------------------------------------
// The preflight probe
// ---------------------------------------------------------------------------------------------

/** The probe's first line. */
export const probeMarker = "@@isthmus-probe 1"

/** The probe's last line: it ran to the end. */
export const probeDone = "@@isthmus-probe-done"

/** Tools the watchdog needs (besides `sh`): `setsid` or `perl` to stop from outside the group. */
export const watchdogTools = ["cat", "kill", "sleep"] as const

/** Whether `command` is Node itself (then its own version is checked against a Node range). */
const isNode = (command: string) => /(^|\/)node(js)?$/.test(command)

/** The probe script for a run of `command` (sent to {@link remoteCommand} as its whole stdin). */
export const probeScript = (
  command: string,
  requirements: {
    readonly node?: string | undefined
    readonly tools?: ReadonlyArray<string> | undefined
    /** The run's working directory, checked to exist. */
    readonly cwd?: string | undefined
  }
): string =>
  [
    `printf '%s\\n' '${probeMarker}'`,
    "nl='",
    "'",
    `set -- ${[command, ...(requirements.tools ?? []), ...watchdogTools].map(quoteWord).join(" ")}`,
    `c=$1; shift`,
    `p=$(command -v "$c" 2>/dev/null) || p=`,
    `printf 'command:%s\\n' "$p"`,
    ...(requirements.node === undefined
      ? []
      : [
        isNode(command) ? `n=$p` : `n=$(command -v node 2>/dev/null) || n=`,
        `printf 'nodePath:%s\\n' "$n"`,
        `[ -z "$n" ] || printf 'nodeVersion:%s\\n' "$("$n" --version 2>/dev/null | tr -d '\\r')"`
      ]),
    `for t in "$@"; do command -v "$t" >/dev/null 2>&1 || printf 'missing:%s\\n' "$t"; done`,
    ...(requirements.cwd === undefined ? [] : [`[ -d ${quoteWord(requirements.cwd)} ] || printf 'cwd:missing\\n'`]),
    `command -v setsid >/dev/null 2>&1 || command -v perl >/dev/null 2>&1 || printf 'missing:setsid or perl\\n'`,
    `printf 'system:%s\\n' "$(uname -s 2>/dev/null)"`,
    `printf '%s\\n' '${probeDone}'`,
    ""
  ].join("\n")

/** What the probe found. */
export interface ProbeResult {
  /** The probe's marker line was seen: a POSIX `sh` ran it. */
  readonly ran: boolean
  /** It ran to its end. */
  readonly complete: boolean
  /** Where the command was found (`undefined`: not found). */
  readonly commandPath: string | undefined
  readonly nodePath: string | undefined
  readonly nodeVersion: string | undefined
  readonly missing: ReadonlyArray<string>
  /** `uname -s`, e.g. `Linux`, `Darwin`. */
  readonly system: string | undefined
  /** The working directory asked for is not there. */
  readonly cwdMissing: boolean
}

const value = (line: string, prefix: string) => {
  const v = line.slice(prefix.length).trim()
  return v.length === 0 ? undefined : v
}

/** Reads the probe's output (login-shell noise and CRs tolerated). */
export const parseProbe = (output: string): ProbeResult => {
  let ran = false
  let complete = false
  let commandPath: string | undefined
  let nodePath: string | undefined
  let nodeVersion: string | undefined
  let system: string | undefined
  let cwdMissing = false
  const missing: Array<string> = []
  for (const raw of output.split("\n")) {
    const line = raw.replace(/\r$/, "")
    if (line === probeMarker) ran = true
    else if (!ran) continue
    else if (line === probeDone) complete = true
    else if (line.startsWith("command:")) commandPath = value(line, "command:")
    else if (line.startsWith("nodePath:")) nodePath = value(line, "nodePath:")
    else if (line.startsWith("nodeVersion:")) nodeVersion = value(line, "nodeVersion:")
    else if (line.startsWith("missing:")) {
      const v = value(line, "missing:")
      if (v !== undefined) missing.push(v)
    } else if (line.startsWith("system:")) system = value(line, "system:")
    else if (line === "cwd:missing") cwdMissing = true
  }
  return { ran, complete, commandPath, nodePath, nodeVersion, missing, system, cwdMissing }
}
