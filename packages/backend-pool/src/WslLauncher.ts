/**
 * The `Wsl` launcher: a backend inside a WSL distro, through `@isthmus/wsl`.
 *
 * - argv: `wsl.exe --distribution <distro> [--cd <dir>] --exec sh -c <Watchdog.script>
 *   isthmus-watchdog -g <grace> -s <signal> -x -- env K=V… <command> <args…>`, one argument per
 *   value, no shell parses a backend value (`WslCommand.execArgs`); plain environment variables go
 *   through `env` on the command line (they are not secret), never through `WSLENV`.
 * - the `Watchdog` runs inside the distro: it reports the Linux process group before anything else
 *   (so it is known from the launch on, not from readiness), relays stdin to the backend, and
 *   stops the group when `wsl.exe`'s stdin reaches EOF: the one host-death signal that crosses
 *   `wsl.exe` (`windows-reality.md` 2.5). Its `@@exit` line gives the backend's real exit status
 *   (`wsl.exe` reports a signal as its raw number, 2.3).
 * - secrets: in the environment of `wsl.exe` only, forwarded by name through `WSLENV`, appended
 *   to the user's own value verbatim (`Wslenv.append`); never in argv.
 * - bootstrap: on stdin (wsl.exe drops extra descriptors, so `fd3` is delivered on stdin too), and
 *   stdin stays open as the lifetime pipe.
 * - stdio backends (`spec.stdio`, codex app-server's default transport): the run's RPC channel is
 *   `wsl.exe`'s stdin/stdout, relayed by the watchdog to the Linux backend (its `@@pgid`/`@@exit`
 *   lines are taken out of stdout before the channel reads it). Nothing else is written to stdin:
 *   a `fd3` bootstrap goes through the environment (`WSLENV`, never argv), and no
 *   `ISTHMUS_LIFETIME_FD` is set. The lifetime still rides on stdin: its EOF (the host closed the
 *   channel, or `wsl.exe` died: the one signal that crosses it, `windows-reality.md` 2.5) makes
 *   the watchdog close the backend's stdin and stop its group (signal, grace, KILL). A second
 *   `wsl.exe` for the lifetime alone would add nothing: `wsl.exe` relays only fds 0–2
 *   (`windows-reality.md` 1.10, `svccomm.cpp` `LaunchProcess`), and its death is seen the same way.
 * - URL: the backend's reported URL is rewritten for the address it bound and the networking mode
 *   in use (`Networking.reachableUrl` over `Wsl.networkFacts`: under NAT a `127.0.0.1` bind is
 *   reached at Windows' `127.0.0.1` through the localhost relay, never at the distro address), and
 *   readiness waits until that URL accepts a connection (the relay lags up to a second). A bind
 *   nothing on Windows can reach fails the run, fatally, with the fix (e.g. bind 0.0.0.0, or
 *   enable localhostForwarding).
 * - preflight: `Wsl.preflight` (distro runs, optional Node range and tools), with failures
 *   classified fatal (bad/missing distro, no WSL, Node or tools missing), bounded (transport).
 *
 * Stopping (every stop: a deliberate one, a startup timeout, a liveness failure, an interruption):
 * inside the distro, on the group the watchdog reported, with **one** `wsl.exe` call running the
 * watchdog's stop loop (signal, grace, KILL; it reports how it went); then `wsl.exe`'s stdin is
 * closed and `wsl.exe` itself is stopped as a backstop. Killing `wsl.exe` alone never stops the
 * Linux process (microsoft/WSL#2496, `windows-reality.md` 2.1).
 *
 * @module
 */
import { DistroName, Networking, WslCommand, Wslenv } from "@isthmus/wsl"
import { Wsl, WslHost } from "@isthmus/wsl/node"
import { Clock, Effect, type Layer, Redacted, Result, Semaphore } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as NodeNet from "node:net"
import { PreflightError, type ReadyInfo, type ResolvedStop } from "./BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type RunningProcess,
  type StopOutcome,
  wrongLauncher
} from "./Launcher.ts"
import { bootstrapEnv, make as makeLocal, spawnProcess, substitutePort } from "./LocalLauncher.ts"
import { ENV_STOP_GRACE_MS } from "./Protocol.ts"
import * as Watchdog from "./Watchdog.ts"

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
  /** @deprecated Stops always act inside the distro now; this option is ignored. */
  readonly stopInDistro?: boolean | undefined
  /** How long readiness keeps retrying a refused connection to the reachable URL (default 5000 ms). */
  readonly reachTimeoutMs?: number | undefined
}

