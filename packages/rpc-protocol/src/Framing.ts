/**
 * Framings: how a byte (or frame) stream is cut into JSON texts, and back.
 *
 * - `ndjson`: one JSON text per line; a maximum line size enforced before parsing (default 16 MiB);
 *   CRLF and blank lines tolerated; UTF-8 split across chunks; an oversized or bad line is reported
 *   as a value and never loses the lines around it.
 * - `contentLength`: LSP-style `Content-Length: N\r\n\r\n<body>` (header names case-insensitive).
 * - `webSocket`: one message per text frame (optionally several `\n`-separated lines per frame, as
 *   CodexMonitor's Orbit relay sent them).
 *
 * Every framing is a pure stateful decoder plus an encoder, exposed as `Channel`/`Stream`
 * transforms in both directions.
 *
 * @since 0.1.0
 */
import { Cause, Channel, Effect, Pull, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"

/**
 * One decoded frame: a JSON text, or a problem with one frame that the stream survives.
 *
 * @since 0.1.0
 * @category models
 */
export type Frame =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Oversized"; readonly bytes: number; readonly limit: number }
  | { readonly _tag: "BadHeader"; readonly detail: string }
  | { readonly _tag: "Binary"; readonly bytes: number }

/**
 * A stateful decoder for one connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoder {
  /** Feeds one chunk (bytes from a stream, or one frame's data) and returns the completed frames. */
  readonly push: (chunk: Uint8Array | string) => Array<Frame>
  /** Signals end of input and returns what was still buffered (a final line without newline). */
  readonly end: () => Array<Frame>
  /**
   * Changes the size limit for what comes next (a server holds unauthenticated connections to a
   * small one); `undefined` restores the framing's own. A message already being buffered past the
   * new limit is reported `Oversized`.
   */
  readonly setMaxBytes?: ((bytes: number | undefined) => void) | undefined
}

/**
 * A framing: a decoder factory and an encoder for one JSON text.
 *
 * @since 0.1.0
 * @category models
 */
export interface Framing {
  /** A name for logs, e.g. `"ndjson"`. */
  readonly name: string
  /** `"bytes"` framings cut a byte stream; `"frames"` framings take each transport frame as a unit. */
  readonly kind: "bytes" | "frames"
  /** A fresh decoder; each connection gets its own. */
  readonly makeDecoder: () => Decoder
  /** Renders one JSON text for the wire: a string for text transports, bytes otherwise. */
  readonly encode: (text: string) => string | Uint8Array
}

/**
 * The default maximum line / message size: 16 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 16 * 1024 * 1024

const utf8 = new TextEncoder()

const isBlank = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 0xfeff) return false
  }
  return true
}

const concatBytes = (parts: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * Options for {@link ndjson}.
 *
 * @since 0.1.0
 * @category models
 */
export interface NdjsonOptions {
  /** Maximum bytes per line, excluding the newline. Default 16 MiB. */
  readonly maxLineBytes?: number | undefined
}

/**
 * The NDJSON byte-stream decoder. Lines are cut on the `\n` byte (which never occurs inside a
 * multi-byte UTF-8 sequence, so characters split across chunks are reassembled before decoding),
 * a trailing `\r` is dropped, whitespace-only lines are skipped, and a line longer than the limit
 * is discarded up to its newline and reported once as `Oversized` without being buffered.
 *
 * @since 0.1.0
 * @category decoders
 */
