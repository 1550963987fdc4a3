/**
 * Why a connection could not be opened or ended: one tagged error with a `reason` a program can
 * act on (retry a refused or timed-out connection, fix a DNS name or a certificate, stop on a 401),
 * carrying the underlying cause. Pure: it classifies error codes and messages, so it runs in
 * browsers too.
 *
 * @since 0.1.0
 */
import { Predicate, Schema } from "effect"

/**
 * Why a connection failed.
 *
 * - `Refused`: nothing listens there (`ECONNREFUSED`).
 * - `Dns`: the host name does not resolve (`ENOTFOUND`, `EAI_AGAIN`).
 * - `Timeout`: no connection (or no WebSocket handshake) within the open timeout (`ETIMEDOUT`).
 * - `Tls`: the TLS handshake failed: an untrusted, expired or mismatched certificate, or a
 *   protocol error.
 * - `HttpStatus`: the WebSocket upgrade was answered with an HTTP status instead of 101 (`status`
 *   says which; 401 and 403 are fatal: a reconnecting peer stops).
 * - `ClosedByPeer`: the other side closed or reset the connection.
 * - `HalfOpen`: the connection stopped carrying traffic and did not answer a keepalive ping in time.
 * - `ClosedLocally`: this side ended the connection (`disconnect`, or the outbound queue's
 *   `disconnect` policy).
 * - `Unreachable`: no route to the host or network (`EHOSTUNREACH`, `ENETUNREACH`).
 * - `Unknown`: anything else (the cause says what).
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literals([
  "Refused",
  "Dns",
  "Timeout",
  "Tls",
  "HttpStatus",
  "ClosedByPeer",
  "HalfOpen",
  "ClosedLocally",
  "Unreachable",
  "Unknown"
])

/**
 * Why a connection failed (see {@link Reason}).
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * A connection could not be opened, or ended. `address` is what was dialled (`host:port` or a
 * URL without credentials); `code` is the system or TLS error code when there is one; `status` the
 * HTTP status of a refused WebSocket upgrade.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {
  reason: Reason,
  address: Schema.String,
  code: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.Number),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  /**
   * Whether retrying cannot help: the server refused the credentials (HTTP 401 or 403 on the
   * upgrade). A reconnecting peer stops at such an error.
   */
  get fatal(): boolean {
    return this.reason === "HttpStatus" && (this.status === 401 || this.status === 403)
  }
}

const dnsCodes = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"])
const closedCodes = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"])
const unreachableCodes = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL"])
// OpenSSL's certificate verification codes, as Node reports them on `error.code`.
const certificateCodes = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH"
])

/**
 * The reason a system or TLS error code stands for, or `undefined` when it names none of them.
 *
 * @since 0.1.0
 * @category classification
 */
export const reasonOfCode = (code: string): Reason | undefined => {
  if (code === "ECONNREFUSED") return "Refused"
  if (dnsCodes.has(code)) return "Dns"
  if (code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT") return "Timeout"
  if (closedCodes.has(code)) return "ClosedByPeer"
  if (unreachableCodes.has(code)) return "Unreachable"
  if (certificateCodes.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_")) return "Tls"
  return undefined
}

const codeOf = (cause: unknown): string | undefined => {
  if (!Predicate.isObject(cause)) return undefined
  const code = (cause as { readonly code?: unknown }).code
  return Predicate.isString(code) ? code : undefined
}

const messageOf = (cause: unknown): string =>
  Predicate.isObject(cause) && Predicate.isString((cause as { readonly message?: unknown }).message)
    ? (cause as { readonly message: string }).message
    : String(cause)

const advice: Record<Reason, string> = {
  Refused: "nothing accepts connections there; start the server or fix the port",
  Dns: "the host name does not resolve; check its spelling or the network's DNS",
  Timeout: "no answer within the open timeout; check the address, a firewall, or raise `openTimeout`",
  Tls: "the TLS handshake failed; check the server's certificate, the `ca` you trust and `servername`",
  HttpStatus: "the server refused the WebSocket upgrade",
  ClosedByPeer: "the other side closed the connection",
  HalfOpen: "the connection stopped answering keepalive pings; the network dropped it",
  ClosedLocally: "this side ended the connection",
  Unreachable: "no route to the host; check the address and the network",
  Unknown: "see the cause"
}

const statusAdvice = (status: number): string =>
  status === 401
    ? "401: the token was missing or wrong; fix the token (not retried)"
    : status === 403
    ? "403: the server refused this client (an Origin it does not allow, or a role); not retried"
    : status === 404
    ? "404: no WebSocket endpoint at that path; check the URL's path"
    : status === 503
    ? "503: the server is at its connection limit; retry later"
    : `${status}: check the URL and the server`

/**
 * Builds a `ConnectionError` for a refused WebSocket upgrade.
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpStatus = (address: string, status: number, cause?: unknown): ConnectionError =>
  new ConnectionError({
    reason: "HttpStatus",
    address,
    status,
    message: `connecting to ${address} failed: the server answered the WebSocket upgrade with HTTP ${
      statusAdvice(status)
    }`,
    cause
  })

/**
 * Builds a `ConnectionError` of a known reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: Reason, address: string, cause?: unknown, detail?: string): ConnectionError => {
  const code = codeOf(cause)
  const what = detail ?? (cause === undefined ? undefined : messageOf(cause))
  return new ConnectionError({
    reason,
    address,
    ...(code === undefined ? {} : { code }),
    message: `connection to ${address} failed (${reason}${what === undefined ? "" : `: ${what}`}): ${advice[reason]}`,
    cause
  })
}

/**
 * Classifies whatever a transport failed with (a Node system error, a TLS error, a `ws` error,
 * a message) into a `ConnectionError`. An existing `ConnectionError` is returned as it is.
 *
 * @since 0.1.0
 * @category classification
 */
export const classify = (address: string, cause: unknown): ConnectionError => {
  if (cause instanceof ConnectionError) return cause
  const code = codeOf(cause)
  const byCode = code === undefined ? undefined : reasonOfCode(code)
  if (byCode !== undefined) return make(byCode, address, cause)
  const message = messageOf(cause)
  // `ws` reports a refused upgrade only in its message.
  const status = /Unexpected server response: (\d{3})/.exec(message)
  if (status !== null) return httpStatus(address, Number(status[1]), cause)
  if (/timed? ?out/i.test(message)) return make("Timeout", address, cause)
  if (/certificate|ssl|tls/i.test(message)) return make("Tls", address, cause)
  return make("Unknown", address, cause)
}

/**
 * The `ConnectionError` inside whatever a socket failed with, if any: the error itself, or the
 * `cause` of an `effect/socket` `SocketError` reason.
 *
 * @since 0.1.0
 * @category classification
 */
export const find = (error: unknown): ConnectionError | undefined => {
  if (error instanceof ConnectionError) return error
  if (!Predicate.isObject(error)) return undefined
  const reason = (error as { readonly reason?: unknown }).reason
  if (Predicate.isObject(reason)) {
    const cause = (reason as { readonly cause?: unknown }).cause
    if (cause instanceof ConnectionError) return cause
  }
  const cause = (error as { readonly cause?: unknown }).cause
  return cause instanceof ConnectionError ? cause : undefined
}
