/**
 * `RpcServer`: serves a method table over any number of connections (`Socket`s from any
 * transport). Params are decoded and results encoded with the table's Schemas; protocol errors use
 * the dialect's mapping (parse error, invalid request, unknown method, invalid params, internal).
 *
 * With `auth`, nothing but `auth` and the public methods (`ping`) is answered before a connection
 * presents a token (compared in constant time); a wrong token gets the dialect's "invalid token"
 * and the connection stays open; only authenticated connections receive broadcasts. Tokens can
 * grant roles, and a role can be limited to some methods and kept from broadcasts. Until it passes
 * its gate a connection is held to a small message size and must do so within `authTimeout`.
 * Every connection writes through a bounded queue; a slow consumer is dropped from (or
 * disconnected by) broadcasts instead of growing memory without limit; at most `maxConnections`
 * connections are served at once, and a connection silent for `idleTimeout` is closed.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Scope } from "effect"
import type * as Socket from "effect/socket/Socket"
import { matchToken, type RoleToken, type Token, tokenFromParams } from "./Auth.ts"
import type { Dialect } from "./Dialect.ts"
import type { Decoder, Framing } from "./Framing.ts"
import { publishServer } from "./internal/publishMetrics.ts"
import { typedRunner } from "./internal/typedCall.ts"
import type * as Message from "./Message.ts"
import type { HandlerServices, MethodTable, Params, Result } from "./MethodTable.ts"
import { RpcError } from "./RpcError.ts"
import type { MetricsOptions } from "./RpcMetrics.ts"
import * as RpcPeer from "./RpcPeer.ts"

/**
 * What a handler sees besides its params: the connection it serves (for server-to-client requests
 * and notifications), its role, and the server (for broadcasts).
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerContext {
  /** Numbers the server's connections from 1, in accept order. */
  readonly connectionId: number
  /**
   * The role the connection's token granted (`"full"` for `auth.token`), or `undefined` when the
   * server has no auth.
   */
  readonly role: string | undefined
  /** The connection as a peer: `peer.request` asks the client, `peer.notify` tells it. */
  readonly peer: RpcPeer.RpcPeer
  /** The server, for `broadcast`. */
  readonly server: RpcServer
  /** The request as it came (id, method, raw params). */
  readonly request: Message.Request
}

/**
 * Handlers for every method of table `M`. A handler fails with `RpcError` to answer an error;
 * a defect becomes the dialect's internal error (without the defect's details). A handler may
 * require services `R`: they are taken from the context `RpcServer.make` runs in (build the server
 * in a `Layer` to provide them).
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<M extends MethodTable, R = never> = {
  readonly [K in keyof M & string]: (
    params: Params<M, K>,
    context: HandlerContext
  ) => Effect.Effect<Result<M, K>, RpcError, R>
}

/**
 * The auth gate. Give one `token` (role `"full"`) or several `tokens` with roles.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthOptions {
  /** The expected token (role `"full"`); pass a `Redacted` so it never prints. */
  readonly token?: Token | undefined
  /** Tokens with the roles they grant (see `RpcServerOptions.roles`). */
  readonly tokens?: ReadonlyArray<RoleToken> | undefined
  /** The auth method. Default `"auth"`. Params: `{"token":"…"}` or the bare string. */
  readonly method?: string | undefined
  /** Methods answered before auth. Default `["ping"]`. */
  readonly publicMethods?: ReadonlyArray<string> | undefined
  /** The result of a successful auth. Default `{ ok: true }`. */
  readonly result?: unknown
}

/**
 * What a role may do. Roles without a policy may do everything.
 *
 * @since 0.1.0
 * @category models
 */
export interface RolePolicy {
  /**
   * The methods this role may call (an allow-list; the public methods are always allowed). Others
   * are answered with the dialect's "unauthorized" error. Default: all.
   */
  readonly methods?: ReadonlyArray<string> | undefined
  /** Whether connections with this role receive broadcasts. Default true. */
  readonly broadcasts?: boolean | undefined
}

