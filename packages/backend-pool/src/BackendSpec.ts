/**
 * `BackendSpec`: everything the pool needs to know to run one backend, as data.
 *
 * A spec is a plain, Schema-typed value so hosts can keep their desired state in a settings file
 * and decode it. Defaults live in the `resolve*` functions ({@link resolveRestart}, {@link resolveLog}, …); every optional field has a sane bounded default.
 * The only non-data fields are the optional `preflight` and `Custom` readiness effects, which are
 * compared by reference when the pool diffs specs.
 *
 * @module
 */
import { Effect, Redacted, Schema } from "effect"
import { describe as describeConnection, SshConnection } from "./SshConnection.ts"

// ---------------------------------------------------------------------------------------------
// Small building blocks
// ---------------------------------------------------------------------------------------------

/** Milliseconds, a non-negative integer. */
export const Millis = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

/** A TCP port, 1..65535. */
export const Port = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))

/**
 * An instance id: 1..128 characters of letters, digits and `._:@/-`. The id is used in file names
 * only through {@link logFileStem}, which sanitizes and hashes it, so `/` cannot escape a directory.
 */
export const BackendId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/, {
    description: "1..128 characters: letters, digits and ._:@/- (starting with a letter or digit)"
  })
)

/** The name of an environment variable. */
export const EnvName = Schema.String.check(Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/))

/** A signal used to ask a backend to stop. */
export const StopSignal = Schema.Literals(["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"])
/** A stop signal name. */
export type StopSignal = typeof StopSignal.Type

// ---------------------------------------------------------------------------------------------
// Launchers
// ---------------------------------------------------------------------------------------------

/** Run a command on this machine, without a shell, in its own process group. */
export const LocalLaunch = Schema.TaggedStruct("Local", {
  /** The executable; resolved through PATH when it has no slash. */
  command: Schema.String.check(Schema.isMinLength(1)),
  /** One argv entry per value; `{port}` is replaced by the port when the pool knows it. */
  args: Schema.optionalKey(Schema.Array(Schema.String)),
  cwd: Schema.optionalKey(Schema.String),
  /** Whether the host's own environment is inherited (default true). */
  inheritEnv: Schema.optionalKey(Schema.Boolean)
})
/** A `Local` launch. */
export type LocalLaunch = typeof LocalLaunch.Type

/** Run a command inside a WSL distro through `wsl.exe -d <distro> --exec …` (see `WslLauncher`). */
export const WslLaunch = Schema.TaggedStruct("Wsl", {
  /** The distro, by WSL's own name rules; checked again by the launcher. */
  distro: Schema.String.check(Schema.isMinLength(1)),
  command: Schema.String.check(Schema.isMinLength(1)),
  args: Schema.optionalKey(Schema.Array(Schema.String)),
  /** A Linux working directory, passed as `--cd`. */
  cwd: Schema.optionalKey(Schema.String)
})
/** A `Wsl` launch. */
export type WslLaunch = typeof WslLaunch.Type

/** A launcher the host registered itself, chosen by `kind`, with its own configuration. */
export const CustomLaunch = Schema.TaggedStruct("Custom", {
  kind: Schema.String.check(Schema.isMinLength(1)),
  config: Schema.optionalKey(Schema.Unknown)
})
/** A `Custom` launch. */
export type CustomLaunch = typeof CustomLaunch.Type

/**
 * Run a command on another machine through the system OpenSSH client (see `SshLauncher`): under a
 * POSIX `sh` watchdog in its own process group on the remote, so a dropped connection or a dead
 * host leaves nothing running there. Arguments, environment and secrets travel over the session's
 * stdin, never in the remote argv of ssh's command. The backend binds 127.0.0.1 on the remote
 * (port 0 is fine) and reports its URL; the launcher forwards it to this machine and reports the
 * local URL. Ports: `Reported` (default) or `Fixed` (a port on the remote), not `Allocated`.
 */