export const makeNdjsonDecoder = (options?: NdjsonOptions): Decoder => {
  const configured = options?.maxLineBytes ?? defaultMaxBytes
  let limit = configured
  const decoder = new TextDecoder("utf-8")
  let parts: Array<Uint8Array> = []
  let size = 0
  // While > 0 we are skipping an oversized line; the value is how many bytes it had so far.
  let skipping = 0

  const emitLine = (out: Array<Frame>, bytes: Uint8Array) => {
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 13) end--
    const text = decoder.decode(end === bytes.length ? bytes : bytes.subarray(0, end))
    if (!isBlank(text)) out.push({ _tag: "Text", text })
  }

  const pushBytes = (chunk: Uint8Array): Array<Frame> => {
    const out: Array<Frame> = []
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start)
      const stop = nl === -1 ? chunk.length : nl
      const pieceLength = stop - start
      if (skipping > 0) {
        skipping += pieceLength
        if (nl !== -1) {
          out.push({ _tag: "Oversized", bytes: skipping, limit })
          skipping = 0
        }
      } else if (size + pieceLength > limit) {
        skipping = size + pieceLength
        parts = []
        size = 0
        if (nl !== -1) {
          out.push({ _tag: "Oversized", bytes: skipping, limit })
          skipping = 0
        }
      } else if (nl === -1) {
        // Copy: the transport may reuse its buffer.
        parts.push(chunk.slice(start))
        size += pieceLength
      } else if (size === 0) {
        emitLine(out, chunk.subarray(start, stop))
      } else {
        parts.push(chunk.subarray(start, stop))
        emitLine(out, concatBytes(parts, size + pieceLength))
        parts = []
        size = 0
      }
      if (nl === -1) break
      start = nl + 1
    }
    return out
  }

  return {
    push: (chunk) => pushBytes(typeof chunk === "string" ? utf8.encode(chunk) : chunk),
    setMaxBytes: (bytes) => {
      limit = bytes ?? configured
    },
    end: () => {
      const out: Array<Frame> = []
      if (skipping > 0) {
        out.push({ _tag: "Oversized", bytes: skipping, limit })
        skipping = 0
      } else if (size > limit) {
        // Buffered before the limit was lowered (setMaxBytes): held to the limit now in force.
        out.push({ _tag: "Oversized", bytes: size, limit })
      } else if (size > 0) {
        emitLine(out, concatBytes(parts, size))
      }
      parts = []
      size = 0
      return out
    }
  }
}

/**
 * Newline-delimited JSON: each JSON text followed by `\n`.
 *
 * @since 0.1.0
 * @category framings
 */
export const ndjson = (options?: NdjsonOptions): Framing => ({
  name: "ndjson",
  kind: "bytes",
  makeDecoder: () => makeNdjsonDecoder(options),
  encode: (text) => text + "\n"
})

/**
 * Options for {@link contentLength}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContentLengthOptions {
  /** Maximum body bytes. Default 16 MiB. A larger body is skipped and reported as `Oversized`. */
  readonly maxBodyBytes?: number | undefined
  /** Maximum header block bytes. Default 8 KiB. */
  readonly maxHeaderBytes?: number | undefined
}

const CRLFCRLF = [13, 10, 13, 10] as const

const findHeaderEnd = (bytes: Uint8Array, from: number): number => {
  for (let i = Math.max(0, from); i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i
  }
  return -1
}

/**
 * The body length a header block announces, or the problem with the block. A block refused for
 * another reason (a malformed line, a charset other than UTF-8) whose `Content-Length` is readable
 * says how many body bytes to skip, so its body is not read as the next header block.
 */
const parseHeaders = (block: string): number | { readonly problem: Frame; readonly skip: number } => {
  let length: number | undefined
  let problem: Frame | undefined
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":")
    if (colon === -1) {
      problem ??= { _tag: "BadHeader", detail: `malformed header line` }
      continue
    }
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === "content-length") {
      if (!/^\d+$/.test(value)) problem ??= { _tag: "BadHeader", detail: "Content-Length is not a number" }
      else length = Number(value)
    } else if (name === "content-type") {
      const charset = /charset=([^;\s]+)/i.exec(value)?.[1]?.toLowerCase()
      if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
        problem ??= { _tag: "BadHeader", detail: `unsupported charset ${charset}` }
      }
    }
  }
  if (problem !== undefined) return { problem, skip: length ?? 0 }
  return length ?? { problem: { _tag: "BadHeader", detail: "missing Content-Length" }, skip: 0 }
}

/**
 * The `Content-Length` decoder (vscode-jsonrpc / LSP). Header names are case-insensitive; a
 * `Content-Type` charset other than UTF-8 is reported as `BadHeader` and its body skipped; a missing
 * or non-numeric `Content-Length` is reported as `BadHeader` and the header block is skipped. A body is copied
 * once into a buffer of its announced size (never more than `maxBodyBytes`), however it is chunked.
 *
 * @since 0.1.0
 * @category decoders
 */
