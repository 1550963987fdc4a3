/**
 * @isthmus/backend-pool/child — what a backend uses on its side of the pool:
 *
 * - {@link readBootstrap}: read the bootstrap envelope from wherever the pool delivered it
 *   (fd 3, stdin or the environment; the pool says which in `ISTHMUS_BOOTSTRAP_FD`);
 * - {@link signalReady}: tell the pool the backend is ready, with the URL it actually bound
 *   (bind port 0 and report it: no port race);
 * - {@link exitWhenHostGone}: exit when the host goes away (stdin, the lifetime pipe, reaches
 *   EOF) or asks it to stop (the stop message on stdin: Windows' graceful stop), after running
 *   the backend's shutdown hook; a backend that leads its own process group stops the group
 *   first (SIGTERM, the grace, then SIGKILL), so a killed host leaves no orphans.
 *
 * @module
 */
import type { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import type { BootstrapReadError } from "@isthmus/rpc-protocol/node"
// Modules, not the `effect` barrel: every backend pays for what this module imports
// (bench/child-import.bench.ts; the barrel alone costs about +40 MiB).
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import {
  ENV_BOOTSTRAP,
  ENV_BOOTSTRAP_FD,
  ENV_INSTANCE_ID,
  ENV_LIFETIME_FD,
  ENV_RUN_ID,
  ENV_STOP_GRACE_MS,
  formatReady,
  type ReadySignal,
  STOP_MESSAGE
} from "../Protocol.ts"

export {
  ENV_BOOTSTRAP,
  ENV_BOOTSTRAP_FD,
  ENV_INSTANCE_ID,
  ENV_LIFETIME_FD,
  ENV_RUN_ID,
  ENV_STOP_GRACE_MS,
  formatReady,
  type ReadySignal,
  STOP_MESSAGE
}

// ---------------------------------------------------------------------------------------------
// stdin: one shared reader, for the bootstrap line and for the lifetime EOF
// ---------------------------------------------------------------------------------------------

interface StdinState {
  firstLine: string | undefined
  ended: boolean
  /** The stop message arrived (a line after the first, or the first when no bootstrap is read). */
  stopRequested: boolean
  buffered: Array<Buffer>
  bufferedBytes: number
  lineWaiters: Array<() => void>
  endWaiters: Array<() => void>
}

let stdinState: StdinState | undefined
const maxLineBytes = 1024 * 1024

const wake = (list: Array<() => void>) => {
  for (const f of list.splice(0)) f()
}

/**
 * Starts the single reader of stdin (idempotent). It does not keep the process alive. The first
 * line is kept for the bootstrap; every line is compared with the stop message (bounded: only
 * short lines are kept), so a stop request wakes the same waiters as EOF.
 */
const stdin = (): StdinState => {
  if (stdinState !== undefined) return stdinState
  const state: StdinState = {
    firstLine: undefined,
    ended: false,
    stopRequested: false,
    buffered: [],
    bufferedBytes: 0,
    lineWaiters: [],
    endWaiters: []
  }
  stdinState = state
  const bootstrapOnStdin = process.env[ENV_BOOTSTRAP_FD] === "0"
  const stopBytes = STOP_MESSAGE.length + 1
  let pending = "" // the start of the current line, when it may still be the stop message
  let lineIsShort = true
  const onLine = (line: string) => {
    if (line.replace(/\r$/, "") === STOP_MESSAGE && (state.firstLine !== undefined || !bootstrapOnStdin)) {
      state.stopRequested = true
      wake(state.endWaiters)
    }
  }
  const onData = (chunk: Buffer) => {
    let from = 0
    if (state.firstLine === undefined) {
      const nl = chunk.indexOf(10)
      const piece = nl === -1 ? chunk : chunk.subarray(0, nl)
      if (state.bufferedBytes + piece.length <= maxLineBytes) {
        state.buffered.push(Buffer.from(piece))
        state.bufferedBytes += piece.length
      }
      if (nl === -1) return
      state.firstLine = Buffer.concat(state.buffered).toString("utf8").replace(/\r$/, "")
      state.buffered = []
      wake(state.lineWaiters)
      if (!bootstrapOnStdin) onLine(state.firstLine)
      from = nl + 1
    }
    // Later lines: only the stop message matters; anything longer is skipped without copying.
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from)
      const end = nl === -1 ? chunk.length : nl
      if (lineIsShort) {
        pending += chunk.toString("latin1", from, Math.min(end, from + stopBytes + 1))
        if (pending.length > stopBytes) lineIsShort = false
      }
      if (nl === -1) break
      if (lineIsShort) onLine(pending)
      pending = ""
      lineIsShort = true
      from = nl + 1
    }
  }
  const onEnd = () => {
    if (state.ended) return
    state.ended = true
    if (state.firstLine === undefined && state.bufferedBytes > 0) {
      state.firstLine = Buffer.concat(state.buffered).toString("utf8").replace(/\r$/, "")
    }
    wake(state.lineWaiters)
    wake(state.endWaiters)
  }
  process.stdin.on("data", onData)
  process.stdin.once("end", onEnd)
  process.stdin.once("close", onEnd)
  process.stdin.once("error", onEnd)
  process.stdin.resume()
  const handle = process.stdin as { unref?: () => void }
  handle.unref?.()
  return state
}

