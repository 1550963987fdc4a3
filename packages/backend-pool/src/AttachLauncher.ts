/**
 * The `Attach` launcher: follow a backend the pool does not start — a systemd unit, a daemon
 * someone else runs, a URL on another host — as if it were one of its own.
 *
 * - It never spawns and never signals. A "run" is a period of following: launching one checks the
 *   spec (a URL with a port, a polling readiness check) and, with `ssh`, forwards the URL's port
 *   over the pool's master connection to that host (`SshForward`), so the backend can keep
 *   listening on 127.0.0.1 there.
 * - Health is the spec's: readiness (default `Tcp`, a connect to the URL's port) bounded by the
 *   startup timeout, then liveness (default: the readiness check every 5 s, 3 failures in a row).
 *   Not answering in time ends the run (`StartupTimeout`, "unreachable"); failing liveness ends it
 *   (`LivenessFailed`, "unhealthy"); both go through the backoff and the crash-loop breaker like
 *   a crashing process, and a later run finds it Ready again.
 * - Ready carries the URL to use from here (the local end of the forward with `ssh`), so consumers
 *   follow it exactly like a spawned instance (`InstanceChannel.connect`, `awaitReady`, `changes`).
 * - `stop` leaves the backend running and says so (`detached`).
 * - The optional `restart` command runs when a run finds the backend not answering (one probe
 *   at launch): on this machine without a shell, or with `via: "ssh"` on the `ssh` host. Its
 *   output goes to the instance log as the run's output. The backoff bounds how often it runs.
 *   It must return once the backend is (re)starting: what it leaves in its own process group is
 *   stopped when it returns, so start daemons through their manager (`systemctl`, `docker`) or
 *   with `setsid`.
 *
 * @module
 */
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import {
  type AttachLaunch,
  type BackendSpec,
  type PreflightError,
  type ReadyInfo,
  resolveReadiness
} from "./BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type ProcessExit,
  type RunningProcess,
  wrongLauncher
} from "./Launcher.ts"
import { make as makeLocal } from "./LocalLauncher.ts"
import { portOfUrl } from "./Protocol.ts"
import * as Readiness from "./Readiness.ts"
import * as SshConnection from "./SshConnection.ts"
import * as SshForward from "./SshForward.ts"
import * as SshMaster from "./SshMaster.ts"
import { checkConnection, fatal, toPreflight } from "./SshPreflight.ts"

/** Options of the `Attach` launcher. */
export interface AttachLauncherOptions {
  /** How long a forward may take to open (default 30 000 ms). */
  readonly commandTimeoutMs?: number | undefined
}

const loopback = new Set(["127.0.0.1", "localhost", "0.0.0.0", "[::]", "[::1]"])

/** The host and port of an attach URL, as a connect needs them (IPv6 without brackets). */
export const endpointOf = (url: string): { host: string; port: number } | undefined => {
  try {
    const u = new URL(url)
    const port = portOfUrl(url)
    if (port === undefined || u.hostname === "") return undefined
    return { host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port }
  } catch {
    return undefined
  }
}

/** `url` with its host and port replaced (the local end of a forward). */
export const withEndpoint = (url: string, host: string, port: number): string => {
  const u = new URL(url)
  u.hostname = host
  u.port = String(port)
  const text = u.toString()
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*$/i.test(url) ? text.replace(/\/$/, "") : text
}

/** Checks an `Attach` spec without touching the network. */
export const checkSpec = (spec: BackendSpec, launch: AttachLaunch): PreflightError | undefined => {
  if (endpointOf(launch.url) === undefined) {
    return fatal(
      `${spec.id}: the attach url ${JSON.stringify(launch.url)} has no host and port the pool can check ` +
        `(e.g. "http://127.0.0.1:8080" or "tcp://build-box:7000")`
    )
  }
  const check = resolveReadiness(spec).check
  if (!Readiness.isPollable(check)) {
    return fatal(
      `${spec.id}: an attached backend prints nothing to the pool, so readiness ${check._tag} can never succeed: ` +
        `use Tcp (the default), Http or Rpc`
    )
  }
  if (launch.ssh !== undefined) {
    const bad = checkConnection(spec.id, "ssh", launch.ssh)
    if (bad !== undefined) return bad
  }
  if (launch.restart?.via === "ssh" && launch.ssh === undefined) {
    return fatal(`${spec.id}: restart.via "ssh" needs the ssh connection to run it on; add ssh or use via "local"`)
  }
  return undefined
}

