/**
 * The `Wsl` launcher: a backend inside a WSL distro, through `@isthmus/wsl`.
 *
 * - argv: `wsl.exe --distribution <distro> [--cd <dir>] --exec env K=V… <command> <args…>`, one
 *   argument per value, no shell (`WslCommand.execArgs`); plain environment variables go through
 *   `env` on the command line (they are not secret), never through `WSLENV`.
 * - secrets: in the environment of `wsl.exe` only, forwarded by name through `WSLENV`, appended
 *   to the user's own value verbatim (`Wslenv.append`); never in argv.
 * - bootstrap: on stdin (wsl.exe drops extra descriptors, so `fd3` is delivered on stdin too), and
 *   stdin stays open as the lifetime pipe.
 * - URL: the backend's reported URL is rewritten to the distro's reachable host
 *   (`Wsl.reachableHost`: loopback when mirrored, else the distro address).
 * - preflight: `Wsl.preflight` (distro runs, optional Node range and tools), with failures
 *   classified fatal (bad/missing distro, no WSL, Node or tools missing), bounded (transport).
 *
 * Stopping: on Windows (or with `stopInDistro`), once the ready signal reported the Linux process
 * group, through a separate `wsl.exe --exec kill -s <signal> -- -<pgid>` (signal, grace, KILL),
 * then `wsl.exe` itself; otherwise by signalling the `wsl.exe` process group on this machine
 * (exact with `fake-wsl` on Linux, where the Linux command runs in that group).
 *
 * @module
 */
import { DistroName, WslCommand, Wslenv } from "@isthmus/wsl"
import { Wsl, WslHost } from "@isthmus/wsl/node"
import { Clock, Effect, type Layer, Redacted, Result } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { PreflightError, type ResolvedStop } from "./BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type RunningProcess,
  type StopOutcome,
  wrongLauncher
} from "./Launcher.ts"
import { bootstrapEnv, make as makeLocal, spawnGroup, substitutePort } from "./LocalLauncher.ts"

type PreflightRequirements = Parameters<Wsl.WslShape["preflight"]>[1]
type WslFailure = Wsl.WslShape["preflight"] extends (...args: ReadonlyArray<never>) => Effect.Effect<
  unknown,
  infer E
> ? E
  : never

/** Options of the `Wsl` launcher. */
export interface WslLauncherOptions {
  /**
   * How to run `wsl.exe`: the executable (default `%WINDIR%\System32\wsl.exe` on Windows) and the
   * environment it starts from (default `process.env`). Pass the same value as `Wsl.layer({ host })`,
   * e.g. `fakeWslHostOptions(config)` from `@isthmus/wsl/testing`.
   */
  readonly host?: WslHost.WslHostOptions | undefined
  /** What `Wsl.preflight` checks before every launch (Node range, tools). */
  readonly requirements?: PreflightRequirements | undefined
  /** Retries for transport failures of the preflight (timeouts, spawn errors), default 12. */
  readonly transportRetries?: number | undefined
  /**
   * Stop inside the distro: once the backend's ready signal reported its Linux process group
   * (the `child` helper's `signalReady` does), a stop runs `wsl.exe --exec kill -s <signal> --
   * -<pgid>` through `Wsl.exec`, polls `kill -0` until the grace period ends, then sends KILL,
   * and only then stops `wsl.exe` itself. Killing `wsl.exe` alone does not stop a Linux process
   * on Windows. Default: on Windows hosts.
   */
  readonly stopInDistro?: boolean | undefined
}

const pollMillis = 100

/** `kill -s <signal> -- -<pgid>` inside `distro`; true when it succeeded (the group exists). */
const killInDistro = (wsl: Wsl.WslShape, distro: string, pgid: number, signal: string): Effect.Effect<boolean> =>
  wsl.exec(distro, ["kill", "-s", signal, "--", `-${pgid}`], { timeout: "5 seconds" }).pipe(
    Effect.map((r) => r.exitCode === 0),
    Effect.orElseSucceed(() => false)
  )