const stdinFirstLine = (timeout: Duration.Input): Effect.Effect<Option.Option<string>> =>
  Effect.callback<Option.Option<string>>((resume) => {
    const state = stdin()
    const settle = () => resume(Effect.succeed(Option.fromUndefinedOr(state.firstLine)))
    if (state.firstLine !== undefined || state.ended) return settle()
    state.lineWaiters.push(settle)
  }).pipe(Effect.timeoutOption(timeout), Effect.map(Option.flatten))

// ---------------------------------------------------------------------------------------------
// Bootstrap
// ---------------------------------------------------------------------------------------------

/** Options for {@link readBootstrap}. */
export interface ReadBootstrapOptions {
  /**
   * Where to read: `"env"`, a descriptor number, or `"auto"` (default): what the pool put in
   * `ISTHMUS_BOOTSTRAP_FD` / `ISTHMUS_BOOTSTRAP`, else fd 3.
   */
  readonly from?: "auto" | "env" | number | undefined
  /** How long to wait for the line on a descriptor (default 1 s); then the result is none. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Reads and decodes the bootstrap envelope. `Option.none()` when nothing was delivered (no fd,
 * EOF before a line, nothing within the timeout); a first line that does not decode is a
 * `BootstrapEnvelopeDecodeError` (fatal at startup). On stdin the descriptor stays open
 * afterwards: it is the lifetime pipe for {@link exitWhenHostGone}.
 */
export const readBootstrap = <A, I>(
  envelope: BootstrapEnvelope.BootstrapEnvelope<A, I>,
  options?: ReadBootstrapOptions
): Effect.Effect<Option.Option<A>, BootstrapReadError | BootstrapEnvelope.BootstrapEnvelopeDecodeError> =>
  Effect.gen(function*(): Effect.fn.Return<
    Option.Option<A>,
    BootstrapReadError | BootstrapEnvelope.BootstrapEnvelopeDecodeError
  > {
    const from = options?.from ?? "auto"
    const timeout = options?.timeout ?? Duration.seconds(1)
    const envValue = process.env[ENV_BOOTSTRAP]
    if (from === "env" || (from === "auto" && envValue !== undefined)) {
      if (envValue === undefined) return Option.none()
      return Option.some(yield* envelope.decode(envValue))
    }
    const fdText = process.env[ENV_BOOTSTRAP_FD]
    const fd = typeof from === "number" ? from : fdText === undefined ? 3 : Number(fdText)
    if (fd === 0) {
      const line = yield* stdinFirstLine(timeout)
      if (Option.isNone(line)) return Option.none()
      return Option.some(yield* envelope.decode(line.value))
    }
    // Loaded when used (it brings Schema and node:net): a backend that gets its envelope from the
    // environment or stdin, or none, does not pay for it.
    const { readBootstrap: readBootstrapFd } = yield* Effect.promise(() =>
      import("@isthmus/rpc-protocol/node/bootstrap")
    )
    return yield* readBootstrapFd(envelope, { fd, timeout })
  }).pipe(Effect.withSpan("child.readBootstrap"))

// ---------------------------------------------------------------------------------------------
// Ready
// ---------------------------------------------------------------------------------------------

/** This process's group (Linux: from `/proc/self/stat`), when it can be read. */
const processGroup = (): number | undefined => {
  try {
    const text = NodeFs.readFileSync("/proc/self/stat", "latin1")
    const pgrp = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[2])
    return Number.isInteger(pgrp) && pgrp > 0 ? pgrp : undefined
  } catch {
    return undefined
  }
}

/** Writes the ready line synchronously (for code that does not run Effect). */
export const signalReadySync = (signal: ReadySignal = {}): void => {
  const pgid = processGroup()
  NodeFs.writeSync(
    1,
    formatReady({ pid: process.pid, ...(pgid === undefined ? {} : { pgid }), ...signal })
  )
}