const maxHookOutput = 64 * 1024

/** A stream's text, at most {@link maxHookOutput} characters. */
const text = (s: Stream.Stream<Uint8Array, unknown>) =>
  s.pipe(
    Stream.decodeText,
    Stream.runFold(() => "", (acc, t: string) => (acc + t).slice(0, maxHookOutput)),
    Effect.orElseSucceed(() => "")
  )

/**
 * Builds the `Attach` launcher. Requires `SshMasters` (shared with the `Ssh` launcher) and a
 * `ChildProcessSpawner` (for restart commands and ssh).
 */
export const make = (
  options: AttachLauncherOptions = {}
): Effect.Effect<Launcher, never, SshMaster.SshMasters | ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.gen(function*() {
    const masters = yield* SshMaster.SshMasters
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const timeoutMs = options.commandTimeoutMs ?? 30_000

    const preflight = Effect.fn("AttachLauncher.preflight")(function*(spec: BackendSpec) {
      const launch = spec.launcher
      if (launch._tag !== "Attach") return
      const bad = checkSpec(spec, launch)
      if (bad !== undefined) return yield* bad
      // With ssh, the host must be reachable (unreachable: transient, backed off).
      if (launch.ssh !== undefined) yield* Effect.asVoid(masters.any(launch.ssh).pipe(Effect.mapError(toPreflight)))
    })

    /** Runs the restart command; its output as lines for the log. */
    const runHook = (launch: AttachLaunch) =>
      Effect.gen(function*() {
        const hook = launch.restart!
        const hookTimeout = hook.timeoutMs ?? 30_000
        const [command, ...args] = hook.command
        if (hook.via === "ssh") {
          const ssh = launch.ssh!
          const master = yield* Effect.orElseSucceed(masters.any(ssh), () => undefined)
          // The words travel on stdin, quoted; the remote argv of ssh's command stays `exec sh -s`.
          // Output goes through a file: a daemon the command starts must not hold the session open.
          const script = [
            "nl='",
            "'",
            `set -- ${hook.command.map(SshConnection.quoteWord).join(" ")}`,
            `out=$(mktemp 2>/dev/null || echo "/tmp/isthmus-hook.$$")`,
            `"$@" >"$out" 2>&1 </dev/null`,
            "rc=$?",
            `cat "$out"; rm -f "$out"`,
            `exit "$rc"`,
            ""
          ].join("\n")
          const r = yield* SshMaster.runScript(spawner, ssh, master, script, { timeoutMs: hookTimeout }).pipe(
            Effect.catch((e) => Effect.succeed({ code: -1, stdout: "", stderr: e.message }))
          )
          return { code: r.code, output: `${r.stdout}${r.stderr}` }
        }
        return yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* spawner.spawn(
            ChildProcess.make(command!, args, {
              stdin: "ignore",
              stdout: "pipe",
              stderr: "pipe",
              killSignal: "SIGKILL"
            })
          )
          const out = yield* Effect.forkScoped(text(handle.stdout), { startImmediately: true })
          const err = yield* Effect.forkScoped(text(handle.stderr), { startImmediately: true })
          const code = yield* handle.exitCode.pipe(Effect.timeoutOption(hookTimeout))
          if (code._tag === "None") return { code: -1, output: `timed out after ${hookTimeout} ms` }
          // A process it left behind may hold the pipes: read what came, briefly.
          const drained = (f: typeof out) => Fiber.join(f).pipe(Effect.timeout(500), Effect.orElseSucceed(() => ""))
          return { code: Number(code.value), output: `${yield* drained(out)}${yield* drained(err)}` }
        })).pipe(
          Effect.catch((e) =>
            Effect.succeed({ code: -1, output: `could not run ${JSON.stringify(command)}: ${e.message}` })
          )
        )
      })

    const launch = Effect.fn("AttachLauncher.launch")(function*(request: Parameters<Launcher["launch"]>[0]) {
      const attach = request.spec.launcher
      if (attach._tag !== "Attach") return yield* wrongLauncher("Attach", request)
      const endpoint = endpointOf(attach.url)
      if (endpoint === undefined) {
        return yield* new LaunchError({ kind: "Attach", message: `${request.id}: the attach url has no host and port` })
      }
      let host = endpoint.host
      let port = endpoint.port
      let url = attach.url
      if (attach.ssh !== undefined) {
        const ssh = attach.ssh
        const master = yield* masters.any(ssh).pipe(
          Effect.mapError((e) => new LaunchError({ kind: "Attach", message: e.message }))
        )
        const target = { host: loopback.has(endpoint.host) ? "127.0.0.1" : endpoint.host, port: endpoint.port }
        const local = yield* SshForward.open(
          { spawner, masters, connection: ssh, master, scope: yield* Effect.scope, timeoutMs },
          target,
          "tcp"
        ).pipe(
          Effect.mapError((e) =>
            new LaunchError({
              kind: "Attach",
              message: `${request.id}: forwarding ${endpoint.port} from ${
                SshConnection.describe(ssh)
              } failed: ${e.message}`
            })
          )
        )
        if ("path" in local) return yield* new LaunchError({ kind: "Attach", message: "unexpected socket forward" })
        host = "127.0.0.1"
        port = local.port
        url = withEndpoint(attach.url, host, port)
      }
      const lines: Array<string> = []
      if (attach.restart !== undefined) {
        const check = resolveReadiness(request.spec).check
        const up = yield* Readiness.probeOnce(check, { id: request.id, runId: request.runId, host, port })
        if (up === undefined) {
          const r = yield* runHook(attach)
          lines.push(
            `restart command (${attach.restart.via ?? "local"}) ran: exit ${r.code}`,
            ...r.output.split(/\r?\n/).filter((l) => l.length > 0).map((l) => `restart: ${l}`)
          )
        }
      }
      const ready = (info: ReadyInfo): Effect.Effect<ReadyInfo> => Effect.succeed({ ...info, url, port })
      // A run "exits" only when the pool lets go of it (after a failed check, or a stop).
      const released = yield* Deferred.make<ProcessExit>()
      const running: RunningProcess = {
        pid: undefined,
        host,
        stdout: Stream.make(...lines.map((l) => new TextEncoder().encode(`${l}\n`))),
        stderr: Stream.empty,
        // Readiness and liveness decide; the run ends when the pool lets go of it.
        exit: Deferred.await(released),
        stop: () =>
          Deferred.succeed(released, { code: null, signal: null }).pipe(
            Effect.as({ method: "detached", durationMs: 0, survivors: 0 } as const)
          ),
        liveProcesses: Effect.succeed(undefined),
        reachablePort: port,
        expose: ready
      }
      return running
    })

    const launcher: Launcher = { kind: "Attach", preflight, launch }
    return launcher
  })

/**
 * `Launchers` with the `Local` and `Attach` launchers and the pool's SSH masters; needs a
 * `ChildProcessSpawner`. `SshLauncher.layer` has all three.
 */
export const layer = (
  options: AttachLauncherOptions & { readonly masters?: SshMaster.MastersOptions | undefined } = {}
): Layer.Layer<Launchers, never, ChildProcessSpawner.ChildProcessSpawner> =>
  Launchers.layer(makeLocal, make(options)).pipe(Layer.provide(SshMaster.SshMasters.layer(options.masters)))