/**
 * The stop contract inside a distro, through `wsl.exe --exec kill`: `signal` to the Linux process
 * group `pgid`, wait `graceMs` (polling `kill -0`), then KILL and wait until it is gone.
 */
export const stopInDistro = (
  wsl: Wsl.WslShape,
  distro: string,
  pgid: number,
  policy: ResolvedStop
): Effect.Effect<StopOutcome> => {
  const kill = (signal: string) => killInDistro(wsl, distro, pgid, signal)
  return Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const started = clock.currentTimeMillisUnsafe()
    const elapsed = () => clock.currentTimeMillisUnsafe() - started
    const waitGone = (ms: number) =>
      Effect.gen(function*() {
        const deadline = clock.currentTimeMillisUnsafe() + ms
        while (yield* kill("0")) {
          if (clock.currentTimeMillisUnsafe() >= deadline) return false
          yield* Effect.sleep(pollMillis)
        }
        return true
      })
    if (!(yield* kill("0"))) return { method: "exited", durationMs: 0, survivors: 0 } as const
    yield* kill(policy.signal.replace(/^SIG/, ""))
    yield* kill("CONT")
    if (yield* waitGone(policy.graceMs)) return { method: "graceful", durationMs: elapsed(), survivors: 0 } as const
    yield* kill("KILL")
    const gone = yield* waitGone(2_000)
    return { method: "forced", durationMs: elapsed(), survivors: gone ? 0 : 1 } as const
  }).pipe(Effect.uninterruptible)
}

/** Classifies a failure of `Wsl.preflight` for the instance's restart logic. */
export const classify = (error: WslFailure, transportRetries = 12): PreflightError => {
  switch (error._tag) {
    case "InvalidDistroNameError":
    case "WslUnavailableError":
    case "WslArgumentError":
    case "WslUnreachableError":
    case "WslUnsupportedError":
      return new PreflightError({ message: error.message, failureClass: "fatal" })
    case "WslExeError":
      return error.errorCode === "Wsl/Service/WSL_E_DISTRO_NOT_FOUND"
        ? new PreflightError({ message: error.message, failureClass: "fatal" })
        : new PreflightError({ message: error.message, failureClass: "bounded", retryLimit: transportRetries })
    case "WslTimeoutError":
    case "WslSpawnError":
      return new PreflightError({ message: error.message, failureClass: "bounded", retryLimit: transportRetries })
    case "WslCommandError":
    case "WslParseError":
      return new PreflightError({ message: error.message, failureClass: "bounded", retryLimit: 2 })
  }
}

const loopbackHosts = new Set(["127.0.0.1", "localhost", "0.0.0.0", "[::]", "[::1]", "::1"])

/** Replaces a loopback or wildcard host in `url` by `host`. */
export const rewriteToHost = (url: string, host: string): string => {
  try {
    const u = new URL(url)
    if (!loopbackHosts.has(u.hostname)) return url
    u.hostname = host
    return u.toString().replace(/\/$/, url.endsWith("/") ? "/" : "")
  } catch {
    return url
  }
}

/**
 * Builds the `Wsl` launcher. Requires the `Wsl` service of `@isthmus/wsl` and a
 * `ChildProcessSpawner`.
 */
