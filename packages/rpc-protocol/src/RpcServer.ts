/**
 * `RpcServer`: serves a method table over any number of connections (`Socket`s from any
 * transport). Params are decoded and results encoded with the table's Schemas; protocol errors use
 * the dialect's mapping (parse error, invalid request, unknown method, invalid params, internal).
 *
 * With `auth`, nothing but `auth` and the public methods (`ping`) is answered before a connection
 * presents the token (compared in constant time); a wrong token gets the dialect's "invalid token"
 * and the connection stays open; only authenticated connections receive broadcasts. Each
 * connection writes through a bounded queue; a slow consumer is dropped from (or disconnected by)
 * broadcasts instead of growing memory without limit.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Option, Schema, Scope } from "effect"
import type * as Socket from "effect/socket/Socket"
import { constantTimeEqual, reveal, type Token, tokenFromParams } from "./Auth.ts"
import type { Dialect } from "./Dialect.ts"
import type { Framing } from "./Framing.ts"
import type * as Message from "./Message.ts"
import type { MethodTable, Params, Result } from "./MethodTable.ts"
import { RpcError } from "./RpcError.ts"
import * as RpcPeer from "./RpcPeer.ts"

/**
 * What a handler sees besides its params: the connection it serves (for server-to-client requests
 * and notifications) and the server (for broadcasts).
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerContext {
  /** Numbers the server's connections from 1, in accept order. */
  readonly connectionId: number
  /** The connection as a peer: `peer.request` asks the client, `peer.notify` tells it. */
  readonly peer: RpcPeer.RpcPeer
  /** The server, for `broadcast`. */
  readonly server: RpcServer
}

/**
 * Handlers for every method of table `M`. A handler fails with `RpcError` to answer an error;
 * a defect becomes the dialect's internal error (without the defect's details).
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<M extends MethodTable> = {
  readonly [K in keyof M & string]: (
    params: Params<M, K>,
    context: HandlerContext
  ) => Effect.Effect<Result<M, K>, RpcError>
}

/**
 * The auth gate.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthOptions {
  /** The expected token; pass a `Redacted` so it never prints. */
  readonly token: Token
  /** The auth method. Default `"auth"`. Params: `{"token":"…"}` or the bare string. */
  readonly method?: string | undefined
  /** Methods answered before auth. Default `["ping"]`. */
  readonly publicMethods?: ReadonlyArray<string> | undefined
  /** The result of a successful auth. Default `{ ok: true }`. */
  readonly result?: unknown
}

/**
 * Options for {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcServerOptions<M extends MethodTable> {
  /** The JSON-RPC dialect of every connection. */
  readonly dialect: Dialect
  /** The framing of every connection (match the transport: `webSocket()` for WebSocket). */
  readonly framing: Framing
  /** The method table: params are decoded and results encoded with its Schemas. */
  readonly methods: M
  /** One handler per method of the table. */
  readonly handlers: Handlers<M>
  /** The token gate; without it every connection is trusted (bind to loopback only). */
  readonly auth?: AuthOptions | undefined
  /**
   * Per-connection outbound queue. Default capacity 1024 and `disconnect` (a slow consumer is
   * disconnected, like the codex WebSocket server); `drop` drops broadcasts to it instead.
   */
  readonly outbound?: { readonly capacity?: number; readonly whenFull?: "drop" | "disconnect" } | undefined
  /** Requests handled at once per connection. Default 32. */
  readonly concurrency?: number | undefined
  /**
   * Requests per connection that may wait for a free slot. Default 1024; beyond it a request is
   * answered with the dialect's `overloaded` error at once (`-32001`, as the codex app-server does).
   */
  readonly maxQueuedRequests?: number | undefined
  /** Timeout of server-to-client requests (`context.peer.request`). Default 60 s. */
  readonly requestTimeout?: RpcPeer.RpcPeerOptions["requestTimeout"]
  /** Called for notifications from clients (e.g. `initialized`). */
  readonly onNotification?:
    | ((notification: Message.Notification, context: HandlerContext) => Effect.Effect<void>)
    | undefined
  /**
   * The codex app-server gate: before the `initialize` request every other request gets the
   * dialect's "unauthorized" error (`-32600 "Not initialized"` in the lite dialect); a second
   * `initialize` gets `"Already initialized"`. `initialize` must be in the method table; its
   * handler's result is the answer. Combine with `auth` or use alone.
   */
  readonly initialize?: { readonly method?: string | undefined } | undefined
  /** A built-in `ping` → `{ ok: true }` unless the table has one. Default true. */
  readonly ping?: boolean | undefined
}

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcServer {
  /** Serves one connection until it closes. Transports call this for every accepted socket. */
  readonly handle: (socket: Socket.Socket) => Effect.Effect<void>
  /**
   * Sends a notification to every authenticated connection; returns how many queued it. A full
   * connection is dropped from this broadcast (not counted) or disconnected, per the outbound policy.
   */
  readonly broadcast: (method: string, params?: unknown) => Effect.Effect<number>
  /** Open connections (authenticated or not). */
  readonly connections: Effect.Effect<number>
  /** Connections that receive broadcasts. */
  readonly authenticated: Effect.Effect<number>
}

