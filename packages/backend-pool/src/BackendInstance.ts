/**
 * `BackendInstance`: one supervised backend, with its state machine, runs, logs and restarts.
 *
 * States: `Idle → Starting → Ready`, with `Backoff` between runs, `Stopping → Stopped` on a
 * deliberate stop, `CrashLoop` when the breaker trips and `Failed` when a failure is final.
 * Every run has an id; lines and callbacks of an older run never change the current state.
 *
 * @module
 */
import {
  Cause,
  Clock,
  Deferred,
  Effect,
  Fiber,
  Option,
  Random,
  Redacted,
  Schema,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import * as NodeNet from "node:net"
import {
  type BackendSpec,
  type FailureClass,
  labelOf,
  launcherKind,
  launchHash,
  locationOf,
  policyHash,
  PreflightError,
  type ReadyInfo,
  resolveLiveness,
  resolveLog,
  resolveReadiness,
  resolveRestart,
  resolveStop,
  stdioProblem
} from "./BackendSpec.ts"
import * as InstanceChannel from "./InstanceChannel.ts"
import * as InstanceLog from "./InstanceLog.ts"
import type { Launchers, LaunchRequest, ProcessExit, RunningProcess, StopOutcome } from "./Launcher.ts"
import { ENV_INSTANCE_ID, ENV_RUN_ID } from "./Protocol.ts"
import * as Readiness from "./Readiness.ts"
import * as RestartPolicy from "./RestartPolicy.ts"

/** The phases of an instance. */
export type Phase = "Idle" | "Starting" | "Ready" | "Backoff" | "CrashLoop" | "Stopping" | "Stopped" | "Failed"

/** Why a run ended. */
export type ExitReason =
  /** Exit code 0 after having been ready. */
  | "Exited"
  /** A non-zero exit code or a signal after having been ready. */
  | "Crashed"
  /** The process ended before it was ready. */
  | "ExitedBeforeReady"
  /**
   * The process ended before it was ready while its `Allocated` port was held by another process
   * (it lost the race for the port, typically failing with EADDRINUSE). Retried at once on a new
   * port, up to {@link maxPortRetries} times in a row, outside the backoff and the crash budget.
   */
  | "PortInUse"
  /** Readiness did not succeed within the startup timeout; the process was stopped. */
  | "StartupTimeout"
  /** The launcher could not start the process. */
  | "LaunchFailed"
  /** The liveness probe failed `failureThreshold` times in a row after Ready; the run was stopped. */
  | "LivenessFailed"
  /** The host stopped it. */
  | "Stopped"

/** The last exit of an instance. */
export interface LastExit {
  /** The run that exited. */
  readonly runId: number
  /** The exit code, or `null` when a signal ended it (or it never ran: `LaunchFailed`, `Stopped`). */
  readonly code: number | null
  /** The signal that ended it, e.g. `"SIGKILL"`. */
  readonly signal: string | null
  readonly reason: ExitReason
  /** When the exit was observed, epoch ms. */
  readonly at: number
  /** How long the run was Ready, when it was. */
  readonly readyForMs: number | undefined
}

/** Why an instance is parked (`Failed`, `CrashLoop`) or backing off, with the last log lines. */
export interface Failure {
  readonly reason: ExitReason | "PreflightFailed" | "CrashLoop"
  /** What happened, for people (no secrets, no argv values). */
  readonly message: string
  /** For `PreflightFailed`: the class the preflight gave (`fatal`, `transient`, `bounded`). */
  readonly failureClass: FailureClass | undefined
  /** The last log lines (up to {@link failureTailLines}) when the failure was recorded. */
  readonly lines: ReadonlyArray<InstanceLog.LogLine>
}

/** A point-in-time view of an instance. */
export interface Snapshot {
  readonly id: string
  /** The spec's `label`, or its id. */
  readonly label: string
  /**
   * Where it runs: `local`, `wsl:<distro>`, `ssh:<user@host:port>`, `attach:<url>` or a custom
   * kind ({@link BackendSpec.locationOf}).
   */
  readonly location: string
  readonly phase: Phase
  /** The current (or last) run id; 0 before the first run. */
  readonly runId: number
  /** The running process (for WSL: `wsl.exe`), from launch until the run ends. */
  readonly pid: number | undefined
  /** Where the backend can be reached from the host, once Ready. */
  readonly url: string | undefined
  /** The port it listens on, once Ready (reported, fixed or allocated). */
  readonly port: number | undefined
  /** Runs started after the first one since the last `start`. */
  readonly restartCount: number
  /** Consecutive failed attempts counted by the backoff (reset after a stable Ready period). */
  readonly attempt: number
  /** When the next restart is due (`Backoff` only), epoch ms. */
  readonly nextRestartAt: number | undefined
  /** The delay of the pending restart (`Backoff` only), ms. */
  readonly backoffMs: number | undefined
  readonly lastExit: LastExit | undefined
  /** How the last stop (deliberate, startup timeout or liveness) went: graceful or forced. */
  readonly lastStop: StopOutcome | undefined
  /** Why the instance is parked or backing off; cleared when a run becomes Ready. */
  readonly failure: Failure | undefined
  /** When the instance entered its phase, epoch ms. */
  readonly since: number
  /** How long it has been in its phase when this snapshot was read (`snapshot`, `status`), ms. */
  readonly timeInStateMs: number
  /** {@link BackendSpec.launchHash} of the applied spec (what `reconcile` compares to replace). */
  readonly launchHash: string
  /** {@link BackendSpec.policyHash} of the applied spec (what `reconcile` compares to update in place). */
  readonly policyHash: string
}

/** How long `snapshot` has been in its phase at `now`. */
export const timeInState = (snapshot: Snapshot, now: number): number => Math.max(0, now - snapshot.since)

/** A phase change, published once per transition. */
export interface TransitionEvent {
  readonly _tag: "Transition"
  readonly id: string
  /** The run current at the transition (0 before the first run). */
  readonly runId: number
  readonly from: Phase
  readonly to: Phase
  /** When it happened, epoch ms (the snapshot's `since`). */
  readonly at: number
  /** The instance right after the transition. */
  readonly snapshot: Snapshot
}

/** `awaitReady` saw the instance end up somewhere other than Ready. */
export class BackendNotReadyError extends Schema.TaggedError<BackendNotReadyError>()("BackendNotReadyError", {
  id: Schema.String,
  phase: Schema.String,
  message: Schema.String
}) {}

/** One supervised backend. */
export interface BackendInstance {
  readonly id: string
  /** The spec currently applied. */
  readonly spec: Effect.Effect<BackendSpec>
  /** Starts supervising (no-op when already running); also the way out of `CrashLoop` and `Failed`. */
  readonly start: Effect.Effect<void>
  /**
   * Stops: the stop signal to the whole process group, the grace period, then SIGKILL.
   * Resolves when no process of the group is left, with how it went.
   */
  readonly stop: Effect.Effect<StopOutcome>
  /** `stop` then `start`. */
  readonly restart: Effect.Effect<StopOutcome>
  /** The current state, with `timeInStateMs` computed now. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** Every snapshot change, starting with the current one. */
  readonly changes: Stream.Stream<Snapshot>
  /** Waits for Ready; fails if the instance lands in Failed, CrashLoop or Stopped instead. */
  readonly awaitReady: Effect.Effect<Snapshot, BackendNotReadyError>
  /** The instance's log: recent lines, live lines, files and counters (kept across runs). */
  readonly log: InstanceLog.InstanceLog
  /**
   * For `stdio` backends: the channel of each run once it is Ready (its handshake succeeded),
   * starting with the current run's if it is Ready. Give it to `RpcBridge` as its upstream
   * (`{ attach: instance.channels }`); each element's peer closes when its run ends.
   */
  readonly channels: Stream.Stream<InstanceChannel.RunChannel>
  /** Applies a spec whose launch-relevant fields are unchanged (restart, readiness, stop, log policies). */
  updatePolicy(spec: BackendSpec): Effect.Effect<void>
}

/** Lines attached to failures. */
export const failureTailLines = 200

const drainTimeoutMs = 2_000

/** Consecutive `PortInUse` runs retried at once; after that they count as ordinary failures. */
export const maxPortRetries = 3

/**
 * Whether some process holds TCP `port` on 127.0.0.1: a listen attempt fails with EADDRINUSE.
 * (Another process listening on 0.0.0.0 or on 127.0.0.1 both count.)
 */
export const portInUse = (port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const server = NodeNet.createServer()
    server.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "EADDRINUSE")))
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resume(Effect.succeed(false))))
  })