export const make = (
  options: WslLauncherOptions = {}
): Effect.Effect<Launcher, never, Wsl.Wsl | ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.gen(function*() {
    const wsl = yield* Wsl.Wsl
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const executable = options.host?.executable ?? WslHost.defaultExecutable() ?? "wsl.exe"
    const baseEnv = options.host?.env ?? process.env

    const preflight = Effect.fn("WslLauncher.preflight")(
      function*(spec: Parameters<NonNullable<Launcher["preflight"]>>[0]) {
        const launch = spec.launcher
        if (launch._tag !== "Wsl") return
        const name = DistroName.make(launch.distro)
        if (Result.isFailure(name)) {
          return yield* new PreflightError({ message: name.failure.message, failureClass: "fatal" })
        }
        if (!(yield* wsl.isAvailable)) {
          return yield* new PreflightError({
            message: `WSL is not available (${executable} cannot run) for ${spec.id}: install WSL ` +
              `(wsl.exe --install) or leave this backend out of the desired state`,
            failureClass: "fatal"
          })
        }
        const report = yield* wsl.preflight(name.success, options.requirements ?? {}).pipe(
          Effect.mapError((e) => classify(e, options.transportRetries))
        )
        if (!report.ok) return yield* new PreflightError({ message: report.message, failureClass: "fatal" })
      }
    )

    const launcher: Launcher = {
      kind: "Wsl",
      preflight,
      launch: Effect.fn("WslLauncher.launch")(function*(request) {
        const launch = request.spec.launcher
        if (launch._tag !== "Wsl") return yield* wrongLauncher("Wsl", request)
        // wsl.exe drops descriptors beyond stdio: fd 3 becomes stdin.
        const requested = request.spec.bootstrap?.delivery ?? "none"
        const delivery = requested === "fd3" ? "stdin" : requested
        const isolated = bootstrapEnv(delivery, request.bootstrapLine)
        const plain: Record<string, string> = { ...request.env }
        const hidden: Record<string, Redacted.Redacted<string>> = { ...request.secrets }
        for (const [k, v] of Object.entries(isolated)) {
          if (Redacted.isRedacted(v)) hidden[k] = v
          else plain[k] = v
        }
        const argv = [
          "env",
          ...Object.entries(plain).map(([k, v]) => `${k}=${v}`),
          launch.command,
          ...substitutePort(launch.args ?? [], request.port)
        ]
        const args = WslCommand.execArgs(launch.distro, argv, launch.cwd === undefined ? {} : { cwd: launch.cwd })
        if (Result.isFailure(args)) {
          return yield* new LaunchError({ kind: "Wsl", message: args.failure.message })
        }
        const reachable = yield* wsl.reachableHost(launch.distro).pipe(
          Effect.map((r) => r.host),
          Effect.orElseSucceed(() => "127.0.0.1")
        )
        const env: Record<string, string | Redacted.Redacted<string>> = {}
        for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v
        env["WSLENV"] = Wslenv.append(baseEnv["WSLENV"], Object.keys(hidden))
        Object.assign(env, hidden)
        const base = yield* spawnGroup(spawner, {
          kind: "Wsl",
          id: request.id,
          command: executable,
          args: args.success,
          env,
          extendEnv: false,
          delivery,
          bootstrapLine: request.bootstrapLine,
          stop: request.stop,
          host: reachable,
          rewriteUrl: (url) => rewriteToHost(url, reachable),
          watchdog: false
        })
        if (!(options.stopInDistro ?? process.platform === "win32")) return base
        let linuxGroup: number | undefined
        const running: RunningProcess = {
          ...base,
          onReady: (info) => {
            linuxGroup = info.pgid ?? info.pid
          },
          stop: (policy) =>
            linuxGroup === undefined
              ? base.stop(policy)
              : stopInDistro(wsl, launch.distro, linuxGroup, policy).pipe(
                // Then wsl.exe itself (it ends with its Linux child; this is the backstop).
                Effect.tap(() => base.stop({ ...policy, graceMs: Math.min(policy.graceMs, 1_000) }))
              )
        }
        return running
      })
    }
    return launcher
  })

/** `Launchers` with the `Local` and `Wsl` launchers; needs `Wsl` and a `ChildProcessSpawner`. */
export const layer = (
  options: WslLauncherOptions = {}
): Layer.Layer<Launchers, never, Wsl.Wsl | ChildProcessSpawner.ChildProcessSpawner> =>
  Launchers.layer(makeLocal, make(options))
