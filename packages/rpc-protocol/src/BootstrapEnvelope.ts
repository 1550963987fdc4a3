/**
 * The bootstrap envelope: one line of JSON that a host hands to the backend it starts (on fd 3, or
 * on stdin when extra descriptors do not survive, as with `wsl.exe`), then closes. The backend
 * decodes the first line only. See `protocols.md` §3 (t3code's `--bootstrap-fd`).
 *
 * This module is pure (no Node built-ins); reading a descriptor lives in
 * `@isthmus/rpc-protocol/node` (`readBootstrap`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * The first line could not be decoded: it was empty, was not JSON, or did not match the schema.
 * The message names the failing fields but never echoes secret-looking values (tokens, passwords).
 *
 * @since 0.1.0
 * @category errors
 */
export class BootstrapEnvelopeDecodeError extends Schema.TaggedError<BootstrapEnvelopeDecodeError>()(
  "BootstrapEnvelopeDecodeError",
  {
    reason: Schema.Literals(["EmptyLine", "InvalidJson", "SchemaMismatch", "TooLarge"]),
    message: Schema.String
  }
) {}

/**
 * The value handed to `encode` does not satisfy the envelope schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class BootstrapEnvelopeEncodeError extends Schema.TaggedError<BootstrapEnvelopeEncodeError>()(
  "BootstrapEnvelopeEncodeError",
  { message: Schema.String }
) {}

/**
 * A TCP port, 1..65535.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Port = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * t3code's `DesktopBackendBootstrap` (protocols.md §3): what a desktop host sends its backend.
 * Excess keys are ignored when decoding.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DesktopBackendBootstrap = Schema.Struct({
  mode: Schema.Literal("desktop"),
  noBrowser: Schema.Boolean,
  port: Port,
  t3Home: Schema.optionalKey(Schema.String),
  host: Schema.String,
  desktopBootstrapToken: Schema.String,
  tailscaleServeEnabled: Schema.Boolean,
  tailscaleServePort: Port,
  otlpTracesUrl: Schema.optionalKey(Schema.String),
  otlpMetricsUrl: Schema.optionalKey(Schema.String),
  otlpLogsUrl: Schema.optionalKey(Schema.String),
  desktopTelemetryFd: Schema.optionalKey(PositiveInt),
  desktopTelemetryControlFd: Schema.optionalKey(PositiveInt),
  desktopLifetimeFd: Schema.optionalKey(PositiveInt),
  resourceMonitorPath: Schema.optionalKey(Schema.String)
})

/**
 * The decoded type of {@link DesktopBackendBootstrap}.
 *
 * @since 0.1.0
 * @category models
 */
export type DesktopBackendBootstrap = typeof DesktopBackendBootstrap.Type

/**
 * The largest envelope line accepted by default (1 MiB). An envelope is a handful of fields; a
 * longer first line is a mistake, and reading it must not grow without bound.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLineBytes = 1024 * 1024

/**
 * A codec for one envelope schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface BootstrapEnvelope<A, I = A> {
  /** The envelope schema this codec validates with. */
  readonly schema: Schema.Codec<A, I>
  /** Host side: validate and render the value as exactly one line of JSON ending in `"\n"`. */
  readonly encode: (value: A) => Effect.Effect<string, BootstrapEnvelopeEncodeError>
  /** Like `encode`, throwing `BootstrapEnvelopeEncodeError` instead of failing. */
  readonly encodeSync: (value: A) => string
  /**
   * Backend side: decode the first line of `text` (everything up to the first `"\n"`, a trailing
   * `"\r"` removed). An empty first line is an error, as t3code treats it.
   */
  readonly decode: (text: string) => Effect.Effect<A, BootstrapEnvelopeDecodeError>
  /** Like `decode`, as an `Exit` for synchronous callers. */
  readonly decodeExit: (text: string) => Exit.Exit<A, BootstrapEnvelopeDecodeError>
}

const utf8 = new TextEncoder()

const secretKey = /token|secret|password|passwd|credential|api[-_]?key|authorization/i

/** Replaces the JSON renderings of secret-looking values in `message` with `<redacted>`. */
const redact = (message: string, input: unknown): string => {
  const secrets: Array<string> = []
  const visit = (value: unknown, depth: number): void => {
    if (depth > 8 || value === null || typeof value !== "object") return
    for (const [key, inner] of Object.entries(value)) {
      if (secretKey.test(key) && inner !== null && inner !== undefined && typeof inner !== "object") {
        secrets.push(String(inner))
      } else {
        visit(inner, depth + 1)
      }
    }
  }
  visit(input, 0)
  let out = message
  for (const secret of secrets.filter((s) => s.length > 0).toSorted((a, b) => b.length - a.length)) {
    out = out.split(JSON.stringify(secret)).join("<redacted>").split(secret).join("<redacted>")
  }
  return out
}

