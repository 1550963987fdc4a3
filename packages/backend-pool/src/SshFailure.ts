/**
 * What went wrong with an `ssh` invocation, read from its stderr, and what to do about it.
 *
 * ssh exits 255 for all of its own errors, but also when the remote command was killed by a
 * signal or exited 255 itself, so the exit code says little (`shared/reference/ssh.md` §2.2); the
 * messages are stable across versions and locales (OpenSSH has no translations, §2.3). Each reason
 * has a failure class for the instance's restart logic:
 * - `fatal` — retrying cannot help until a person acts (host key unknown or changed, key refused,
 *   no such host, bad options); the message says what to do;
 * - `transient` — the host or the network may come back (refused, timed out, dropped, lost);
 *   retried through the backoff forever;
 * - `bounded` — retried a few times (a forward refused, an unrecognised message).
 *
 * Pure: the tests check it against stderr recorded from OpenSSH 9.2 (`ssh.md` §2.3 and
 * `test/fixtures/ssh-stderr.json`).
 *
 * @module
 */
import type { FailureClass } from "./BackendSpec.ts"

/** Why an ssh invocation failed. */
export type SshFailureReason =
  | "HostKeyUnknown"
  | "HostKeyChanged"
  | "AuthRefused"
  | "TooManyAuthFailures"
  | "IdentityMissing"
  | "KeyPermissions"
  | "HostNotFound"
  | "DnsTemporary"
  | "ConnectionRefused"
  | "ConnectTimeout"
  | "NoRoute"
  | "BannerTimeout"
  | "Dropped"
  | "KeepaliveLost"
  | "ConnectionClosed"
  | "ForwardRefused"
  | "ControlSocket"
  | "ConfigError"
  | "NotPosixShell"
  | "ClientMissing"
  | "Unknown"

/** A classified failure. */
export interface SshFailure {
  readonly reason: SshFailureReason
  readonly failureClass: FailureClass
  /** What happened and the fix, for people. */
  readonly message: string
  /** The ssh messages it was read from (the last few lines), for the log. */
  readonly detail: string
}

/** What a message may mention. */
export interface FailureContext {
  /** `user@host:port`, for messages. */
  readonly target: string
  readonly host: string
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly identityFile?: string | undefined
  readonly knownHostsFile?: string | undefined
}

/** How often a `bounded` failure is retried before the instance fails. */
export const boundedRetries = 5

const knownHosts = (c: FailureContext) => c.knownHostsFile ?? "~/.ssh/known_hosts"
const hostPattern = (c: FailureContext) => (c.port === undefined || c.port === 22 ? c.host : `[${c.host}]:${c.port}`)
const keyscan = (c: FailureContext) =>
  `ssh-keyscan ${c.port === undefined ? "" : `-p ${c.port} `}${c.host} >> ${knownHosts(c)}`
/** A file name followed by a space, or nothing when there is none (no double space in the message). */
const named = (file: string | undefined) => (file === undefined ? "" : `${file} `)
const copyId = (c: FailureContext) =>
  `ssh-copy-id ${c.identityFile === undefined ? "" : `-i ${c.identityFile}.pub `}${
    c.port === undefined ? "" : `-p ${c.port} `
  }${c.user === undefined ? "" : `${c.user}@`}${c.host}`

interface Rule {
  readonly reason: SshFailureReason
  readonly failureClass: FailureClass
  /** Stable substrings (any of them), from `ssh.md` §2.3 unless noted. */
  readonly match: ReadonlyArray<string | RegExp>
  readonly message: (c: FailureContext) => string
}