/** Picks a free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export const allocatePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = NodeNet.createServer()
  server.once("error", () => resume(Effect.die(new Error("could not allocate a port"))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

type RunResult =
  | { readonly _tag: "LaunchFailed"; readonly message: string; readonly fatal: boolean }
  | { readonly _tag: "Stopped"; readonly outcome: StopOutcome }
  | {
    readonly _tag: "Ended"
    readonly exit: ProcessExit
    readonly reason: ExitReason
    readonly readyForMs: number | undefined
  }

const pump = (stream: Stream.Stream<Uint8Array, unknown>, splitter: InstanceLog.LineSplitter) =>
  stream.pipe(
    Stream.runForEach((chunk) => Effect.sync(() => splitter.push(chunk))),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => splitter.end()))
  )

/** Sleeps `ms`, or returns false early when a stop was requested. */
const sleepUnlessStopped = (ms: number, stopReq: Deferred.Deferred<void>) =>
  Effect.raceFirst(Effect.as(Effect.sleep(ms), true), Effect.as(Deferred.await(stopReq), false))

/** What to do about an instance that ended up in a phase other than Ready. */
const notReadyHints: Record<Phase, string> = {
  Idle: "start it",
  Starting: "start it",
  Ready: "",
  Backoff: "start it",
  Stopping: "start it again once stopped",
  Stopped: "it was stopped or exited cleanly; start it again",
  Failed: "see the failure and its log lines; start it, or change its spec, to try again",
  CrashLoop: "see the last exit and its log lines; start it, or change its spec, to try again"
}

