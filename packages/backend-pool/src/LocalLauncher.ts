/**
 * The `Local` launcher: a command on this machine, run with Effect's `ChildProcess` (no shell),
 * as the leader of its own process group, with its bootstrap on fd 3, stdin or the environment,
 * and stdin held open as the lifetime pipe (EOF when the host goes away).
 *
 * @module
 */
import { Deferred, Effect, type Layer, Redacted, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { type Launcher, LaunchError, Launchers, type ProcessExit, type RunningProcess } from "./Launcher.ts"
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

/** Replaces `{port}` in launch arguments. */
export const substitutePort = (args: ReadonlyArray<string>, port: number | undefined): ReadonlyArray<string> =>
  port === undefined ? args : args.map((a) => a.replaceAll("{port}", String(port)))

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
      if (spec._tag !== "Local") {
        return yield* new LaunchError({
          kind: "Local",
          message: `launcher for ${request.id} is ${spec._tag}, not Local`
        })
      }
      const delivery = request.spec.bootstrap?.delivery ?? "none"
      const env: Record<string, string | Redacted.Redacted<string>> = {
        ...request.env,
        [ENV_LIFETIME_FD]: "0",
        ...request.secrets
      }
      const line = request.bootstrapLine
      if (line !== undefined && delivery === "env") env[ENV_BOOTSTRAP] = Redacted.make(Redacted.value(line).trimEnd())
      if (line !== undefined && delivery === "stdin") env[ENV_BOOTSTRAP_FD] = "0"
      if (line !== undefined && delivery === "fd3") env[ENV_BOOTSTRAP_FD] = "3"
      const command = ChildProcess.make(spec.command, [...substitutePort(spec.args ?? [], request.port)], {
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        env,
        extendEnv: spec.inheritEnv ?? true,
        detached: true,
        killSignal: request.stop.signal,
        forceKillAfter: request.stop.graceMs,
        // stdin is the lifetime pipe: it stays open (never ended) until the host goes away.
        stdin: line !== undefined && delivery === "stdin"
          ? { stream: bytes(line), endOnDone: false }
          : { stream: "pipe", endOnDone: false },
        stdout: "pipe",
        stderr: "pipe",
        ...(line !== undefined && delivery === "fd3"
          ? { additionalFds: { fd3: { type: "input" as const, stream: bytes(line) } } }
          : {})
      })
      const handle = yield* spawner.spawn(command).pipe(
        Effect.mapError((error) =>
          new LaunchError({
            kind: "Local",
            message: `could not start ${JSON.stringify(spec.command)} for ${request.id}: ${error.reason._tag}`
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
      const stop = (policy: { readonly signal: NodeJS.Signals; readonly graceMs: number }) =>
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
        host: "127.0.0.1",
        stdout: handle.stdout,
        stderr: handle.stderr,
        exit: Deferred.await(exited),
        stop,
        liveProcesses: Effect.sync(() => ProcessGroup.liveMembers(pid))
      }
      return running
    })
  }
  return launcher
})

/** `Launchers` with only the `Local` launcher; needs a `ChildProcessSpawner`. */
export const layer: Layer.Layer<Launchers, never, ChildProcessSpawner.ChildProcessSpawner> = Launchers.layer(make)
