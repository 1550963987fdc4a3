/**
 * How to reach a host with the system OpenSSH client, as data, and the `ssh` arguments that
 * follow from it. Pure: no process is started here.
 *
 * Every argument list puts the launcher's own `-o` options first, because for each option
 * "the first obtained value will be used" (`ssh_config(5)`; `shared/reference/ssh.md` §2.1): a
 * user's `~/.ssh/config` (Host aliases, ProxyJump) still applies to everything the launcher does
 * not set. Unattended always: `BatchMode=yes` (never a prompt), host keys checked
 * (`StrictHostKeyChecking=yes`, or `accept-new` when asked; never `no`, which logs in even when
 * the key changed, §2.1), keepalives on, no pty (`-T`, §3.4), and `--` before the host so nothing
 * after it is read as an option.
 *
 * @module
 */
import { Result, Schema } from "effect"

// ---------------------------------------------------------------------------------------------
// The connection, as data
// ---------------------------------------------------------------------------------------------

/** A host name, an address or a `Host` alias of the user's `ssh_config`. Never starts with `-`. */
export const SshHost = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_][A-Za-z0-9_.:%-]{0,252}$/, {
    description: "a host name, IP address or ssh_config Host alias (letters, digits and _.:%-, not starting with -)"
  })
)

/** A remote user name. Never starts with `-`. */
export const SshUser = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, {
    description: "a user name (letters, digits and _.-, not starting with -)"
  })
)

/** The name of an `ssh_config` option, e.g. `ProxyJump`. */
export const SshOptionName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z][A-Za-z0-9]{1,63}$/, { description: "an ssh_config option name such as ProxyJump" })
)

/**
 * How an unknown host key is treated:
 * - `yes` (default): refused. Put the key in the known-hosts file first (`ssh-keyscan`, after
 *   checking its fingerprint out of band) — nobody can answer a prompt in a pool.
 * - `accept-new`: an unknown key is added to the known-hosts file (trust on first use). A changed
 *   key is refused either way (`ssh.md` §2.1).
 */
export const HostKeyPolicy = Schema.Literals(["yes", "accept-new"])
/** A host-key policy. */
export type HostKeyPolicy = typeof HostKeyPolicy.Type

/**
 * Whether runs share one master connection per host (OpenSSH `ControlMaster`):
 * - `auto` (default): yes where the client supports it (not on Windows, whose OpenSSH has no
 *   ControlMaster, `ssh.md` §8);
 * - `never`: one connection per run, plus one `ssh -N -L` per forward.
 */
export const Multiplex = Schema.Literals(["auto", "never"])
/** A multiplexing choice. */
export type Multiplex = typeof Multiplex.Type

const Seconds = (max: number) => Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: max }))

/** Everything the launcher needs to reach one host. */
export const SshConnection = Schema.Struct({
  /** The host name, address or `Host` alias. */
  host: SshHost,
  /** The remote user (default: what `ssh_config` or the local user name says). */
  user: Schema.optionalKey(SshUser),
  /** The port (default: `ssh_config`, else 22). */
  port: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))),
  /** A private key file; with it only this key is offered (`IdentitiesOnly=yes`). */
  identityFile: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  /** The known-hosts file to trust (and, with `accept-new`, to write); the system file is then ignored. */
  knownHostsFile: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  hostKeyPolicy: Schema.optionalKey(HostKeyPolicy),
  /** `ssh -F`: a config file to read instead of `~/.ssh/config`, or `"none"` for no file at all. */
  configFile: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  /** TCP connect plus key exchange, in seconds (default 10). */
  connectTimeoutSeconds: Schema.optionalKey(Seconds(600)),
  /** `ServerAliveInterval` in seconds (default 15); the client gives up after `interval × countMax` silent seconds. */
  keepaliveIntervalSeconds: Schema.optionalKey(Seconds(3600)),
  /** `ServerAliveCountMax` (default 3). */
  keepaliveCountMax: Schema.optionalKey(Seconds(100)),
  /**
   * More `-o Name=value` options, after the launcher's own (e.g. `{ ProxyJump: "bastion" }`). The
   * options the launcher sets itself are refused here, each with the field to use instead.
   */
  options: Schema.optionalKey(Schema.Record(SshOptionName, Schema.String)),
  multiplex: Schema.optionalKey(Multiplex),
  /** The `ssh` client to run (default `ssh` on PATH). */
  executable: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1)))
})
/** A connection. */
export type SshConnection = typeof SshConnection.Type

// ---------------------------------------------------------------------------------------------
// Validation beyond the schema
// ---------------------------------------------------------------------------------------------

/** A connection that cannot be used as given; the message names the field and the fix. */
export class SshConnectionError extends Schema.TaggedError<SshConnectionError>()("SshConnectionError", {
  field: Schema.String,
  message: Schema.String
}) {}