/**
 * Tells the pool the backend is ready, with the URL (and port) it bound, plus this process's pid
 * and process group (so a WSL launcher can stop it inside the distro). Readiness `Signal` (the
 * default) waits for exactly this line on stdout.
 */
export const signalReady = (signal: ReadySignal = {}): Effect.Effect<void> => Effect.sync(() => signalReadySync(signal))

// ---------------------------------------------------------------------------------------------
// Host lifetime
// ---------------------------------------------------------------------------------------------

/** Whether this process leads its own process group (Linux: from `/proc/self/stat`). */
const leadsOwnGroup = (): boolean => processGroup() === process.pid

/**
 * Live members of group `pgid` other than this process (Linux `/proc`). A synchronous scan is
 * fine here: it runs only while this process is exiting.
 */
const otherMembers = (pgid: number): Array<number> => {
  const out: Array<number> = []
  let entries: Array<string>
  try {
    entries = NodeFs.readdirSync("/proc")
  } catch {
    return out
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0)
    if (c < 48 || c > 57 || Number(entry) === process.pid) continue
    try {
      const text = NodeFs.readFileSync(`/proc/${entry}/stat`, "latin1")
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
      if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") out.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const kill = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/**
 * When this process leads its process group (a backend started by hand, or by a launcher without
 * the watchdog): SIGTERM (and SIGCONT) to the group, up to `graceMs` for the others to exit, then
 * SIGKILL to each one left; then `done`. This process survives its own SIGTERM and exits in `done`.
 */
const stopOwnGroup = (graceMs: number, done: () => void): void => {
  if (!leadsOwnGroup() || otherMembers(process.pid).length === 0) return done()
  process.on("SIGTERM", () => undefined)
  // Stryker disable next-line StringLiteral: equivalent: Node's process.kill sends SIGTERM for "" (`sig ||= 'SIGTERM'` in Node 22)
  kill(-process.pid, "SIGTERM")
  kill(-process.pid, "SIGCONT")
  const deadline = performance.now() + graceMs
  const tick = () => {
    const left = otherMembers(process.pid)
    if (left.length === 0) return done()
    if (performance.now() >= deadline) {
      for (const pid of left) kill(pid, "SIGKILL")
      return done()
    }
    setTimeout(tick, 25)
  }
  tick()
}

/**
 * Why the backend is asked to go: the lifetime pipe reached EOF, the host sent the stop message,
 * or (only with an `onHostGone` hook) SIGTERM arrived (a POSIX stop, or the watchdog on EOF).
 */
export type HostGoneReason = "eof" | "stop" | "signal"

/** Options for {@link watchHost} and {@link exitWhenHostGone}. */
export interface HostWatchOptions {
  /**
   * The lifetime descriptor (the control channel); default `ISTHMUS_LIFETIME_FD`, set by the
   * pool's launchers: 0 (stdin), or for a `stdio` backend, whose stdin is its RPC channel, a pipe
   * of its own (3, or 4 after a fd 3 bootstrap), never read from stdin. Without either, nothing is
   * watched (not started by a pool, or a stdio backend inside WSL, where the watchdog's stop
   * signal takes its place).
   */
  readonly fd?: number | undefined
  /** The exit code used when the host is gone (default 0). */
  readonly exitCode?: number | undefined
  /** Runs before exiting; may return a promise (bounded by `cleanupTimeoutMs`). */
  readonly onHostGone?: ((reason: HostGoneReason) => void | Promise<void>) | undefined
  /** Longest time `onHostGone` may take (default 1000 ms). */
  readonly cleanupTimeoutMs?: number | undefined
  /**
   * When this process leads its group: how long its other members get after SIGTERM before
   * SIGKILL (default `ISTHMUS_STOP_GRACE_MS`, set by the pool from the spec's stop grace, else 5000).
   */
  readonly graceMs?: number | undefined
}

/**
 * A scanner of a control channel's bytes that calls `onStop` when a line is exactly the stop
 * message; longer lines are skipped without being kept.
 */
const stopLines = (onStop: () => void): (chunk: Buffer) => void => {
  const stopBytes = STOP_MESSAGE.length + 1
  let pending = ""
  let short = true
  return (chunk) => {
    let from = 0
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from)
      const end = nl === -1 ? chunk.length : nl
      if (short) {
        pending += chunk.toString("latin1", from, Math.min(end, from + stopBytes + 1))
        if (pending.length > stopBytes) short = false
      }
      if (nl === -1) return
      if (short && pending.replace(/\r$/, "") === STOP_MESSAGE) onStop()
      pending = ""
      short = true
      from = nl + 1
    }
  }
}