export const SshLaunch = Schema.TaggedStruct("Ssh", {
  connection: SshConnection,
  /** The executable on the remote, found through the remote login shell's PATH when it has no slash. */
  command: Schema.String.check(Schema.isMinLength(1)),
  /** One argv entry per value; `{port}` is replaced by a `Fixed` port. */
  args: Schema.optionalKey(Schema.Array(Schema.String)),
  /** The working directory on the remote (default: the login directory). */
  cwd: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  /** How the backend's port reaches this machine: a local TCP port (default) or a Unix socket (owner only). */
  forward: Schema.optionalKey(Schema.Literals(["tcp", "unix"])),
  /** What the preflight checks on the remote besides the command: a Node range, tools on PATH. */
  requirements: Schema.optionalKey(Schema.Struct({
    node: Schema.optionalKey(Schema.String),
    tools: Schema.optionalKey(Schema.Array(Schema.String))
  }))
})
/** An `Ssh` launch. */
export type SshLaunch = typeof SshLaunch.Type

/**
 * Follow a backend the pool does not start (a systemd unit, a daemon someone else runs, a remote
 * URL): never spawned or signalled; health-checked with the spec's readiness and liveness (default:
 * a TCP connect to `url`, then the same check every 5 s); Ready, unhealthy and unreachable go
 * through the backoff like a crashing process (see `AttachLauncher`).
 */
export const AttachLaunch = Schema.TaggedStruct("Attach", {
  /** Where the backend listens, as seen from where it runs (with `ssh`: from that host, e.g. `http://127.0.0.1:8080`). */
  url: Schema.String.check(Schema.isMinLength(1)),
  /** Reach it through this host: the URL's port is forwarded over the pool's SSH connection. */
  ssh: Schema.optionalKey(SshConnection),
  /**
   * A command that restarts the backend (e.g. `["systemctl", "--user", "restart", "app"]`), run
   * when an attach finds it unreachable: on this machine without a shell, or with `via: "ssh"` on
   * the `ssh` host (as one quoted command line). Its output goes to the instance log.
   */
  restart: Schema.optionalKey(Schema.Struct({
    command: Schema.Array(Schema.String).check(Schema.isMinLength(1)),
    via: Schema.optionalKey(Schema.Literals(["local", "ssh"])),
    /** How long the command may take (default 30 000 ms). */
    timeoutMs: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)))
  }))
})
/** An `Attach` launch. */
export type AttachLaunch = typeof AttachLaunch.Type

/** Which launcher runs the backend, and what it runs. */
export const Launch = Schema.Union([LocalLaunch, WslLaunch, SshLaunch, AttachLaunch, CustomLaunch])
/** A launch of any kind. */
export type Launch = typeof Launch.Type

/** The key under which a launcher is registered for a given launch spec. */
export const launcherKind = (launch: Launch): string => launch._tag === "Custom" ? launch.kind : launch._tag

/**
 * Where a backend runs, for people and dashboards: `local`, `wsl:<distro>`, `ssh:<user@host:port>`,
 * `attach:<url>` (`attach:<url> via ssh:<…>`), or the custom kind.
 */
export const locationOf = (launch: Launch): string => {
  switch (launch._tag) {
    case "Local":
      return "local"
    case "Wsl":
      return `wsl:${launch.distro}`
    case "Ssh":
      return `ssh:${describeConnection(launch.connection)}`
    case "Attach":
      return `attach:${launch.url}${launch.ssh === undefined ? "" : ` via ssh:${describeConnection(launch.ssh)}`}`
    case "Custom":
      return launch.kind
  }
}

// ---------------------------------------------------------------------------------------------
// Bootstrap, port, readiness
// ---------------------------------------------------------------------------------------------

/**
 * How the bootstrap envelope reaches the backend:
 * - `fd3`: written to an extra pipe on fd 3, which is then closed (EOF);
 * - `stdin`: written to stdin as one line, and stdin is kept open afterwards (it is the lifetime pipe);
 * - `env`: in the environment variable `ISTHMUS_BOOTSTRAP` (visible to the process and its children);
 * - `none`.
 * The backend reads it with `@isthmus/backend-pool/child` (`readBootstrap`).
 */
export const BootstrapDelivery = Schema.Literals(["fd3", "stdin", "env", "none"])
/** A bootstrap delivery. */
export type BootstrapDelivery = typeof BootstrapDelivery.Type

/** The bootstrap envelope and how it is delivered. */
export const Bootstrap = Schema.Struct({
  delivery: BootstrapDelivery,
  /** The envelope (a `BootstrapEnvelope` from `@isthmus/rpc-protocol`), encoded as one JSON line. */
  envelope: Schema.Record(Schema.String, Schema.Unknown)
})
/** A bootstrap. */
export type Bootstrap = typeof Bootstrap.Type

