/**
 * JSON-RPC dialects as values. A dialect decides how a JSON text becomes a {@link Message} (which
 * ids are valid, which shapes are requests, what to do with batches and bad input), how messages
 * are written, and how protocol errors look on the wire.
 *
 * - {@link strict}: JSON-RPC 2.0 (`"jsonrpc":"2.0"` required and written; batches; standard codes).
 * - {@link lite}: the codex app-server's "JSON-RPC without the `jsonrpc` field": i64|string ids,
 *   `{code,message,data}` errors, kind precedence request > notification > response > error, no
 *   batches, bad input dropped without a reply.
 * - {@link daemon}: the CodexMonitor daemon: unsigned integer ids only, `{message}` errors, a
 *   request with an unreadable id still runs but gets no reply, any line with a numeric id and no
 *   method is a response.
 *
 * Hosts define their own with {@link make}.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import { decodeChannel, type Frame, type Framing } from "./Framing.ts"
import type { ErrorObject, Id, Message, Notification } from "./Message.ts"

/**
 * Why a text was not a message. `id` is the request id when it could still be read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Invalid {
  readonly _tag: "Invalid"
  /** `ParseError`: not JSON; `InvalidRequest`: JSON, but not a message of this dialect. */
  readonly reason: "ParseError" | "InvalidRequest"
  /** The id of the failing request when it could be read (strict replies carry it), else `null`. */
  readonly id: Id | null
  /** What was wrong, for logs and `Invalid Request` data. Never contains the text itself. */
  readonly detail: string
}

/**
 * The result of decoding one JSON text.
 *
 * @since 0.1.0
 * @category models
 */
export type Decoded =
  | { readonly _tag: "Message"; readonly message: Message }
  | { readonly _tag: "Batch"; readonly items: ReadonlyArray<Message | Invalid> }
  | Invalid

/**
 * How a dialect renders the protocol errors a server produces.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorMapping {
  /** The reply to a text that is not JSON (only dialects with `replyToInvalid` send it). */
  readonly parseError: () => ErrorObject
  /** The reply to JSON that is not a valid message. */
  readonly invalidRequest: (detail: string) => ErrorObject
  /** The reply to a request for a method the server does not have. */
  readonly methodNotFound: (method: string) => ErrorObject
  /** The reply to params that do not match the method table's schema. */
  readonly invalidParams: (method: string, detail: string) => ErrorObject
  /** The reply when a handler dies or returns a result outside its schema. */
  readonly internal: (detail: string) => ErrorObject
  /** The reply to anything but `auth` and the public methods before the token was presented. */
  readonly unauthorized: () => ErrorObject
  /** The reply to `auth` with a wrong token (the connection stays open). */
  readonly invalidToken: () => ErrorObject
  /** The reply to a request refused because too many are already waiting. */
  readonly overloaded: () => ErrorObject
}

/**
 * How a dialect cancels a request: the notification a client sends when it gives up on a call, and
 * the error a server answers the cancelled request with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cancellation {
  /** The notification's method, e.g. `"$/cancelRequest"` (LSP, vscode-jsonrpc). */
  readonly method: string
  /** The notification's params for request `id`, e.g. `{ id }`. */
  readonly params: (id: Id) => unknown
  /** The request id a received cancel notification names, or `undefined` when it names none. */
  readonly idOf: (params: unknown) => Id | undefined
  /** The error a cancelled request is answered with (LSP: `-32800 "Request cancelled"`). */
  readonly error: () => ErrorObject
}

/**
 * LSP's `$/cancelRequest {id}`, answered with `-32800 "Request cancelled"` (vscode-jsonrpc).
 *
 * @since 0.1.0
 * @category cancellation
 */
export const cancelRequest: Cancellation = {
  method: "$/cancelRequest",
  params: (id) => ({ id }),
  idOf: (params) => {
    const id = isRecord(params) ? params["id"] : undefined
    return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : undefined
  },
  error: () => ({ code: -32800, message: "Request cancelled" })
}