/**
 * Calls `callback` once when the host goes away (the lifetime descriptor reaches EOF) or sends the
 * stop message on stdin. Does not keep the process alive. Returns a function that stops watching.
 * A no-op outside a pool.
 */
export const watchHost = (
  callback: (reason: HostGoneReason) => void,
  options?: Pick<HostWatchOptions, "fd">
): () => void => {
  const envFd = process.env[ENV_LIFETIME_FD]
  // Outside a pool (no ISTHMUS_LIFETIME_FD, no explicit fd) there is no lifetime pipe: a backend
  // started by hand with stdin at /dev/null must not take that EOF for its host going away.
  if (options?.fd === undefined && envFd === undefined) return () => undefined
  const fd = options?.fd ?? Number(envFd)
  let active = true
  const fire = (reason: HostGoneReason) => {
    if (active) {
      active = false
      callback(reason)
    }
  }
  if (fd === 0) {
    const state = stdin()
    const wakeUp = () => fire(state.stopRequested ? "stop" : "eof")
    if (state.ended || state.stopRequested) queueMicrotask(wakeUp)
    else state.endWaiters.push(wakeUp)
  } else {
    // A control pipe of its own (a stdio backend's: stdin is its RPC channel): EOF, or the stop
    // message on it. Pipes go through libuv's non-blocking handles (no thread-pool thread pinned).
    let stream: NodeJS.ReadableStream & { unref?: () => void }
    try {
      const stat = NodeFs.fstatSync(fd)
      stream = stat.isFIFO() || stat.isSocket()
        ? new NodeNet.Socket({ fd, readable: true, writable: false })
        : NodeFs.createReadStream("", { fd, autoClose: false })
    } catch {
      queueMicrotask(() => fire("eof")) // no such descriptor: nobody holds the other end
      return () => {
        active = false
      }
    }
    const scan = stopLines(() => fire("stop"))
    stream.on("data", (chunk: Buffer) => scan(chunk))
    stream.once("end", () => fire("eof"))
    stream.once("error", () => fire("eof"))
    stream.unref?.()
  }
  return () => {
    active = false
  }
}

/**
 * Exits when the host goes away or asks it to stop: runs `onHostGone` (bounded by
 * `cleanupTimeoutMs`), then, when this process leads its own process group, stops the group's
 * other members (SIGTERM, `graceMs`, SIGKILL), and exits with `exitCode`. With an `onHostGone`
 * hook, SIGTERM runs the same path and then ends the process by SIGTERM. Installed once; returns
 * immediately.
 */
export const exitWhenHostGone = (options?: HostWatchOptions): Effect.Effect<void> =>
  Effect.sync(() => {
    let started = false
    const go = (reason: HostGoneReason) => {
      if (started) return
      started = true
      const envGrace = Number(process.env[ENV_STOP_GRACE_MS])
      const graceMs = options?.graceMs ?? (Number.isFinite(envGrace) && envGrace >= 0 ? envGrace : 5_000)
      let exiting = false
      const exit = () => {
        if (exiting) return
        exiting = true
        stopOwnGroup(graceMs, () => {
          if (reason !== "signal") return process.exit(options?.exitCode ?? 0)
          // End the way SIGTERM would have ended it, so the pool sees the signal.
          process.removeAllListeners("SIGTERM")
          // Stryker disable next-line StringLiteral: equivalent: Node's process.kill sends SIGTERM for "" (`sig ||= 'SIGTERM'` in Node 22)
          process.kill(process.pid, "SIGTERM")
        })
      }
      const cleanup = options?.onHostGone
      if (cleanup === undefined) return exit()
      const timer = setTimeout(exit, options?.cleanupTimeoutMs ?? 1_000)
      Promise.resolve(reason)
        .then(cleanup)
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer)
          exit()
        })
    }
    watchHost(go, options)
    // A stop signal runs the same shutdown hook (the watchdog sends SIGTERM on EOF at once).
    if (options?.onHostGone !== undefined) process.once("SIGTERM", () => go("signal"))
  })

/** The instance id and run id the pool gave this process, when it runs under a pool. */
export const poolContext = (): { readonly id: string; readonly runId: number } | undefined => {
  const id = process.env[ENV_INSTANCE_ID]
  const runId = Number(process.env[ENV_RUN_ID])
  return id === undefined || !Number.isInteger(runId) ? undefined : { id, runId }
}
