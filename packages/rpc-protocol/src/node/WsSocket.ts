/**
 * A `Socket` over a `ws` WebSocket, client or server side: text frames arrive as strings and
 * binary frames as bytes, writes honour backpressure, ping/pong keepalive detects half-open
 * connections, and every failure carries a `ConnectionError` that says why (an HTTP status on the
 * upgrade, TLS, refused, DNS, timeout, closed by the peer, half-open).
 *
 * @since 0.1.0
 */
import { Duration, Effect, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Socket from "effect/socket/Socket"
import { WebSocket } from "ws"
import * as ConnectionError from "../ConnectionError.ts"
import { type FastWrite, FastWriteKey } from "../internal/fastWrite.ts"
import * as Tls from "./Tls.ts"

/**
 * WebSocket keepalive: a ping frame every `interval`; no pong (or any frame) within `timeout` of
 * it means the connection is half-open, and it is closed with a `HalfOpen` `ConnectionError`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeepaliveOptions {
  /** Time between pings. Default 30 s. */
  readonly interval?: Duration.Input | undefined
  /** How long to wait for the pong. Default 10 s. */
  readonly timeout?: Duration.Input | undefined
}

const failure = (error: ConnectionError.ConnectionError) =>
  new Socket.SocketError({ reason: new Socket.SocketReadError({ cause: error }) })

const toMillis = (input: Duration.Input) => Duration.toMillis(Duration.fromInputUnsafe(input))

const closed = () =>
  new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause: new Error("WebSocket is not open") }) })

type Resume = (effect: Effect.Effect<NonEmptyReadonlyArray<Uint8Array | string>, Socket.SocketError>) => void

/**
 * Wraps a WebSocket that `open` yields (an accepted one, or a dialled one per reader acquisition).
 * Closing the reader's scope closes the WebSocket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromWebSocket = (
  open: Effect.Effect<WebSocket, ConnectionError.ConnectionError, Scope.Scope>,
  options: {
    /** For error messages: the URL (client) or the remote address (server). */
    readonly address: string
    /** Ping/pong keepalive; `false` for none. Default 30 s / 10 s. */
    readonly keepalive?: KeepaliveOptions | false | undefined
    /** Buffered bytes (either way) past which reads pause and writes wait. Default 1 MiB. */
    readonly highWaterMark?: number | undefined
  }
): Socket.Socket => {
  const highWaterMark = options.highWaterMark ?? 1024 * 1024
  const keepalive = options.keepalive === false ? undefined : options.keepalive ?? {}
  let current: WebSocket | undefined
  let opened: Array<() => void> = []
  let drainWaiters: Array<() => void> = []
  const onSent = () => {
    if (drainWaiters.length === 0 || current === undefined || current.bufferedAmount > highWaterMark) return
    const waiters = drainWaiters
    drainWaiters = []
    for (const w of waiters) w()
  }

  const reader = Effect.gen(function*() {
    const ws = yield* open.pipe(Effect.mapError((error) => failure(error)))
    let buffered: Array<Uint8Array | string> = []
    let bufferedBytes = 0
    let waiter: Resume | undefined
    let ended: Socket.SocketError | undefined
    const deliver = () => {
      if (waiter === undefined) return
      if (buffered.length > 0) {
        const chunks = buffered as unknown as NonEmptyReadonlyArray<Uint8Array | string>
        buffered = []
        bufferedBytes = 0
        if (ws.isPaused) ws.resume()
        const w = waiter
        waiter = undefined
        w(Effect.succeed(chunks))
      } else if (ended !== undefined) {
        const w = waiter
        waiter = undefined
        w(Effect.fail(ended))
      }
    }
    const end = (error: ConnectionError.ConnectionError) => {
      ended ??= failure(error)
      deliver()
    }
    let pongTimer: ReturnType<typeof setTimeout> | undefined
    const alive = () => {
      if (pongTimer !== undefined) {
        clearTimeout(pongTimer)
        pongTimer = undefined
      }
    }
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      alive()
      const chunk = isBinary
        ? new Uint8Array(Array.isArray(data) ? Buffer.concat(data) : (data as Buffer))
        : (data as Buffer).toString("utf8")
      buffered.push(chunk)
      bufferedBytes += chunk.length
      if (waiter !== undefined) deliver()
      else if (bufferedBytes >= highWaterMark) ws.pause()
    }
    const onClose = (code: number, reason: Buffer) => {
      const why = reason.length > 0 ? `close code ${code}: ${reason.toString("utf8")}` : `close code ${code}`
      end(ConnectionError.make("ClosedByPeer", options.address, undefined, why))
    }
    const onError = (cause: Error) => end(ConnectionError.classify(options.address, cause))
    ws.on("message", onMessage)
    ws.on("pong", alive)
    ws.on("close", onClose)
    ws.on("error", onError)
    let pingTimer: ReturnType<typeof setInterval> | undefined
    if (keepalive !== undefined) {
      const interval = toMillis(keepalive.interval ?? "30 seconds")
      const timeout = toMillis(keepalive.timeout ?? "10 seconds")
      pingTimer = setInterval(() => {
        if (pongTimer !== undefined || ws.readyState !== WebSocket.OPEN) return
        pongTimer = setTimeout(() => {
          end(ConnectionError.make(
            "HalfOpen",
            options.address,
            undefined,
            `no pong within ${Duration.format(Duration.millis(timeout))} of a ping`
          ))
          ws.terminate()
        }, timeout)
        pongTimer.unref?.()
        ws.ping()
      }, interval)
      pingTimer.unref?.()
    }
    current = ws
    const waiting = opened
    opened = []
    for (const w of waiting) w()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (pingTimer !== undefined) clearInterval(pingTimer)
        alive()
        ws.off("message", onMessage)
        ws.off("pong", alive)
        ws.off("close", onClose)
        ws.off("error", onError)
        ws.on("error", () => {})
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
          ws.close(1000)
          // A peer that does not answer the close frame is cut off.
          setTimeout(() => ws.terminate(), 1000).unref?.()
        }
        end(ConnectionError.make("ClosedLocally", options.address))
        if (current === ws) current = undefined
        const waiters = drainWaiters
        drainWaiters = []
        for (const w of waiters) w()
      })
    )
    const pull = Effect.callback<NonEmptyReadonlyArray<Uint8Array | string>, Socket.SocketError>((resume) => {
      waiter = resume
      deliver()
      return Effect.sync(() => {
        if (waiter === resume) waiter = undefined
      })
    })
    return { pull, upgrade: Socket.SocketUpgradeError.unsupported } satisfies Socket.Reader<Uint8Array | string>
  })

  const connection: Effect.Effect<WebSocket> = Effect.callback<WebSocket>((resume) => {
    if (current !== undefined) return resume(Effect.succeed(current))
    const w = () => resume(Effect.succeed(current!))
    opened.push(w)
    return Effect.sync(() => {
      opened = opened.filter((x) => x !== w)
    })
  })

  const drained = Effect.callback<void, Socket.SocketError>((resume) => {
    const ws = current
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return resume(Effect.fail(closed()))
    if (ws.bufferedAmount <= highWaterMark) return resume(Effect.void)
    const w = () => resume(Effect.void)
    drainWaiters.push(w)
    return Effect.sync(() => {
      drainWaiters = drainWaiters.filter((x) => x !== w)
    })
  })

  const sendNow = (ws: WebSocket, chunk: Uint8Array | string): boolean => {
    ws.send(chunk, { binary: typeof chunk !== "string" }, onSent)
    return ws.bufferedAmount <= highWaterMark
  }

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      const ws = current
      if (ws === undefined) return Effect.flatMap(connection, () => write(chunk))
      if (Socket.isCloseEvent(chunk)) {
        ws.close(chunk.code, chunk.reason)
        return Effect.void
      }
      if (ws.readyState !== WebSocket.OPEN) return Effect.fail(closed())
      return sendNow(ws, chunk) ? Effect.void : drained
    })

  const writeAll = (chunks: NonEmptyReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      const ws = current
      if (ws === undefined) return Effect.flatMap(connection, () => writeAll(chunks))
      if (ws.readyState !== WebSocket.OPEN) return Effect.fail(closed())
      let ok = true
      for (const chunk of chunks) ok = sendNow(ws, chunk)
      return ok ? Effect.void : drained
    })

  const socket = Socket.make({ reader, writer: Effect.succeed({ write, writeAll }) })
  const fast: FastWrite = {
    write: (chunk) => {
      const ws = current
      if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false
      return sendNow(ws, chunk)
    },
    drained
  }
  return Object.assign(socket, { [FastWriteKey]: fast })
}

