/**
 * Backend side of the bootstrap envelope (protocols.md §3): read the first line the host wrote to
 * a file descriptor (fd 3 by default; fd 0 for WSL, where `wsl.exe` drops extra descriptors).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as net from "node:net"
import type { Readable } from "node:stream"
import * as tty from "node:tty"
import {
  type BootstrapEnvelope,
  BootstrapEnvelopeDecodeError,
  defaultMaxLineBytes,
  desktop,
  type DesktopBackendBootstrap
} from "../BootstrapEnvelope.ts"

/**
 * Reading the descriptor failed in a way that is not "there is no envelope" (for instance
 * `EMFILE`). Carries the errno code, never the data.
 *
 * @since 0.1.0
 * @category errors
 */
export class BootstrapReadError extends Schema.TaggedError<BootstrapReadError>()("BootstrapReadError", {
  fd: Schema.Number,
  code: Schema.String,
  message: Schema.String
}) {}

/**
 * Options for {@link readBootstrap} and {@link readBootstrapLine}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadBootstrapOptions {
  /** The descriptor to read. Default 3 (`--bootstrap-fd 3`); use 0 for stdin. */
  readonly fd?: number | undefined
  /** How long to wait for the first line before answering "none". Default 1 second. */
  readonly timeout?: Duration.Input | undefined
  /** The longest first line accepted. Default 1 MiB. */
  readonly maxLineBytes?: number | undefined
  /** Overrides `process.platform` (tests). */
  readonly platform?: NodeJS.Platform | undefined
}

/**
 * Errno codes for which opening `/proc/self/fd/N` (or `/dev/fd/N`) is abandoned in favour of
 * reading the raw descriptor: `ENXIO` is what Linux answers for a socket (Node's `"pipe"` stdio is
 * a socketpair), the others come from sandboxes and unusual descriptor types.
 *
 * @since 0.1.0
 * @category constants
 */
export const rawFdFallbackCodes: ReadonlySet<string> = new Set(["EACCES", "ENXIO", "EINVAL", "EPERM", "ENOENT"])

/**
 * The path through which descriptor `fd` is re-opened on `platform`, or `undefined` where the raw
 * descriptor must be used (Windows).
 *
 * @since 0.1.0
 * @category utils
 */
export const fdPath = (fd: number, platform: NodeJS.Platform): string | undefined =>
  platform === "win32" ? undefined : platform === "linux" ? `/proc/self/fd/${fd}` : `/dev/fd/${fd}`

const errnoCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "UNKNOWN"

const text = (buffer: Buffer): string => {
  const line = new TextDecoder().decode(buffer)
  return line.endsWith("\r") ? line.slice(0, -1) : line
}

type Source = { readonly stream: Readable; readonly close: () => void }

/** Opens a readable stream on `fd`, preferring a private re-open of the descriptor. */
const openSource = (fd: number, platform: NodeJS.Platform): Source | "none" => {
  let stat: fs.Stats
  try {
    stat = fs.fstatSync(fd)
  } catch (error) {
    const code = errnoCode(error)
    if (code === "EBADF" || code === "ENOENT") return "none"
    throw error
  }
  // Only what a host can hand over (a pipe, socket, file or character device). Anything else, such
  // as the epoll or eventfd descriptors Node itself opens at 3 and up when nothing was inherited,
  // is not an envelope and must not be read or closed.
  if (!(stat.isFIFO() || stat.isSocket() || stat.isFile() || stat.isCharacterDevice())) return "none"
  let readFd = fd
  let owned = false
  const path = fdPath(fd, platform)
  if (path !== undefined) {
    try {
      readFd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
      owned = true
    } catch (error) {
      if (!rawFdFallbackCodes.has(errnoCode(error))) throw error
    }
  }
  // Pipes and sockets go through libuv's non-blocking handles, so a writer that never writes does
  // not pin a thread-pool thread after the timeout; files and character devices are read plainly.
  if (stat.isFIFO() || stat.isSocket()) {
    const socket = new net.Socket({ fd: readFd, readable: true, writable: false })
    return { stream: socket, close: () => socket.destroy() }
  }
  if (tty.isatty(readFd)) {
    const stream = new tty.ReadStream(readFd)
    return { stream, close: () => stream.destroy() }
  }
  const stream = fs.createReadStream("", { fd: readFd, autoClose: owned || fd > 2 })
  return { stream, close: () => stream.destroy() }
}

/**
 * Reads the first line from descriptor `fd`: `Option.none()` when the descriptor is closed or
 * missing (`EBADF`/`ENOENT`), when it reaches EOF before any byte, or when nothing arrives within
 * the timeout. A final line without `"\n"` counts (as readline flushes it). A trailing `"\r"` is
 * removed.
 *
 * @since 0.1.0
 * @category reading
 */
