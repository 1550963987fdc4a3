/**
 * Checks shared by the `Ssh` and `Attach` launchers before they connect, and the way an
 * `SshError` becomes a preflight failure (its class decides fatal, transient or bounded).
 *
 * @module
 */
import { Result } from "effect"
import * as NodeFs from "node:fs"
import { PreflightError } from "./BackendSpec.ts"
import * as SshConnection from "./SshConnection.ts"
import * as SshFailure from "./SshFailure.ts"
import type * as SshMaster from "./SshMaster.ts"

/** The class of an `SshError` as a preflight failure. */
export const toPreflight = (error: SshMaster.SshError): PreflightError =>
  new PreflightError({
    message: error.message,
    failureClass: error.failureClass,
    ...(error.failureClass === "bounded" ? { retryLimit: SshFailure.boundedRetries } : {})
  })

/** A fatal preflight failure. */
export const fatal = (message: string) => new PreflightError({ message, failureClass: "fatal" })

const readable = (path: string) => {
  try {
    NodeFs.accessSync(path, NodeFs.constants.R_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Checks a connection without touching the network: owned options, control characters, and the
 * local files it names (identity, known hosts, config). `field` names it in messages.
 */
export const checkConnection = (
  id: string,
  field: string,
  c: SshConnection.SshConnection
): PreflightError | undefined => {
  const valid = SshConnection.validate(c)
  if (Result.isFailure(valid)) return fatal(`${id}: ${field}.${valid.failure.field}: ${valid.failure.message}`)
  if (c.identityFile !== undefined && !readable(c.identityFile)) {
    return fatal(
      `${id}: the identity file ${c.identityFile} does not exist or cannot be read: create a key ` +
        `(ssh-keygen -t ed25519 -f ${c.identityFile}) and install it on the host (ssh-copy-id -i ${c.identityFile}.pub ` +
        `${c.user === undefined ? "" : `${c.user}@`}${c.host}), or fix ${field}.identityFile`
    )
  }
  if (
    c.knownHostsFile !== undefined && (c.hostKeyPolicy ?? "yes") === "yes" && !readable(c.knownHostsFile)
  ) {
    return fatal(
      `${id}: the known-hosts file ${c.knownHostsFile} does not exist, so no host key can be trusted: add the ` +
        `host's key to it after checking its fingerprint (ssh-keyscan ${c.port === undefined ? "" : `-p ${c.port} `}` +
        `${c.host} >> ${c.knownHostsFile}), or set hostKeyPolicy "accept-new"`
    )
  }
  if (c.configFile !== undefined && c.configFile !== "none" && !readable(c.configFile)) {
    return fatal(`${id}: the ssh config file ${c.configFile} cannot be read: fix ${field}.configFile`)
  }
  return undefined
}