/**
 * Where the backend listens:
 * - `Reported` (default, race-free): the backend binds port 0 itself and reports its URL in its ready signal;
 * - `Fixed`: a port chosen by the host;
 * - `Allocated`: the pool picks a free port just before the launch. Another process can still
 *   bind it first: when the backend exits before ready and the port is then held by someone else
 *   (checked on 127.0.0.1 once the backend's group is gone), the run ended with `PortInUse` and is
 *   retried at once on a new port, outside the backoff and the crash budget (3 times in a row).
 * `Fixed` and `Allocated` ports reach the backend in `env` (`PORT` unless `envName` says otherwise)
 * and through `{port}` in the launch arguments.
 */
export const PortSpec = Schema.Union([
  Schema.TaggedStruct("Reported", {}),
  Schema.TaggedStruct("Fixed", { port: Port, envName: Schema.optionalKey(EnvName) }),
  Schema.TaggedStruct("Allocated", { envName: Schema.optionalKey(EnvName) })
])
/** A port specification. */
export type PortSpec = typeof PortSpec.Type

/** What a readiness check learnt: the URL the backend can be reached at, when known. */
export interface ReadyInfo {
  readonly url?: string | undefined
  readonly port?: number | undefined
  /** Where the backend runs (inside WSL: Linux ids), when its ready signal said so. */
  readonly pid?: number | undefined
  readonly pgid?: number | undefined
}

/** A custom readiness check failed; retried every period until the startup timeout. */
export class ReadinessCheckError extends Schema.TaggedError<ReadinessCheckError>()("ReadinessCheckError", {
  message: Schema.String
}) {}

/** Context given to a custom readiness check. */
export interface ReadinessContext {
  readonly id: string
  readonly runId: number
  readonly host: string
  readonly port: number | undefined
}

/** A custom readiness function: called once per probe period until it succeeds or the startup timeout fires. */
export type CustomReadinessCheck = (context: ReadinessContext) => Effect.Effect<ReadyInfo, ReadinessCheckError>

const isPreflight = (u: unknown): u is Effect.Effect<void, PreflightError> => Effect.isEffect(u)

const isFunction = (u: unknown): u is CustomReadinessCheck => typeof u === "function"

/**
 * How the pool knows the backend is ready. Every variant is bounded by `startupTimeoutMs`
 * (default 30 000) and fails closed: a timeout kills the run and never counts as ready.
 * - `Signal` (default): the backend calls `signalReady({ url })` from `@isthmus/backend-pool/child`;
 * - `LogLine`: a regular expression on output lines; a named group `url` (or `port`) is captured;
 * - `Http`: GET `url` (with `{host}` and `{port}` filled in) until it answers 2xx–3xx;
 * - `Tcp`: a TCP connect to `host:port` succeeds;
 * - `Rpc`: a JSON-RPC call (`ping` by default) over TCP or WebSocket returns a result;
 * - `Custom`: a host function, called every period.
 */
export const Readiness = Schema.Union([
  Schema.TaggedStruct("Signal", {}),
  Schema.TaggedStruct("LogLine", {
    pattern: Schema.String,
    flags: Schema.optionalKey(Schema.String),
    stream: Schema.optionalKey(Schema.Literals(["stdout", "stderr", "any"]))
  }),
  Schema.TaggedStruct("Http", {
    url: Schema.String,
    probeTimeoutMs: Schema.optionalKey(Millis)
  }),
  Schema.TaggedStruct("Tcp", {
    host: Schema.optionalKey(Schema.String),
    port: Schema.optionalKey(Port)
  }),
  Schema.TaggedStruct("Rpc", {
    /** `tcp://{host}:{port}` (NDJSON, the default) or a `ws://…` URL (one message per frame). */
    url: Schema.optionalKey(Schema.String),
    /** The JSON-RPC dialect of `@isthmus/rpc-protocol` (default `strict`). */
    dialect: Schema.optionalKey(Schema.Literals(["strict", "lite", "daemon"])),
    /** The method to call (default `ping`); ready when it returns a result. */
    method: Schema.optionalKey(Schema.String),
    params: Schema.optionalKey(Schema.Unknown),
    probeTimeoutMs: Schema.optionalKey(Millis)
  }),
  Schema.TaggedStruct("Custom", {
    name: Schema.String,
    check: Schema.declare(isFunction)
  }),
  /** The handshake of the `stdio` channel succeeded (at once when the channel has none). */
  Schema.TaggedStruct("Stdio", {})
])
/** A readiness check. */
export type Readiness = typeof Readiness.Type