/**
 * A JSON-RPC dialect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dialect {
  /** A name for logs and errors, e.g. `"jsonrpc-2.0"`. */
  readonly name: string
  /** Parses and classifies one JSON text. Never throws. */
  readonly decode: (text: string) => Decoded
  /** Classifies an already parsed value; `raw` (the text) lets a dialect see `1.0` vs `1`. */
  readonly decodeValue: (value: unknown, raw?: string) => Decoded
  /** Renders one message as a JSON text (no framing). */
  readonly encode: (message: Message) => string
  /** Renders several messages as one JSON text (a batch); only where `batches` is true. */
  readonly encodeBatch: (messages: ReadonlyArray<Message>) => string
  /** Whether `id` is a valid id in this dialect. */
  readonly isId: (id: unknown) => id is Id
  /** The first id a client allocates. */
  readonly firstId: number
  /** Whether arrays are batches (strict) or invalid input. */
  readonly batches: boolean
  /** Whether parse errors and invalid requests get an error reply (strict) or are dropped silently. */
  readonly replyToInvalid: boolean
  /** Whether this dialect writes `"jsonrpc":"2.0"`. */
  readonly writesVersion: boolean
  /** How protocol errors look on the wire in this dialect. */
  readonly errors: ErrorMapping
  /**
   * How a call is cancelled, or `undefined` where the peer has no such message (the codex
   * app-server cancels at the domain level with `turn/interrupt`; CodexMonitor has nothing).
   */
  readonly cancellation?: Cancellation | undefined
}

/**
 * JSON-RPC 2.0 error codes.
 *
 * @since 0.1.0
 * @category constants
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  ServerError: -32000,
  Overloaded: -32001
} as const

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const digitThenFraction = /[0-9][.eE]/

/**
 * Where the strings of the text's top-level object start (the index of the opening quote): its
 * keys and its string values. In valid JSON only a key is followed by `:`, so an `"id":` is the
 * message's own exactly when it starts at one of these, and not in a nested object (`params`,
 * `result`) or inside another string. Strings are skipped with their escapes.
 */
const topLevelStrings = (raw: string): Array<number> => {
  const starts: Array<number> = []
  let depth = 0
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 34 /* " */) {
      if (depth === 1) starts.push(i)
      i++
      while (i < raw.length && raw.charCodeAt(i) !== 34) i += raw.charCodeAt(i) === 92 /* \ */ ? 2 : 1
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--
    }
  }
  return starts
}

/**
 * Whether the raw text writes the message's integer `id` as a fraction or exponent (`1.0`, `1e0`),
 * which JSON parsing hides. Serde-based peers (both daemons) reject such ids. Only the top-level
 * `"id"` counts: `{"id":1,"params":{"id":1.0}}` has the integer id 1.
 *
 * @since 0.1.0
 * @category utils
 */
export const rawIdIsFractional = (raw: string, id: number): boolean => {
  // A fraction or an exponent needs a digit followed by '.', 'e' or 'E' somewhere: most texts have
  // none, and this test is cheaper than finding the id.
  if (!digitThenFraction.test(raw)) return false
  let topLevel: Array<number> | undefined
  let at = raw.indexOf("\"id\"")
  while (at !== -1) {
    let i = at + 4
    let c = raw.charCodeAt(i)
    while (c === 32 || c === 9 || c === 10 || c === 13) c = raw.charCodeAt(++i)
    if (c === 58 /* : */) {
      c = raw.charCodeAt(++i)
      while (c === 32 || c === 9 || c === 10 || c === 13) c = raw.charCodeAt(++i)
      const start = i
      let fractional = false
      // digits, sign, '.', 'e', 'E'
      while ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69) {
        if (c === 46 || c === 101 || c === 69) fractional = true
        c = raw.charCodeAt(++i)
      }
      // The rare match is checked against the structure (a nested "id" can match as well).
      if (fractional && Number(raw.slice(start, i)) === id && (topLevel ??= topLevelStrings(raw)).includes(at)) {
        return true
      }
    }
    at = raw.indexOf("\"id\"", at + 4)
  }
  return false
}

