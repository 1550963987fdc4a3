/**
 * `@isthmus/rpc-protocol/promise`: the peer for hosts that do not use Effect. `connect(url)` returns
 * a connected, handshaken peer whose methods return Promises; it is the same `RpcPeer` underneath,
 * run by a `ManagedRuntime` that `close()` disposes. Failures reject with the same typed errors
 * (`_tag` `"RpcError"`, `"RpcTimeoutError"`, `"PeerDisconnectedError"`, `"HandshakeError"`, …).
 *
 * Node only (TCP and the `ws` client); in a browser use the core entry with Effect.
 *
 * @example
 * ```ts
 * import { connect } from "@isthmus/rpc-protocol/promise"
 *
 * const peer = await connect("tcp://127.0.0.1:4732", { dialect: "daemon", authToken: "s3cret" })
 * const stop = peer.on("daemon_tick", (params) => console.log("tick", params))
 * console.log(await peer.request("daemon_info"))
 * stop()
 * await peer.close()
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, ManagedRuntime, Schema, Scope, Stream } from "effect"
import * as Dialect from "./Dialect.ts"
import * as Framing from "./Framing.ts"
import * as Handshake from "./Handshake.ts"
import type * as Message from "./Message.ts"
import type { MethodTable, Params, Result } from "./MethodTable.ts"
import { connectTcp, connectWebSocket } from "./node/Transports.ts"
import { PeerDisconnectedError, RpcError } from "./RpcError.ts"
import * as RpcPeer from "./RpcPeer.ts"

export {
  HandshakeError,
  OutboundQueueFullError,
  PeerDisconnectedError,
  RpcError,
  RpcSchemaError,
  RpcTimeoutError
} from "./RpcError.ts"

/**
 * `connect` was given a URL or an option it cannot use. Nothing was opened.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectOptionsError extends Schema.TaggedError<ConnectOptionsError>()("ConnectOptionsError", {
  message: Schema.String
}) {}

/**
 * Options of {@link connect}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions<M extends MethodTable = MethodTable> {
  /**
   * The JSON-RPC dialect: `"daemon"` (CodexMonitor: numeric ids, `{message}` errors), `"lite"`
   * (codex app-server: no `"jsonrpc"` field) or `"strict"` (JSON-RPC 2.0). Default `"strict"`.
   */
  readonly dialect?: "strict" | "lite" | "daemon" | Dialect.Dialect | undefined
  /**
   * How messages are cut: default one message per text frame on `ws://`/`wss://`, and one JSON
   * object per line (`"ndjson"`) on `tcp://`; `"content-length"` for LSP-style headers.
   */
  readonly framing?: "ndjson" | "content-length" | "websocket" | Framing.Framing | undefined
  /** Sent as `Authorization: Bearer <token>` on the WebSocket upgrade (never in the URL). */
  readonly bearerToken?: string | undefined
  /** Runs the token `auth` handshake (CodexMonitor daemons) on every (re)connect. */
  readonly authToken?: string | undefined
  /** Runs the `initialize` handshake (codex app-server) with these params on every (re)connect. */
  readonly initialize?: unknown
  /** A method table for typed `call`s (params encoded, results decoded by its schemas). */
  readonly methods?: M | undefined
  /** Methods whose pending calls are sent again after a reconnect (besides the table's idempotent ones). */
  readonly idempotent?: Iterable<string> | undefined
  /** Reconnect with capped backoff (`true` for the defaults: 500 ms ×2 up to 20 s). Default off. */
  readonly reconnect?: boolean | RpcPeer.ReconnectOptions | undefined
  /** The default per-call timeout, in ms. Default 60 000. */
  readonly requestTimeoutMs?: number | undefined
  /** How long connecting may take, in ms. Default 10 000. */
  readonly openTimeoutMs?: number | undefined
  /**
   * Answers requests the other side sends (server-to-client requests such as approvals). Throw (or
   * reject with) an `RpcError` to answer with its code; any other error is answered with its message.
   */
  readonly handlers?:
    | {
      /** Answers one method: return (or resolve to) the result. */
      readonly [method: string]: (params: unknown) => unknown
    }
    | undefined
}