/**
 * The backend speaks JSON-RPC over its own stdin/stdout (codex app-server's default transport):
 * each run gets an RPC channel (`BackendInstance.channels`), stdout is that channel's and no
 * longer goes to the log (stderr still does), and stdin carries the host's side of it (under the
 * `Watchdog` its EOF still stops the group, so it stays the lifetime pipe). The bootstrap cannot
 * use stdin then (use `fd3` or `env`). Readiness defaults to `Stdio`: the handshake succeeded.
 */
export const StdioChannel = Schema.Struct({
  /** The dialect (default `lite`, codex app-server's). */
  dialect: Schema.optionalKey(Schema.Literals(["strict", "lite", "daemon"])),
  /** NDJSON line limit (default 16 MiB). */
  maxLineBytes: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1024))),
  /** Run on every run's channel before it counts as ready: a request, then a notification. */
  handshake: Schema.optionalKey(Schema.Struct({
    /** Default `initialize`. */
    method: Schema.optionalKey(Schema.String),
    params: Schema.optionalKey(Schema.Unknown),
    /** Sent after the answer; default `initialized`; `null` for none. */
    notification: Schema.optionalKey(Schema.NullOr(Schema.String))
  })),
  /** Timeout of calls on the channel (default 60 000 ms). */
  requestTimeoutMs: Schema.optionalKey(Millis)
})
/** A stdio channel spec. */
export type StdioChannel = typeof StdioChannel.Type

/** The readiness check with its startup timeout (default 30 s) and probe period (default 250 ms). */
export const ReadinessPolicy = Schema.Struct({
  check: Schema.optionalKey(Readiness),
  startupTimeoutMs: Schema.optionalKey(Millis),
  /** Period between probes during startup (default 250 ms). */
  periodMs: Schema.optionalKey(Millis)
})
/** A readiness policy. */
export type ReadinessPolicy = typeof ReadinessPolicy.Type

/**
 * Optional liveness after Ready: a polling check (`Http`, `Tcp`, `Rpc` or `Custom`) every
 * `periodMs` (default 5000); `failureThreshold` (default 3) consecutive failures stop the run
 * with reason `LivenessFailed`, and it restarts through the backoff.
 */
export const LivenessPolicy = Schema.Struct({
  check: Readiness,
  periodMs: Schema.optionalKey(Millis),
  failureThreshold: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
})
/** A liveness policy. */
export type LivenessPolicy = typeof LivenessPolicy.Type

// ---------------------------------------------------------------------------------------------
// Restart, stop, logs, preflight
// ---------------------------------------------------------------------------------------------

/** Capped exponential backoff with jitter between restarts. */
export const BackoffPolicy = Schema.Struct({
  /** First delay (default 1000 ms). */
  initialMs: Schema.optionalKey(Millis),
  /** Growth factor per consecutive failure (default 2). */
  factor: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Cap (default 60 000 ms). */
  maxMs: Schema.optionalKey(Millis),
  /** Relative jitter, 0..1 (default 0.2, i.e. ±20%). */
  jitter: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })))
})
/** A backoff policy. */
export type BackoffPolicy = typeof BackoffPolicy.Type

/** When to restart, how long to wait, when the backoff resets and when the breaker trips. */
export const RestartPolicySpec = Schema.Struct({
  /** `always` (default), `on-failure` (not after exit code 0) or `never`. */
  mode: Schema.optionalKey(Schema.Literals(["always", "on-failure", "never"])),
  /** Exit codes after which the backend is never restarted (it ends `Stopped` or `Failed`). */
  preventExitCodes: Schema.optionalKey(Schema.Array(Schema.Int)),
  backoff: Schema.optionalKey(BackoffPolicy),
  /** The backoff resets only after the backend stayed Ready this long (default 60 000 ms). */
  resetAfterReadyMs: Schema.optionalKey(Millis),
  /** Crash-loop breaker: this many failures (default 10) ... */
  crashLoopFailures: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** ... within this window (default 600 000 ms) park the instance in `CrashLoop`. */
  crashLoopWindowMs: Schema.optionalKey(Millis)
})
/** A restart policy. */
export type RestartPolicySpec = typeof RestartPolicySpec.Type

