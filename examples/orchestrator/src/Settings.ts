/**
 * The orchestrator's settings file (`backends.json`): which backends the user wants. Turning it
 * into `BackendSpec`s is pure; tokens and paths come in as arguments.
 */
import { type BackendSpec, SshConnection } from "@isthmus/backend-pool"
import { Effect, Schema } from "effect"

const Id = Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,62}$/))
const TickMs = Schema.Int.check(Schema.isBetween({ minimum: 50, maximum: 60_000 }))

export const LocalBackend = Schema.Struct({
  id: Id,
  label: Schema.String,
  kind: Schema.Literal("local"),
  tickMs: Schema.optionalKey(TickMs)
})

export const WslBackend = Schema.Struct({
  id: Id,
  label: Schema.String,
  kind: Schema.Literal("wsl"),
  distro: Schema.String,
  tickMs: Schema.optionalKey(TickMs)
})

/**
 * A daemon on another machine, over SSH. Without `connection` the orchestrator uses the SSH server
 * it starts for the demo (its own network namespace when root allows it), when one can be started.
 */
export const SshBackend = Schema.Struct({
  id: Id,
  label: Schema.String,
  kind: Schema.Literal("ssh"),
  connection: Schema.optionalKey(SshConnection.SshConnection),
  tickMs: Schema.optionalKey(TickMs)
})

export const Settings = Schema.Struct({
  backends: Schema.Array(Schema.Union([LocalBackend, WslBackend, SshBackend]))
})
export type Settings = typeof Settings.Type
export type BackendSetting = Settings["backends"][number]

/** A settings file that cannot be used; the message names the file and the problem. */
export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  file: Schema.String,
  message: Schema.String
}) {}

/** Parses the text of a settings file. Duplicate ids are an error, not a silent overwrite. */
export const parseSettings = (file: string, text: string): Effect.Effect<Settings, SettingsError> =>
  Effect.gen(function*() {
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => new SettingsError({ file, message: `${file} is not JSON: ${(error as Error).message}` })
    })
    const settings = yield* Schema.decodeUnknownEffect(Settings)(json).pipe(
      Effect.mapError((error) => new SettingsError({ file, message: `${file}: ${error.message}` }))
    )
    const seen = new Set<string>()
    for (const backend of settings.backends) {
      if (seen.has(backend.id)) {
        return yield* new SettingsError({
          file,
          message: `${file}: backend id ${JSON.stringify(backend.id)} appears twice`
        })
      }
      seen.add(backend.id)
    }
    return settings
  })

export interface SpecContext {
  /** The Node executable that runs the daemon (inside WSL: the distro's `node`; simulated: this one). */
  readonly node: string
  /** The daemon's entry point. */
  readonly daemonEntry: string
  /** The per-backend token, stable for an id so that re-reading the file does not restart anything. */
  readonly tokenFor: (id: string) => string
  readonly logDir: string
  /** The connection for an `ssh` backend that names none (the demo's own SSH server), if any. */
  readonly sshLab?: SshConnection.SshConnection | undefined
}

/**
 * The pool spec for one backend setting; `undefined` for an `ssh` backend without a connection when
 * there is no demo SSH server. The token travels in the bootstrap envelope only.
 */
export const toSpec = (setting: BackendSetting, context: SpecContext): BackendSpec.BackendSpec | undefined => {
  const envelope = {
    name: setting.id,
    token: context.tokenFor(setting.id),
    ...(setting.tickMs === undefined ? {} : { tickMs: setting.tickMs })
  }
  const common = {
    id: setting.id,
    label: setting.label,
    // A daemon is Ready in about a second; a WSL one starts two Node processes (wsl.exe and the
    // daemon). Generous, so a loaded machine does not turn a slow start into a failure.
    readiness: { startupTimeoutMs: 60_000 },
    restart: {
      mode: "always" as const,
      backoff: { initialMs: 500, factor: 2, maxMs: 5_000, jitter: 0.1 },
      resetAfterReadyMs: 10_000,
      crashLoopFailures: 5,
      crashLoopWindowMs: 60_000
    },
    stop: { signal: "SIGTERM" as const, graceMs: 3_000 },
    log: { dir: context.logDir, maxFileBytes: 1024 * 1024, maxFiles: 3 }
  }
  switch (setting.kind) {
    case "local":
      return {
        ...common,
        launcher: { _tag: "Local", command: context.node, args: [context.daemonEntry] },
        bootstrap: { delivery: "fd3", envelope }
      }
    case "wsl":
      return {
        ...common,
        launcher: { _tag: "Wsl", distro: setting.distro, command: context.node, args: [context.daemonEntry] },
        // wsl.exe does not pass extra descriptors: the envelope goes on stdin, which stays open
        // as the daemon's lifetime pipe.
        bootstrap: { delivery: "stdin", envelope }
      }
    case "ssh": {
      const connection = setting.connection ?? context.sshLab
      if (connection === undefined) return undefined
      return {
        ...common,
        // The daemon runs on the host and binds 127.0.0.1 there; the pool forwards its port here.
        launcher: { _tag: "Ssh", connection, command: context.node, args: [context.daemonEntry] },
        // Over ssh's stdin, like WSL's: never in a remote argv.
        bootstrap: { delivery: "stdin", envelope }
      }
    }
  }
}