const parse = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

// Top-level keys every dialect interprets; any other key of a notification is kept in `extra`.
const reservedKeys = new Set(["jsonrpc", "id", "method", "params", "result", "error"])

/** A notification, keeping its top-level fields beyond the protocol's own (codex's `emittedAtMs`). */
const notificationOf = (value: Record<string, unknown>, method: string, params: unknown): Notification => {
  let extra: Record<string, unknown> | undefined
  for (const key in value) {
    if (!reservedKeys.has(key) && hasOwn(value, key)) (extra ??= {})[key] = value[key]
  }
  return extra === undefined
    ? { _tag: "Notification", method, params }
    : { _tag: "Notification", method, params, extra }
}

const invalid = (reason: Invalid["reason"], id: Id | null, detail: string): Invalid => ({
  _tag: "Invalid",
  reason,
  id,
  detail
})

const msg = (message: Message): Decoded => ({ _tag: "Message", message })

const isErrorObject = (u: unknown, requireCode: boolean): u is ErrorObject =>
  isRecord(u) && typeof u["message"] === "string" &&
  (requireCode ? typeof u["code"] === "number" && Number.isInteger(u["code"]) : true)

const toErrorObject = (u: ErrorObject & Record<string, unknown>, withCode: boolean): ErrorObject => {
  const out: { code?: number; message: string; data?: unknown } = { message: u.message }
  if (withCode && typeof u.code === "number") out.code = u.code
  if (withCode && hasOwn(u, "data")) out.data = u.data
  return out
}

const encodeWith = (writesVersion: boolean, withCode: boolean) => (message: Message): Record<string, unknown> => {
  // Requests and responses (the hot path) are built as literals, in wire order.
  switch (message._tag) {
    case "Request": {
      const { id, method, params } = message
      if (params === undefined) return writesVersion ? { jsonrpc: "2.0", id, method } : { id, method }
      return writesVersion ? { jsonrpc: "2.0", id, method, params } : { id, method, params }
    }
    case "Response": {
      const id = message.id
      const result = message.result === undefined ? null : message.result
      return writesVersion ? { jsonrpc: "2.0", id, result } : { id, result }
    }
  }
  const out: Record<string, unknown> = writesVersion ? { jsonrpc: "2.0" } : {}
  switch (message._tag) {
    case "Notification":
      if (message.extra !== undefined) {
        for (const key in message.extra) if (!reservedKeys.has(key)) out[key] = message.extra[key]
      }
      out["method"] = message.method
      if (message.params !== undefined) out["params"] = message.params
      return out
    case "ErrorResponse": {
      out["id"] = message.id
      const error: Record<string, unknown> = {}
      if (withCode) error["code"] = message.error.code ?? ErrorCode.InternalError
      error["message"] = message.error.message
      if (withCode && message.error.data !== undefined) error["data"] = message.error.data
      out["error"] = error
      return out
    }
  }
}