/** How a backend is stopped: a signal to its whole process group, a grace period, then SIGKILL. */
export const StopPolicy = Schema.Struct({
  /** The graceful signal sent to the whole process group (default SIGTERM). */
  signal: Schema.optionalKey(StopSignal),
  /** How long the group gets before SIGKILL (default 10 000 ms). */
  graceMs: Schema.optionalKey(Millis)
})
/** A stop policy. */
export type StopPolicy = typeof StopPolicy.Type

/** Where logs go and how much is kept; every limit is bounded. */
export const LogPolicy = Schema.Struct({
  /** Directory for rotating log files; none means memory only. */
  dir: Schema.optionalKey(Schema.String),
  /** Size of one file before rotation (default 10 MiB). */
  maxFileBytes: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1024))),
  /** Files kept per instance, including the current one (default 5). */
  maxFiles: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  /** Lines kept in memory (default 1000). */
  ringLines: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 }))),
  /** Longer lines are cut here and marked truncated (default 64 KiB). */
  maxLineBytes: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 256, maximum: 16 * 1024 * 1024 }))),
  /** Bytes waiting for the disk before new lines are dropped (default 4 MiB). */
  maxPendingBytes: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1024))),
  /** Lines buffered per live subscriber before that subscriber loses lines (default 4096). */
  liveBuffer: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
})
/** A log policy. */
export type LogPolicy = typeof LogPolicy.Type

/** How a preflight failure is handled. */
export const FailureClass = Schema.Literals(["fatal", "transient", "bounded"])
/** A failure class. */
export type FailureClass = typeof FailureClass.Type

/**
 * A preflight failed. `fatal` parks the instance in `Failed` at once; `transient` is retried
 * through the backoff forever; `bounded` is retried through the backoff up to `retryLimit` times.
 */
export class PreflightError extends Schema.TaggedError<PreflightError>()("PreflightError", {
  message: Schema.String,
  failureClass: FailureClass,
  retryLimit: Schema.optional(Schema.Int)
}) {}

/** A preflight effect: runs before every launch; nothing is spawned when it fails. */
export type Preflight = Effect.Effect<void, PreflightError>

// ---------------------------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------------------------

/**
 * One backend's desired state. Launch-relevant fields (`launcher`, `env`, `secrets`, `bootstrap`,
 * `port`) replace the process when they change; the others (`label`, `readiness`, `liveness`,
 * `restart`, `stop`, `log`, `preflight`) apply in place.
 */
export const BackendSpec = Schema.Struct({
  id: BackendId,
  label: Schema.optionalKey(Schema.String),
  launcher: Launch,
  /** Plain environment variables. */
  env: Schema.optionalKey(Schema.Record(EnvName, Schema.String)),
  /**
   * Secret environment variables: passed in the environment only, never in argv, never logged,
   * never in an error message. Decoded from plain strings.
   */
  secrets: Schema.optionalKey(Schema.Record(EnvName, Schema.RedactedFromValue(Schema.String))),
  bootstrap: Schema.optionalKey(Bootstrap),
  port: Schema.optionalKey(PortSpec),
  /** JSON-RPC over the backend's stdin/stdout, one channel per run. */
  stdio: Schema.optionalKey(StdioChannel),
  readiness: Schema.optionalKey(ReadinessPolicy),
  liveness: Schema.optionalKey(LivenessPolicy),
  restart: Schema.optionalKey(RestartPolicySpec),
  stop: Schema.optionalKey(StopPolicy),
  log: Schema.optionalKey(LogPolicy),
  preflight: Schema.optionalKey(Schema.declare(isPreflight))
})
/** A backend spec. */
export type BackendSpec = typeof BackendSpec.Type

/** Decode a spec from unknown input (for example a settings file). */
export const decode = Schema.decodeUnknownEffect(BackendSpec)

// ---------------------------------------------------------------------------------------------
// Resolved view with defaults
// ---------------------------------------------------------------------------------------------