interface Connection {
  readonly id: number
  authenticated: boolean
  initialized: boolean
  peer: RpcPeer.RpcPeer | undefined
}

const fail = (error: Message.ErrorObject) => Effect.fail(RpcError.fromObject(error))

const schemaMessage = (exit: Exit.Exit<unknown, Schema.SchemaError>): string => {
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  return error ? error.message : "does not match the schema"
}

/**
 * Creates a server in the current scope. Serve it with a transport (`serveTcp`, `serveWebSocket`
 * from `@isthmus/rpc-protocol/node`) or call `handle` with any `Socket`.
 *
 * @example
 * ```ts
 * const Methods = MethodTable.make({
 *   add: MethodTable.method({ params: Schema.Struct({ a: Schema.Number, b: Schema.Number }), result: Schema.Number })
 * })
 * const server = yield* RpcServer.make({
 *   dialect: Dialect.daemon,
 *   framing: Framing.ndjson(),
 *   methods: Methods,
 *   handlers: { add: ({ a, b }) => Effect.succeed(a + b) },
 *   auth: { token: Redacted.make("s3cret") }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <M extends MethodTable>(
  options: RpcServerOptions<M>
): Effect.Effect<RpcServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { dialect, methods } = options
    const scope = yield* Effect.scope
    const connections = new Map<number, Connection>()
    let nextConnectionId = 1
    const authMethod = options.auth?.method ?? "auth"
    const publicMethods = new Set(options.auth?.publicMethods ?? ["ping"])
    const initializeMethod = options.initialize?.method ?? "initialize"
    const builtinPing = (options.ping ?? true) && methods["ping"] === undefined
    const handlers = options.handlers as unknown as {
      readonly [method: string]: (params: unknown, context: HandlerContext) => Effect.Effect<unknown, RpcError>
    }

    const decoders = new Map<string, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
    // No encoder for `Unknown`/`Any` results: the handler's value goes out as it is.
    const encoders = new Map<string, ((u: unknown) => Exit.Exit<unknown, Schema.SchemaError>) | undefined>()
    for (const [name, spec] of Object.entries(methods)) {
      decoders.set(name, Schema.decodeUnknownExit(spec.params))
      const passThrough = spec.result.ast._tag === "Unknown" || spec.result.ast._tag === "Any"
      encoders.set(name, passThrough ? undefined : Schema.encodeUnknownExit(spec.result))
    }

    const runMethod = (request: Message.Request, context: HandlerContext): Effect.Effect<unknown, RpcError> => {
      const decode = decoders.get(request.method)
      const handler = handlers[request.method]
      if (decode === undefined || handler === undefined) {
        if (builtinPing && request.method === "ping") return Effect.succeed({ ok: true })
        return fail(dialect.errors.methodNotFound(request.method))
      }
      const params = decode(request.params)
      if (Exit.isFailure(params)) return fail(dialect.errors.invalidParams(request.method, schemaMessage(params)))
      const encode = encoders.get(request.method)
      if (encode === undefined) return handler(params.value, context)
      return Effect.flatMap(handler(params.value, context), (result) => {
        const encoded = encode(result)
        return Exit.isSuccess(encoded)
          ? Effect.succeed(encoded.value)
          : fail(dialect.errors.internal(`result of ${request.method} does not match its schema`))
      })
    }

    const broadcast = (method: string, params?: unknown): Effect.Effect<number> =>
      Effect.gen(function*() {
        let delivered = 0
        for (const connection of connections.values()) {
          const peer = connection.peer
          if (!connection.authenticated || peer === undefined) continue
          // Under the `drop` policy a full queue drops the notification without failing: count it out.
          const dropped = (yield* peer.stats).droppedOutbound
          const exit = yield* Effect.exit(peer.notify(method, params))
          if (Exit.isSuccess(exit) && (yield* peer.stats).droppedOutbound === dropped) delivered++
        }
        return delivered
      }).pipe(Effect.withSpan("RpcServer.broadcast", { attributes: { "rpc.method": method } }))

    const serveConnection = (socket: Socket.Socket, connection: Connection) =>
      Effect.gen(function*() {
        const context = (peer: RpcPeer.RpcPeer): HandlerContext => ({ connectionId: connection.id, peer, server })
        const dispatch = (request: Message.Request, peer: RpcPeer.RpcPeer): Effect.Effect<unknown, RpcError> => {
          // Requests can arrive while RpcPeer.make is still starting; the peer is known from here on.
          connection.peer ??= peer
          const auth = options.auth
          if (auth !== undefined && request.method === authMethod && !connection.authenticated) {
            const presented = tokenFromParams(request.params)
            if (presented === undefined || !constantTimeEqual(presented, reveal(auth.token))) {
              return fail(dialect.errors.invalidToken())
            }
            connection.authenticated = true
            return Effect.succeed(auth.result ?? { ok: true })
          }
          if (!connection.authenticated && !publicMethods.has(request.method)) {
            return fail(dialect.errors.unauthorized())
          }
          if (options.initialize !== undefined) {
            if (request.method === initializeMethod) {
              if (connection.initialized) {
                return fail({ ...dialect.errors.invalidRequest("already initialized"), message: "Already initialized" })
              }
              return Effect.tap(runMethod(request, context(peer)), () =>
                Effect.sync(() => {
                  connection.initialized = true
                }))
            }
            if (!connection.initialized && !publicMethods.has(request.method)) {
              return fail({ ...dialect.errors.unauthorized(), message: "Not initialized" })
            }
          }
          return runMethod(request, context(peer))
        }
        connections.set(connection.id, connection)
        const peer = yield* RpcPeer.make({
          connect: socket,
          dialect,
          framing: options.framing,
          dispatch,
          onNotification: options.onNotification
            ? (notification, p) => {
              connection.peer ??= p
              return connection.authenticated ? options.onNotification!(notification, context(p)) : Effect.void
            }
            : undefined,
          outbound: {
            capacity: options.outbound?.capacity ?? 1024,
            whenFull: options.outbound?.whenFull ?? "disconnect"
          },
          concurrency: options.concurrency,
          maxQueuedRequests: options.maxQueuedRequests,
          requestTimeout: options.requestTimeout
        })
        connection.peer = peer
        yield* peer.closed
      })

    const server: RpcServer = {
      handle: (socket) =>
        Effect.suspend(() => {
          const connection: Connection = {
            id: nextConnectionId++,
            authenticated: options.auth === undefined,
            initialized: options.initialize === undefined,
            peer: undefined
          }
          return serveConnection(socket, connection).pipe(
            Effect.scoped,
            Effect.ensuring(Effect.sync(() => connections.delete(connection.id))),
            Effect.withSpan("RpcServer.connection")
          )
        }),
      broadcast,
      connections: Effect.sync(() => connections.size),
      authenticated: Effect.sync(() => [...connections.values()].filter((c) => c.authenticated).length)
    }
    yield* Scope.addFinalizer(scope, Effect.sync(() => connections.clear()))
    return server
  })