/**
 * Per-call options.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /** This call's timeout in ms, instead of the peer's `requestTimeoutMs`. */
  readonly timeoutMs?: number | undefined
}

/**
 * A connected peer. Every method that talks to the other side returns a Promise that rejects
 * with a typed error (check `error._tag`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Peer<M extends MethodTable = MethodTable> {
  /** A typed call of a method in `options.methods`. */
  call<K extends keyof M & string>(method: K, params: Params<M, K>, options?: CallOptions): Promise<Result<M, K>>
  /** An untyped call. */
  request(method: string, params?: unknown, options?: CallOptions): Promise<unknown>
  /** Sends a notification. */
  notify(method: string, params?: unknown): Promise<void>
  /**
   * Calls `listener` for each notification of `method` (`"*"`: every notification) from now on,
   * as it is read and in wire order: a notification sent before a reply has reached the listeners
   * when that call resolves. Returns a function that removes it. A listener that throws is logged
   * and kept.
   */
  on(method: string, listener: (params: unknown, notification: Message.Notification) => void): () => void
  /**
   * The notifications from this call on (subscribed before it returns, so none is missed), until
   * the peer closes or the loop ends. Each iterator buffers up to 1024 unread notifications.
   */
  notifications(): AsyncIterableIterator<Message.Notification>
  /** The connection state now: `"connecting"`, `"connected"`, `"disconnected"` or `"closed"`. */
  state(): Promise<RpcPeer.PeerState>
  /** Counters: connections, pending calls, invalid frames, dropped outbound messages, replays. */
  stats(): Promise<RpcPeer.PeerStats>
  /** Closes the connection; pending calls reject with `PeerDisconnectedError`. Idempotent. */
  close(): Promise<void>
}

const dialects = { strict: Dialect.strict, lite: Dialect.lite, daemon: Dialect.daemon } as const

const pickFraming = (
  framing: ConnectOptions["framing"],
  scheme: "tcp" | "ws"
): Framing.Framing => {
  if (typeof framing === "object") return framing
  switch (framing ?? (scheme === "ws" ? "websocket" : "ndjson")) {
    case "ndjson":
      return Framing.ndjson()
    case "content-length":
      return Framing.contentLength()
    default:
      return Framing.webSocket()
  }
}

/** The socket effect for `url`, or why it cannot be used. */
const socketFor = (url: string, options: ConnectOptions<MethodTable>) => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  const openTimeout = options.openTimeoutMs ?? 10_000
  if (parsed.protocol === "tcp:" && parsed.port !== "" && parsed.pathname === "") {
    return {
      scheme: "tcp" as const,
      socket: connectTcp({ host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port), openTimeout })
    }
  }
  if (parsed.protocol === "ws:" || parsed.protocol === "wss:") {
    return {
      scheme: "ws" as const,
      socket: connectWebSocket(url, { token: options.bearerToken, openTimeout })
    }
  }
  return undefined
}

const timeoutOf = (call?: CallOptions) => call?.timeoutMs === undefined ? {} : { timeout: call.timeoutMs }

const toHandler = (handler: (params: unknown) => unknown): RpcPeer.RequestHandler => (params) =>
  Effect.tryPromise({
    try: async () => await handler(params),
    catch: (error) =>
      error instanceof RpcError
        ? error
        : new RpcError({ message: error instanceof Error ? error.message : String(error) })
  })

