/**
 * The `Local` launcher: a command on this machine, run with Effect's `ChildProcess` (no shell),
 * as the leader of its own process group, with its bootstrap on fd 3, stdin or the environment,
 * and stdin held open as the lifetime pipe (EOF when the host goes away).
 *
 * @module
 */
import { type Cause, Deferred, Effect, type Layer, Queue, Redacted, type Scope, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import type { BootstrapDelivery, ResolvedStop } from "./BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type ProcessExit,
  type RunningProcess,
  wrongLauncher
} from "./Launcher.ts"
import * as ProcessGroup from "./ProcessGroup.ts"
import { ENV_BOOTSTRAP, ENV_BOOTSTRAP_FD, ENV_LIFETIME_FD } from "./Protocol.ts"

const signalOf = (error: unknown): string | null => {
  const text = error instanceof Error
    ? `${error.message} ${String((error as { description?: unknown }).description ?? "")}`
    : String(error)
  const match = /signal: '?(SIG[A-Z0-9]+)/.exec(text)
  return match?.[1] ?? "SIGKILL"
}

const bytes = (l: Redacted.Redacted<string>) => Stream.make(new TextEncoder().encode(Redacted.value(l)))

const spawnHints: Partial<Record<string, string>> = {
  NotFound: " (check the command's path, or that it is on PATH, and the spec's cwd)",
  PermissionDenied: " (the command is not executable by this user: check its mode)"
}

/** Replaces `{port}` in launch arguments. */
export const substitutePort = (args: ReadonlyArray<string>, port: number | undefined): ReadonlyArray<string> =>
  port === undefined ? args : args.map((a) => a.replaceAll("{port}", String(port)))

/** The `ISTHMUS_*` variables telling the child helper where its bootstrap and lifetime pipe are. */
export const bootstrapEnv = (
  delivery: BootstrapDelivery,
  line: Redacted.Redacted<string> | undefined
): Record<string, string | Redacted.Redacted<string>> => {
  const env: Record<string, string | Redacted.Redacted<string>> = { [ENV_LIFETIME_FD]: "0" }
  if (line === undefined) return env
  if (delivery === "env") env[ENV_BOOTSTRAP] = Redacted.make(Redacted.value(line).trimEnd())
  if (delivery === "stdin") env[ENV_BOOTSTRAP_FD] = "0"
  if (delivery === "fd3") env[ENV_BOOTSTRAP_FD] = "3"
  return env
}

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
}

/**
 * Spawns one process as the leader of a new process group and wraps it as a `RunningProcess`
 * with the honest group stop. Shared by the `Local` and `Wsl` launchers; hosts writing their own
 * launcher can use it too.
 */
export const spawnGroup = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  request: SpawnRequest
): Effect.Effect<RunningProcess, LaunchError, Scope.Scope> =>
  Effect.gen(function*() {
    const line = request.bootstrapLine
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    if (line !== undefined && request.delivery === "stdin") {
      yield* Queue.offer(input, new TextEncoder().encode(Redacted.value(line)))
    }
    const command = ChildProcess.make(request.command, [...request.args], {
      ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
      env: request.env,
      extendEnv: request.extendEnv,
      detached: true,
      killSignal: request.stop.signal,
      forceKillAfter: request.stop.graceMs,
      // stdin: the bootstrap line (if delivered there), then open as the lifetime pipe (and a
      // stdio backend's channel) until the host closes it or goes away.
      stdin: { stream: Stream.fromQueue(input), endOnDone: true },
      stdout: "pipe",
      stderr: "pipe",
      ...(line !== undefined && request.delivery === "fd3"
        ? { additionalFds: { fd3: { type: "input" as const, stream: bytes(line) } } }
        : {})
    })
    const handle = yield* spawner.spawn(command).pipe(
      Effect.mapError((error) =>
        new LaunchError({
          kind: request.kind,
          message: `could not start ${JSON.stringify(request.command)} for ${request.id}: ${error.reason._tag}` +
            (spawnHints[error.reason._tag] ?? "")
        })
      )
    )
    const pid = handle.pid as number
    const exited = yield* Deferred.make<ProcessExit>()
    yield* handle.exitCode.pipe(
      Effect.map((code): ProcessExit => ({ code: code as number, signal: null })),
      Effect.catch((error) => Effect.succeed<ProcessExit>({ code: null, signal: signalOf(error) })),
      Effect.flatMap((exit) => Deferred.succeed(exited, exit)),
      Effect.forkScoped({ startImmediately: true })
    )
    const stop = (policy: ResolvedStop) =>
      ProcessGroup.stopGroup(pid, { signal: policy.signal, graceMs: policy.graceMs }).pipe(
        Effect.tap(() => Deferred.await(exited).pipe(Effect.timeout(2_000), Effect.ignore)),
        // The group is verified empty: Effect's own backstop (which counts unreaped zombies of
        // orphaned grandchildren as alive, under an init that does not reap) has nothing to do.
        Effect.tap((outcome) => outcome.survivors === 0 ? Effect.ignore(handle.unref) : Effect.void)
      )
    // Honest stop when the run scope closes (before Effect's own backstop in the spawner).
    yield* Effect.addFinalizer(() => stop(request.stop))
    const running: RunningProcess = {
      pid,
      host: request.host ?? "127.0.0.1",
      stdout: handle.stdout,
      stderr: handle.stderr,
      exit: Deferred.await(exited),
      stop,
      liveProcesses: Effect.sync(() => ProcessGroup.liveMembers(pid)),
      stdin: { write: (chunk) => Queue.offer(input, chunk), close: Effect.asVoid(Queue.end(input)) },
      ...(request.rewriteUrl === undefined ? {} : { rewriteUrl: request.rewriteUrl })
    }
    return running
  })

/**
 * Builds the `Local` launcher. Requires a `ChildProcessSpawner` (for example from
 * `NodeServices.layer` of `@effect/platform-node`).
 */
export const make: Effect.Effect<Launcher, never, ChildProcessSpawner.ChildProcessSpawner> = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const launcher: Launcher = {
    kind: "Local",
    launch: Effect.fn("LocalLauncher.launch")(function*(request) {
      const spec = request.spec.launcher
      if (spec._tag !== "Local") return yield* wrongLauncher("Local", request)
      const delivery = request.spec.bootstrap?.delivery ?? "none"
      return yield* spawnGroup(spawner, {
        kind: "Local",
        id: request.id,
        command: spec.command,
        args: substitutePort(spec.args ?? [], request.port),
        cwd: spec.cwd,
        env: { ...request.env, ...bootstrapEnv(delivery, request.bootstrapLine), ...request.secrets },
        extendEnv: spec.inheritEnv ?? true,
        delivery,
        bootstrapLine: request.bootstrapLine,
        stop: request.stop
      })
    })
  }
  return launcher
})

/** `Launchers` with only the `Local` launcher; needs a `ChildProcessSpawner`. */
export const layer: Layer.Layer<Launchers, never, ChildProcessSpawner.ChildProcessSpawner> = Launchers.layer(make)
