/**
 * Typed errors of calls, handlers and connections.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { ConnectionError } from "./ConnectionError.ts"
import type { ErrorObject } from "./Message.ts"

/**
 * The remote side answered with an error object, or a handler fails with one. `code` is absent in
 * the daemon dialect.
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcError extends Schema.TaggedError<RpcError>()("RpcError", {
  code: Schema.optionalKey(Schema.Number),
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
}) {
  /** Builds the error from a wire error object. */
  static fromObject(error: ErrorObject): RpcError {
    return new RpcError(error)
  }
  /** The wire error object. */
  toObject(): ErrorObject {
    const out: { code?: number; message: string; data?: unknown } = { message: this.message }
    if (this.code !== undefined) out.code = this.code
    if (this.data !== undefined) out.data = this.data
    return out
  }
}

/**
 * No reply arrived within the call's timeout. The pending entry is removed; a late reply is ignored.
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcTimeoutError extends Schema.TaggedError<RpcTimeoutError>()("RpcTimeoutError", {
  method: Schema.String,
  timeoutMillis: Schema.Number,
  message: Schema.String
}) {}

/**
 * The connection dropped (or was never established, or the peer was closed) while the call was
 * pending. Calls to methods marked idempotent are replayed after a reconnect instead. `cause` says
 * why the connection ended or could not be opened, when that is known (refused, DNS, TLS, an HTTP
 * status on the upgrade, closed by the peer, a keepalive timeout).
 *
 * @since 0.1.0
 * @category errors
 */
export class PeerDisconnectedError extends Schema.TaggedError<PeerDisconnectedError>()("PeerDisconnectedError", {
  method: Schema.String,
  message: Schema.String,
  cause: Schema.optional(ConnectionError)
}) {}

/**
 * The bounded outbound queue was full and the policy refused to wait (or the wait timed out).
 *
 * @since 0.1.0
 * @category errors
 */
export class OutboundQueueFullError extends Schema.TaggedError<OutboundQueueFullError>()("OutboundQueueFullError", {
  method: Schema.String,
  capacity: Schema.Number,
  message: Schema.String
}) {}

/**
 * Params or a result did not match the method table's schema (on our side).
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcSchemaError extends Schema.TaggedError<RpcSchemaError>()("RpcSchemaError", {
  method: Schema.String,
  side: Schema.Literals(["params", "result"]),
  message: Schema.String
}) {}

/**
 * The connection handshake (token `auth`, `initialize`) failed. Fatal: the peer stops reconnecting
 * and every call fails with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class HandshakeError extends Schema.TaggedError<HandshakeError>()("HandshakeError", {
  step: Schema.String,
  message: Schema.String
}) {
  /** The server answered a handshake step with an error (`reason` is its message). */
  static rejected(step: string, reason: string): HandshakeError {
    return new HandshakeError({
      step,
      message: `the server rejected the "${step}" handshake step: ${reason}; check the token or the ` +
        "handshake params (the peer stops reconnecting after this)"
    })
  }
}

/**
 * Everything a call can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type CallError =
  | RpcError
  | RpcTimeoutError
  | PeerDisconnectedError
  | OutboundQueueFullError
  | RpcSchemaError
  | HandshakeError