const standardErrors: ErrorMapping = {
  parseError: () => ({ code: ErrorCode.ParseError, message: "Parse error" }),
  invalidRequest: (detail) => ({ code: ErrorCode.InvalidRequest, message: "Invalid Request", data: detail }),
  methodNotFound: (method) => ({ code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` }),
  invalidParams: (_method, detail) => ({ code: ErrorCode.InvalidParams, message: "Invalid params", data: detail }),
  internal: (detail) => ({ code: ErrorCode.InternalError, message: "Internal error", data: detail }),
  unauthorized: () => ({ code: ErrorCode.ServerError, message: "unauthorized" }),
  invalidToken: () => ({ code: ErrorCode.ServerError, message: "invalid token" }),
  overloaded: () => ({ code: ErrorCode.Overloaded, message: "Server overloaded; retry later." })
}

/** Assembles a built-in dialect: JSON texts are decoded through `decodeValue` and encoded from plain objects. */
const build = (spec: {
  readonly name: string
  readonly decodeValue: (value: unknown, raw?: string) => Decoded
  readonly isId: (id: unknown) => id is Id
  readonly firstId: number
  readonly batches: boolean
  readonly replyToInvalid: boolean
  readonly writesVersion: boolean
  /** Whether error objects carry `code` and `data` (every dialect but the daemon's). */
  readonly errorCodes: boolean
  readonly errors: ErrorMapping
  readonly cancellation?: Cancellation | undefined
}): Dialect => {
  const { errorCodes, ...rest } = spec
  const toValue = encodeWith(spec.writesVersion, errorCodes)
  return {
    ...rest,
    decode: decodeFromValue(spec.decodeValue),
    encode: (message) => JSON.stringify(toValue(message)),
    encodeBatch: (messages) => JSON.stringify(messages.map(toValue))
  }
}

const isStrictId = (id: unknown): id is Id => typeof id === "string" || (typeof id === "number" && Number.isFinite(id))

const strictOne = (value: unknown): Message | Invalid => {
  if (!isRecord(value)) return invalid("InvalidRequest", null, "a message must be a JSON object")
  const id = value["id"]
  const readableId = isStrictId(id) ? id : null
  if (value["jsonrpc"] !== "2.0") return invalid("InvalidRequest", readableId, "\"jsonrpc\" must be \"2.0\"")
  const method = value["method"]
  if (hasOwn(value, "method")) {
    if (typeof method !== "string") return invalid("InvalidRequest", readableId, "\"method\" must be a string")
    const params = value["params"]
    if (params !== undefined && (typeof params !== "object" || params === null)) {
      return invalid("InvalidRequest", readableId, "\"params\" must be an array or an object")
    }
    if (!hasOwn(value, "id")) return notificationOf(value, method, params)
    if (!isStrictId(id)) return invalid("InvalidRequest", null, "\"id\" must be a number or a string")
    return { _tag: "Request", id, method, params }
  }
  const hasResult = hasOwn(value, "result")
  const hasError = hasOwn(value, "error")
  if (hasResult === hasError) return invalid("InvalidRequest", readableId, "a response has exactly one of result/error")
  if (hasResult) {
    if (!isStrictId(id)) return invalid("InvalidRequest", null, "a response needs an id")
    return { _tag: "Response", id, result: value["result"] }
  }
  const error = value["error"]
  if (!isErrorObject(error, true)) {
    return invalid("InvalidRequest", readableId, "\"error\" must be {code: integer, message: string}")
  }
  if (id !== null && !isStrictId(id)) return invalid("InvalidRequest", null, "bad id")
  return { _tag: "ErrorResponse", id, error: toErrorObject(error as ErrorObject & Record<string, unknown>, true) }
}

const decodeFromValue = (decodeValue: (value: unknown, raw?: string) => Decoded) => (text: string): Decoded => {
  const parsed = parse(text)
  return parsed.ok ? decodeValue(parsed.value, text) : invalid("ParseError", null, "not valid JSON")
}

const strictDecodeValue = (value: unknown): Decoded => {
  if (Array.isArray(value)) {
    if (value.length === 0) return invalid("InvalidRequest", null, "empty batch")
    return { _tag: "Batch", items: value.map(strictOne) }
  }
  const one = strictOne(value)
  return one._tag === "Invalid" ? one : msg(one)
}

/**
 * Strict JSON-RPC 2.0: `"jsonrpc":"2.0"` required and written; string or number ids; batches
 * (an empty batch is one `-32600`); parse errors and invalid requests answered with the standard
 * codes (`id: null` when the id cannot be read); calls cancelled with LSP's `$/cancelRequest`
 * (vscode-jsonrpc's convention; override with `Dialect.make(strict, { cancellation })`).
 *
 * @since 0.1.0
 * @category dialects
 */
export const strict: Dialect = build({
  name: "jsonrpc-2.0",
  decodeValue: strictDecodeValue,
  isId: isStrictId,
  firstId: 1,
  batches: true,
  replyToInvalid: true,
  writesVersion: true,
  errorCodes: true,
  errors: standardErrors,
  cancellation: cancelRequest
})

const isI64 = (id: unknown): id is number => typeof id === "number" && Number.isSafeInteger(id)

const liteIsId = (id: unknown): id is Id => typeof id === "string" || isI64(id)

const liteDecodeValue = (value: unknown, raw?: string): Decoded => {
  if (Array.isArray(value)) return invalid("InvalidRequest", null, "batches are not supported")
  if (!isRecord(value)) return invalid("InvalidRequest", null, "a message must be a JSON object")
  const id = value["id"]
  const hasId = hasOwn(value, "id")
  const idOk = liteIsId(id) && !(typeof id === "number" && raw !== undefined && rawIdIsFractional(raw, id))
  if (hasId && !idOk) return invalid("InvalidRequest", null, "\"id\" must be an integer or a string")
  const method = value["method"]
  if (typeof method === "string") {
    const params = value["params"]
    return msg(hasId ? { _tag: "Request", id: id as Id, method, params } : notificationOf(value, method, params))
  }
  if (!hasId) return invalid("InvalidRequest", null, "not a request, notification or response")
  if (hasOwn(value, "result")) return msg({ _tag: "Response", id: id as Id, result: value["result"] })
  const error = value["error"]
  if (isErrorObject(error, true)) {
    return msg({
      _tag: "ErrorResponse",
      id: id as Id,
      error: toErrorObject(error as ErrorObject & Record<string, unknown>, true)
    })
  }
  return invalid("InvalidRequest", id as Id, "a response needs result or error {code, message}")
}

/**
 * The codex app-server dialect: no `jsonrpc` field written (ignored on input), ids are integers or
 * strings, messages classified in the order request > notification > response > error, arrays,
 * fractional ids, `{"id":1}` and bad JSON dropped without a reply. Unknown methods and bad params
 * are `-32600`, as codex answers them.
 *
 * @since 0.1.0
 * @category dialects
 */
export const lite: Dialect = build({
  name: "jsonrpc-lite",
  decodeValue: liteDecodeValue,
  isId: liteIsId,
  firstId: 0,
  batches: false,
  replyToInvalid: false,
  writesVersion: false,
  errorCodes: true,
  errors: {
    parseError: () => ({ code: ErrorCode.ParseError, message: "Parse error" }),
    invalidRequest: (detail) => ({ code: ErrorCode.InvalidRequest, message: `Invalid request: ${detail}` }),
    methodNotFound: (method) => ({
      code: ErrorCode.InvalidRequest,
      message: `Invalid request: unknown variant \`${method}\``
    }),
    invalidParams: (_method, detail) => ({ code: ErrorCode.InvalidRequest, message: `Invalid request: ${detail}` }),
    internal: (detail) => ({ code: ErrorCode.InternalError, message: detail }),
    unauthorized: () => ({ code: ErrorCode.InvalidRequest, message: "Not initialized" }),
    invalidToken: () => ({ code: ErrorCode.InvalidRequest, message: "invalid token" }),
    overloaded: () => ({ code: ErrorCode.Overloaded, message: "Server overloaded; retry later." })
  }
})

