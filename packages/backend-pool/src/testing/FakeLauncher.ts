/**
 * A fake launcher whose processes follow a tiny script and obey commands, in virtual time.
 *
 * A spec launched by the fake keeps its real shape (`Local`, `Wsl` or a `Custom` kind); the
 * launch arguments (for `Custom`: `config.script`) are read as script steps, run one after another:
 *
 * | step | effect |
 * |---|---|
 * | `print:<text>` / `eprint:<text>` | a line on stdout / stderr |
 * | `ready` / `ready:<url>` | the ready signal of `@isthmus/backend-pool/child` (with a URL) |
 * | `sleep:<ms>` | waits (on the Effect `Clock`, so `TestClock` drives it) |
 * | `exit:<code>` | exits with that code |
 * | `hang` | waits until stopped or commanded |
 * | `ignore-term` | from now on the stop signal is ignored (the stop ends `forced`) |
 * | `term-delay:<ms>` | on the stop signal, exits after this long (default 0) |
 *
 * The script ends by waiting (like `hang`). {@link FakeLauncher} lets a test command a live
 * process (print, ready, crash, exit) and count spawns, stops and concurrent processes per id.
 *
 * @module
 */
import { type Cause, Context, Deferred, Effect, Fiber, Layer, Option, Queue, Stream } from "effect"
import type { BackendSpec } from "../BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type LaunchRequest,
  type ProcessExit,
  type RunningProcess,
  type StopOutcome
} from "../Launcher.ts"
import { formatReady } from "../Protocol.ts"

/** A command sent to a live fake process. */
export type FakeCommand =
  | { readonly _tag: "Print"; readonly text: string; readonly stream?: "stdout" | "stderr" }
  | { readonly _tag: "Ready"; readonly url?: string }
  | { readonly _tag: "Exit"; readonly code: number }
  /** Ends the process as if killed by a signal. */
  | { readonly _tag: "Kill"; readonly signal: string }

/** What the fake recorded about one process. */
export interface FakeProcessRecord {
  readonly id: string
  readonly runId: number
  readonly pid: number
  /** Virtual time of the spawn, epoch ms. */
  readonly spawnedAt: number
  readonly request: LaunchRequest
}

interface Live {
  readonly record: FakeProcessRecord
  readonly command: (command: FakeCommand) => Effect.Effect<void>
}

/** Control of the fake launcher. */
export class FakeLauncher extends Context.Service<FakeLauncher, {
  /** Every spawn so far, in order. */
  readonly spawns: Effect.Effect<ReadonlyArray<FakeProcessRecord>>
  /** Spawns of one id. */
  spawnCount(id: string): Effect.Effect<number>
  /** Live processes of one id (more than one would be a pool bug). */
  liveCount(id: string): Effect.Effect<number>
  /** The largest number of live processes one id ever had at the same time. */
  readonly maxConcurrentPerId: Effect.Effect<number>
  /** Stops, by id, with their outcomes. */
  readonly stops: Effect.Effect<ReadonlyArray<{ readonly id: string; readonly outcome: StopOutcome }>>
  /** Sends a command to the live process of `id` (fails when none is live). */
  command(id: string, command: FakeCommand): Effect.Effect<void, LaunchError>
  /** Makes the next launches of `id` fail before a process exists. */
  failLaunches(id: string, count: number): Effect.Effect<void>
}>()("@isthmus/backend-pool/testing/FakeLauncher") {}

const scriptOf = (spec: BackendSpec): ReadonlyArray<string> => {
  if (spec.launcher._tag === "Attach") return []
  if (spec.launcher._tag !== "Custom") return spec.launcher.args ?? []
  const config = spec.launcher.config as { readonly script?: unknown } | undefined
  return Array.isArray(config?.script) ? config.script.filter((x): x is string => typeof x === "string") : []
}

/**
 * Builds a fake launcher for the given kinds (default `Local` and `Wsl`), plus its control.
 */