/**
 * Options the launcher sets itself, lower-cased, with what to use instead. Anything else may be
 * passed through `options`.
 */
export const ownedOptions: Readonly<Record<string, string>> = {
  batchmode: "nothing: the launcher always runs unattended (BatchMode=yes)",
  stricthostkeychecking: "hostKeyPolicy (\"yes\" or \"accept-new\"; \"no\" is never allowed)",
  userknownhostsfile: "knownHostsFile",
  globalknownhostsfile: "knownHostsFile",
  identityfile: "identityFile",
  identitiesonly: "identityFile (which implies IdentitiesOnly=yes)",
  port: "port",
  user: "user",
  connecttimeout: "connectTimeoutSeconds",
  serveraliveinterval: "keepaliveIntervalSeconds",
  serveralivecountmax: "keepaliveCountMax",
  controlmaster: "multiplex",
  controlpath: "multiplex (the launcher owns the control socket)",
  controlpersist: "multiplex (masters live exactly as long as the pool)",
  loglevel: "nothing: the launcher reads ssh's messages at LogLevel=INFO",
  requesttty: "nothing: a pty mangles the streams (ssh.md §3.4)",
  remotecommand: "nothing: the launcher sends its own command",
  sessiontype: "nothing: the launcher needs a command session",
  stdinnull: "nothing: stdin is the run's control channel",
  forkafterauthentication: "nothing: the launcher supervises the ssh process itself",
  exitonforwardfailure: "nothing: the launcher checks every forward itself",
  streamlocalbindunlink: "nothing: the launcher owns its socket files",
  clearallforwardings: "nothing: the launcher needs its forwards"
}

// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/