/**
 * The stop contract inside a distro, in **one** `wsl.exe` call (`Wsl.exec`): the watchdog's stop
 * loop sends `signal` (and CONT) to the Linux process group `pgid`, waits up to `graceMs`, sends
 * KILL, and reports how it went (`Watchdog.parseStopLine`). Survivor pids are Linux pids.
 */
export const stopInDistro = (
  wsl: Wsl.WslShape,
  distro: string,
  pgid: number,
  policy: ResolvedStop
): Effect.Effect<StopOutcome> =>
  Effect.gen(function*(): Effect.fn.Return<StopOutcome> {
    const clock = yield* Clock.Clock
    const start = clock.monotonicTimeNanosUnsafe()
    const result = yield* wsl.exec(distro, ["sh", ...Watchdog.stopArgs(pgid, policy.graceMs, policy.signal)], {
      // The loop itself takes at most the grace and 2 s; wsl.exe may need a cold start on top.
      timeout: `${policy.graceMs + 30_000} millis`
    }).pipe(Effect.result)
    const durationMs = Number((clock.monotonicTimeNanosUnsafe() - start) / 1_000_000n)
    const report = Result.isSuccess(result)
      ? result.success.stdout.split("\n").map((l) => Watchdog.parseStopLine(l.replace(/\r$/, ""))).find((r) =>
        r !== undefined
      )
      : undefined
    if (report === undefined) {
      // The stop could not be confirmed inside the distro: say so rather than claim a clean stop.
      return { method: "forced", durationMs, survivors: 0, survivorPids: [], complete: false, gracefulStep: "signal" }
    }
    return {
      method: report.method,
      durationMs,
      survivors: report.survivors.length,
      survivorPids: report.survivors,
      complete: true,
      gracefulStep: report.method === "exited" ? "none" : "signal"
    }
  }).pipe(Effect.uninterruptible)

/** Whether a TCP connection to `host:port` is accepted (one attempt, bounded). */
const accepts = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = NodeNet.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