const terminal = (phase: Phase) => phase === "Failed" || phase === "CrashLoop" || phase === "Stopped"

const runPreflight = (
  launchers: Launchers["Service"],
  spec: BackendSpec
): Effect.Effect<void, PreflightError> =>
  Effect.gen(function*() {
    const launcher = launchers.get(launcherKind(spec.launcher))
    if (launcher?.preflight !== undefined) yield* launcher.preflight(spec)
    if (spec.preflight !== undefined) yield* spec.preflight
  }).pipe(
    Effect.catchDefect((defect) =>
      Effect.fail(
        new PreflightError({
          message: `preflight crashed: ${defect instanceof Error ? defect.name : "defect"}`,
          failureClass: "fatal"
        })
      )
    )
  )

/**
 * A pool-wide table of allocated ports: a port handed to one run is not handed to another until
 * that run ends, even if the OS would offer it again.
 */
export interface PortReservations {
  readonly reserved: Set<number>
}

/** Allocates a free port that no other run of the pool holds, and reserves it for the scope. */
export const reservePort = (table: PortReservations): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 50; attempt++) {
        const port = yield* allocatePort
        if (!table.reserved.has(port)) {
          table.reserved.add(port)
          return port
        }
      }
      return yield* Effect.die(new Error("could not allocate an unreserved port in 50 attempts"))
    }),
    (port) => Effect.sync(() => table.reserved.delete(port))
  )

/** What an instance needs from its pool. */
export interface InstanceDeps {
  readonly launchers: Launchers["Service"]
  /** Publishes a transition to the pool's event stream. */
  readonly publish: (event: TransitionEvent) => Effect.Effect<void>
  /** The pool's port table (a private one when omitted). */
  readonly ports?: PortReservations | undefined
}

const describeExit = (exit: ProcessExit): string =>
  exit.signal !== null ? `signal ${exit.signal}` : exit.code === null ? "no exit status" : `exit code ${exit.code}`

/**
 * Creates an instance (not started) in the current scope. Closing the scope stops it.
 */