/**
 * Options for {@link make}. Every bound has a default that is safe on a desktop; each is stated
 * in the package README's "Limits and defaults" table.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcServerOptions<M extends MethodTable, H extends Handlers<M, unknown> = Handlers<M>> {
  /** The JSON-RPC dialect of every connection. */
  readonly dialect: Dialect
  /** The framing of every connection (match the transport: `webSocket()` for WebSocket). */
  readonly framing: Framing
  /** The method table: params are decoded and results encoded with its Schemas. */
  readonly methods: M
  /** One handler per method of the table (they may require services; see {@link Handlers}). */
  readonly handlers: H
  /**
   * The token gate; without it every connection is trusted. The Node transports refuse to bind a
   * non-loopback address without it (or transport-level auth) unless told otherwise.
   */
  readonly auth?: AuthOptions | undefined
  /** What each role may do (roles come from `auth.tokens` or the transport's Bearer tokens). */
  readonly roles?: { readonly [role: string]: RolePolicy } | undefined
  /**
   * Per-connection outbound queue. Default capacity 1024 and `disconnect` (a slow consumer is
   * disconnected, like the codex WebSocket server); `drop` drops broadcasts to it instead (replies
   * wait for room, and count against `concurrency` while they do).
   */
  readonly outbound?: { readonly capacity?: number; readonly whenFull?: "drop" | "disconnect" } | undefined
  /** Requests in flight per connection (a reply waiting for room counts). Default 32. */
  readonly concurrency?: number | undefined
  /**
   * Requests per connection that may wait for a free slot. Default 1024; beyond it a request is
   * answered with the dialect's `overloaded` error (`-32001`, as the codex app-server does).
   */
  readonly maxQueuedRequests?: number | undefined
  /**
   * Connections served at once. Default 256. Past it a new connection is closed at once (the
   * WebSocket transport answers the upgrade with 503).
   */
  readonly maxConnections?: number | undefined
  /**
   * How long a connection may take to pass its gate (`auth`, or `initialize`) before it is closed.
   * Default 10 s. Only applies when there is a gate.
   */
  readonly authTimeout?: Duration.Input | undefined
  /**
   * The largest message accepted before a connection passed its gate. Default 64 KiB: an
   * unauthenticated client cannot make the server buffer or parse 16 MiB lines. A message that
   * arrives in the same read as the `auth` request is still held to it, so clients should wait
   * for the answer (as `Handshake.tokenAuth` does).
   */
  readonly maxBytesBeforeAuth?: number | undefined
  /**
   * Closes a connection on which no message went either way for this long (checked once per period,
   * so after one to two periods of silence). Default 30 minutes;
   * `Duration.infinity` for never. WebSocket ping/pong frames do not count: a client that wants to
   * stay connected while idle should call `ping` now and then.
   */
  readonly idleTimeout?: Duration.Input | undefined
  /** Timeout of server-to-client requests (`context.peer.request`). Default 60 s. */
  readonly requestTimeout?: RpcPeer.RpcPeerOptions["requestTimeout"]
  /** Called for notifications from clients (e.g. `initialized`), once they passed the gate. */
  readonly onNotification?:
    | ((notification: Message.Notification, context: Omit<HandlerContext, "request">) => Effect.Effect<void>)
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
  /**
   * The server's `RpcMetrics` (on by default): its connections' under the attributes `name`
   * (default `"server"`) and `role: "server"`, and its own (refused connections, auth failures,
   * gate timeouts) under `name`; `false` for none.
   */
  readonly metrics?: MetricsOptions | false | undefined
}

/**
 * Options for {@link RpcServer.handle}.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions {
  /**
   * The connection is already authenticated by its transport (a Bearer token on the WebSocket
   * upgrade, a client certificate) with this role: it skips the `auth` gate.
   */
  readonly role?: string | undefined
}

/**
 * Options for {@link RpcServer.broadcast}.
 *
 * @since 0.1.0
 * @category models
 */
export interface BroadcastOptions {
  /** Only connections this returns true for (e.g. those following a thread). */
  readonly filter?:
    | ((connection: { readonly connectionId: number; readonly role: string | undefined }) => boolean)
    | undefined
}

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcServer {
  /** Serves one connection until it closes. Transports call this for every accepted socket. */
  readonly handle: (socket: Socket.Socket, options?: HandleOptions) => Effect.Effect<void>
  /**
   * Sends a notification to every authenticated connection whose role receives broadcasts (and
   * that `filter` keeps); returns how many queued it. A full connection is dropped from this
   * broadcast (not counted) or disconnected, per the outbound policy.
   */
  readonly broadcast: (method: string, params?: unknown, options?: BroadcastOptions) => Effect.Effect<number>
  /** Open connections (authenticated or not). */
  readonly connections: Effect.Effect<number>
  /** Connections that receive broadcasts. */
  readonly authenticated: Effect.Effect<number>
  /**
   * Whether a new connection would be refused now (`maxConnections` reached); transports then
   * refuse it before reading (WebSocket: 503). Asked once per incoming connection: a `true` answer
   * is counted as a refused connection. Optional for other servers a transport serves.
   */
  readonly isFull?: (() => boolean) | undefined
  /**
   * Whether the server authenticates clients itself (`auth`); when not (or absent), the transports
   * refuse a non-loopback bind without transport-level authentication.
   */
  readonly requiresAuth?: boolean | undefined
}

interface Connection {
  readonly id: number
  authenticated: boolean
  initialized: boolean
  role: string | undefined
  peer: RpcPeer.RpcPeer | undefined
  decoder: Decoder | undefined
}

