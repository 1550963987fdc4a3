/**
 * @isthmus/backend-pool/child — what a backend uses on its side of the pool:
 *
 * - {@link readBootstrap}: read the bootstrap envelope from wherever the pool delivered it
 *   (fd 3, stdin or the environment; the pool says which in `ISTHMUS_BOOTSTRAP_FD`);
 * - {@link signalReady}: tell the pool the backend is ready, with the URL it actually bound
 *   (bind port 0 and report it: no port race);
 * - {@link exitWhenHostGone}: exit when the host goes away (stdin, the lifetime pipe, reaches
 *   EOF), stopping the backend's own process group first, so a killed host leaves no orphans.
 *
 * @module
 */
import type { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { type BootstrapReadError, readBootstrap as readBootstrapFd } from "@isthmus/rpc-protocol/node"
import { Duration, Effect, Option } from "effect"
import * as NodeFs from "node:fs"
import { liveMembers } from "../ProcessGroup.ts"
import {
  ENV_BOOTSTRAP,
  ENV_BOOTSTRAP_FD,
  ENV_INSTANCE_ID,
  ENV_LIFETIME_FD,
  ENV_RUN_ID,
  formatReady,
  type ReadySignal
} from "../Protocol.ts"

export { ENV_BOOTSTRAP, ENV_BOOTSTRAP_FD, ENV_INSTANCE_ID, ENV_LIFETIME_FD, ENV_RUN_ID, formatReady, type ReadySignal }

// ---------------------------------------------------------------------------------------------
// stdin: one shared reader, for the bootstrap line and for the lifetime EOF
// ---------------------------------------------------------------------------------------------

interface StdinState {
  firstLine: string | undefined
  ended: boolean
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

/** Starts the single reader of stdin (idempotent). It does not keep the process alive. */
const stdin = (): StdinState => {
  if (stdinState !== undefined) return stdinState
  const state: StdinState = {
    firstLine: undefined,
    ended: false,
    buffered: [],
    bufferedBytes: 0,
    lineWaiters: [],
    endWaiters: []
  }
  stdinState = state
  const onData = (chunk: Buffer) => {
    if (state.firstLine !== undefined) return // after the first line, stdin is only the lifetime pipe
    const nl = chunk.indexOf(10)
    const piece = nl === -1 ? chunk : chunk.subarray(0, nl)
    if (state.bufferedBytes + piece.length <= maxLineBytes) {
      state.buffered.push(Buffer.from(piece))
      state.bufferedBytes += piece.length
    }
    if (nl !== -1) {
      state.firstLine = Buffer.concat(state.buffered).toString("utf8").replace(/\r$/, "")
      state.buffered = []
      wake(state.lineWaiters)
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

/** Options for {@link watchHost} and {@link exitWhenHostGone}. */
export interface HostWatchOptions {
  /**
   * The lifetime descriptor; default `ISTHMUS_LIFETIME_FD` (set by the pool's launchers to 0,
   * stdin). Without either, nothing is watched (the process was not started by a pool).
   */
  readonly fd?: number | undefined
  /** The exit code used when the host is gone (default 0). */
  readonly exitCode?: number | undefined
  /** Runs before exiting; may return a promise (bounded by `cleanupTimeoutMs`). */
  readonly onHostGone?: (() => void | Promise<void>) | undefined
  /** Longest time `onHostGone` may take (default 1000 ms). */
  readonly cleanupTimeoutMs?: number | undefined
}

/**
 * Calls `callback` once when the host goes away (the lifetime descriptor reaches EOF). Does not
 * keep the process alive. Returns a function that stops watching. A no-op outside a pool.
 */
export const watchHost = (callback: () => void, options?: Pick<HostWatchOptions, "fd">): () => void => {
  const envFd = process.env[ENV_LIFETIME_FD]
  // Outside a pool (no ISTHMUS_LIFETIME_FD, no explicit fd) there is no lifetime pipe: a backend
  // started by hand with stdin at /dev/null must not take that EOF for its host going away.
  if (options?.fd === undefined && envFd === undefined) return () => undefined
  const fd = options?.fd ?? Number(envFd)
  let active = true
  const fire = () => {
    if (active) {
      active = false
      callback()
    }
  }
  if (fd === 0) {
    const state = stdin()
    if (state.ended) queueMicrotask(fire)
    else state.endWaiters.push(fire)
  } else {
    const stream = NodeFs.createReadStream("", { fd, autoClose: false })
    stream.on("data", () => undefined)
    stream.once("end", fire)
    stream.once("error", fire)
    const handle = stream as unknown as { unref?: () => void }
    handle.unref?.()
  }
  return () => {
    active = false
  }
}

/**
 * Exits when the host goes away: runs `onHostGone` (bounded), sends SIGTERM to the other members
 * of this process group when the backend leads it (as it does under the `Local` launcher), and
 * exits with `exitCode`. Installed once; returns immediately.
 */
export const exitWhenHostGone = (options?: HostWatchOptions): Effect.Effect<void> =>
  Effect.sync(() => {
    watchHost(() => {
      const exit = () => {
        if (leadsOwnGroup()) {
          for (const pid of liveMembers(process.pid)) {
            if (pid === process.pid) continue
            try {
              process.kill(pid, "SIGTERM")
            } catch {
              // already gone
            }
          }
        }
        process.exit(options?.exitCode ?? 0)
      }
      const cleanup = options?.onHostGone
      if (cleanup === undefined) return exit()
      const timer = setTimeout(exit, options?.cleanupTimeoutMs ?? 1_000)
      Promise.resolve()
        .then(cleanup)
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer)
          exit()
        })
    }, options)
  })

/** The instance id and run id the pool gave this process, when it runs under a pool. */
export const poolContext = (): { readonly id: string; readonly runId: number } | undefined => {
  const id = process.env[ENV_INSTANCE_ID]
  const runId = Number(process.env[ENV_RUN_ID])
  return id === undefined || !Number.isInteger(runId) ? undefined : { id, runId }
}