/** Checks what the schema cannot: owned options, control characters in option values. */
export const validate = (connection: SshConnection): Result.Result<SshConnection, SshConnectionError> => {
  for (const [name, value] of Object.entries(connection.options ?? {})) {
    const owned = ownedOptions[name.toLowerCase()]
    if (owned !== undefined) {
      return Result.fail(
        new SshConnectionError({
          field: `options.${name}`,
          message: `the ssh option ${name} is set by the launcher; use ${owned}`
        })
      )
    }
    if (controlChars.test(value)) {
      return Result.fail(
        new SshConnectionError({
          field: `options.${name}`,
          message: `the value of ssh option ${name} contains a control character (a newline?); remove it`
        })
      )
    }
  }
  for (const field of ["identityFile", "knownHostsFile", "configFile", "executable"] as const) {
    const value = connection[field]
    if (value !== undefined && controlChars.test(value)) {
      return Result.fail(
        new SshConnectionError({ field, message: `${field} contains a control character; give a plain path` })
      )
    }
  }
  return Result.succeed(connection)
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

/** Defaults of the optional fields. */
export const defaults = {
  hostKeyPolicy: "yes" as HostKeyPolicy,
  connectTimeoutSeconds: 10,
  keepaliveIntervalSeconds: 15,
  keepaliveCountMax: 3,
  executable: "ssh"
} as const

/** How a given `ssh` invocation relates to the master connection. */
export type ControlMode =
  /** Starts the master: `-M`, the socket, `ControlPersist=no` (it ends with its own session). */
  | { readonly _tag: "Master"; readonly path: string }
  /** Uses the master's socket (and never becomes a master itself). */
  | { readonly _tag: "Client"; readonly path: string }
  /** A connection of its own, whatever the user's config says (`ssh.md` §8). */
  | { readonly _tag: "None" }

const controlArgs = (mode: ControlMode): ReadonlyArray<string> => {
  switch (mode._tag) {
    case "Master":
      // StreamLocalBindUnlink on the master: a Unix-socket forward may reuse a stale path (§5).
      return [
        "-M",
        "-o",
        `ControlPath=${mode.path}`,
        "-o",
        "ControlPersist=no",
        "-o",
        "StreamLocalBindUnlink=yes"
      ]
    case "Client":
      return ["-o", "ControlMaster=no", "-o", `ControlPath=${mode.path}`]
    case "None":
      return ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
  }
}

const o = (name: string, value: string | number) => ["-o", `${name}=${value}`]

/**
 * The options of every invocation for `connection`, up to (not including) `--` and the host: the
 * launcher's own options first, then the control options, then the user's `options`.
 */
export const optionArgs = (connection: SshConnection, mode: ControlMode): Array<string> => {
  return [
    ...(connection.configFile === undefined ? [] : ["-F", connection.configFile]),
    ...o("BatchMode", "yes"),
    ...o("StrictHostKeyChecking", connection.hostKeyPolicy ?? defaults.hostKeyPolicy),
    ...(connection.knownHostsFile === undefined
      ? []
      : [...o("UserKnownHostsFile", connection.knownHostsFile), ...o("GlobalKnownHostsFile", "/dev/null")]),
    ...(connection.identityFile === undefined
      ? []
      : [...o("IdentitiesOnly", "yes"), "-i", connection.identityFile]),
    ...o("ConnectTimeout", connection.connectTimeoutSeconds ?? defaults.connectTimeoutSeconds),
    ...o("ServerAliveInterval", connection.keepaliveIntervalSeconds ?? defaults.keepaliveIntervalSeconds),
    ...o("ServerAliveCountMax", connection.keepaliveCountMax ?? defaults.keepaliveCountMax),
    // INFO, not ERROR: "Timeout, server … not responding" is an INFO message (ssh.md §2.1).
    ...o("LogLevel", "INFO"),
    ...(connection.port === undefined ? [] : ["-p", String(connection.port)]),
    ...(connection.user === undefined ? [] : ["-l", connection.user]),
    ...controlArgs(mode),
    ...Object.entries(connection.options ?? {}).flatMap(([k, v]) => o(k, v))
  ]
}

/**
 * A full argument list for a session: options, `-T` (no pty, ssh.md §3.4), `extra` (e.g. `-N`,
 * `-L spec`, `-O check`), `--`, the host and, if any, the remote command as one string (ssh joins
 * words with spaces and the remote login shell re-parses them, ssh.md §2.1: so one string).
 */
export const sessionArgs = (
  connection: SshConnection,
  mode: ControlMode,
  extra: ReadonlyArray<string>,
  remoteCommand?: string
): Array<string> => [
  ...optionArgs(connection, mode),
  "-T",
  ...extra,
  "--",
  connection.host,
  ...(remoteCommand === undefined ? [] : [remoteCommand])
]

/** A short readable name of the connection for messages: `user@host:port`. */
export const describe = (connection: SshConnection): string =>
  `${connection.user === undefined ? "" : `${connection.user}@`}${connection.host}${
    connection.port === undefined ? "" : `:${connection.port}`
  }`

/**
 * The identity of a connection: two specs with the same key share one master. Everything that
 * changes how ssh connects is part of it.
 */
export const key = (connection: SshConnection): string =>
  JSON.stringify([
    connection.host,
    connection.user ?? null,
    connection.port ?? null,
    connection.identityFile ?? null,
    connection.knownHostsFile ?? null,
    connection.hostKeyPolicy ?? defaults.hostKeyPolicy,
    connection.configFile ?? null,
    connection.connectTimeoutSeconds ?? defaults.connectTimeoutSeconds,
    connection.keepaliveIntervalSeconds ?? defaults.keepaliveIntervalSeconds,
    connection.keepaliveCountMax ?? defaults.keepaliveCountMax,
    Object.entries(connection.options ?? {}).toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    connection.executable ?? defaults.executable
  ])

// ---------------------------------------------------------------------------------------------
// Control socket paths
// ---------------------------------------------------------------------------------------------

/**
 * The longest usable `ControlPath`: `sun_path` (108 bytes on Linux, 104 on macOS, both with the
 * NUL) minus the 17 characters of the temporary name the master binds first
 * (`<path>.<16 random>`, `mux.c`; ssh.md §4.2). Socket forwards have no such suffix, but the
 * same limit keeps one rule.
 */
export const maxControlPathLength = (platform: string): number => (platform === "darwin" ? 86 : 90)

/**
 * The directory for control sockets and socket forwards: `<base>/ism-XXXXXX` (the caller creates it
 * 0700 with `mkdtemp`). `base` is the OS temporary directory when short enough, else `/tmp` (macOS's
 * `$TMPDIR` is too long, ssh.md §4.2). `undefined` when neither leaves room for a socket name.
 */
export const controlDirBase = (tmpdir: string, platform: string, nameLength = 24): string | undefined => {
  const room = (base: string) => base.length + "/ism-XXXXXX/".length + nameLength <= maxControlPathLength(platform)
  const trimmed = tmpdir.replace(/\/+$/, "")
  if (room(trimmed)) return trimmed
  if (platform !== "win32" && room("/tmp")) return "/tmp"
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Quoting for the remote POSIX shell
// ---------------------------------------------------------------------------------------------

/**
 * Quotes `text` as one POSIX `sh` word that stays on one line: single quotes (`'` becomes
 * `'\''`), and each newline becomes `'"$nl"'`, so the reader must have `nl` set to a newline
 * (the remote wrapper does). NUL cannot be passed to a process and is refused by the caller.
 */
export const quoteWord = (text: string): string => `'${text.replaceAll("'", "'\\''").replaceAll("\n", "'\"$nl\"'")}'`

/** Whether `text` can be sent to the remote shell (no NUL byte). */
export const isSendable = (text: string): boolean => !text.includes("\u0000")