export const make = (kinds: ReadonlyArray<string> = ["Local", "Wsl"]) =>
  Effect.sync(() => {
    const spawns: Array<FakeProcessRecord> = []
    const live = new Map<string, Set<Live>>()
    const stops: Array<{ id: string; outcome: StopOutcome }> = []
    const launchFailures = new Map<string, number>()
    let maxConcurrent = 0
    let nextPid = 1000

    const launch = (kind: string) => (request: LaunchRequest) =>
      Effect.gen(function*() {
        const failures = launchFailures.get(request.id) ?? 0
        if (failures > 0) {
          launchFailures.set(request.id, failures - 1)
          return yield* new LaunchError({ kind, message: `fake launch of ${request.id} refused` })
        }
        const clock = yield* Effect.clockWith((c) => Effect.succeed(c))
        const pid = nextPid++
        const record: FakeProcessRecord = {
          id: request.id,
          runId: request.runId,
          pid,
          spawnedAt: clock.currentTimeMillisUnsafe(),
          request
        }
        spawns.push(record)
        const stdout = yield* Queue.unbounded<Uint8Array, Cause.Done>()
        const stderr = yield* Queue.unbounded<Uint8Array, Cause.Done>()
        const exited = yield* Deferred.make<ProcessExit>()
        let ignoreTerm = false
        let termDelay = 0
        const encoder = new TextEncoder()
        const write = (stream: "stdout" | "stderr", text: string) =>
          Queue.offer(stream === "stdout" ? stdout : stderr, encoder.encode(text)).pipe(Effect.asVoid)
        const finish = (exit: ProcessExit) =>
          Effect.gen(function*() {
            if (yield* Deferred.isDone(exited)) return
            yield* Queue.end(stdout)
            yield* Queue.end(stderr)
            yield* Deferred.succeed(exited, exit)
          })
        const entry: Live = {
          record,
          command: (command) => {
            switch (command._tag) {
              case "Print":
                return write(command.stream ?? "stdout", command.text + "\n")
              case "Ready":
                return write("stdout", formatReady(command.url === undefined ? {} : { url: command.url }))
              case "Exit":
                return finish({ code: command.code, signal: null })
              case "Kill":
                return finish({ code: null, signal: command.signal })
            }
          }
        }
        const set = live.get(request.id) ?? new Set()
        live.set(request.id, set)
        set.add(entry)
        maxConcurrent = Math.max(maxConcurrent, set.size)
        yield* Effect.addFinalizer(() => Effect.sync(() => set.delete(entry)))

        const script = Effect.gen(function*() {
          for (const step of scriptOf(request.spec)) {
            const colon = step.indexOf(":")
            const op = colon === -1 ? step : step.slice(0, colon)
            const arg = colon === -1 ? "" : step.slice(colon + 1)
            switch (op) {
              case "print":
                yield* write("stdout", arg + "\n")
                break
              case "eprint":
                yield* write("stderr", arg + "\n")
                break
              case "ready":
                yield* write("stdout", formatReady(arg === "" ? {} : { url: arg }))
                break
              case "sleep":
                yield* Effect.sleep(Number(arg))
                break
              case "exit":
                return yield* finish({ code: Number(arg), signal: null })
              case "hang":
                return yield* Effect.never
              case "ignore-term":
                ignoreTerm = true
                break
              case "term-delay":
                termDelay = Number(arg)
                break
              default:
                yield* write("stderr", `fake: unknown step ${JSON.stringify(step)}\n`)
            }
          }
          return yield* Effect.never
        })
        const scriptFiber = yield* Effect.forkScoped(script, { startImmediately: true })
        yield* Deferred.await(exited).pipe(
          Effect.andThen(Effect.sync(() => set.delete(entry))),
          Effect.andThen(Fiber.interrupt(scriptFiber)),
          Effect.forkScoped({ startImmediately: true })
        )

        const stop = (policy: { readonly graceMs: number; readonly signal: string }) =>
          Effect.gen(function*() {
            const started = clock.currentTimeMillisUnsafe()
            if (yield* Deferred.isDone(exited)) {
              return { method: "exited", durationMs: 0, survivors: 0 } as const
            }
            yield* Fiber.interrupt(scriptFiber)
            let outcome: StopOutcome
            if (ignoreTerm || termDelay > policy.graceMs) {
              yield* Effect.sleep(policy.graceMs)
              yield* finish({ code: null, signal: "SIGKILL" })
              outcome = { method: "forced", durationMs: clock.currentTimeMillisUnsafe() - started, survivors: 0 }
            } else {
              if (termDelay > 0) yield* Effect.sleep(termDelay)
              yield* finish({ code: null, signal: policy.signal })
              outcome = { method: "graceful", durationMs: clock.currentTimeMillisUnsafe() - started, survivors: 0 }
            }
            stops.push({ id: request.id, outcome })
            set.delete(entry)
            return outcome
          }).pipe(Effect.uninterruptible)
        yield* Effect.addFinalizer(() => stop(request.stop))

        const running: RunningProcess = {
          pid,
          host: "127.0.0.1",
          stdout: Stream.fromQueue(stdout),
          stderr: Stream.fromQueue(stderr),
          exit: Deferred.await(exited),
          stop,
          liveProcesses: Effect.map(Deferred.isDone(exited), (done) => (done ? [] : [pid]))
        }
        return running
      })

    const launchers: ReadonlyArray<Launcher> = kinds.map((kind) => ({ kind, launch: launch(kind) }))

    const control = FakeLauncher.of({
      spawns: Effect.sync(() => [...spawns]),
      spawnCount: (id) => Effect.sync(() => spawns.filter((s) => s.id === id).length),
      liveCount: (id) => Effect.sync(() => live.get(id)?.size ?? 0),
      maxConcurrentPerId: Effect.sync(() => maxConcurrent),
      stops: Effect.sync(() => [...stops]),
      command: (id, command) =>
        Effect.suspend(() => {
          const entry = Option.fromNullishOr([...(live.get(id) ?? [])].at(-1))
          return Option.isNone(entry)
            ? Effect.fail(new LaunchError({ kind: "fake", message: `no live fake process for ${id}` }))
            : entry.value.command(command)
        }),
      failLaunches: (id, count) => Effect.sync(() => void launchFailures.set(id, count))
    })
    return { launchers, control }
  })

/**
 * `Launchers` (for `Local` and `Wsl` specs) backed by fake processes, plus the
 * {@link FakeLauncher} control service.
 */
export const layer = (kinds?: ReadonlyArray<string>): Layer.Layer<Launchers | FakeLauncher> =>
  Layer.effectContext(
    Effect.map(make(kinds), ({ control, launchers }) =>
      Context.make(Launchers, Launchers.fromLaunchers(launchers)).pipe(Context.add(FakeLauncher, control)))
  )