const fail = (error: Message.ErrorObject) => Effect.fail(RpcError.fromObject(error))

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
export const make = <M extends MethodTable, H extends Handlers<M, unknown>>(
  options: RpcServerOptions<M, H>
): Effect.Effect<RpcServer, never, Scope.Scope | HandlerServices<H>> =>
  Effect.gen(function*() {
    type R = HandlerServices<H>
    const { dialect, methods } = options
    const context = yield* Effect.context<R>()
    const scope = yield* Effect.scope
    const connections = new Map<number, Connection>()
    let nextConnectionId = 1
    const auth = options.auth
    const tokens: ReadonlyArray<RoleToken> = [
      ...(auth?.token === undefined ? [] : [{ token: auth.token, role: "full" }]),
      ...(auth?.tokens ?? [])
    ]
    const authMethod = auth?.method ?? "auth"
    const publicMethods = new Set(auth?.publicMethods ?? ["ping"])
    const initializeMethod = options.initialize?.method ?? "initialize"
    const builtinPing = (options.ping ?? true) && methods["ping"] === undefined
    const roles = options.roles ?? {}
    const allowed = new Map(
      Object.entries(roles).flatMap(([role, policy]) =>
        policy.methods === undefined ? [] : [[role, new Set(policy.methods)] as const]
      )
    )
    const maxConnections = options.maxConnections ?? 256
    const authTimeout = options.authTimeout ?? "10 seconds"
    const maxBytesBeforeAuth = options.maxBytesBeforeAuth ?? 64 * 1024
    const gated = auth !== undefined || options.initialize !== undefined
    const handlers = options.handlers as unknown as {
      readonly [method: string]: (params: unknown, context: HandlerContext) => Effect.Effect<unknown, RpcError, R>
    }
    const runTyped = typedRunner(dialect, methods)
    const counts = { refused: 0, authFailures: 0, gateTimeouts: 0 }
    yield* publishServer(options.metrics, () => counts)
    const peerMetrics = options.metrics === false
      ? false
      : { name: options.metrics?.name ?? "server", role: "server" as const }

    const runMethod = (request: Message.Request, handlerContext: HandlerContext): Effect.Effect<unknown, RpcError> => {
      const handler = handlers[request.method]
      const run = handler === undefined
        ? undefined
        : runTyped(request.method, request.params, (params) => handler(params, handlerContext))
      if (run === undefined) {
        if (builtinPing && request.method === "ping") return Effect.succeed({ ok: true })
        return fail(dialect.errors.methodNotFound(request.method))
      }
      // The services handlers need come from the context `make` ran in, provided once per connection.
      return run as Effect.Effect<unknown, RpcError>
    }

    const receivesBroadcasts = (connection: Connection) =>
      connection.authenticated && (connection.role === undefined || roles[connection.role]?.broadcasts !== false)

    const broadcast = (method: string, params?: unknown, broadcastOptions?: BroadcastOptions): Effect.Effect<number> =>
      Effect.gen(function*() {
        let delivered = 0
        const filter = broadcastOptions?.filter
        for (const connection of connections.values()) {
          const peer = connection.peer
          if (peer === undefined || !receivesBroadcasts(connection)) continue
          if (filter !== undefined && !filter({ connectionId: connection.id, role: connection.role })) continue
          // Under the `drop` policy a full queue drops the notification without failing: count it out.
          const dropped = (yield* peer.stats).droppedOutbound
          const exit = yield* Effect.exit(peer.notify(method, params))
          if (exit._tag === "Success" && (yield* peer.stats).droppedOutbound === dropped) delivered++
        }
        return delivered
      }).pipe(Effect.withSpan("RpcServer.broadcast", { attributes: { "rpc.method": method } }))

    // The gate is passed: lift the pre-auth size limit.
    const passGate = (connection: Connection) => {
      if (connection.authenticated && connection.initialized) connection.decoder?.setMaxBytes?.(undefined)
    }

    const serveConnection = (socket: Socket.Socket, connection: Connection) =>
      Effect.gen(function*() {
        const contextFor = (peer: RpcPeer.RpcPeer, request: Message.Request): HandlerContext => ({
          connectionId: connection.id,
          role: connection.role,
          peer,
          server,
          request
        })
        const dispatch = (request: Message.Request, peer: RpcPeer.RpcPeer): Effect.Effect<unknown, RpcError> => {
          // Requests can arrive while RpcPeer.make is still starting; the peer is known from here on.
          connection.peer ??= peer
          if (auth !== undefined && request.method === authMethod && !connection.authenticated) {
            const presented = tokenFromParams(request.params)
            const role = presented === undefined ? undefined : matchToken(presented, tokens)
            if (role === undefined) {
              counts.authFailures++
              return fail(dialect.errors.invalidToken())
            }
            connection.authenticated = true
            connection.role = role
            passGate(connection)
            return Effect.succeed(auth.result ?? { ok: true })
          }
          if (!connection.authenticated && !publicMethods.has(request.method)) {
            return fail(dialect.errors.unauthorized())
          }
          const allow = connection.role === undefined ? undefined : allowed.get(connection.role)
          if (allow !== undefined && !allow.has(request.method) && !publicMethods.has(request.method)) {
            return fail({
              ...dialect.errors.unauthorized(),
              message: `"${request.method}" is not allowed for this client's role "${connection.role}"`
            })
          }
          if (options.initialize !== undefined) {
            if (request.method === initializeMethod) {
              if (connection.initialized) {
                return fail({ ...dialect.errors.invalidRequest("already initialized"), message: "Already initialized" })
              }
              return Effect.tap(runMethod(request, contextFor(peer, request)), () =>
                Effect.sync(() => {
                  connection.initialized = true
                  passGate(connection)
                }))
            }
            if (!connection.initialized && !publicMethods.has(request.method)) {
              return fail({ ...dialect.errors.unauthorized(), message: "Not initialized" })
            }
          }
          return runMethod(request, contextFor(peer, request))
        }
        connections.set(connection.id, connection)
        const framing: Framing = gated && !(connection.authenticated && connection.initialized)
          ? {
            ...options.framing,
            makeDecoder: () => {
              const decoder = options.framing.makeDecoder()
              connection.decoder = decoder
              if (!(connection.authenticated && connection.initialized)) decoder.setMaxBytes?.(maxBytesBeforeAuth)
              return decoder
            }
          }
          : options.framing
        const onNotification = options.onNotification
        const peer = yield* RpcPeer.make({
          connect: socket,
          dialect,
          framing,
          dispatch,
          onNotification: onNotification
            ? (notification, p) => {
              connection.peer ??= p
              return connection.authenticated
                ? onNotification(notification, { connectionId: connection.id, role: connection.role, peer: p, server })
                : Effect.void
            }
            : undefined,
          outbound: {
            capacity: options.outbound?.capacity ?? 1024,
            whenFull: options.outbound?.whenFull ?? "disconnect"
          },
          concurrency: options.concurrency,
          maxQueuedRequests: options.maxQueuedRequests,
          requestTimeout: options.requestTimeout,
          idleTimeout: options.idleTimeout ?? "30 minutes",
          metrics: peerMetrics
        })
        connection.peer = peer
        if (gated && !(connection.authenticated && connection.initialized)) {
          yield* Effect.sleep(authTimeout).pipe(
            Effect.andThen(Effect.suspend(() =>
              connection.authenticated && connection.initialized ? Effect.void : Effect.andThen(
                Effect.logInfo(
                  `rpc: closed connection ${connection.id}: it did not pass the ${
                    connection.authenticated ? initializeMethod : authMethod
                  } gate within ${Duration.format(Duration.fromInputUnsafe(authTimeout))} (authTimeout)`
                ),
                Effect.andThen(Effect.sync(() => counts.gateTimeouts++), peer.disconnect)
              )
            )),
            Effect.forkScoped
          )
        }
        yield* peer.closed
      })

    // Closes a connection past `maxConnections` without reading it: acquiring its reader and
    // closing that scope closes the connection (a writer alone may wait for a reader that never comes).
    const refuse = (socket: Socket.Socket) =>
      Effect.scoped(socket.reader).pipe(
        Effect.ignore,
        Effect.andThen(Effect.logWarning(
          `rpc: refused a connection: ${maxConnections} are open (maxConnections); raise it if they are legitimate`
        ))
      )

    const server: RpcServer = {
      handle: (socket, handleOptions) =>
        Effect.suspend(() => {
          if (connections.size >= maxConnections) {
            counts.refused++
            return refuse(socket)
          }
          const preauthenticated = handleOptions?.role !== undefined
          const connection: Connection = {
            id: nextConnectionId++,
            authenticated: auth === undefined || preauthenticated,
            initialized: options.initialize === undefined,
            role: handleOptions?.role,
            peer: undefined,
            decoder: undefined
          }
          return serveConnection(socket, connection).pipe(
            Effect.scoped,
            Effect.provideContext(context),
            Effect.ensuring(Effect.sync(() => connections.delete(connection.id))),
            Effect.withSpan("RpcServer.connection")
          )
        }),
      broadcast,
      connections: Effect.sync(() => connections.size),
      authenticated: Effect.sync(() => [...connections.values()].filter(receivesBroadcasts).length),
      // Transports ask once per connection and refuse it when full: count that refusal.
      isFull: () => {
        const full = connections.size >= maxConnections
        if (full) counts.refused++
        return full
      },
      requiresAuth: auth !== undefined
    }
    yield* Scope.addFinalizer(scope, Effect.sync(() => connections.clear()))
    return server
  })
