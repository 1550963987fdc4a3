/**
 * The launcher interface: how one run of a backend is started and stopped.
 *
 * The pool ships `Local` (a process on this machine) and `Wsl` (a process inside a WSL distro);
 * hosts add their own by implementing {@link Launcher} and registering it in {@link Launchers}
 * under a `kind` that their specs name with `{ _tag: "Custom", kind }`.
 *
 * @module
 */
import { Context, Effect, Layer, type Redacted, Schema, type Scope, type Stream } from "effect"
import type { BackendSpec, PreflightError, ReadyInfo, ResolvedStop } from "./BackendSpec.ts"

/** Everything a launcher needs for one run. Secrets are separate and redacted. */
export interface LaunchRequest {
  readonly id: string
  readonly runId: number
  readonly spec: BackendSpec
  /** The port chosen by the host or the pool (`Fixed`/`Allocated`), if any. */
  readonly port: number | undefined
  /** Plain environment for the process (the spec's `env` plus the pool's `ISTHMUS_*` variables). */
  readonly env: Readonly<Record<string, string>>
  /** Secret environment variables; a launcher must pass them only through the environment. */
  readonly secrets: Readonly<Record<string, Redacted.Redacted<string>>>
  /** The bootstrap envelope as one JSON line with its newline, when the spec has one. */
  readonly bootstrapLine: Redacted.Redacted<string> | undefined
  /** The stop policy for this run (also used when the run scope closes). */
  readonly stop: ResolvedStop
}

/** How a process ended. */
export interface ProcessExit {
  /** The exit code, or `null` when a signal ended it. */
  readonly code: number | null
  readonly signal: string | null
}

/** How a stop went. */
export interface StopOutcome {
  /**
   * - `graceful`: every process of the group was gone within the grace period;
   * - `forced`: some had to be killed (SIGKILL; on Windows `taskkill /T /F`);
   * - `exited`: nothing was running any more when the stop began;
   * - `detached`: the pool does not own the backend (`Attach`): nothing was signalled, it runs on.
   */
  readonly method: "graceful" | "forced" | "exited" | "detached"
  readonly durationMs: number
  /**
   * Processes of the backend still alive after the stop: group members the kernel did not kill,
   * and processes that left the group (`setsid`) while their parent was in it (see
   * {@link survivorPids}). 0 when none could be seen.
   */
  readonly survivors: number
  /** The pids counted in {@link survivors}, when known. */
  readonly survivorPids?: ReadonlyArray<number> | undefined
  /**
   * `false` when the platform cannot see the whole tree, so {@link survivors} may miss some: on
   * Windows descendants are not enumerated on the stop path (`windows-reality.md` 1.13), and a
   * POSIX system without `/proc` only knows whether the group exists. Absent means complete.
   */
  readonly complete?: boolean | undefined
  /**
   * How the backend was asked to stop before being killed: `signal` (POSIX: the stop signal to
   * the group), `message` (the `child` helper's stop message on stdin, then EOF: Windows),
   * `none` (killed at once). Absent for launchers that do not say.
   */
  readonly gracefulStep?: "signal" | "message" | "none" | undefined
}

/** A process's stdin as the pool writes it. */
export interface ProcessStdin {
  /** Queues bytes for the process; `false` once stdin is closed. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<boolean>
  /** Closes stdin (EOF). */
  readonly close: Effect.Effect<void>
}