/**
 * Options for {@link dial}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DialOptions {
  /** Extra headers on the upgrade request (e.g. `Authorization`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Gives up on the TCP connection plus WebSocket handshake after this long. Default 10 s. */
  readonly openTimeout?: Duration.Input | undefined
  /** TLS settings for `wss://` URLs. */
  readonly tls?: Tls.TlsClientOptions | undefined
  /** Ping/pong keepalive; `false` for none. Default 30 s / 10 s. */
  readonly keepalive?: KeepaliveOptions | false | undefined
  /** The largest message accepted. Default 16 MiB. */
  readonly maxPayload?: number | undefined
}

/**
 * The URL without credentials or query (which may hold a token), for error messages.
 *
 * @since 0.1.0
 * @category utils
 */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return "an invalid URL"
  }
}

/**
 * A client WebSocket that dials `url` on every reader acquisition (so a peer can reconnect).
 *
 * @since 0.1.0
 * @category constructors
 */
export const dial = (url: string, options?: DialOptions): Socket.Socket => {
  const address = displayUrl(url)
  const openTimeout = toMillis(options?.openTimeout ?? "10 seconds")
  const open = Effect.acquireRelease(
    Effect.callback<WebSocket, ConnectionError.ConnectionError>((resume) => {
      let settled = false
      const settle = (effect: Effect.Effect<WebSocket, ConnectionError.ConnectionError>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      let ws: WebSocket
      try {
        ws = new WebSocket(url, {
          headers: { ...options?.headers },
          perMessageDeflate: false,
          maxPayload: options?.maxPayload ?? 16 * 1024 * 1024,
          ...(options?.tls === undefined ? {} : Tls.clientOptions(options.tls))
        })
      } catch (cause) {
        return resume(Effect.fail(ConnectionError.classify(address, cause)))
      }
      const timer = setTimeout(() => {
        settle(Effect.fail(ConnectionError.make(
          "Timeout",
          address,
          undefined,
          `no WebSocket connection within ${Duration.format(Duration.millis(openTimeout))}`
        )))
        ws.terminate()
      }, openTimeout)
      ws.on("error", (cause) => settle(Effect.fail(ConnectionError.classify(address, cause))))
      ws.once("unexpected-response", (request, response) => {
        response.resume()
        settle(Effect.fail(ConnectionError.httpStatus(address, response.statusCode ?? 0)))
        request.destroy()
      })
      ws.once("open", () => settle(Effect.succeed(ws)))
      return Effect.sync(() => {
        settled = true
        clearTimeout(timer)
        ws.terminate()
      })
    }),
    (ws) => Effect.sync(() => ws.terminate())
  )
  return fromWebSocket(open, { address, keepalive: options?.keepalive })
}