const isU64 = (id: unknown): id is number => typeof id === "number" && Number.isSafeInteger(id) && id >= 0

const daemonDecodeValue = (value: unknown, raw?: string): Decoded => {
  if (!isRecord(value)) return invalid("InvalidRequest", null, "a message must be a JSON object")
  const id = value["id"]
  const idOk = isU64(id) && !(raw !== undefined && rawIdIsFractional(raw, id))
  const method = value["method"]
  if (typeof method === "string") {
    const params = hasOwn(value, "params") ? value["params"] : null
    return msg(idOk ? { _tag: "Request", id, method, params } : notificationOf(value, method, params))
  }
  if (!idOk) return invalid("InvalidRequest", null, "no method and no unsigned integer id")
  const error = value["error"]
  if (hasOwn(value, "error") && error !== null) {
    const message = isRecord(error) && typeof error["message"] === "string" ? error["message"] : JSON.stringify(error)
    return msg({ _tag: "ErrorResponse", id, error: { message } })
  }
  return msg({ _tag: "Response", id, result: hasOwn(value, "result") ? value["result"] : null })
}

/**
 * The CodexMonitor daemon dialect: no `jsonrpc`; ids are unsigned integers (a string, negative or
 * `1.0` id makes a request that runs but is never answered, so it decodes as a notification);
 * missing params are `null`; any object with a numeric id and no method is a response
 * (`{"id":1}` resolves to `null`); errors are `{message}` only; bad input is dropped.
 *
 * @since 0.1.0
 * @category dialects
 */