/** One running process, as a launcher hands it to the pool. */
export interface RunningProcess {
  /** The process id on this machine (for WSL: the `wsl.exe` process), if there is one. */
  readonly pid: number | undefined
  /** The host name or address at which the backend can be reached from here. */
  readonly host: string
  readonly stdout: Stream.Stream<Uint8Array, unknown>
  readonly stderr: Stream.Stream<Uint8Array, unknown>
  /** Completes when the process (the group leader) exits. */
  readonly exit: Effect.Effect<ProcessExit>
  /**
   * Honest stop: send the stop signal to the whole process group, wait up to the grace period,
   * then SIGKILL the group; resolves only when no process of the group is left.
   */
  stop(policy: ResolvedStop): Effect.Effect<StopOutcome>
  /** Processes of the group still alive (Linux: read from `/proc`), when the launcher can tell. */
  readonly liveProcesses: Effect.Effect<ReadonlyArray<number> | undefined>
  /**
   * Rewrites a URL the backend reported (from where it runs) into one reachable from the host,
   * e.g. a WSL backend's `http://127.0.0.1:5123` into `http://172.20.1.5:5123` under NAT.
   */
  readonly rewriteUrl?: ((url: string) => string) | undefined
  /**
   * The process's stdin, for backends with a `stdio` channel: the host writes the channel's
   * bytes there (after the bootstrap line, if any); closing it is EOF for the backend.
   */
  readonly stdin?: ProcessStdin | undefined
  /** Told what the readiness check learnt (URL, and the pid/pgid a ready signal reported). */
  readonly onReady?: ((info: ReadyInfo) => void) | undefined
  /**
   * The port on this machine at which the backend's port is reached, when it differs from the
   * requested one (an SSH forward opened at launch): readiness and liveness probe it.
   */
  readonly reachablePort?: number | undefined
  /**
   * An effectful last step of readiness, within the startup timeout: given what the check learnt
   * (the URL as seen where the backend runs), makes it reachable from here (e.g. opens an SSH
   * port forward and checks it) and returns what the host should use. A failure ends the run as
   * `LaunchFailed` with the error's message. Replaces {@link rewriteUrl} when present.
   */
  readonly expose?: ((info: ReadyInfo) => Effect.Effect<ReadyInfo, LaunchError>) | undefined
}

/**
 * A launch failed before a process existed. The message never contains secrets or argv values.
 * `failureClass: "fatal"` says retrying cannot help (a missing command or working directory, a
 * file that is not executable): the instance goes to `Failed` at once, whatever its restart
 * policy. Without a class, the failure is retried through the backoff.
 */
export class LaunchError extends Schema.TaggedError<LaunchError>()("LaunchError", {
  message: Schema.String,
  kind: Schema.String,
  failureClass: Schema.optional(Schema.Literals(["fatal", "transient"]))
}) {}

/** The error a launcher returns for a spec whose `launcher` is of another kind. */
export const wrongLauncher = (kind: string, request: LaunchRequest): LaunchError =>
  new LaunchError({
    kind,
    failureClass: "fatal",
    message: `the ${kind} launcher was handed ${request.id}, whose launcher is ${
      request.spec.launcher._tag === "Custom" ? `Custom ${request.spec.launcher.kind}` : request.spec.launcher._tag
    }; register the launcher of that kind in Launchers`
  })

/** A way of running backends. */
export interface Launcher {
  /** The key specs use: `"Local"`, `"Wsl"`, or the `kind` of a `Custom` launch. */
  readonly kind: string
  /** Checks that run before every launch; a failure is classified and nothing is spawned. */
  preflight?(spec: BackendSpec): Effect.Effect<void, PreflightError>
  /** Starts one run. The process is stopped (honestly, with `request.stop`) when the scope closes. */
  launch(request: LaunchRequest): Effect.Effect<RunningProcess, LaunchError, Scope.Scope>
}

/** The launchers available to a pool, by kind. */
export class Launchers extends Context.Service<Launchers, {
  /** The launcher registered for `kind`, if any. */
  readonly get: (kind: string) => Launcher | undefined
  /** Every registered kind. */
  readonly kinds: ReadonlyArray<string>
}>()("@isthmus/backend-pool/Launchers") {
  /** Registers launchers; later ones win for the same kind. */
  static readonly fromLaunchers = (launchers: ReadonlyArray<Launcher>): Launchers["Service"] => {
    const map = new Map(launchers.map((l) => [l.kind, l]))
    return { get: (kind) => map.get(kind), kinds: [...map.keys()] }
  }

  /** A layer from launcher constructors (effects that may need services such as a spawner). */
  static readonly layer = <R>(
    ...launchers: ReadonlyArray<Effect.Effect<Launcher, never, R>>
  ): Layer.Layer<Launchers, never, R> =>
    Layer.effect(Launchers, Effect.map(Effect.all(launchers), (ls) => Launchers.fromLaunchers(ls)))
}
