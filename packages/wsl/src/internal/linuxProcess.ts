/**
 * Stopping what a `wsl.exe` call started, inside the distro (windows-reality.md §2): killing
 * `wsl.exe` does not stop the Linux process (microsoft/WSL#2496, #12159), so every command the
 * `Wsl` service runs first reports its process group, and a stop is a second `wsl.exe` call that
 * signals that group. Kept free of `effect` so `fake-wsl` starts fast.
 * @internal
 */

/** The start of the line the pgid wrapper writes to stderr: `@@isthmus-pgid:<token> <pgid>`. */
export const markerPrefix = "@@isthmus-pgid:"

/**
 * The script of the pgid wrapper: `sh -c <script> sh <argv…>` writes the marker line with `$$`
 * to stderr, then `exec`s `argv` (one word per argument, no re-parsing). The launched program is
 * a session leader in WSL (the relay `forkpty`s it, §2.1), so `$$` is its pid, its pgid and its
 * sid, and `exec` keeps it.
 */
export const wrapperScript = (token: string): string => `echo ${markerPrefix}${token} $$ >&2; exec "$@"`

const wrapperPattern = /^echo @@isthmus-pgid:([0-9a-f]{8,64}) \$\$ >&2; exec "\$@"$/

/**
 * `argv` wrapped so it reports its process group first. `token` (hex) tells this run's marker
 * apart from anything the program prints.
 */
export const wrapArgv = (argv: ReadonlyArray<string>, token: string): Array<string> => [
  "sh",
  "-c",
  wrapperScript(token),
  "sh",
  ...argv
]

/** The token and the wrapped argv when `argv` is {@link wrapArgv}'s output, else `undefined`. */
export const unwrapArgv = (
  argv: ReadonlyArray<string>
): { readonly token: string; readonly argv: ReadonlyArray<string> } | undefined => {
  if (argv.length < 5 || argv[0] !== "sh" || argv[1] !== "-c" || argv[3] !== "sh") return undefined
  const m = wrapperPattern.exec(argv[2]!)
  return m === null ? undefined : { token: m[1]!, argv: argv.slice(4) }
}

/** Exit codes of {@link stopScript}. */
export const stopExit = { gone: 0, graceful: 10, forced: 11, survived: 12 } as const

/**
 * A POSIX `sh` script that stops process group `pgid`: `TERM` (and `CONT`, so a stopped group
 * hears it), then a check every `pollMillis` for `graceMillis`, then `KILL`. It exits
 * {@link stopExit}`.gone` when the group was already gone, `.graceful` when it left after `TERM`,
 * `.forced` after `KILL`. The loop is written out (one `sleep` and one `kill -s 0` per poll) so
 * every POSIX shell runs it, dash and busybox included; `sleep` takes fractions in GNU coreutils
 * and busybox. After `KILL` it waits up to a second for the group to be gone (`.survived` if a
 * member is still there: an uninterruptible sleep, or a zombie nobody reaps).
 */
export const stopScript = (pgid: number, graceMillis: number, pollMillis = 100): string => {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) throw new RangeError(`not a process group: ${pgid}`)
  const polls = Math.max(1, Math.ceil(graceMillis / pollMillis))
  const seconds = (pollMillis / 1000).toFixed(3).replace(/0+$/, "").replace(/\.$/, "")
  const group = `-${pgid}`
  const lines = [
    `kill -s TERM -- ${group} 2>/dev/null || exit ${stopExit.gone}`,
    `kill -s CONT -- ${group} 2>/dev/null`
  ]
  for (let i = 0; i < polls; i++) {
    lines.push(`sleep ${seconds}`, `kill -s 0 -- ${group} 2>/dev/null || exit ${stopExit.graceful}`)
  }
  lines.push(`kill -s KILL -- ${group} 2>/dev/null`)
  for (let i = 0; i < Math.ceil(1000 / pollMillis); i++) {
    lines.push(`kill -s 0 -- ${group} 2>/dev/null || exit ${stopExit.forced}`, `sleep ${seconds}`)
  }
  lines.push(`exit ${stopExit.survived}`, "")
  return lines.join("\n")
}

/**
 * Finds and removes the marker line from a stream of stderr bytes, chunk by chunk. What comes
 * before the marker is `wsl.exe`'s own (its `wsl: …` warnings, UTF-16LE unless `WSL_UTF8=1`):
 * the wrapper writes the marker before anything of the Linux side. That part is held back and
 * kept apart as the {@link MarkerScanner.preamble}; when no marker comes within `limit` bytes,
 * everything passes through as it is.
 */
export class MarkerScanner {
  #pending: Array<number> = []
  #done = false
  #pgid: number | undefined
  #preamble: Uint8Array = new Uint8Array()
  readonly #marker: Uint8Array
  readonly limit: number

  constructor(token: string, limit = 64 * 1024) {
    this.#marker = new TextEncoder().encode(`${markerPrefix}${token} `)
    this.limit = limit
  }

  /** The process group, once the marker line was seen. */
  get pgid(): number | undefined {
    return this.#pgid
  }

  /** wsl.exe's own stderr, written before the Linux command started (empty until the marker). */
  get preamble(): Uint8Array {
    return this.#preamble
  }

  /** Feeds a chunk; returns the bytes to keep (the Linux side's stderr), in order. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#done) return chunk
    for (const b of chunk) this.#pending.push(b)
    const at = indexOf(this.#pending, this.#marker)
    if (at === -1) return this.#pending.length > this.limit ? this.flush() : new Uint8Array()
    const newline = this.#pending.indexOf(10, at + this.#marker.length)
    if (newline === -1) return new Uint8Array()
    const digits = String.fromCharCode(...this.#pending.slice(at + this.#marker.length, newline))
    if (/^\d+$/.test(digits)) this.#pgid = Number(digits)
    this.#preamble = Uint8Array.from(this.#pending.slice(0, at))
    this.#pending.splice(0, newline + 1)
    return this.flush()
  }

  /** Ends the scan; returns what was held back (everything, when the marker never came). */
  flush(): Uint8Array {
    this.#done = true
    const rest = Uint8Array.from(this.#pending)
    this.#pending = []
    return rest
  }
}

const indexOf = (haystack: ReadonlyArray<number>, needle: Uint8Array): number => {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}