export const make = (initial: BackendSpec, deps: InstanceDeps) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    // Wall time only for the timestamps people read (`since`, `at`); every duration, deadline,
    // breaker window and backoff reset is measured on the monotonic clock, so a step of the system
    // clock (NTP, a user, a resume) changes none of them.
    const now = () => clock.currentTimeMillisUnsafe()
    const mono = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
    let phaseStartedMono = mono()
    const id = initial.id
    let current = initial
    const log = yield* InstanceLog.make(id, resolveLog(initial))
    const state = yield* SubscriptionRef.make<Snapshot>({
      id,
      label: labelOf(initial),
      location: locationOf(initial.launcher),
      phase: "Idle",
      runId: 0,
      pid: undefined,
      url: undefined,
      port: undefined,
      restartCount: 0,
      attempt: 0,
      nextRestartAt: undefined,
      backoffMs: undefined,
      lastExit: undefined,
      lastStop: undefined,
      failure: undefined,
      since: now(),
      timeInStateMs: 0,
      launchHash: launchHash(initial),
      policyHash: policyHash(initial)
    })
    const lock = yield* Semaphore.make(1)
    // The Ready run's stdio channel, and the last run whose process was seen to end after Ready
    // (its Ready snapshot stays until the exit is handled, and must not satisfy awaitReady).
    const channel = yield* SubscriptionRef.make<InstanceChannel.RunChannel | undefined>(undefined)
    let endedRun = 0
    let supervisor: Fiber.Fiber<StopOutcome | undefined> | undefined
    let stopRequest: Deferred.Deferred<void> | undefined
    let nextRunId = 0
    const ports: PortReservations = deps.ports ?? { reserved: new Set() }

    /** Applies `f`; publishes one event when the phase changed. */
    const transition = (f: (s: Snapshot) => Snapshot) =>
      Effect.gen(function*() {
        const [before, after] = yield* SubscriptionRef.modify(state, (s) => {
          const next = f(s)
          if (next.phase === s.phase) return [[s, next] as const, next]
          phaseStartedMono = mono()
          const stamped = { ...next, since: now() }
          return [[s, stamped] as const, stamped]
        })
        if (before.phase !== after.phase) {
          yield* deps.publish({
            _tag: "Transition",
            id,
            runId: after.runId,
            from: before.phase,
            to: after.phase,
            at: after.since,
            snapshot: after
          })
        }
      })

    /** Like `transition`, but ignored when `runId` is no longer the current run. */
    const transitionRun = (runId: number, f: (s: Snapshot) => Snapshot) =>
      transition((s) => (s.runId === runId && s.phase !== "Stopping" && s.phase !== "Stopped" ? f(s) : s))

    const runOnce = (runId: number, spec: BackendSpec, stopReq: Deferred.Deferred<void>): Effect.Effect<RunResult> =>
      Effect.scoped(Effect.gen(function*() {
        const kind = launcherKind(spec.launcher)
        const launcher = deps.launchers.get(kind)
        if (launcher === undefined) {
          const message = `no launcher registered for kind ${JSON.stringify(kind)} (registered: ${
            deps.launchers.kinds.join(", ") || "none"
          }): add it to the pool's Launchers, or fix the spec's launcher`
          log.append("system", runId, `launch failed: ${message}`)
          return { _tag: "LaunchFailed", message, fatal: true } as const
        }
        const problem = stdioProblem(spec)
        if (problem !== undefined) {
          log.append("system", runId, `launch failed: ${problem}`)
          return { _tag: "LaunchFailed", message: problem, fatal: true } as const
        }
        const readiness = resolveReadiness(spec)
        const stopPolicy = resolveStop(spec)
        const portSpec = spec.port ?? { _tag: "Reported" as const }
        const port = portSpec._tag === "Fixed"
          ? portSpec.port
          : portSpec._tag === "Allocated"
          ? yield* reservePort(ports)
          : undefined
        let host = "127.0.0.1"
        // Where probes reach the port: the port itself, or the local end of a forward.
        let probePort = port
        const input = (): Readiness.ReadinessInput => ({ id, runId, host, port: probePort })
        const watch = yield* Readiness.armLineWatch(readiness, log, input)
        if (watch !== undefined) yield* Effect.addFinalizer(() => Effect.sync(watch.dispose))

        const env: Record<string, string> = { ...spec.env, [ENV_INSTANCE_ID]: id, [ENV_RUN_ID]: String(runId) }
        if (port !== undefined && portSpec._tag !== "Reported") env[portSpec.envName ?? "PORT"] = String(port)
        const request: LaunchRequest = {
          id,
          runId,
          spec,
          port,
          env,
          secrets: spec.secrets ?? {},
          bootstrapLine: spec.bootstrap === undefined || spec.bootstrap.delivery === "none"
            ? undefined
            : Redacted.make(JSON.stringify(spec.bootstrap.envelope) + "\n"),
          stop: stopPolicy
        }
        log.append("system", runId, `run ${runId} starting (${kind})`)
        const launched = yield* Effect.result(launcher.launch(request))
        if (launched._tag === "Failure") {
          log.append("system", runId, `launch failed: ${launched.failure.message}`)
          return {
            _tag: "LaunchFailed",
            message: launched.failure.message,
            fatal: launched.failure.failureClass === "fatal"
          } as const
        }
        const proc: RunningProcess = launched.success
        host = proc.host
        probePort = proc.reachablePort ?? port
        yield* transitionRun(runId, (s) => ({ ...s, pid: proc.pid }))
        log.append("system", runId, `run ${runId} started${proc.pid === undefined ? "" : ` (pid ${proc.pid})`}`)

        // A stdio backend's stdout is its RPC channel: read by the channel's peer, never logged.
        let runChannel: InstanceChannel.RunChannel | undefined
        if (spec.stdio !== undefined) {
          if (proc.stdin === undefined) {
            const message =
              `the ${kind} launcher gives no stdin, which a \`stdio\` backend needs; use a launcher that does (Local)`
            log.append("system", runId, `launch failed: ${message}`)
            return { _tag: "LaunchFailed", message, fatal: true } as const
          }
          runChannel = yield* InstanceChannel.open({
            id,
            runId,
            spec: spec.stdio,
            stdout: proc.stdout,
            stdin: proc.stdin
          })
        }
        const pumps = yield* Effect.all([
          runChannel === undefined ? pump(proc.stdout, log.splitter("stdout", runId)) : Effect.void,
          pump(proc.stderr, log.splitter("stderr", runId))
        ], { concurrency: 2, discard: true }).pipe(Effect.forkScoped({ startImmediately: true }))
        yield* Effect.addFinalizer(() =>
          SubscriptionRef.update(channel, (c) => (c !== undefined && c === runChannel ? undefined : c))
        )
        const drain = Fiber.await(pumps).pipe(Effect.timeout(drainTimeoutMs), Effect.ignore)
        // A backstop when the run is interrupted: stop the whole group, then drain the output.
        yield* Effect.addFinalizer(() => proc.stop(resolveStop(current)).pipe(Effect.andThen(drain)))
        const stopRequested = Deferred.await(stopReq).pipe(Effect.as({ _tag: "Stop" as const }))
        const deliberateStop = Effect.gen(function*() {
          log.append(
            "system",
            runId,
            `stopping run ${runId} (${resolveStop(current).signal}, grace ${resolveStop(current).graceMs} ms)`
          )
          const outcome = yield* proc.stop(resolveStop(current))
          yield* drain
          log.append("system", runId, `run ${runId} stopped (${outcome.method}, ${outcome.durationMs} ms)`)
          return { _tag: "Stopped", outcome } as const
        })

        const checked: Effect.Effect<ReadyInfo> = readiness.check._tag === "Stdio"
          ? runChannel === undefined
            ? Effect.never
            // A refused handshake or a closed channel never counts as ready: exit or timeout decide.
            : runChannel.peer.awaitReady.pipe(Effect.as<ReadyInfo>({}), Effect.catch(() => Effect.never))
          : watch !== undefined
          ? watch.ready
          : Readiness.poll(readiness, input())
        const expose = proc.expose
        type Readied =
          | { readonly _tag: "Ready"; readonly info: ReadyInfo }
          | { readonly _tag: "ExposeFailed"; readonly message: string; readonly fatal: boolean }
        const waitReady: Effect.Effect<Readied> = expose === undefined
          ? checked.pipe(Effect.map((info) => ({ _tag: "Ready" as const, info })))
          : checked.pipe(
            Effect.flatMap((info) => Effect.result(expose(info))),
            Effect.map((r) =>
              r._tag === "Success"
                ? { _tag: "Ready" as const, info: r.success }
                : {
                  _tag: "ExposeFailed" as const,
                  message: r.failure.message,
                  fatal: r.failure.failureClass === "fatal"
                }
            )
          )
        const first = yield* Effect.raceAllFirst([
          waitReady.pipe(
            Effect.timeout(readiness.startupTimeoutMs),
            Effect.orElseSucceed(() => ({ _tag: "Timeout" as const }))
          ),
          proc.exit.pipe(Effect.map((ended) => ({ _tag: "Exit" as const, exit: ended }))),
          stopRequested
        ])
        if (first._tag === "Stop") return yield* deliberateStop
        if (first._tag === "ExposeFailed") {
          log.append("system", runId, `launch failed: ${first.message}; stopping run ${runId}`)
          const outcome = yield* proc.stop(resolveStop(current))
          yield* transitionRun(runId, (s) => ({ ...s, lastStop: outcome }))
          yield* drain
          return { _tag: "LaunchFailed", message: first.message, fatal: first.fatal } as const
        }

        let exit: ProcessExit
        let reason: ExitReason
        let readyForMs: number | undefined
        if (first._tag === "Ready") {
          proc.onReady?.(first.info)
          const readyAt = mono()
          const readyPort = first.info.port ?? probePort
          const reported = first.info.url === undefined || proc.rewriteUrl === undefined || expose !== undefined
            ? first.info.url
            : proc.rewriteUrl(first.info.url)
          const url = reported ?? (readyPort === undefined ? undefined : `http://${host}:${readyPort}`)
          log.append("system", runId, `run ${runId} ready${url === undefined ? "" : ` at ${url}`}`)
          yield* transitionRun(runId, (s) => ({
            ...s,
            phase: "Ready",
            url,
            port: readyPort,
            nextRestartAt: undefined,
            backoffMs: undefined,
            failure: undefined
          }))
          if (runChannel !== undefined) yield* SubscriptionRef.set(channel, runChannel)
          const liveness = resolveLiveness(current)
          const after = yield* Effect.raceAllFirst([
            proc.exit.pipe(Effect.map((ended) => ({ _tag: "Exit" as const, exit: ended }))),
            stopRequested,
            liveness === undefined
              ? Effect.never
              : Readiness.watchLiveness(liveness, { ...input(), port: readyPort ?? port }).pipe(
                Effect.map((failures) => ({ _tag: "Dead" as const, failures }))
              )
          ])
          // From here this run's Ready snapshot is stale: awaitReady waits for the next run, and
          // the snapshot says at once that the process is gone (no pid) and its channel closed.
          endedRun = Math.max(endedRun, runId)
          if (after._tag === "Stop") return yield* deliberateStop
          yield* SubscriptionRef.update(channel, (c) => (c !== undefined && c === runChannel ? undefined : c))
          yield* transitionRun(runId, (s) => ({ ...s, pid: undefined }))
          if (after._tag === "Dead") {
            log.append("system", runId, `liveness failed ${after.failures} times in a row; stopping run ${runId}`)
            const outcome = yield* proc.stop(resolveStop(current))
            yield* transitionRun(runId, (s) => ({ ...s, lastStop: outcome }))
            exit = yield* proc.exit
            readyForMs = mono() - readyAt
            reason = "LivenessFailed"
          } else {
            exit = after.exit
            readyForMs = mono() - readyAt
            reason = exit.code === 0 && exit.signal === null ? "Exited" : "Crashed"
          }
        } else if (first._tag === "Timeout") {
          log.append("system", runId, `startup timeout after ${readiness.startupTimeoutMs} ms; stopping run ${runId}`)
          const outcome = yield* proc.stop(resolveStop(current))
          yield* transitionRun(runId, (s) => ({ ...s, lastStop: outcome }))
          exit = yield* proc.exit
          reason = "StartupTimeout"
        } else {
          exit = first.exit
          reason = "ExitedBeforeReady"
        }
        // No process of the group may outlive its run (no two processes per id), and the
        // output is drained to its end before the exit is reported.
        yield* proc.stop(resolveStop(current))
        yield* drain
        // With the whole group gone, an allocated port that is still bound was taken by someone
        // else between the allocation and the backend's bind: a lost race, not a crash.
        if (reason === "ExitedBeforeReady" && portSpec._tag === "Allocated" && port !== undefined) {
          if (yield* portInUse(port)) {
            reason = "PortInUse"
            log.append("system", runId, `allocated port ${port} is held by another process`)
          }
        }
        log.append("system", runId, `run ${runId} ended: ${describeExit(exit)} (${reason})`)
        return { _tag: "Ended", exit, reason, readyForMs } as const
      }))

    const supervise = (stopReq: Deferred.Deferred<void>) =>
      Effect.gen(function*() {
        let attempt = 0
        let breaker = RestartPolicy.emptyBreaker
        let preflightFailures = 0
        let portRetries = 0
        let first = true
        while (true) {
          const spec = current
          const pre = yield* Effect.raceFirst(
            Effect.result(runPreflight(deps.launchers, spec)),
            Effect.as(Deferred.await(stopReq), undefined)
          )
          if (pre === undefined) return undefined
          if (pre._tag === "Failure") {
            const error = pre.failure
            const policy = resolveRestart(current)
            preflightFailures++
            log.append("system", nextRunId, `preflight failed (${error.failureClass}): ${error.message}`)
            const failure: Failure = {
              reason: "PreflightFailed",
              message: error.message,
              failureClass: error.failureClass,
              lines: log.tail(failureTailLines)
            }
            const limit = error.retryLimit ?? 3
            if (error.failureClass === "fatal" || (error.failureClass === "bounded" && preflightFailures > limit)) {
              yield* transition((s) => ({ ...s, phase: "Failed", failure, pid: undefined, url: undefined }))
              return undefined
            }
            const delay = RestartPolicy.backoffDelay(policy, attempt, yield* Random.next)
            attempt++
            yield* transition((s) => ({
              ...s,
              phase: "Backoff",
              attempt,
              failure,
              nextRestartAt: now() + delay,
              backoffMs: delay
            }))
            if (!(yield* sleepUnlessStopped(delay, stopReq))) return undefined
            continue
          }
          preflightFailures = 0
          const runId = ++nextRunId
          const isRestart = !first
          first = false
          yield* transition((s) => ({
            ...s,
            phase: "Starting",
            runId,
            pid: undefined,
            url: undefined,
            port: undefined,
            nextRestartAt: undefined,
            backoffMs: undefined,
            restartCount: isRestart ? s.restartCount + 1 : s.restartCount
          }))
          const result = yield* runOnce(runId, spec, stopReq)
          if (result._tag === "Stopped") return result.outcome
          const at = now()
          const atMono = mono()
          const policy = resolveRestart(current)
          const exit: ProcessExit = result._tag === "Ended" ? result.exit : { code: null, signal: null }
          const reason: ExitReason = result._tag === "Ended" ? result.reason : "LaunchFailed"
          const readyForMs = result._tag === "Ended" ? result.readyForMs : undefined
          const lastExit: LastExit = { runId, code: exit.code, signal: exit.signal, reason, at, readyForMs }
          if (RestartPolicy.isStable(policy, readyForMs)) {
            attempt = 0
            breaker = RestartPolicy.emptyBreaker
          }
          if (reason === "PortInUse" && portRetries < maxPortRetries) {
            portRetries++
            log.append(
              "system",
              runId,
              `retrying at once on a new port (port retry ${portRetries} of ${maxPortRetries})`
            )
            yield* transition((s) => ({ ...s, pid: undefined, url: undefined, lastExit }))
            continue
          }
          portRetries = 0
          const message = result._tag === "LaunchFailed"
            ? result.message
            : reason === "StartupTimeout"
            ? `not ready within ${resolveReadiness(current).startupTimeoutMs} ms`
            : reason === "LivenessFailed"
            ? `stopped after failing its liveness probe (${describeExit(exit)})`
            : reason === "PortInUse"
            ? `exited before ready with ${describeExit(exit)}; its allocated port was held by another process ` +
              `${maxPortRetries + 1} times in a row (is something binding ports in the ephemeral range?)`
            : `${reason === "ExitedBeforeReady" ? "exited before ready" : "exited"} with ${describeExit(exit)}`
          const fatal = result._tag === "LaunchFailed" && result.fatal
          const failure: Failure = {
            reason,
            message,
            failureClass: fatal ? "fatal" : undefined,
            lines: log.tail(failureTailLines)
          }
          const clean = result._tag === "Ended" && reason !== "StartupTimeout" && reason !== "LivenessFailed" &&
            exit.code === 0 &&
            exit.signal === null
          // A fatal launch failure (missing command or cwd, not executable) is final under any policy.
          const restartable = fatal
            ? false
            : result._tag === "Ended" && reason !== "StartupTimeout" && reason !== "LivenessFailed"
            ? RestartPolicy.shouldRestart(policy, exit)
            : policy.mode !== "never"
          if (!restartable) {
            yield* transition((s) => ({
              ...s,
              phase: clean ? "Stopped" : "Failed",
              pid: undefined,
              url: undefined,
              lastExit,
              failure: clean ? undefined : failure
            }))
            return undefined
          }
          breaker = RestartPolicy.recordFailure(policy, breaker, atMono)
          if (RestartPolicy.isTripped(policy, breaker, atMono)) {
            const loopMessage =
              `crash loop: ${breaker.failures.length} failures within ${policy.crashLoopWindowMs} ms (last: ${message}); ` +
              `not restarting until start() or a spec change`
            log.append("system", runId, loopMessage)
            yield* transition((s) => ({
              ...s,
              phase: "CrashLoop",
              pid: undefined,
              url: undefined,
              lastExit,
              failure: {
                reason: "CrashLoop",
                message: loopMessage,
                failureClass: undefined,
                lines: log.tail(failureTailLines)
              }
            }))
            return undefined
          }
          const delay = RestartPolicy.backoffDelay(policy, attempt, yield* Random.next)
          attempt++
          log.append("system", runId, `restarting in ${delay} ms (attempt ${attempt})`)
          yield* transition((s) => ({
            ...s,
            phase: "Backoff",
            pid: undefined,
            url: undefined,
            attempt,
            lastExit,
            failure,
            nextRestartAt: at + delay,
            backoffMs: delay
          }))
          if (!(yield* sleepUnlessStopped(delay, stopReq))) return undefined
        }
      })

    const start = lock.withPermit(Effect.gen(function*() {
      if (supervisor !== undefined && supervisor.pollUnsafe() === undefined) return
      yield* transition((s) => ({
        ...s,
        phase: "Starting",
        restartCount: 0,
        attempt: 0,
        failure: undefined,
        nextRestartAt: undefined,
        backoffMs: undefined
      }))
      const request = yield* Deferred.make<void>()
      stopRequest = request
      const guarded = supervise(request).pipe(
        // A bug must not leave the instance looking alive: park it in Failed, say why.
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.succeed(undefined)
            : transition((s) => ({
              ...s,
              phase: "Failed",
              pid: undefined,
              url: undefined,
              failure: {
                reason: "LaunchFailed",
                message: `supervisor failed: ${Cause.pretty(cause).split("\n")[0] ?? "defect"}`,
                failureClass: "fatal",
                lines: log.tail(failureTailLines)
              }
            })).pipe(Effect.as(undefined))
        )
      )
      supervisor = yield* Effect.forkDetach(guarded, { startImmediately: true })
    })).pipe(Effect.withSpan("BackendInstance.start", { attributes: { id } }))

    const stopped: StopOutcome = { method: "exited", durationMs: 0, survivors: 0 }

    const stop = lock.withPermit(Effect.gen(function*() {
      const fiber = supervisor
      const request = stopRequest
      supervisor = undefined
      stopRequest = undefined
      if (fiber === undefined || request === undefined) return stopped
      const wasActive = fiber.pollUnsafe() === undefined
      if (wasActive) yield* transition((s) => ({ ...s, phase: "Stopping" }))
      yield* Deferred.succeed(request, undefined)
      const exit = yield* Fiber.await(fiber)
      const ran = exit._tag === "Success" ? exit.value : undefined
      const outcome = ran ?? stopped
      if (wasActive) {
        yield* transition((s) => ({
          ...s,
          phase: "Stopped",
          pid: undefined,
          url: undefined,
          nextRestartAt: undefined,
          backoffMs: undefined,
          lastStop: outcome,
          lastExit: ran === undefined || s.runId === 0
            ? s.lastExit
            : { runId: s.runId, code: null, signal: null, reason: "Stopped", at: now(), readyForMs: undefined }
        }))
      }
      return outcome
    })).pipe(Effect.withSpan("BackendInstance.stop", { attributes: { id } }))

    const restart = Effect.flatMap(stop, (outcome) => Effect.as(start, outcome))

    // A Ready run counts only while it is alive: not once its exit was seen, and for a stdio
    // backend not once its channel closed (that comes first when the process dies).
    const isLive = (s: Snapshot): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        if (s.runId <= endedRun) return false
        const open = yield* SubscriptionRef.get(channel)
        if (open !== undefined && open.runId === s.runId) return (yield* open.peer.state) === "connected"
        return true
      })
    const awaitReady = SubscriptionRef.changes(state).pipe(
      Stream.filterEffect((s) => (s.phase === "Ready" ? isLive(s) : Effect.succeed(terminal(s.phase)))),
      Stream.runHead,
      Effect.flatMap((head) => {
        if (Option.isNone(head)) {
          return Effect.fail(
            new BackendNotReadyError({
              id,
              phase: "unknown",
              message: `${id} was unregistered, or its pool closed, while waiting for Ready`
            })
          )
        }
        const s = head.value
        return s.phase === "Ready"
          ? Effect.succeed(s)
          : Effect.fail(
            new BackendNotReadyError({
              id,
              phase: s.phase,
              message: `${id} is ${s.phase}${s.failure === undefined ? "" : `: ${s.failure.message}`} (${
                notReadyHints[s.phase]
              })`
            })
          )
      })
    )

    const updatePolicy = (spec: BackendSpec) =>
      Effect.gen(function*() {
        current = spec
        log.setPolicy(resolveLog(spec))
        yield* transition((s) => ({ ...s, label: labelOf(spec), policyHash: policyHash(spec) }))
        const phase = (yield* SubscriptionRef.get(state)).phase
        // A policy change is a chance to recover: leave the breaker or a final failure.
        if (phase === "CrashLoop" || phase === "Failed") yield* start
      })

    yield* Effect.addFinalizer(() => stop)

    const instance: BackendInstance = {
      id,
      spec: Effect.sync(() => current),
      start,
      stop,
      restart,
      snapshot: Effect.map(
        SubscriptionRef.get(state),
        (s) => ({ ...s, timeInStateMs: Math.max(0, mono() - phaseStartedMono) })
      ),
      changes: SubscriptionRef.changes(state),
      awaitReady,
      channels: SubscriptionRef.changes(channel).pipe(
        Stream.filter((c): c is InstanceChannel.RunChannel => c !== undefined),
        Stream.changes
      ),
      log,
      updatePolicy
    }
    return instance
  })

/** The type of {@link make}'s requirement: an instance lives in a scope. */
export type MakeRequirements = Scope.Scope
