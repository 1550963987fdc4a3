/**
 * The dialect-neutral message model: what every JSON-RPC dialect decodes to and encodes from.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A request id. Dialects narrow it (the daemon dialect only accepts unsigned integers).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Id = Schema.Union([Schema.Number, Schema.String])

/**
 * A request id: a number or a string.
 *
 * @since 0.1.0
 * @category models
 */
export type Id = number | string

/**
 * The error object carried by an error response. `code` is absent in the daemon dialect, which
 * only sends `{message}`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorObject = Schema.Struct({
  code: Schema.optionalKey(Schema.Number),
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
})

/**
 * The error object of an error response: `{code?, message, data?}`.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorObject = typeof ErrorObject.Type

/**
 * A call that expects a reply. `params` is `undefined` when the wire message had none.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Request = Schema.TaggedStruct("Request", {
  id: Id,
  method: Schema.String,
  params: Schema.Unknown
})

/**
 * A message that expects no reply. `params` is `undefined` when the wire message had none;
 * `extra` holds the top-level fields beyond the protocol's own (`jsonrpc`, `id`, `method`,
 * `params`), such as codex's `emittedAtMs`, and is written back out when the message is encoded.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Notification = Schema.TaggedStruct("Notification", {
  method: Schema.String,
  params: Schema.Unknown,
  extra: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * A successful reply to the request with the same `id`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Response = Schema.TaggedStruct("Response", {
  id: Id,
  result: Schema.Unknown
})

/**
 * An error reply. `id` is `null` when the failing request's id could not be read (strict dialect).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorResponse = Schema.TaggedStruct("ErrorResponse", {
  id: Schema.NullOr(Id),
  error: ErrorObject
})

/**
 * Any message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Union([Request, Notification, Response, ErrorResponse])

/**
 * A call that expects a reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Request = typeof Request.Type
/**
 * A message that expects no reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Notification = typeof Notification.Type
/**
 * A successful reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Response = typeof Response.Type
/**
 * An error reply.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorResponse = typeof ErrorResponse.Type
/**
 * Any message, whatever the dialect it came in.
 *
 * @since 0.1.0
 * @category models
 */
export type Message = Request | Notification | Response | ErrorResponse

/**
 * Builds a request (`params` may be omitted).
 *
 * @since 0.1.0
 * @category constructors
 */
export const request = (id: Id, method: string, params?: unknown): Request => ({
  _tag: "Request",
  id,
  method,
  params
})

/**
 * Builds a notification (`params` may be omitted; `extra` adds top-level fields).
 *
 * @since 0.1.0
 * @category constructors
 */
export const notification = (
  method: string,
  params?: unknown,
  extra?: { readonly [key: string]: unknown }
): Notification =>
  extra === undefined ? { _tag: "Notification", method, params } : { _tag: "Notification", method, params, extra }

/**
 * Builds a successful reply to request `id`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const response = (id: Id, result: unknown): Response => ({ _tag: "Response", id, result })

/**
 * Builds an error reply (`id` is `null` when the request's id could not be read).
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorResponse = (id: Id | null, error: ErrorObject): ErrorResponse => ({
  _tag: "ErrorResponse",
  id,
  error
})
