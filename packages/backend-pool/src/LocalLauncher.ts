/**
 * The `Local` launcher: a command on this machine, run with Effect's `ChildProcess` (no shell),
 * with its bootstrap on fd 3, stdin or the environment, and stdin held open as the lifetime pipe
 * (EOF when the host goes away).
 *
 * Process control comes from `ProcessControl` (POSIX or Windows by platform):
 * - POSIX: the command runs under the `Watchdog` (`/bin/sh`), which leads the backend's process
 *   group and stops it when the host dies, even by SIGKILL; stops are the group stop of
 *   `ProcessControl.posix` (signal, grace, SIGKILL, escapees reported).
 * - Windows: not detached (the host's kill-on-close job), `windowsHide`; the graceful step is the
 *   stop message on stdin (the `child` helper's control channel), then `taskkill /T /F`.
 *
 * Before spawning, the working directory and the command are checked (`CommandCheck`): a missing
 * one, or a file that is not executable, fails the launch as fatal with a message naming the path.
 *
 * @module
 */
import { type Cause, Deferred, Effect, type Layer, Queue, Redacted, type Scope, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import type { BootstrapDelivery, ResolvedStop } from "./BackendSpec.ts"
import * as CommandCheck from "./CommandCheck.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type ProcessExit,
  type RunningProcess,
  wrongLauncher
} from "./Launcher.ts"
import * as Ledger from "./Ledger.ts"
import { ProcessControl, type ProcessRef } from "./ProcessControl.ts"
import * as ProcTable from "./ProcTable.ts"
import { ENV_BOOTSTRAP, ENV_BOOTSTRAP_FD, ENV_LIFETIME_FD, ENV_STOP_GRACE_MS, STOP_MESSAGE } from "./Protocol.ts"
import * as Watchdog from "./Watchdog.ts"

const signalOf = (error: unknown): string | null => {
  const text = error instanceof Error
    ? `${error.message} ${String((error as { description?: unknown }).description ?? "")}`
    : String(error)
  const match = /signal: '?(SIG[A-Z0-9]+)/.exec(text)
  return match?.[1] ?? "SIGKILL"
}

const encoder = new TextEncoder()

const spawnHints: Partial<Record<string, string>> = {
  NotFound: " (check the command's path, or that it is on PATH, and the spec's cwd)",
  PermissionDenied: " (the command is not executable by this user: check its mode)"
}

/** Replaces `{port}` in launch arguments. */
export const substitutePort = (args: ReadonlyArray<string>, port: number | undefined): ReadonlyArray<string> =>
  port === undefined ? args : args.map((a) => a.replaceAll("{port}", String(port)))

/**
 * The `ISTHMUS_*` variables telling the child helper where its bootstrap and its control channel
 * (the lifetime pipe) are: `lifetimeFd` (default 0, stdin), or none (`null`) when there is no such
 * pipe.
 */
export const bootstrapEnv = (
  delivery: BootstrapDelivery,
  line: Redacted.Redacted<string> | undefined,
  lifetimeFd: number | null = 0
): Record<string, string | Redacted.Redacted<string>> => {
  const env: Record<string, string | Redacted.Redacted<string>> = lifetimeFd === null
    ? {}
    : { [ENV_LIFETIME_FD]: String(lifetimeFd) }
  if (line === undefined) return env
  if (delivery === "env") env[ENV_BOOTSTRAP] = Redacted.make(Redacted.value(line).trimEnd())
  if (delivery === "stdin") env[ENV_BOOTSTRAP_FD] = "0"
  if (delivery === "fd3") env[ENV_BOOTSTRAP_FD] = "3"
  return env
}

/**
 * The descriptor of a `stdio` backend's control channel when it runs here: stdin is its RPC
 * channel, so the control pipe is the first descriptor after the bootstrap's.
 */
export const stdioControlFd = (delivery: BootstrapDelivery): number => (delivery === "fd3" ? 4 : 3)

