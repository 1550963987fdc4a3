/**
 * `@isthmus/backend-pool/promise`: the pool for hosts that do not use Effect (an Electron main
 * process, a plain Node service). `createPool()` returns the same `BackendPool` (with the `Local`
 * and `Wsl` launchers), run by a `ManagedRuntime`; every method returns a Promise that rejects with
 * the same typed errors (`error._tag`: `"DuplicateBackendError"`, `"UnknownBackendError"`,
 * `"InvalidDesiredStateError"`, `"BackendNotReadyError"`, `"PoolClosedError"`). `close()` stops
 * every backend (whole process groups) and releases the pool.
 *
 * Specs are plain data, as in a settings file: secrets are plain strings here and are redacted
 * when decoded (environment only, never argv, logs or errors).
 *
 * @example
 * ```ts
 * import { createPool } from "@isthmus/backend-pool/promise"
 *
 * const pool = await createPool()
 * pool.on("Transition", (e) => console.log(`${e.id}: ${e.from} → ${e.to}`))
 * await pool.reconcile([{ id: "api", launcher: { _tag: "Local", command: process.execPath, args: ["server.mjs"] } }])
 * const { url } = await pool.awaitReady("api")
 * await pool.close()
 * ```
 *
 * @module
 */
import { NodeServices } from "@effect/platform-node"
import { Wsl } from "@isthmus/wsl/node"
import { type Cause, Context, Effect, Fiber, Layer, ManagedRuntime, Queue, Schema, Stream } from "effect"
import type { BackendInstance as Instance, Snapshot } from "./BackendInstance.ts"
import { BackendPool, InvalidDesiredStateError, type PoolEvent } from "./BackendPool.ts"
import * as BackendSpec from "./BackendSpec.ts"
import type { LogLine, LogStats } from "./InstanceLog.ts"
import type { StopOutcome } from "./Launcher.ts"
import type { Plan } from "./ReconcilePlan.ts"
import * as ResourceUsage from "./ResourceUsage.ts"
import * as WslLauncher from "./WslLauncher.ts"

export { BackendNotReadyError } from "./BackendInstance.ts"
export type { Snapshot } from "./BackendInstance.ts"
export { DuplicateBackendError, InvalidDesiredStateError, type PoolEvent, UnknownBackendError } from "./BackendPool.ts"
export type { LogLine, LogStats } from "./InstanceLog.ts"
export type { StopOutcome } from "./Launcher.ts"
export type { Plan } from "./ReconcilePlan.ts"

/**
 * A call on a pool after `close()`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolClosedError extends Schema.TaggedError<PoolClosedError>()("PoolClosedError", {
  message: Schema.String
}) {}

/**
 * A backend spec as plain data (what a settings file holds): `BackendSpec` in its encoded form,
 * secrets as plain strings.
 *
 * @since 0.1.0
 * @category models
 */
export type BackendSpecInput = typeof BackendSpec.BackendSpec.Encoded

/**
 * Options of {@link createPool}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreatePoolOptions {
  /**
   * The `Wsl` launcher: how to run `wsl.exe` (`host`; default the real one on Windows, none
   * elsewhere), what its preflight requires of a distro (`requirements`), whether to stop inside
   * the distro. The `Local` launcher needs no options.
   */
  readonly wsl?: WslLauncher.WslLauncherOptions | undefined
}