/** Defaults applied by the `resolve*` functions ({@link resolveRestart}, {@link resolveStop}, …). */
export const defaults = {
  startupTimeoutMs: 30_000,
  readinessPeriodMs: 250,
  httpProbeTimeoutMs: 1_000,
  backoffInitialMs: 1_000,
  backoffFactor: 2,
  backoffMaxMs: 60_000,
  backoffJitter: 0.2,
  resetAfterReadyMs: 60_000,
  crashLoopFailures: 10,
  crashLoopWindowMs: 600_000,
  stopSignal: "SIGTERM" as StopSignal,
  graceMs: 10_000,
  maxFileBytes: 10 * 1024 * 1024,
  maxFiles: 5,
  ringLines: 1000,
  maxLineBytes: 64 * 1024,
  maxPendingBytes: 4 * 1024 * 1024,
  liveBuffer: 4096
} as const

/** The restart policy with defaults applied. */
export interface ResolvedRestart {
  readonly mode: "always" | "on-failure" | "never"
  readonly preventExitCodes: ReadonlyArray<number>
  readonly initialMs: number
  readonly factor: number
  readonly maxMs: number
  readonly jitter: number
  readonly resetAfterReadyMs: number
  readonly crashLoopFailures: number
  readonly crashLoopWindowMs: number
}

/** The log policy with defaults applied. */
export interface ResolvedLog {
  readonly dir: string | undefined
  readonly maxFileBytes: number
  readonly maxFiles: number
  readonly ringLines: number
  readonly maxLineBytes: number
  readonly maxPendingBytes: number
  readonly liveBuffer: number
}

/** The stop policy with defaults applied. */
export interface ResolvedStop {
  readonly signal: StopSignal
  readonly graceMs: number
}

/** The readiness policy with defaults applied. */
export interface ResolvedReadiness {
  readonly check: Readiness
  readonly startupTimeoutMs: number
  readonly periodMs: number
}

/** The liveness policy with defaults applied (`undefined`: no liveness probe). */
export interface ResolvedLiveness {
  readonly check: Readiness
  readonly periodMs: number
  readonly failureThreshold: number
}

/**
 * The spec's liveness policy with defaults (period 5000 ms, threshold 3). An `Attach` backend
 * without one is watched with its readiness check (nobody else would notice it going away).
 */
export const resolveLiveness = (spec: BackendSpec): ResolvedLiveness | undefined => {
  if (spec.liveness !== undefined) {
    return {
      check: spec.liveness.check,
      periodMs: spec.liveness.periodMs ?? 5_000,
      failureThreshold: spec.liveness.failureThreshold ?? 3
    }
  }
  const check = resolveReadiness(spec).check
  return spec.launcher._tag === "Attach" && check._tag !== "Signal" && check._tag !== "LogLine" &&
      check._tag !== "Stdio"
    ? { check, periodMs: 5_000, failureThreshold: 3 }
    : undefined
}

/** The spec's restart policy with {@link defaults}. */
export const resolveRestart = (spec: BackendSpec): ResolvedRestart => {
  const r = spec.restart ?? {}
  const b = r.backoff ?? {}
  return {
    mode: r.mode ?? "always",
    preventExitCodes: r.preventExitCodes ?? [],
    initialMs: b.initialMs ?? defaults.backoffInitialMs,
    factor: b.factor ?? defaults.backoffFactor,
    maxMs: b.maxMs ?? defaults.backoffMaxMs,
    jitter: b.jitter ?? defaults.backoffJitter,
    resetAfterReadyMs: r.resetAfterReadyMs ?? defaults.resetAfterReadyMs,
    crashLoopFailures: r.crashLoopFailures ?? defaults.crashLoopFailures,
    crashLoopWindowMs: r.crashLoopWindowMs ?? defaults.crashLoopWindowMs
  }
}

/** The spec's log policy with {@link defaults}. */
export const resolveLog = (spec: BackendSpec): ResolvedLog => {
  const l = spec.log ?? {}
  return {
    dir: l.dir,
    maxFileBytes: l.maxFileBytes ?? defaults.maxFileBytes,
    maxFiles: l.maxFiles ?? defaults.maxFiles,
    ringLines: l.ringLines ?? defaults.ringLines,
    maxLineBytes: l.maxLineBytes ?? defaults.maxLineBytes,
    maxPendingBytes: l.maxPendingBytes ?? defaults.maxPendingBytes,
    liveBuffer: l.liveBuffer ?? defaults.liveBuffer
  }
}