/**
 * Returns the first line of `text` (up to the first `"\n"`, without a trailing `"\r"`).
 *
 * @since 0.1.0
 * @category utils
 */
export const firstLine = (text: string): string => {
  const nl = text.indexOf("\n")
  const line = nl === -1 ? text : text.slice(0, nl)
  return line.endsWith("\r") ? line.slice(0, -1) : line
}

/**
 * Builds the envelope codec for a schema. Any schema without services works; the value must
 * encode to something `JSON.stringify` can render.
 *
 * @example
 * ```ts
 * const Envelope = BootstrapEnvelope.make(Schema.Struct({ port: Schema.Number, token: Schema.String }))
 * const line = Envelope.encodeSync({ port: 4000, token: "t" }) // '{"port":4000,"token":"t"}\n'
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  schema: Schema.Codec<A, I>,
  options?: { readonly maxLineBytes?: number | undefined }
): BootstrapEnvelope<A, I> => {
  const maxLineBytes = options?.maxLineBytes ?? defaultMaxLineBytes
  const encodeValue = Schema.encodeExit(schema)
  const decodeValue = Schema.decodeUnknownExit(schema)

  const encodeExit = (value: A): Exit.Exit<string, BootstrapEnvelopeEncodeError> => {
    const encoded = encodeValue(value)
    if (Exit.isFailure(encoded)) {
      const error = Exit.findErrorOption(encoded)
      const message = Option.isSome(error) ? redact(error.value.message, value) : "invalid value"
      return Exit.fail(
        new BootstrapEnvelopeEncodeError({
          message: `bootstrap envelope: the value does not match the schema: ${message}; fix the value before encoding`
        })
      )
    }
    // JSON.stringify without indentation escapes every control character, so the result is one line.
    return Exit.succeed(JSON.stringify(encoded.value) + "\n")
  }

  const decodeExit = (text: string): Exit.Exit<A, BootstrapEnvelopeDecodeError> => {
    const line = firstLine(text)
    // In UTF-8 bytes: a string of n UTF-16 units has between n and 3n of them.
    if (line.length > maxLineBytes || (line.length * 3 > maxLineBytes && utf8.encode(line).length > maxLineBytes)) {
      return Exit.fail(
        new BootstrapEnvelopeDecodeError({
          reason: "TooLarge",
          message: `bootstrap envelope: the first line is longer than ${maxLineBytes} bytes; ` +
            "the host must write one short JSON line (or pass a larger `maxLineBytes`)"
        })
      )
    }
    if (line.trim().length === 0) {
      return Exit.fail(
        new BootstrapEnvelopeDecodeError({
          reason: "EmptyLine",
          message: "bootstrap envelope: the first line is empty; the host must write the JSON envelope first"
        })
      )
    }
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      return Exit.fail(
        new BootstrapEnvelopeDecodeError({
          reason: "InvalidJson",
          message: "bootstrap envelope: the first line is not valid JSON; the host must write the envelope " +
            "as JSON on a single line (use the envelope's `encode`)"
        })
      )
    }
    const decoded = decodeValue(json)
    if (Exit.isFailure(decoded)) {
      const error = Exit.findErrorOption(decoded)
      const detail = Option.isSome(error) ? redact(error.value.message, json) : "schema mismatch"
      return Exit.fail(
        new BootstrapEnvelopeDecodeError({
          reason: "SchemaMismatch",
          message: `bootstrap envelope does not match the schema: ${detail}; ` +
            "fix the fields the host writes (or the schema the backend expects)"
        })
      )
    }
    return Exit.succeed(decoded.value)
  }

  return {
    schema,
    encode: (value) => Effect.suspend(() => encodeExit(value)),
    encodeSync: (value) => {
      const exit = encodeExit(value)
      if (Exit.isSuccess(exit)) return exit.value
      const error = Exit.findErrorOption(exit)
      throw Option.isSome(error) ? error.value : new BootstrapEnvelopeEncodeError({ message: "encode failed" })
    },
    decode: (text) => Effect.suspend(() => decodeExit(text)),
    decodeExit
  }
}

/**
 * The envelope codec for t3code's {@link DesktopBackendBootstrap}.
 *
 * @since 0.1.0
 * @category codecs
 */
export const desktop: BootstrapEnvelope<DesktopBackendBootstrap, typeof DesktopBackendBootstrap.Encoded> = make(
  DesktopBackendBootstrap
)
