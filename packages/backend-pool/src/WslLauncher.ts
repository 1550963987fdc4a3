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
 * Stopping signals the `wsl.exe` process group on this machine, which is exact with `fake-wsl`
 * on Linux. On Windows a stop should go through a separate `wsl.exe -- kill -<pgid>`; that path
 * is not implemented yet (see the README).
 *
 * @module
 */
import { DistroName, Wsl, WslCommand, Wslenv, WslHost } from "@isthmus/wsl"
import { Effect, type Layer, Redacted, Result } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { PreflightError } from "./BackendSpec.ts"
import { type Launcher, LaunchError, Launchers } from "./Launcher.ts"
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
}

/** Classifies a failure of `Wsl.preflight` for the instance's restart logic. */
export const classify = (error: WslFailure, transportRetries = 12): PreflightError => {
  switch (error._tag) {
    case "InvalidDistroNameError":
    case "WslUnavailableError":
    case "WslArgumentError":
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
          return yield* new PreflightError({ message: `WSL is not available (${executable})`, failureClass: "fatal" })
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
        if (launch._tag !== "Wsl") {
          return yield* new LaunchError({
            kind: "Wsl",
            message: `launcher for ${request.id} is ${launch._tag}, not Wsl`
          })
        }
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
        return yield* spawnGroup(spawner, {
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
          rewriteUrl: (url) => rewriteToHost(url, reachable)
        })
      })
    }
    return launcher
  })

/** `Launchers` with the `Local` and `Wsl` launchers; needs `Wsl` and a `ChildProcessSpawner`. */
export const layer = (
  options: WslLauncherOptions = {}
): Layer.Layer<Launchers, never, Wsl.Wsl | ChildProcessSpawner.ChildProcessSpawner> =>
  Launchers.layer(makeLocal, make(options))