/** The spec's stop policy with {@link defaults}. */
export const resolveStop = (spec: BackendSpec): ResolvedStop => ({
  signal: spec.stop?.signal ?? defaults.stopSignal,
  graceMs: spec.stop?.graceMs ?? defaults.graceMs
})

/**
 * The spec's readiness policy with {@link defaults}, when none is given: `Stdio` for a `stdio`
 * backend, `Tcp` (a connect to the URL's port) for an `Attach` backend, which prints nothing to
 * the pool, `Signal` otherwise.
 */
export const resolveReadiness = (spec: BackendSpec): ResolvedReadiness => ({
  check: spec.readiness?.check ??
    (spec.stdio !== undefined
      ? { _tag: "Stdio" }
      : spec.launcher._tag === "Attach"
      ? { _tag: "Tcp" }
      : { _tag: "Signal" }),
  startupTimeoutMs: spec.readiness?.startupTimeoutMs ?? defaults.startupTimeoutMs,
  periodMs: spec.readiness?.periodMs ?? defaults.readinessPeriodMs
})

// ---------------------------------------------------------------------------------------------
// Hashing for reconcile
// ---------------------------------------------------------------------------------------------

/** cyrb53: a fast, well-mixed 53-bit string hash (pure, so this module also runs in a browser). */
const cyrb53 = (text: string, seed: number): string => {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0")
}

/** A 112-bit content hash as 28 hex characters. */
export const hashString = (text: string): string => cyrb53(text, 1) + cyrb53(text, 2)

const functionIds = new WeakMap<object, number>()
let nextFunctionId = 1
const identityOf = (value: object): string => {
  let id = functionIds.get(value)
  if (id === undefined) {
    id = nextFunctionId++
    functionIds.set(value, id)
  }
  return `#ref${id}`
}

/** Stable JSON: sorted keys; secrets reduced to a digest; functions and effects by identity. */
const canonical = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) {
    return `#secret:${hashString(String(Redacted.value(value)))}`
  }
  if (typeof value === "function") return identityOf(value)
  if (value === null || typeof value !== "object") return value
  if (Effect.isEffect(value)) return identityOf(value)
  if (Array.isArray(value)) return value.map(canonical)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).toSorted()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = canonical(v)
  }
  return out
}

const digest = (value: unknown): string => hashString(JSON.stringify(canonical(value)) ?? "")

/** Hash of the fields whose change requires a new process. */
export const launchHash = (spec: BackendSpec): string =>
  digest({
    launcher: spec.launcher,
    env: spec.env,
    secrets: spec.secrets,
    bootstrap: spec.bootstrap,
    port: spec.port,
    stdio: spec.stdio
  })

/** Hash of the fields that apply in place. */
export const policyHash = (spec: BackendSpec): string =>
  digest({
    label: spec.label,
    readiness: spec.readiness,
    liveness: spec.liveness,
    restart: spec.restart,
    stop: spec.stop,
    log: spec.log,
    preflight: spec.preflight
  })

/**
 * A file stem for the instance's logs that cannot escape the log directory and cannot collide:
 * the id with anything outside `[A-Za-z0-9._-]` replaced by `_` (at most 64 characters, no leading
 * dot or dash), then `-` and 12 hex characters of a hash of the full id.
 */
export const logFileStem = (id: string): string => {
  const readable = id.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[.-]/, "_").slice(0, 64)
  return `${readable}-${hashString(id).slice(0, 12)}`
}

/**
 * What is wrong with a spec's `stdio` channel, for `register`/`reconcile` to refuse it: a
 * bootstrap on stdin (stdin carries the channel), `Stdio` readiness without a channel, or
 * `Signal` readiness with one (its ready line would be written into the channel).
 */
export const stdioProblem = (spec: BackendSpec): string | undefined => {
  const check = spec.readiness?.check?._tag
  if (spec.stdio === undefined) {
    return check === "Stdio"
      ? "readiness Stdio needs a `stdio` channel; add `stdio: {}` or pick another check"
      : undefined
  }
  if (spec.bootstrap?.delivery === "stdin") {
    return "bootstrap.delivery \"stdin\" cannot be used with a `stdio` channel (stdin carries the channel); use \"fd3\" or \"env\""
  }
  if (check === "Signal") {
    return "readiness Signal writes to stdout, which is the `stdio` channel's; use readiness Stdio (the default) or LogLine on stderr"
  }
  return undefined
}