export const daemon: Dialect = build({
  name: "daemon",
  decodeValue: daemonDecodeValue,
  isId: isU64,
  firstId: 1,
  batches: false,
  replyToInvalid: false,
  writesVersion: false,
  errorCodes: false,
  errors: {
    parseError: () => ({ message: "parse error" }),
    invalidRequest: (detail) => ({ message: `invalid request: ${detail}` }),
    methodNotFound: (method) => ({ message: `unknown method: ${method}` }),
    invalidParams: (_method, detail) => ({ message: detail }),
    internal: (detail) => ({ message: detail }),
    unauthorized: () => ({ message: "unauthorized" }),
    invalidToken: () => ({ message: "invalid token" }),
    overloaded: () => ({ message: "server overloaded; retry later" })
  }
})

/**
 * Defines a dialect from a base, overriding any part (name, id rules, error mapping, ...).
 *
 * @example
 * ```ts
 * const myDialect = Dialect.make(Dialect.lite, {
 *   name: "my-daemon",
 *   errors: { ...Dialect.lite.errors, methodNotFound: (m) => ({ code: -32601, message: `no ${m}` }) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (base: Dialect, overrides: Partial<Dialect> & { readonly name: string }): Dialect => {
  const decodeValue = overrides.decodeValue ?? base.decodeValue
  return {
    ...base,
    ...overrides,
    decodeValue,
    decode: overrides.decode ?? (overrides.decodeValue ? decodeFromValue(decodeValue) : base.decode)
  }
}

/**
 * Decodes framed wire text into dialect messages (or `Invalid` values, so one bad line never ends
 * the stream); framing problems (oversized lines, bad headers, binary frames) are reported as
 * `Invalid` too.
 *
 * @since 0.1.0
 * @category streams
 */
export const decodeStream =
  (dialect: Dialect, framing: Framing) =>
  <E, R>(self: Stream.Stream<Uint8Array | string, E, R>): Stream.Stream<Message | Invalid, E, R> =>
    Stream.pipeThroughChannel(self, decodeChannel<E>(framing)).pipe(
      Stream.flatMap((frame) => {
        if (frame._tag !== "Text") {
          return Stream.succeed(invalid("InvalidRequest", null, frameProblem(frame)))
        }
        const decoded = dialect.decode(frame.text)
        switch (decoded._tag) {
          case "Message":
            return Stream.succeed(decoded.message)
          case "Batch":
            return Stream.fromIterable(decoded.items)
          case "Invalid":
            return Stream.succeed(decoded)
        }
      })
    )

const frameProblem = (frame: Exclude<Frame, { readonly _tag: "Text" }>): string => {
  switch (frame._tag) {
    case "Oversized":
      return `message of ${frame.bytes} bytes exceeds the limit of ${frame.limit}`
    case "BadHeader":
      return frame.detail
    case "Binary":
      return `binary frame of ${frame.bytes} bytes dropped`
  }
}