/**
 * A running pool. Every method returns a Promise; failures are typed errors (`error._tag`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Pool {
  /** Registers a backend, unstarted (`start` it, or use `reconcile`, which starts what it adds). */
  register(spec: BackendSpecInput): Promise<Snapshot>
  /** Stops a backend (its whole process group), removes it, and says how the stop went. */
  unregister(id: string): Promise<StopOutcome>
  /**
   * Moves the pool to `desired` (level-triggered, idempotent, serialized): starts new ids, replaces
   * backends whose launch-relevant fields changed, updates the rest in place, stops the others.
   */
  reconcile(desired: ReadonlyArray<BackendSpecInput>): Promise<Plan>
  /** A snapshot of every backend, sorted by id. */
  status(): Promise<ReadonlyArray<Snapshot>>
  /** A snapshot of one backend. */
  get(id: string): Promise<Snapshot>
  /** Starts supervising a registered backend (also the way out of `CrashLoop` and `Failed`). */
  start(id: string): Promise<void>
  /** Stops a backend without unregistering it. */
  stop(id: string): Promise<StopOutcome>
  /** Stops then starts a backend. */
  restart(id: string): Promise<StopOutcome>
  /** Resolves once the backend is Ready (with its URL); rejects with `BackendNotReadyError` otherwise. */
  awaitReady(id: string): Promise<Snapshot>
  /** The backend's recent log lines (stdout, stderr and the pool's own `system` lines), oldest first. */
  logs(id: string): Promise<ReadonlyArray<LogLine>>
  /** The backend's recent log lines followed by its live lines, without a gap, until the loop ends. */
  followLogs(id: string): AsyncIterableIterator<LogLine>
  /**
   * Pool events from this call on (subscribed before it returns, so none is missed): one per
   * transition, plus registrations. Each iterator buffers up to 4096 unread events (the oldest are
   * dropped beyond that). Ends when the pool closes.
   */
  events(): AsyncIterableIterator<PoolEvent>
  /**
   * Calls `listener` for each event of this type (`"*"`: all) from now on; returns a function that
   * removes it. A listener that throws is logged and kept.
   */
  on<T extends PoolEvent["_tag"] | "*">(
    type: T,
    listener: (event: T extends "*" ? PoolEvent : Extract<PoolEvent, { readonly _tag: T }>) => void
  ): () => void
  /**
   * What each registered backend uses now: its process group's processes, RSS and CPU (running
   * `Local` backends on Linux; `undefined` otherwise — see `ResourceUsage`), and its log's counts
   * (lines dropped, queue depths). `cpuPercent` is the CPU use since the previous `usage()` call
   * (`undefined` on the first). The reads are asynchronous and only of the groups' own processes;
   * call it at the rate you want to plot (once a second is plenty).
   */
  usage(): Promise<ReadonlyArray<BackendUsage>>
  /** Stops every backend concurrently, each within its grace period, and releases the pool. Idempotent. */
  close(): Promise<void>
}

/**
 * One backend's resource and log figures, from {@link Pool.usage}.
 *
 * @since 0.1.0
 * @category models
 */
export interface BackendUsage {
  /** The backend's id. */
  readonly id: string
  /** Live processes in the run's process group, when known. */
  readonly processes: number | undefined
  /** Their resident memory, in bytes. */
  readonly rssBytes: number | undefined
  /** Their CPU time so far (user + system), in seconds. */
  readonly cpuSeconds: number | undefined
  /** CPU use since the previous `usage()` call, in percent of one core. */
  readonly cpuPercent: number | undefined
  /** The log's counters: lines dropped (`droppedLiveLines`, `droppedFileLines`), queue depths, … */
  readonly log: LogStats
}

const closedError = () =>
  new PoolClosedError({ message: "close() was called on this pool; create a new pool with createPool()" })

const decodeSpec = (input: unknown) =>
  BackendSpec.decode(input).pipe(
    Effect.mapError((error) => {
      const id = typeof input === "object" && input !== null && "id" in input ? JSON.stringify(input.id) : "(no id)"
      return new InvalidDesiredStateError({
        message: `the spec for ${id} is invalid: ${error.message}; fix that field (see BackendSpec)`
      })
    })
  )

/** An `AsyncIterable` as the iterator that `for await` and manual `next()` both accept. */
const iterableIterator = <A>(iterable: AsyncIterable<A>): AsyncIterableIterator<A> => {
  const iterator = iterable[Symbol.asyncIterator]()
  return {
    next: () => iterator.next(),
    return: () => iterator.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return this
    }
  }
}