/** A spec that cannot work as written: the field, and what is wrong with it and how to fix it. */
export interface SpecProblem {
  /** The path of the field, e.g. `readiness.check.pattern`. */
  readonly field: string
  readonly message: string
}

const regexProblem = (field: string, pattern: string, flags: string | undefined): SpecProblem | undefined => {
  try {
    RegExp(pattern, flags ?? "") // throws on an invalid pattern or flags
    return undefined
  } catch (error) {
    return {
      field,
      message: `is not a valid regular expression (${
        error instanceof Error ? error.message : String(error)
      }); fix the pattern or its flags`
    }
  }
}

/**
 * Whether `{port}` is unknown until the backend reports it. An `Attach` backend's port is known at
 * launch (its URL's, or the local end of the forward), so its checks may always use `{port}`.
 */
const needsPort = (spec: BackendSpec) =>
  spec.launcher._tag !== "Attach" && (spec.port ?? { _tag: "Reported" })._tag === "Reported"

/** The problems of one readiness or liveness check (`field` is where it sits in the spec). */
const checkProblems = (spec: BackendSpec, check: Readiness, field: string): Array<SpecProblem> => {
  const out: Array<SpecProblem> = []
  const portHint = "give the spec a Fixed or Allocated port, or name the port in the check"
  switch (check._tag) {
    case "LogLine": {
      const problem = regexProblem(`${field}.pattern`, check.pattern, check.flags)
      if (problem !== undefined) out.push(problem)
      break
    }
    case "Http":
      if (check.url.includes("{port}") && needsPort(spec)) {
        out.push({
          field: `${field}.url`,
          message: `uses {port}, but the port is Reported (known only once ready): ${portHint}`
        })
      }
      break
    case "Tcp":
      if (check.port === undefined && needsPort(spec)) {
        out.push({
          field: `${field}.port`,
          message: `is missing and the port is Reported (known only once ready): ${portHint}`
        })
      }
      break
    case "Rpc":
      if ((check.url === undefined || check.url.includes("{port}")) && needsPort(spec)) {
        out.push({
          field: `${field}.url`,
          message:
            `${check.url === undefined ? "defaults to tcp://{host}:{port}, which uses" : "uses"} {port}, but the ` +
            `port is Reported (known only once ready): ${portHint}`
        })
      }
      break
  }
  return out
}

/**
 * What makes a (schema-valid) spec impossible to run, field by field: an invalid readiness or
 * liveness regular expression, a check that needs a port the pool cannot know, a liveness check
 * that cannot poll, a backoff whose first delay exceeds its cap. `register` and `reconcile` refuse
 * such a spec with `InvalidDesiredStateError` naming the field; nothing is started.
 */
export const specProblems = (spec: BackendSpec): ReadonlyArray<SpecProblem> => {
  const out: Array<SpecProblem> = []
  const readiness = spec.readiness?.check
  if (readiness !== undefined) out.push(...checkProblems(spec, readiness, "readiness.check"))
  const liveness = spec.liveness?.check
  if (liveness !== undefined) {
    if (liveness._tag === "Signal" || liveness._tag === "LogLine" || liveness._tag === "Stdio") {
      out.push({
        field: "liveness.check",
        message: `is ${liveness._tag}, which happens once; a liveness check polls: use Http, Tcp, Rpc or Custom`
      })
    } else {
      out.push(...checkProblems(spec, liveness, "liveness.check"))
    }
  }
  const backoff = spec.restart?.backoff
  if (backoff?.initialMs !== undefined && backoff.maxMs !== undefined && backoff.initialMs > backoff.maxMs) {
    out.push({
      field: "restart.backoff.initialMs",
      message: `(${backoff.initialMs}) is above restart.backoff.maxMs (${backoff.maxMs}): lower it, or raise the cap`
    })
  }
  const stdio = stdioProblem(spec)
  if (stdio !== undefined) out.push({ field: "stdio", message: stdio })
  return out
}

/** A display name for the spec. */
export const labelOf = (spec: BackendSpec): string => spec.label ?? spec.id