/** What {@link spawnGroup} runs. */
export interface SpawnRequest {
  readonly kind: string
  readonly id: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string | undefined
  readonly env: Record<string, string | Redacted.Redacted<string>>
  readonly extendEnv: boolean
  readonly delivery: BootstrapDelivery
  readonly bootstrapLine: Redacted.Redacted<string> | undefined
  readonly stop: ResolvedStop
  /** Where the backend can be reached (default `127.0.0.1`). */
  readonly host?: string | undefined
  /** Rewrites the URL the backend reported into one the host can reach (e.g. a WSL address). */
  readonly rewriteUrl?: ((url: string) => string) | undefined
  /**
   * Run the command under the `Watchdog` on POSIX (default true): the group survives nothing of a
   * dead host. `false`: run it as it is. `"relayed"`: the command is a relay (`wsl.exe`, `ssh`)
   * whose far end runs the watchdog with `-x`: its stdout is decoded (the `@@pgid` header, the
   * `@@exit` status) but nothing is wrapped here.
   */
  readonly watchdog?: boolean | "relayed" | undefined
  /** The POSIX shell for the watchdog (default `/bin/sh`). */
  readonly shell?: string | undefined
  /** Check the cwd and the command before spawning (default true). */
  readonly checkCommand?: boolean | undefined
  /**
   * stdin/stdout carry the backend's protocol (a `stdio` channel): nothing but the channel's bytes
   * is ever written to stdin; the stop message goes to {@link controlFd} when there is one, and
   * the graceful step ends with stdin's EOF (the end of the protocol, on which such backends exit).
   */
  readonly stdioChannel?: boolean | undefined
  /**
   * A separate control pipe on this descriptor (3 or more): the `child` helper's lifetime pipe
   * and the channel of the stop message, held open until the stop or the host's death.
   */
  readonly controlFd?: number | undefined
}

/** The pieces of a spawned process a launcher builds on ({@link spawnProcess}). */
export interface SpawnedProcess {
  readonly running: RunningProcess
  /** The process as `ProcessControl` knows it. */
  readonly ref: ProcessRef
  /** Writes to the process's stdin (after the bootstrap line, if any); false once stdin is closed. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<boolean>
  /** Closes the process's stdin (EOF: the lifetime pipe ends; the watchdog stops the group). */
  readonly closeStdin: Effect.Effect<void>
  /**
   * The group the watchdog reported (`@@pgid`), once its first line is read: `null` when it cannot
   * come any more (stdout ended first), `undefined` without a watchdog.
   */
  readonly watchdogGroup: Effect.Effect<number | null> | undefined
}

/**
 * Spawns one process as the leader of a new process group (POSIX, under the `Watchdog` unless
 * told otherwise) or in the host's job (Windows), and wraps it as a `RunningProcess` with the
 * honest stop of `ProcessControl`. Shared by the `Local` and `Wsl` launchers; hosts writing their
 * own launcher can use it too.
 */