export const makeContentLengthDecoder = (options?: ContentLengthOptions): Decoder => {
  const configured = options?.maxBodyBytes ?? defaultMaxBytes
  let maxBody = configured
  const maxHeader = options?.maxHeaderBytes ?? 8 * 1024
  const decoder = new TextDecoder("utf-8")
  const empty = new Uint8Array(0)
  // A header block split across chunks (at most maxHeader + 3 bytes), the body being filled, and
  // the bytes of an oversized body still to skip.
  let header: Uint8Array = empty
  let body: Uint8Array | undefined
  let filled = 0
  let skip = 0

  const push = (bytes: Uint8Array): Array<Frame> => {
    const out: Array<Frame> = []
    let at = 0
    while (at < bytes.length) {
      if (skip > 0) {
        const n = Math.min(skip, bytes.length - at)
        skip -= n
        at += n
        continue
      }
      if (body !== undefined) {
        const n = Math.min(body.length - filled, bytes.length - at)
        body.set(bytes.subarray(at, at + n), filled)
        filled += n
        at += n
        if (filled === body.length) {
          // Larger than the limit only when setMaxBytes lowered it while this body was coming in.
          out.push(
            body.length > maxBody
              ? { _tag: "Oversized", bytes: body.length, limit: maxBody }
              : { _tag: "Text", text: decoder.decode(body) }
          )
          body = undefined
        }
        continue
      }
      // Look for the end of the header block within its first maxHeader + 4 bytes only (a block of
      // maxHeader bytes plus the blank line), counting what earlier chunks brought.
      const window = bytes.subarray(at, Math.min(bytes.length, at + maxHeader + CRLFCRLF.length - header.length))
      const scan = header.length === 0 ? window : concatBytes([header, window], header.length + window.length)
      const end = findHeaderEnd(scan, header.length - 3)
      if (end === -1) {
        if (scan.length >= maxHeader + CRLFCRLF.length) {
          out.push({ _tag: "BadHeader", detail: `header block longer than ${maxHeader} bytes` })
          header = empty
        } else {
          // Copy: the transport may reuse its buffer.
          header = scan === window ? window.slice() : scan
        }
        at += window.length
        continue
      }
      at += end + CRLFCRLF.length - header.length
      header = empty
      const parsed = parseHeaders(decoder.decode(scan.subarray(0, end)))
      if (typeof parsed !== "number") {
        out.push(parsed.problem)
        skip = parsed.skip
      } else if (parsed > maxBody) {
        out.push({ _tag: "Oversized", bytes: parsed, limit: maxBody })
        skip = parsed
      } else if (parsed === 0) {
        out.push({ _tag: "Text", text: "" })
      } else {
        body = new Uint8Array(parsed)
        filled = 0
      }
    }
    return out
  }

  return {
    push: (chunk) => push(typeof chunk === "string" ? utf8.encode(chunk) : chunk),
    setMaxBytes: (bytes) => {
      maxBody = bytes ?? configured
    },
    end: () => {
      header = empty
      body = undefined
      skip = 0
      return []
    }
  }
}

/**
 * `Content-Length: N\r\n\r\n<body>` framing, as vscode-jsonrpc and LSP speak it. The writer emits
 * only `Content-Length`, like vscode-jsonrpc.
 *
 * @since 0.1.0
 * @category framings
 */
export const contentLength = (options?: ContentLengthOptions): Framing => ({
  name: "content-length",
  kind: "bytes",
  makeDecoder: () => makeContentLengthDecoder(options),
  encode: (text) => {
    const body = utf8.encode(text)
    const header = utf8.encode(`Content-Length: ${body.length}\r\n\r\n`)
    const out = new Uint8Array(header.length + body.length)
    out.set(header, 0)
    out.set(body, header.length)
    return out
  }
})

/**
 * Options for {@link webSocket}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketFramingOptions {
  /** Maximum bytes per frame. Default 16 MiB. */
  readonly maxFrameBytes?: number | undefined
  /**
   * Split each frame on `\n` and treat every line as a message (CodexMonitor's Orbit relay).
   * Default false: one message per frame.
   */
  readonly multiline?: boolean | undefined
  /** What to do with binary frames: decode them as UTF-8 text (Orbit) or report and drop them (codex). */
  readonly binary?: "text" | "drop" | undefined
  /** Append `\n` to every outbound frame (the legacy `app-server-ws` bridge does). Default false. */
  readonly trailingNewline?: boolean | undefined
}

/**
 * One message per WebSocket text frame. Each `push` is one frame: a `string` is a text frame and a
 * `Uint8Array` a binary frame.
 *
 * @since 0.1.0
 * @category framings
 */
export const webSocket = (options?: WebSocketFramingOptions): Framing => {
  const configured = options?.maxFrameBytes ?? defaultMaxBytes
  const binary = options?.binary ?? "drop"
  const suffix = options?.trailingNewline === true ? "\n" : ""
  return {
    name: "websocket",
    kind: "frames",
    makeDecoder: () => {
      const decoder = new TextDecoder("utf-8")
      let limit = configured
      return {
        setMaxBytes: (bytes) => {
          limit = bytes ?? configured
        },
        push: (chunk) => {
          if (typeof chunk !== "string" && binary === "drop") return [{ _tag: "Binary", bytes: chunk.length }]
          // A JS string of n UTF-16 units is at most 3n UTF-8 bytes; measure exactly only near the limit.
          const size = typeof chunk !== "string"
            ? chunk.length
            : chunk.length * 3 > limit
            ? utf8.encode(chunk).length
            : 0
          if (size > limit) return [{ _tag: "Oversized", bytes: size, limit }]
          const text = typeof chunk === "string" ? chunk : decoder.decode(chunk)
          if (options?.multiline !== true) return isBlank(text) ? [] : [{ _tag: "Text", text }]
          const out: Array<Frame> = []
          for (const raw of text.split("\n")) {
            const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
            if (!isBlank(line)) out.push({ _tag: "Text", text: line })
          }
          return out
        },
        end: () => []
      }
    },
    encode: (text) => text + suffix
  }
}