/**
 * Opens a peer to `url` (`tcp://host:port`, `ws://…` or `wss://…`), runs the handshake and
 * resolves once it is connected. Rejects with `ConnectOptionsError` for a URL it cannot use,
 * `HandshakeError` when the server refuses the token, or `PeerDisconnectedError` when the
 * connection cannot be opened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = async <M extends MethodTable = MethodTable>(
  url: string,
  options: ConnectOptions<M> = {}
): Promise<Peer<M>> => {
  const target = socketFor(url, options)
  if (target === undefined) {
    throw new ConnectOptionsError({
      message: `cannot connect to ${JSON.stringify(url)}: use tcp://host:port, ws://host:port/path or ` +
        "wss://host:port/path (put tokens in bearerToken or authToken, never in the URL)"
    })
  }
  const dialect = typeof options.dialect === "object" ? options.dialect : dialects[options.dialect ?? "strict"]
  const steps = [
    ...(options.authToken === undefined ? [] : [Handshake.tokenAuth(options.authToken)]),
    ...(options.initialize === undefined ? [] : [Handshake.initialize(options.initialize)])
  ]
  const handlers = Object.fromEntries(
    Object.entries(options.handlers ?? {}).map(([method, handler]) => [method, toHandler(handler)])
  )
  const listeners = new Map<string, Set<(params: unknown, notification: Message.Notification) => void>>()
  const dispatch = (notification: Message.Notification) =>
    Effect.forEach(
      [listeners.get(notification.method), listeners.get("*")],
      (set) =>
        Effect.forEach(set ?? [], (listener) =>
          Effect.try(() => listener(notification.params, notification)).pipe(
            Effect.catch((error) => Effect.logError(`listener for "${notification.method}" threw`, error))
          )),
      { discard: true }
    )
  const peerOptions: RpcPeer.RpcPeerOptions<M> = {
    connect: target.socket,
    dialect,
    framing: pickFraming(options.framing, target.scheme),
    methods: options.methods,
    idempotent: options.idempotent,
    reconnect: options.reconnect,
    handlers,
    handshake: steps.length === 0 ? undefined : Handshake.sequence(...steps),
    // Listeners run as each notification is read, in wire order: one that arrived before a reply
    // has been seen by the listeners when that call resolves.
    onNotification: dispatch,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs })
  }

  // The runtime owns the peer: its scope is the peer's, so disposing it closes the connection.
  const runtime = ManagedRuntime.make(Layer.empty)
  const peer = await runtime.runPromise(RpcPeer.make(peerOptions).pipe(Scope.provide(runtime.scope)))
  const ready = await runtime.runPromiseExit(peer.awaitReady)
  if (Exit.isFailure(ready)) {
    await runtime.dispose()
    throw Cause.squash(ready.cause)
  }

  let closing: Promise<void> | undefined
  // After close() the runtime is gone: answer as a closed RpcPeer would.
  const run = <A, E>(method: string, effect: Effect.Effect<A, E>): Promise<A> =>
    closing === undefined
      ? runtime.runPromise(effect)
      : Promise.reject(
        new PeerDisconnectedError({
          method,
          message: `${method === "" ? "the call" : `"${method}"`} failed: close() was called on this peer; ` +
            "connect again to call"
        })
      )
  return {
    call: (method, params, call) => run(method, peer.call(method, params, timeoutOf(call))),
    request: (method, params, call) => run(method, peer.request(method, params, timeoutOf(call))),
    notify: (method, params) => run(method, peer.notify(method, params)),
    on: (method, listener) => {
      const set = listeners.get(method) ?? new Set()
      listeners.set(method, set)
      set.add(listener)
      return () => {
        set.delete(listener)
      }
    },
    notifications: () => {
      if (closing !== undefined) return iterableIterator(Stream.toAsyncIterable(Stream.empty))
      // Subscribed synchronously, in a scope of its own that ends with the loop.
      const scope = runtime.runSync(Scope.fork(runtime.scope))
      const stream = runtime.runSync(Scope.provide(peer.subscribe, scope))
      return iterableIterator(Stream.toAsyncIterable(stream.pipe(Stream.ensuring(Scope.close(scope, Exit.void)))))
    },
    state: () => closing === undefined ? runtime.runPromise(peer.state) : Promise.resolve("closed"),
    stats: () => run("", peer.stats),
    close: () => (closing ??= runtime.runPromise(peer.close).then(() => runtime.dispose()))
  }
}

/** An `AsyncIterable` as the iterator `for await` and manual `next()` both accept. */
const iterableIterator = <A>(iterable: AsyncIterable<A>): AsyncIterableIterator<A> => {
  const iterator = iterable[Symbol.asyncIterator]()
  return {
    next: () => iterator.next(),
    return: () => iterator.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return this
    }
  }
}