/**
 * Starts a pool with the `Local` and `Wsl` launchers. Resolves once the pool is up.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createPool = async (options: CreatePoolOptions = {}): Promise<Pool> => {
  const runtime = ManagedRuntime.make(
    BackendPool.layer.pipe(
      Layer.provide(WslLauncher.layer(options.wsl)),
      Layer.provide(Wsl.layer({ host: options.wsl?.host })),
      Layer.provide(NodeServices.layer)
    )
  )
  const pool = Context.get(await runtime.context(), BackendPool)

  let closing: Promise<void> | undefined
  // One sampler for the pool's life: it remembers group members and CPU times between calls.
  const usageSampler = runtime.runSync(Effect.cached(ResourceUsage.makeSampler()))
  const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
    closing === undefined ? runtime.runPromise(effect) : Promise.reject(closedError())
  const withInstance = <A, E>(id: string, f: (instance: Instance) => Effect.Effect<A, E>) =>
    run(Effect.flatMap(pool.get(id), f))
  /** Runs `stream` into a fresh sliding queue: subscribed now (runFork starts at once), read later. */
  const subscribeNow = <A>(stream: Stream.Stream<A>, capacity: number): AsyncIterableIterator<A> => {
    if (closing !== undefined) return iterableIterator(Stream.toAsyncIterable(Stream.empty))
    const queue = runtime.runSync(Queue.sliding<A, Cause.Done>(capacity))
    // However the feeder ends (the pool closed, the iterator returned), the iterator just ends.
    const feeder = runtime.runFork(
      Stream.runForEach(stream, (a) => Queue.offer(queue, a)).pipe(Effect.ensuring(Queue.end(queue)))
    )
    return iterableIterator(
      Stream.toAsyncIterable(Stream.fromQueue(queue).pipe(Stream.ensuring(Fiber.interrupt(feeder))))
    )
  }

  return {
    register: (spec) => run(decodeSpec(spec).pipe(Effect.flatMap(pool.register), Effect.flatMap((i) => i.snapshot))),
    unregister: (id) => run(pool.unregister(id)),
    reconcile: (desired) =>
      run(
        Array.isArray(desired)
          ? Effect.forEach(desired, decodeSpec).pipe(Effect.flatMap(pool.reconcile))
          : pool.reconcile(desired as never) // not an array: the pool refuses it with a message
      ),
    status: () => run(pool.status),
    get: (id) => withInstance(id, (i) => i.snapshot),
    start: (id) => withInstance(id, (i) => i.start),
    stop: (id) => withInstance(id, (i) => i.stop),
    restart: (id) => withInstance(id, (i) => i.restart),
    awaitReady: (id) => withInstance(id, (i) => i.awaitReady),
    logs: (id) => withInstance(id, (i) => i.log.recent),
    followLogs: (id) =>
      closing === undefined
        ? iterableIterator(Stream.toAsyncIterable(Stream.unwrap(Effect.map(pool.get(id), (i) => i.log.follow))))
        : iterableIterator(Stream.toAsyncIterable(Stream.fail(closedError()))),
    events: () => subscribeNow(pool.events, 4096),
    on: (type, listener) => {
      if (closing !== undefined) return () => {}
      const fiber = runtime.runFork(
        pool.events.pipe(
          Stream.filter((event) => type === "*" || event._tag === type),
          Stream.runForEach((event) =>
            Effect.try(() => listener(event as never)).pipe(
              Effect.catch((error) => Effect.logError(`pool event listener for "${type}" threw`, error))
            )
          )
        )
      )
      return () => {
        runtime.runFork(Fiber.interrupt(fiber))
      }
    },
    usage: () =>
      run(Effect.gen(function*() {
        const sampler = yield* usageSampler
        const usage = yield* sampler.sample(yield* ResourceUsage.localGroups(pool))
        return yield* Effect.forEach(yield* pool.list, (i) =>
          Effect.map(i.log.stats, (log): BackendUsage => {
            const u = usage.get(i.id)
            return {
              id: i.id,
              processes: u?.processes,
              rssBytes: u?.rssBytes,
              cpuSeconds: u?.cpuSeconds,
              cpuPercent: u?.cpuPercent,
              log
            }
          }))
      })),
    close: () => (closing ??= runtime.dispose())
  }
}