/** In order: the first rule that matches wins (a changed key also prints "verification failed"). */
const rules: ReadonlyArray<Rule> = [
  {
    reason: "HostKeyChanged",
    failureClass: "fatal",
    match: ["REMOTE HOST IDENTIFICATION HAS CHANGED", "has changed and you have requested strict checking"],
    message: (c) =>
      `the host key of ${c.target} has CHANGED since it was recorded in ${knownHosts(c)}: this can be a ` +
      `man-in-the-middle attack, or the host was reinstalled. Not retried. If you know why it changed, remove ` +
      `the old key (ssh-keygen -R '${hostPattern(c)}' -f ${knownHosts(c)}) and add the new one after checking ` +
      `its fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host)`
  },
  {
    reason: "HostKeyUnknown",
    failureClass: "fatal",
    match: ["host key is known for", "Host key verification failed."],
    message: (c) =>
      `the host key of ${c.target} is not in ${knownHosts(c)}, and the launcher never answers a prompt. ` +
      `Add it after checking its fingerprint out of band (${keyscan(c)}, then compare ssh-keygen -lf on both ` +
      `sides), or set hostKeyPolicy "accept-new" to trust the first key it presents`
  },
  {
    reason: "KeyPermissions",
    failureClass: "fatal",
    match: ["UNPROTECTED PRIVATE KEY FILE", "bad permissions"],
    message: (c) =>
      `ssh refuses the private key ${named(c.identityFile)}because other users can read it: ` +
      `chmod 600 ${c.identityFile ?? "<the key file>"} (git does not keep file modes)`
  },
  {
    reason: "IdentityMissing",
    failureClass: "fatal",
    match: [/Identity file .* not accessible/, /Load key ".*": (No such file|invalid format|error in libcrypto)/],
    message: (c) =>
      `the identity file ${named(c.identityFile)}cannot be read: create it (ssh-keygen -t ed25519 -f ` +
      `${c.identityFile ?? "<file>"}) and install its public key on the host (${copyId(c)}), or fix identityFile`
  },
  {
    reason: "TooManyAuthFailures",
    failureClass: "fatal",
    match: ["Too many authentication failures"],
    message: (c) =>
      `${c.target} disconnected after too many authentication attempts (an ssh-agent offering many keys?): ` +
      `set identityFile so only that key is offered`
  },
  {
    reason: "AuthRefused",
    failureClass: "fatal",
    match: ["Permission denied (", "No more authentication methods to try"],
    message: (c) =>
      `${c.target} refused the login (no accepted key${c.identityFile === undefined ? "" : ` for ${c.identityFile}`}` +
      `; the launcher never types a password). Install the public key on the host (${copyId(c)}), and check ` +
      `the user name and identityFile`
  },
  {
    reason: "HostNotFound",
    failureClass: "fatal",
    match: [
      /Could not resolve hostname .*: (Name or service not known|nodename nor servname|No address associated|No such host)/
    ],
    message: (c) =>
      `the host name ${c.host} is unknown: it is neither a Host alias in the ssh config nor resolvable. ` +
      `Fix the host, or define the alias in ~/.ssh/config (or the connection's configFile)`
  },
  {
    reason: "DnsTemporary",
    failureClass: "transient",
    match: ["Could not resolve hostname"],
    message: (c) => `the name ${c.host} could not be resolved right now (DNS unavailable?); retrying`
  },
  {
    reason: "ConnectionRefused",
    failureClass: "transient",
    match: [/connect to host .*: Connection refused/],
    message: (c) => `nothing accepts connections at ${c.target} (is sshd running, and is the port right?); retrying`
  },
  {
    reason: "ConnectTimeout",
    failureClass: "transient",
    match: [/connect to host .*: (Connection timed out|Operation timed out)/],
    message: (c) => `${c.target} did not answer within the connect timeout (host down or filtered?); retrying`
  },
  {
    reason: "NoRoute",
    failureClass: "transient",
    match: [/connect to host .*: (No route to host|Network is unreachable|Host is down)/],
    message: (c) => `${c.target} is unreachable from here (no route); retrying`
  },
  {
    reason: "BannerTimeout",
    failureClass: "transient",
    match: ["during banner exchange"],
    message: (c) => `${c.target} accepted the connection but sent no SSH banner (overloaded, or not sshd?); retrying`
  },
  {
    reason: "Dropped",
    failureClass: "transient",
    match: ["kex_exchange_identification:", "Connection reset by peer", "Connection closed by"],
    message: (c) => `${c.target} dropped the connection during the handshake (sshd MaxStartups or load); retrying`
  },
  {
    reason: "KeepaliveLost",
    failureClass: "transient",
    match: [/Timeout, server .* not responding/],
    message: (c) => `${c.target} stopped answering keepalives (network lost or host down); retrying`
  },
  {
    reason: "ForwardRefused",
    failureClass: "bounded",
    match: [
      "Port forwarding failed",
      "forwarding request failed",
      "cannot listen to port",
      "Could not request local forwarding",
      "administratively prohibited"
    ],
    message: (c) =>
      `the port forward through ${c.target} was refused (the local port was taken, or sshd has ` +
      `AllowTcpForwarding no); retrying on a new port`
  },
  {
    reason: "ControlSocket",
    failureClass: "transient",
    match: [/Control socket connect\(.*\)/, "mux_client_", "muxclient:"],
    message: (c) => `the shared connection to ${c.target} is gone; a new one is opened`
  },
  {
    reason: "ConfigError",
    failureClass: "fatal",
    match: [
      "Bad configuration option",
      "Bad local forwarding specification",
      "command-line line",
      "command-line: line",
      "Can't open user config file",
      "no argument after keyword",
      "Unsupported option",
      "garbage at end of line"
    ],
    message: () => `ssh rejected its options: check the connection's options and configFile`
  },
  {
    // Windows' cmd.exe (the default shell of Windows sshd, ssh.md §8) and PowerShell.
    reason: "NotPosixShell",
    failureClass: "fatal",
    match: ["is not recognized as an internal or external command", "is not recognized as the name of a cmdlet"],
    message: (c) =>
      `the login shell of ${c.target} is not a POSIX shell (cmd.exe or PowerShell?): the SSH launcher runs ` +
      `\`exec sh -s\` there. Use a Linux or macOS host, or set the account's shell to a POSIX shell`
  },
  {
    reason: "ConnectionClosed",
    failureClass: "transient",
    match: [/Connection to .* closed by remote host/, "Broken pipe", "client_loop: send disconnect"],
    message: (c) => `${c.target} closed the connection; retrying`
  }
]

const detailOf = (stderr: string): string =>
  stderr
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0 && !/^@+\s*$/.test(l) && !l.startsWith("@@"))
    .slice(-6)
    .join(" | ")
    .slice(0, 1_000)

/** Classifies ssh's stderr; `Unknown` (bounded) when no known message is in it. */
export const classify = (stderr: string, context: FailureContext): SshFailure => {
  for (const rule of rules) {
    const hit = rule.match.some((m) => (typeof m === "string" ? stderr.includes(m) : m.test(stderr)))
    if (hit) {
      return {
        reason: rule.reason,
        failureClass: rule.failureClass,
        message: rule.message(context),
        detail: detailOf(stderr)
      }
    }
  }
  const detail = detailOf(stderr)
  return {
    reason: "Unknown",
    failureClass: "bounded",
    message: `ssh to ${context.target} failed${detail.length === 0 ? " without a message" : `: ${detail}`}`,
    detail
  }
}

/** The failure for an `ssh` executable that could not be started. */
export const clientMissing = (executable: string, context: FailureContext): SshFailure => ({
  reason: "ClientMissing",
  failureClass: "fatal",
  message: `the OpenSSH client ${JSON.stringify(executable)} could not be started to reach ${context.target}: ` +
    `install it (Debian: apt-get install openssh-client; Windows: the OpenSSH Client optional feature) or set ` +
    `the connection's executable`,
  detail: ""
})