export const spawnProcess = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  request: SpawnRequest
): Effect.Effect<SpawnedProcess, LaunchError, Scope.Scope> =>
  Effect.gen(function*() {
    const control = yield* ProcessControl
    const ledger = yield* Ledger.Ledger
    const line = request.bootstrapLine
    const useWatchdog = control.platform === "posix" && request.watchdog !== false && request.watchdog !== "relayed"
    const relayed = request.watchdog === "relayed"
    if (request.checkCommand !== false) {
      const envPath = request.env["PATH"]
      const path = envPath === undefined
        ? (request.extendEnv ? process.env["PATH"] : undefined)
        : Redacted.isRedacted(envPath)
        ? Redacted.value(envPath)
        : envPath
      const checker = yield* CommandCheck.Checker
      const problem = yield* checker.check(request.id, request.command, request.cwd, {
        platform: control.platform === "win32" ? "win32" : "linux",
        path: path ?? (control.platform === "win32" ? "" : "/usr/bin:/bin"),
        pathExt: process.env["PATHEXT"]
      })
      if (problem !== undefined) {
        return yield* new LaunchError({ kind: request.kind, failureClass: "fatal", message: problem.message })
      }
    }
    // stdin: the bootstrap line (if delivered there), then open as the lifetime pipe until the
    // host writes the stop message and ends it, or goes away.
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    if (line !== undefined && request.delivery === "stdin") {
      yield* Queue.offer(input, encoder.encode(Redacted.value(line)))
    }
    // A separate control pipe (stdio backends): the stop message, then EOF; or EOF when the host dies.
    const controlPipe = request.controlFd === undefined
      ? undefined
      : yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const header = yield* Deferred.make<number | null>()
    const decoded = yield* Deferred.make<void>()
    const decoder = useWatchdog || relayed
      ? new Watchdog.OutputDecoder({
        reportExit: relayed,
        onHeader: (pgid) => Deferred.doneUnsafe(header, Effect.succeed(pgid))
      })
      : undefined
    const [command, args] = useWatchdog
      ? [
        request.shell ?? "/bin/sh",
        Watchdog.shellArgs(
          { graceMs: request.stop.graceMs, signal: request.stop.signal },
          request.command,
          request.args
        )
      ]
      : [request.command, request.args]
    // Every process of the run inherits the token: a later pool finds them by it (`Ledger`).
    const token = ledger.file === undefined || control.platform !== "posix" ? undefined : ledger.token()
    const spawnCommand = ChildProcess.make(command, [...args], {
      ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
      env: token === undefined ? request.env : { ...request.env, [Ledger.ENV_RUN_TOKEN]: token },
      extendEnv: request.extendEnv,
      detached: control.spawnOptions.detached,
      windowsHide: control.spawnOptions.windowsHide,
      killSignal: request.stop.signal,
      forceKillAfter: request.stop.graceMs,
      stdin: { stream: Stream.fromQueue(input), endOnDone: true },
      stdout: "pipe",
      stderr: "pipe",
      additionalFds: {
        ...(line !== undefined && request.delivery === "fd3"
          ? { fd3: { type: "input" as const, stream: Stream.make(encoder.encode(Redacted.value(line))) } }
          : {}),
        ...(controlPipe === undefined || request.controlFd === undefined
          ? {}
          : { [`fd${request.controlFd}`]: { type: "input" as const, stream: Stream.fromQueue(controlPipe) } })
      }
    })
    const handle = yield* spawner.spawn(spawnCommand).pipe(
      Effect.mapError((error) => {
        const fatal = error.reason._tag === "NotFound" || error.reason._tag === "PermissionDenied"
        return new LaunchError({
          kind: request.kind,
          ...(fatal ? { failureClass: "fatal" as const } : {}),
          message: `could not start ${JSON.stringify(request.command)} for ${request.id}: ${error.reason._tag}` +
            (spawnHints[error.reason._tag] ?? "")
        })
      })
    )
    const pid = handle.pid as number
    if (token !== undefined) {
      const stat = yield* ProcTable.readStat(pid)
      if (stat !== undefined) {
        yield* ledger.add({ id: request.id, pid, startTime: stat.startTime, token, graceMs: request.stop.graceMs })
      }
    }
    const exited = yield* Deferred.make<ProcessExit>()
    yield* handle.exitCode.pipe(
      Effect.flatMap((code) =>
        relayed
          // The far watchdog's `@@exit` line says how the backend ended (a relay's own code may not:
          // wsl.exe gives a raw signal number); it is read once stdout is drained (bounded).
          ? Deferred.await(decoded).pipe(
            Effect.timeout(2_000),
            Effect.ignore,
            Effect.map((): ProcessExit =>
              decoder?.exitStatus !== undefined
                ? Watchdog.decodeExit(decoder.exitStatus)
                : { code: code as number, signal: null }
            )
          )
          : Effect.succeed<ProcessExit>(
            useWatchdog ? Watchdog.decodeExit(code as number) : { code: code as number, signal: null }
          )
      ),
      Effect.catch((error) => Effect.succeed<ProcessExit>({ code: null, signal: signalOf(error) })),
      Effect.flatMap((exit) => Deferred.succeed(exited, exit)),
      Effect.forkScoped({ startImmediately: true })
    )
    const closeStdin = Effect.asVoid(Queue.end(input))
    const closeControl = controlPipe === undefined ? Effect.void : Effect.asVoid(Queue.end(controlPipe))
    const stopMessage = encoder.encode(`${STOP_MESSAGE}\n`)
    // The graceful step where there are no signals (Windows): the stop message on the control
    // channel, then EOF. A stdio backend's stdin is its protocol: it only gets EOF, never the message.
    const requestExit = request.stdioChannel === true
      ? (controlPipe === undefined ? Effect.void : Queue.offer(controlPipe, stopMessage)).pipe(
        Effect.andThen(closeControl),
        Effect.andThen(closeStdin)
      )
      : Queue.offer(input, stopMessage).pipe(Effect.andThen(closeStdin))
    const ref: ProcessRef = {
      pid,
      exited: Deferred.isDone(exited),
      awaitExit: Effect.asVoid(Deferred.await(exited)),
      requestExit
    }
    const stop = (policy: ResolvedStop) =>
      control.stop(ref, { signal: policy.signal, graceMs: policy.graceMs }).pipe(
        Effect.tap(() => Deferred.await(exited).pipe(Effect.timeout(2_000), Effect.ignore)),
        // The tree is verified gone: Effect's own backstop (which counts unreaped zombies of
        // orphaned grandchildren as alive, under an init that does not reap) has nothing to do,
        // and the ledger forgets it (with survivors it keeps it, for a later pool's sweep).
        Effect.tap((outcome) =>
          outcome.survivors === 0 ? Effect.ignore(handle.unref).pipe(Effect.andThen(ledger.remove(pid))) : Effect.void
        )
      )
    // Honest stop when the run scope closes (before Effect's own backstop in the spawner), then
    // EOF on stdin, which ends the watchdog's relay.
    yield* Effect.addFinalizer(() => stop(request.stop).pipe(Effect.andThen(closeStdin), Effect.andThen(closeControl)))
    const running: RunningProcess = {
      pid,
      host: request.host ?? "127.0.0.1",
      stdout: decoder === undefined
        ? handle.stdout
        : Watchdog.decodeOutput(handle.stdout, decoder).pipe(
          Stream.ensuring(Deferred.succeed(decoded, undefined))
        ),
      stderr: handle.stderr,
      exit: Deferred.await(exited),
      stop,
      liveProcesses: Effect.map(control.members(ref), (m) => m.pids),
      stdin: { write: (chunk) => Queue.offer(input, chunk), close: closeStdin },
      ...(request.rewriteUrl === undefined ? {} : { rewriteUrl: request.rewriteUrl })
    }
    return {
      running,
      ref,
      write: (bytes) => Queue.offer(input, bytes),
      closeStdin,
      watchdogGroup: decoder === undefined ? undefined : Deferred.await(header)
    }
  })

