/**
 * The small contract between the pool and a backend that uses `@isthmus/backend-pool/child`.
 *
 * Pure constants and codecs, shared by both sides.
 *
 * @module
 */

/** Prefix of the ready line a backend prints on stdout: `@@isthmus:ready {"url":"http://127.0.0.1:5123"}`. */
export const READY_PREFIX = "@@isthmus:ready "

/** Which fd carries the bootstrap envelope (`0` or `3`), when it is delivered on a descriptor. */
export const ENV_BOOTSTRAP_FD = "ISTHMUS_BOOTSTRAP_FD"

/** The bootstrap envelope itself, when it is delivered in the environment. */
export const ENV_BOOTSTRAP = "ISTHMUS_BOOTSTRAP"

/**
 * Which fd is the backend's control channel: it reaches EOF when the host goes away, and carries
 * the {@link STOP_MESSAGE}. `0` (stdin) for most backends. A `stdio` backend's stdin is its RPC
 * channel, so the `Local` launcher gives it a separate pipe (`3`, or `4` when the bootstrap is on
 * fd 3); inside WSL (`wsl.exe` relays only fds 0–2) it is not set: the in-distro watchdog holds
 * stdin and stops the group on its EOF.
 */
export const ENV_LIFETIME_FD = "ISTHMUS_LIFETIME_FD"

/**
 * The stop message: a line the pool writes on a backend's control channel ({@link ENV_LIFETIME_FD};
 * then it closes it) to ask it to exit gracefully where there are no signals (Windows). The
 * `child` helper runs its shutdown hooks and exits when it reads it. Never written into a `stdio`
 * backend's RPC channel.
 */
export const STOP_MESSAGE = "@@isthmus:stop"

/** The stop grace of the backend's spec, in ms: how long the `child` helper gives its own group. */
export const ENV_STOP_GRACE_MS = "ISTHMUS_STOP_GRACE_MS"

/** The instance id, for the backend's own logs. */
export const ENV_INSTANCE_ID = "ISTHMUS_INSTANCE_ID"
/** The run id (1, 2, … per start), for the backend's own logs. */
export const ENV_RUN_ID = "ISTHMUS_RUN_ID"

/** What a ready line carries. */
export interface ReadySignal {
  readonly url?: string | undefined
  readonly port?: number | undefined
  /** The backend's pid and process group where it runs (inside WSL: Linux ids), for stopping it there. */
  readonly pid?: number | undefined
  readonly pgid?: number | undefined
}

/** Formats a ready line (with its newline). */
export const formatReady = (signal: ReadySignal): string => `${READY_PREFIX}${JSON.stringify(signal)}\n`

/** Parses a ready line; `undefined` when the line is not one. Never throws. */
export const parseReady = (line: string): ReadySignal | undefined => {
  if (!line.startsWith(READY_PREFIX)) return undefined
  try {
    const value: unknown = JSON.parse(line.slice(READY_PREFIX.length))
    if (value === null || typeof value !== "object") return {}
    const v = value as Record<string, unknown>
    const url = typeof v["url"] === "string" && v["url"].length <= 2048 ? v["url"] : undefined
    const port = typeof v["port"] === "number" && Number.isInteger(v["port"]) && v["port"] > 0 && v["port"] < 65536
      ? v["port"]
      : undefined
    const id = (key: string) =>
      typeof v[key] === "number" && Number.isInteger(v[key]) && (v[key] as number) > 0 ? v[key] as number : undefined
    const out: { url?: string; port?: number; pid?: number; pgid?: number } = {}
    if (url !== undefined) out.url = url
    const p = port ?? portOfUrl(url)
    if (p !== undefined) out.port = p
    const pid = id("pid")
    const pgid = id("pgid")
    if (pid !== undefined) out.pid = pid
    if (pgid !== undefined) out.pgid = pgid
    return out
  } catch {
    return {}
  }
}

/** The port of a URL (explicit or the scheme's default), or `undefined`. */
export const portOfUrl = (url: string | undefined): number | undefined => {
  if (url === undefined) return undefined
  try {
    const u = new URL(url)
    if (u.port !== "") return Number(u.port)
    return u.protocol === "https:" || u.protocol === "wss:"
      ? 443
      : u.protocol === "http:" || u.protocol === "ws:"
      ? 80
      : undefined
  } catch {
    return undefined
  }
}