/** The port of a URL, explicit or the scheme's default. */
const urlPort = (url: URL): number =>
  url.port !== "" ? Number(url.port) : url.protocol === "https:" || url.protocol === "wss:" ? 443 : 80

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
    const reachTimeoutMs = options.reachTimeoutMs ?? 5_000

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
        const distro = launch.distro
        // wsl.exe relays only fds 0-2 (windows-reality.md 1.10): fd 3 becomes stdin, or, for a
        // stdio backend (whose stdin is its RPC channel), the environment (through WSLENV).
        const stdio = request.spec.stdio !== undefined
        const requested = request.spec.bootstrap?.delivery ?? "none"
        const delivery = requested === "fd3" ? (stdio ? "env" : "stdin") : requested
        // No lifetime descriptor for a stdio backend: stdin is the protocol, and no other pipe
        // crosses wsl.exe. Its lifetime is the protocol stream's EOF, which the in-distro watchdog
        // (holding stdin) turns into a group stop; the child helper gets that stop's signal.
        const isolated = bootstrapEnv(delivery, request.bootstrapLine, stdio ? null : 0)
        const plain: Record<string, string> = { ...request.env, [ENV_STOP_GRACE_MS]: String(request.stop.graceMs) }
        const hidden: Record<string, Redacted.Redacted<string>> = { ...request.secrets }
        for (const [k, v] of Object.entries(isolated)) {
          if (Redacted.isRedacted(v)) hidden[k] = v
          else plain[k] = v
        }
        const argv = [
          "sh",
          ...Watchdog.shellArgs(
            { graceMs: request.stop.graceMs, signal: request.stop.signal, reportExit: true },
            "env",
            [
              ...Object.entries(plain).map(([k, v]) => `${k}=${v}`),
              launch.command,
              ...substitutePort(launch.args ?? [], request.port)
            ]
          )
        ]
        const args = WslCommand.execArgs(distro, argv, launch.cwd === undefined ? {} : { cwd: launch.cwd })
        if (Result.isFailure(args)) {
          return yield* new LaunchError({ kind: "Wsl", failureClass: "fatal", message: args.failure.message })
        }
        // The networking facts, once per launch: where Windows reaches each bind address.
        const facts = yield* wsl.networkFacts(distro).pipe(
          Effect.mapError((e) =>
            new LaunchError({
              kind: "Wsl",
              message: `could not learn how Windows reaches ${distro} for ${request.id}: ${e.message}`
            })
          )
        )
        const probeHost = Result.match(Networking.reachableHost("127.0.0.1", facts), {
          onSuccess: (r) => r.host,
          onFailure: () =>
            Result.match(Networking.reachableHost("0.0.0.0", facts), {
              onSuccess: (r) => r.host,
              onFailure: () => "127.0.0.1"
            })
        })
        const env: Record<string, string | Redacted.Redacted<string>> = {}
        for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v
        env["WSLENV"] = Wslenv.append(baseEnv["WSLENV"], Object.keys(hidden))
        Object.assign(env, hidden)
        const spawned = yield* spawnProcess(spawner, {
          kind: "Wsl",
          id: request.id,
          command: executable,
          args: args.success,
          env,
          extendEnv: false,
          delivery,
          bootstrapLine: request.bootstrapLine,
          stop: request.stop,
          host: probeHost,
          watchdog: "relayed",
          stdioChannel: stdio
        })
        const base = spawned.running

        /** The URL the backend reported, rewritten for its bind and the mode, once it accepts. */
        const expose = (info: ReadyInfo): Effect.Effect<ReadyInfo, LaunchError> =>
          Effect.gen(function*() {
            if (info.url === undefined) return info
            const rewritten = Networking.reachableUrl(info.url, facts)
            if (Result.isFailure(rewritten)) {
              return yield* new LaunchError({
                kind: "Wsl",
                failureClass: "fatal",
                message:
                  `${request.id} is ready at ${info.url} inside ${distro}, which Windows cannot reach: ${rewritten.failure.message}`
              })
            }
            const url = new URL(rewritten.success)
            const host = url.hostname.replace(/^\[(.*)\]$/, "$1")
            const port = urlPort(url)
            const clock = yield* Clock.Clock
            const start = clock.monotonicTimeNanosUnsafe()
            // The localhost relay starts listening up to about a second after the backend does.
            while (!(yield* accepts(host, port))) {
              if (Number((clock.monotonicTimeNanosUnsafe() - start) / 1_000_000n) >= reachTimeoutMs) {
                return yield* new LaunchError({
                  kind: "Wsl",
                  message: `${request.id} is ready at ${info.url} inside ${distro}, but ${rewritten.success} ` +
                    `(${facts.mode.mode} networking) refused connections for ${reachTimeoutMs} ms: bind 0.0.0.0 ` +
                    `inside the distro, or check that localhostForwarding is on (.wslconfig)`
                })
              }
              yield* Effect.sleep(100)
            }
            return { ...info, url: rewritten.success, port }
          })

        /**
         * Every stop: inside the distro first (one wsl.exe call), then wsl.exe itself. Once a run is
         * stopped, later stops (the pool's backstop, the scope's finalizer) return that outcome.
         */
        const stopLock = yield* Semaphore.make(1)
        let stopped: StopOutcome | undefined
        const stop = (policy: ResolvedStop): Effect.Effect<StopOutcome> =>
          stopLock.withPermit(Effect.suspend(() => stopped === undefined ? stopOnce(policy) : Effect.succeed(stopped)))
        const stopOnce = (policy: ResolvedStop): Effect.Effect<StopOutcome> =>
          Effect.gen(function*() {
            const clock = yield* Clock.Clock
            const start = clock.monotonicTimeNanosUnsafe()
            // The group comes on the watchdog's first line, before anything else of the backend.
            const pgid = spawned.watchdogGroup === undefined ? null : yield* spawned.watchdogGroup.pipe(
              Effect.raceFirst(Effect.as(base.exit, null)),
              Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.succeed(null) })
            )
            const inside = pgid === null ? undefined : yield* stopInDistro(wsl, distro, pgid, policy)
            // EOF on wsl.exe's stdin: the watchdog's relay ends (and, without a group, stops it).
            yield* spawned.closeStdin
            const waitMs = inside === undefined ? policy.graceMs + 2_000 : 2_000
            yield* Effect.ignore(Effect.timeout(base.exit, waitMs))
            const relay = yield* base.stop({ ...policy, graceMs: Math.min(policy.graceMs, 1_000) })
            const durationMs = Number((clock.monotonicTimeNanosUnsafe() - start) / 1_000_000n)
            const outcome: StopOutcome = inside !== undefined
              ? { ...inside, durationMs }
              : { ...relay, durationMs, complete: false }
            stopped = outcome
            return outcome
          }).pipe(Effect.uninterruptible)
        // Interruption and the run's end stop inside the distro too (before the relay's own finalizer).
        yield* Effect.addFinalizer(() => stop(request.stop))
        const running: RunningProcess = {
          ...base,
          stop,
          expose
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