/** {@link spawnProcess}, returning only the `RunningProcess`. */
export const spawnGroup = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  request: SpawnRequest
): Effect.Effect<RunningProcess, LaunchError, Scope.Scope> =>
  Effect.map(spawnProcess(spawner, request), (p) => p.running)

/**
 * Builds the `Local` launcher. Requires a `ChildProcessSpawner` (for example from
 * `NodeServices.layer` of `@effect/platform-node`).
 */
export const make: Effect.Effect<Launcher, never, ChildProcessSpawner.ChildProcessSpawner> = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  // The platform's process control and command check, as they are where the launcher is built.
  const control = yield* ProcessControl
  const checker = yield* CommandCheck.Checker
  const ledger = yield* Ledger.Ledger
  const launcher: Launcher = {
    kind: "Local",
    launch: Effect.fn("LocalLauncher.launch")(function*(request) {
      const spec = request.spec.launcher
      if (spec._tag !== "Local") return yield* wrongLauncher("Local", request)
      const delivery = request.spec.bootstrap?.delivery ?? "none"
      // A stdio backend's stdin is its RPC channel: its control channel is a pipe of its own.
      const stdio = request.spec.stdio !== undefined
      const controlFd = stdio ? stdioControlFd(delivery) : undefined
      return yield* spawnGroup(spawner, {
        kind: "Local",
        id: request.id,
        command: spec.command,
        args: substitutePort(spec.args ?? [], request.port),
        cwd: spec.cwd,
        env: {
          ...request.env,
          ...bootstrapEnv(delivery, request.bootstrapLine, controlFd ?? 0),
          [ENV_STOP_GRACE_MS]: String(request.stop.graceMs),
          ...request.secrets
        },
        extendEnv: spec.inheritEnv ?? true,
        delivery,
        bootstrapLine: request.bootstrapLine,
        stop: request.stop,
        stdioChannel: stdio,
        controlFd
      }).pipe(
        Effect.provideService(ProcessControl, control),
        Effect.provideService(CommandCheck.Checker, checker),
        Effect.provideService(Ledger.Ledger, ledger)
      )
    })
  }
  return launcher
})

/** `Launchers` with only the `Local` launcher; needs a `ChildProcessSpawner`. */
export const layer: Layer.Layer<Launchers, never, ChildProcessSpawner.ChildProcessSpawner> = Launchers.layer(make)