/**
 * The decoding side of a framing as a `Channel`: raw chunks (bytes, or frames) in, frames out.
 * Problems are frames (`Oversized`, `BadHeader`, `Binary`), so one bad message never ends the
 * stream.
 *
 * @since 0.1.0
 * @category channels
 */
export const decodeChannel = <IE = never>(
  framing: Framing
): Channel.Channel<
  NonEmptyReadonlyArray<Frame>,
  IE,
  void,
  NonEmptyReadonlyArray<Uint8Array | string>,
  IE,
  unknown
> =>
  Channel.fromTransform((upstream: Pull.Pull<NonEmptyReadonlyArray<Uint8Array | string>, IE, unknown>) =>
    Effect.sync(() => {
      const decoder = framing.makeDecoder()
      let ended = false
      const pull: Pull.Pull<NonEmptyReadonlyArray<Frame>, IE, void> = Effect.suspend(() => {
        if (ended) return Cause.done()
        return upstream.pipe(
          Effect.flatMap((chunks) => {
            const out: Array<Frame> = []
            for (const chunk of chunks) {
              const frames = decoder.push(chunk)
              for (const frame of frames) out.push(frame)
            }
            return out.length > 0 ? Effect.succeed(out as unknown as NonEmptyReadonlyArray<Frame>) : pull
          }),
          Pull.catchDone(() => {
            ended = true
            const rest = decoder.end()
            return rest.length > 0 ? Effect.succeed(rest as unknown as NonEmptyReadonlyArray<Frame>) : Cause.done()
          })
        )
      })
      return pull
    })
  )

/**
 * The encoding side of a framing as a `Channel`: JSON texts in, wire chunks out.
 *
 * @since 0.1.0
 * @category channels
 */
export const encodeChannel = <IE = never>(
  framing: Framing
): Channel.Channel<
  NonEmptyReadonlyArray<string | Uint8Array>,
  IE,
  void,
  NonEmptyReadonlyArray<string>,
  IE,
  unknown
> =>
  Channel.fromTransform((upstream: Pull.Pull<NonEmptyReadonlyArray<string>, IE, unknown>) =>
    Effect.succeed(
      upstream.pipe(
        Effect.map((texts) => texts.map(framing.encode) as unknown as NonEmptyReadonlyArray<string | Uint8Array>),
        Pull.catchDone(() => Cause.done())
      )
    )
  )

/**
 * Decodes a stream of chunks into frames.
 *
 * @example
 * ```ts
 * Stream.make('{"a":1}\n{"b"', ':2}\n').pipe(Framing.decode(Framing.ndjson()))
 * // Text '{"a":1}', Text '{"b":2}'
 * ```
 *
 * @since 0.1.0
 * @category streams
 */
export const decode =
  (framing: Framing) => <E, R>(self: Stream.Stream<Uint8Array | string, E, R>): Stream.Stream<Frame, E, R> =>
    Stream.pipeThroughChannel(self, decodeChannel<E>(framing))

/**
 * Decodes a stream of chunks into JSON texts, dropping problem frames (use {@link decode} to see them).
 *
 * @since 0.1.0
 * @category streams
 */
export const decodeText =
  (framing: Framing) => <E, R>(self: Stream.Stream<Uint8Array | string, E, R>): Stream.Stream<string, E, R> =>
    decode(framing)(self).pipe(
      Stream.filter((frame): frame is Extract<Frame, { readonly _tag: "Text" }> => frame._tag === "Text"),
      Stream.map((frame) => frame.text)
    )

/**
 * Encodes a stream of JSON texts into wire chunks.
 *
 * @since 0.1.0
 * @category streams
 */
export const encode =
  (framing: Framing) => <E, R>(self: Stream.Stream<string, E, R>): Stream.Stream<string | Uint8Array, E, R> =>
    Stream.pipeThroughChannel(self, encodeChannel<E>(framing))