export const readBootstrapLine = Effect.fn("readBootstrapLine")(function*(
  options?: ReadBootstrapOptions
): Effect.fn.Return<Option.Option<string>, BootstrapReadError | BootstrapEnvelopeDecodeError> {
  const fd = options?.fd ?? 3
  const maxLineBytes = options?.maxLineBytes ?? defaultMaxLineBytes
  const platform = options?.platform ?? process.platform
  const read = Effect.callback<Option.Option<string>, BootstrapReadError | BootstrapEnvelopeDecodeError>(
    (resume) => {
      let source: Source | "none"
      try {
        source = openSource(fd, platform)
      } catch (error) {
        const code = errnoCode(error)
        resume(Effect.fail(
          new BootstrapReadError({
            fd,
            code,
            message: `cannot open bootstrap fd ${fd}: ${code}; check that the host passes the envelope on fd ${fd} ` +
              "(--bootstrap-fd) and that this process may read it"
          })
        ))
        return
      }
      if (source === "none") {
        resume(Effect.succeedNone)
        return
      }
      const { stream, close } = source
      const chunks: Array<Buffer> = []
      let size = 0
      let done = false
      const finish = (effect: Effect.Effect<Option.Option<string>, BootstrapEnvelopeDecodeError>) => {
        if (done) return
        done = true
        stream.off("data", onData)
        stream.off("end", onEnd)
        stream.off("close", onEnd)
        stream.off("error", onEnd)
        close()
        resume(effect)
      }
      const onData = (chunk: Buffer | string) => {
        const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk
        const nl = buffer.indexOf(0x0a)
        const piece = nl === -1 ? buffer : buffer.subarray(0, nl)
        chunks.push(piece)
        size += piece.length
        if (size > maxLineBytes) {
          finish(Effect.fail(
            new BootstrapEnvelopeDecodeError({
              reason: "TooLarge",
              message: `bootstrap envelope: the first line on fd ${fd} is longer than ${maxLineBytes} bytes; ` +
                "the host must write one short JSON line (or pass a larger `maxLineBytes`)"
            })
          ))
        } else if (nl !== -1) {
          finish(Effect.succeed(Option.some(text(Buffer.concat(chunks)))))
        }
      }
      // EOF, a closed descriptor or a read error all end the stream; whatever was read is the line.
      const onEnd = () => finish(Effect.succeed(size === 0 ? Option.none() : Option.some(text(Buffer.concat(chunks)))))
      stream.on("data", onData)
      stream.once("end", onEnd)
      stream.once("close", onEnd)
      stream.once("error", onEnd)
      return Effect.sync(() => {
        done = true
        close()
      })
    }
  )
  const result = yield* Effect.timeoutOption(read, options?.timeout ?? Duration.seconds(1))
  return Option.flatten(result)
})

/**
 * Reads and decodes the bootstrap envelope with the semantics of protocols.md §3:
 * `Option.none()` for a missing/closed descriptor, EOF before a line, or no line within the
 * timeout (default 1 s); a first line that does not decode (empty, bad JSON, schema mismatch) is a
 * `BootstrapEnvelopeDecodeError`, which a backend should treat as fatal at startup.
 *
 * @example
 * ```ts
 * import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
 * import { readBootstrap } from "@isthmus/rpc-protocol/node"
 * const envelope = yield* readBootstrap(BootstrapEnvelope.desktop, { fd: 3 })
 * ```
 *
 * @since 0.1.0
 * @category reading
 */
export const readBootstrap: <A, I>(
  envelope: BootstrapEnvelope<A, I>,
  options?: ReadBootstrapOptions
) => Effect.Effect<Option.Option<A>, BootstrapReadError | BootstrapEnvelopeDecodeError> = Effect.fn("readBootstrap")(
  function*<A, I>(envelope: BootstrapEnvelope<A, I>, options?: ReadBootstrapOptions) {
    const line = yield* readBootstrapLine(options)
    if (Option.isNone(line)) return Option.none<A>()
    return Option.some(yield* envelope.decode(line.value))
  }
)

/**
 * {@link readBootstrap} for t3code's `DesktopBackendBootstrap`.
 *
 * @since 0.1.0
 * @category reading
 */
export const readDesktopBootstrap = (
  options?: ReadBootstrapOptions
): Effect.Effect<Option.Option<DesktopBackendBootstrap>, BootstrapReadError | BootstrapEnvelopeDecodeError> =>
  readBootstrap(desktop, options)
