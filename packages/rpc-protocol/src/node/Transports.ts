/**
 * Node transports: TCP and WebSocket clients and servers (loopback by default, optionally over
 * TLS), and a child process's stdio, all as `Socket`s from `effect/socket` that `RpcPeer` and
 * `RpcServer` use.
 *
 * Safe defaults, each with an explicit opt-out: WebSocket servers answer 403 to an upgrade
 * carrying an `Origin` that is not allowed (`allowedOrigins`, none by default); TCP servers
 * answer a connection that starts like an HTTP request with 400 and close it (`refuseHttp`);
 * binding a non-loopback address without authentication fails at start
 * (`allowUnauthenticatedRemote`). Client errors are `ConnectionError`s that say why.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Duration, Effect, Fiber, Schema, type Scope } from "effect"
import type * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import type { ChildProcess } from "node:child_process"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import type { Duplex, Readable, Writable } from "node:stream"
import { Duplex as DuplexStream } from "node:stream"
import * as tls from "node:tls"
import { WebSocketServer } from "ws"
import { bearerToken, matchToken, reveal, type RoleToken, type Token } from "../Auth.ts"
import type { RpcServer } from "../RpcServer.ts"
import * as NetSocket from "./NetSocket.ts"
import * as Tls from "./Tls.ts"
import * as WsSocket from "./WsSocket.ts"

/**
 * Where a server listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface BoundAddress {
  /** The host the listener is bound to. */
  readonly host: string
  /** The bound port (the ephemeral one when `port: 0` was asked). */
  readonly port: number
}

/**
 * Options shared by {@link serveTcp} and {@link serveWebSocket}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions {
  /** Default `127.0.0.1`: loopback only. Another address needs authentication (see below). */
  readonly host?: string | undefined
  /** Default 0 (an ephemeral port; read it from the result). */
  readonly port?: number | undefined
  /** Serve over TLS with this certificate and key (and optionally require client certificates). */
  readonly tls?: Tls.TlsServerOptions | undefined
  /**
   * Allow binding a non-loopback address although nothing authenticates clients (no `auth` on
   * the server, no Bearer token, no client certificates). Default false: such a bind fails with
   * `InsecureBindError`, because anyone who can reach the port could drive the server.
   */
  readonly allowUnauthenticatedRemote?: boolean | undefined
}

/**
 * Options for {@link serveTcp}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpServerOptions extends ListenOptions {
  /**
   * Answer a connection whose first bytes are an HTTP request line with `400 Bad Request` and
   * close it, so a web page's `fetch` to this port cannot smuggle JSON lines in a POST body.
   * Default true.
   */
  readonly refuseHttp?: boolean | undefined
}

/**
 * A server would bind a non-loopback address with nothing authenticating its clients.
 *
 * @since 0.1.0
 * @category errors
 */
export class InsecureBindError extends Schema.TaggedError<InsecureBindError>()("InsecureBindError", {
  host: Schema.String,
  message: Schema.String
}) {}

/**
 * Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "")
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h
  return net.isIPv4(v4) && v4.startsWith("127.")
}

const checkBind = (host: string, authenticated: boolean, options: ListenOptions | undefined) =>
  authenticated || isLoopback(host) || options?.allowUnauthenticatedRemote === true
    ? Effect.void
    : Effect.fail(
      new InsecureBindError({
        host,
        message: `refusing to serve on ${host}, which is not a loopback address, without authentication: ` +
          "anyone who can reach the port could call every method. Give the server `auth` (or a Bearer " +
          "`token` to serveWebSocket, or `tls.requestCert` for client certificates), bind 127.0.0.1 and " +
          "reach it through an SSH tunnel, or pass `allowUnauthenticatedRemote: true` if the network is " +
          "trusted"
      })
    )

const openError = (cause: Error) =>
  new SocketServer.SocketServerError({ reason: new SocketServer.SocketServerOpenError({ cause }) })

/** Listens on `host:port`; closing the scope closes the listener (after `beforeClose`). */
const listen = (
  server: net.Server,
  host: string,
  port: number,
  beforeClose: Effect.Effect<void>
): Effect.Effect<BoundAddress, SocketServer.SocketServerError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<net.Server, SocketServer.SocketServerError>((resume) => {
      const onListenError = (cause: Error) => resume(Effect.fail(openError(cause)))
      server.once("error", onListenError)
      server.listen({ host, port }, () => {
        server.off("error", onListenError)
        resume(Effect.succeed(server))
      })
    }),
    (srv) =>
      Effect.andThen(
        beforeClose,
        Effect.callback<void>((resume) => {
          srv.close(() => resume(Effect.void))
          if ("closeAllConnections" in srv && typeof srv.closeAllConnections === "function") srv.closeAllConnections()
        })
      )
  ).pipe(Effect.map((srv) => {
    // The address the socket is actually bound to, not the one asked for.
    const address = srv.address()
    return typeof address === "object" && address !== null
      ? { host: address.address, port: address.port }
      : { host, port: 0 }
  }))

/** Runs one fiber per accepted connection; returns the runner and an effect interrupting them all. */
const connectionFibers = Effect.map(Effect.context<never>(), (context) => {
  const run = Effect.runForkWith(context)
  const fibers = new Set<Fiber.Fiber<void>>()
  return {
    fork: (effect: Effect.Effect<void>) => {
      const fiber = run(effect)
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
    },
    log: (message: string, cause?: unknown) => run(Effect.logWarning(message, cause)),
    interruptAll: Effect.suspend(() => Fiber.interruptAll([...fibers]))
  }
})

/**
 * Serves `server` over TCP (or TLS with `tls`) in the current scope: each accepted connection is
 * handled by `server.handle` in its own fiber; closing the scope closes the listener and every
 * connection. Returns the bound address. Connections past the server's `maxConnections` are
 * closed at once; a connection that starts like an HTTP request gets 400 and is closed.
 *
 * @since 0.1.0
 * @category servers
 */
export const serveTcp = Effect.fn("RpcTransport.serveTcp")(function*(
  server: RpcServer,
  options?: TcpServerOptions
): Effect.fn.Return<BoundAddress, SocketServer.SocketServerError | InsecureBindError, Scope.Scope> {
  const host = options?.host ?? "127.0.0.1"
  yield* checkBind(host, server.requiresAuth === true || options?.tls?.requestCert === true, options)
  const fibers = yield* connectionFibers
  const refuseHttp = options?.refuseHttp ?? true
  const onConnection = (conn: net.Socket) => {
    if (server.isFull?.() === true) {
      conn.destroy()
      fibers.log("rpc: refused a TCP connection: the server is at its maxConnections")
      return
    }
    conn.setNoDelay(true)
    fibers.fork(server.handle(NetSocket.fromAccepted(conn, { refuseHttp })))
  }
  const listener = options?.tls === undefined
    ? net.createServer({ noDelay: true }, onConnection)
    : tls.createServer(Tls.serverOptions(options.tls), onConnection)
  // A TLS handshake that fails (an untrusted client certificate, a plain-TCP client) is the
  // client's problem: log it at debug level and go on.
  listener.on("tlsClientError", (cause: Error) => fibers.log("rpc: TLS handshake with a client failed", cause.message))
  const address = yield* listen(listener, host, options?.port ?? 0, fibers.interruptAll)
  // A later error (EMFILE on accept, say) must not crash the host: log it and keep listening.
  listener.on("error", (cause) => fibers.log("rpc: TCP listener error", cause))
  return address
})

/**
 * Options for {@link serveWebSocket}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketServerOptions extends ListenOptions {
  /** Only this path is upgraded (e.g. `"/ws"`); others get 404. Default: any path. */
  readonly path?: string | undefined
  /**
   * Require `Authorization: Bearer <token>` on the upgrade request; a missing or wrong token gets
   * HTTP 401 before the upgrade (constant-time comparison). The connection gets role `"full"`.
   */
  readonly token?: Token | undefined
  /** Bearer tokens with the roles they grant (see `RpcServer`'s `roles`). */
  readonly tokens?: ReadonlyArray<RoleToken> | undefined
  /**
   * Also accept the token as a `?token=` query parameter (browsers cannot set headers; Orbit did
   * this). Default false: query strings end up in logs.
   */
  readonly allowQueryToken?: boolean | undefined
  /**
   * The `Origin`s (`scheme://host[:port]`) whose pages may connect; any other upgrade carrying an
   * `Origin` header gets 403, token or not (the codex app-server refuses them all). Requests
   * without `Origin` (non-browser clients) are unaffected. Default: none, so no web page can
   * drive the server; `"*"` allows every origin (only with a token). A function decides per origin
   * (given the request's headers too, e.g. to accept only the origin of the `Host` it was sent to).
   */
  readonly allowedOrigins?:
    | ReadonlyArray<string>
    | "*"
    | ((origin: string, request: Pick<http.IncomingMessage, "headers">) => boolean)
    | undefined
  /**
   * Answers plain HTTP requests to the port (not upgrades), e.g. to serve a web page and its
   * WebSocket on one port. Default: 426 Upgrade Required.
   */
  readonly onRequest?: ((request: http.IncomingMessage, response: http.ServerResponse) => void) | undefined
  /** Maximum incoming message size in bytes. Default 16 MiB. */
  readonly maxPayload?: number | undefined
  /**
   * Ping/pong keepalive on every connection: a ping every `interval` (30 s), closed as half-open
   * without a pong within `timeout` (10 s). `false` for none.
   */
  readonly keepalive?: WsSocket.KeepaliveOptions | false | undefined
}

/**
 * The decision on a WebSocket upgrade request: accept (with the role its Bearer token granted, if
 * any) or refuse with an HTTP status.
 *
 * @since 0.1.0
 * @category models
 */
export type UpgradeDecision =
  | { readonly _tag: "Accept"; readonly role?: string | undefined }
  | { readonly _tag: "Refuse"; readonly status: 401 | 403 | 404 }

const originAllowed = (
  origin: string,
  allowed: WebSocketServerOptions["allowedOrigins"],
  request: Pick<http.IncomingMessage, "headers">
): boolean => {
  if (allowed === undefined) return false
  if (allowed === "*") return true
  if (typeof allowed === "function") return allowed(origin, request)
  const normalized = origin.toLowerCase()
  return allowed.some((o) => o.toLowerCase() === normalized)
}

/**
 * Decides an upgrade request: the path (404), the `Origin` (403), then the token (401), in that
 * order, so a browser never learns whether its token was right.
 *
 * @since 0.1.0
 * @category servers
 */
export const checkUpgrade = (
  request: Pick<http.IncomingMessage, "headers" | "url">,
  options: WebSocketServerOptions
): UpgradeDecision => {
  const url = new URL(request.url ?? "/", "http://localhost")
  if (options.path !== undefined && url.pathname !== options.path) return { _tag: "Refuse", status: 404 }
  const origin = request.headers.origin
  if (origin !== undefined && !originAllowed(origin, options.allowedOrigins, request)) {
    return { _tag: "Refuse", status: 403 }
  }
  const tokens: ReadonlyArray<RoleToken> = [
    ...(options.token === undefined ? [] : [{ token: options.token, role: "full" }]),
    ...(options.tokens ?? [])
  ]
  if (tokens.length === 0) return { _tag: "Accept" }
  const presented = bearerToken(request.headers.authorization) ??
    (options.allowQueryToken === true ? url.searchParams.get("token") ?? undefined : undefined)
  const role = presented === undefined ? undefined : matchToken(presented, tokens)
  return role === undefined ? { _tag: "Refuse", status: 401 } : { _tag: "Accept", role }
}

const statusText: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  426: "Upgrade Required",
  503: "Service Unavailable"
}

// Plain HTTP requests to a WebSocket port.
const onRequest = (_request: http.IncomingMessage, response: http.ServerResponse) => {
  response.writeHead(426, { "Content-Type": "text/plain", Connection: "close" })
  response.end("This port speaks JSON-RPC over WebSocket.\n")
}

const refuseUpgrade = (socket: Duplex, status: number) => {
  const extra = status === 401 ? "WWW-Authenticate: Bearer\r\n" : ""
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? ""}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`
  )
  socket.on("error", () => {})
  setTimeout(() => socket.destroy(), 1000).unref()
}

/**
 * Serves `server` over WebSocket (one message per text frame with `Framing.webSocket()`), or over
 * `wss://` with `tls`, in the current scope. Returns the bound address. Upgrades are checked for
 * path (404), `Origin` (403), Bearer token (401) and the server's `maxConnections` (503); plain
 * HTTP requests get 426, or go to `onRequest`.
 *
 * @since 0.1.0
 * @category servers
 */
export const serveWebSocket = Effect.fn("RpcTransport.serveWebSocket")(function*(
  server: RpcServer,
  options?: WebSocketServerOptions
): Effect.fn.Return<BoundAddress, SocketServer.SocketServerError | InsecureBindError, Scope.Scope> {
  const host = options?.host ?? "127.0.0.1"
  const settings = options ?? {}
  const bearer = settings.token !== undefined || (settings.tokens?.length ?? 0) > 0
  yield* checkBind(host, server.requiresAuth === true || bearer || settings.tls?.requestCert === true, options)
  const fibers = yield* connectionFibers
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: settings.maxPayload ?? 16 * 1024 * 1024,
    perMessageDeflate: false,
    clientTracking: false
  })
  const httpServer = settings.tls === undefined
    ? http.createServer(settings.onRequest ?? onRequest)
    : https.createServer(Tls.serverOptions(settings.tls), settings.onRequest ?? onRequest)
  httpServer.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const decision = checkUpgrade(request, settings)
    if (decision._tag === "Refuse") return refuseUpgrade(socket, decision.status)
    if (server.isFull?.() === true) return refuseUpgrade(socket, 503)
    wss.handleUpgrade(request, socket, head, (ws) => {
      const address = `${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? "?"}`
      const accepted = WsSocket.fromWebSocket(Effect.succeed(ws), { address, keepalive: settings.keepalive })
      fibers.fork(server.handle(accepted, { role: decision.role }))
    })
  })
  httpServer.on(
    "tlsClientError",
    (cause: Error) => fibers.log("rpc: TLS handshake with a client failed", cause.message)
  )
  const address = yield* listen(
    httpServer,
    host,
    settings.port ?? 0,
    Effect.andThen(fibers.interruptAll, Effect.sync(() => wss.close()))
  )
  httpServer.on("error", (cause) => fibers.log("rpc: WebSocket listener error", cause))
  return address
})

/**
 * Options for {@link connectTcp}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpClientOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
  readonly port: number
  /** Gives up on the connection (and the TLS handshake) after this long. Default 10 s. */
  readonly openTimeout?: Duration.Input | undefined
  /** Connect with TLS, verifying the server's certificate (see `Tls.TlsClientOptions`). */
  readonly tls?: Tls.TlsClientOptions | undefined
}

/**
 * A TCP (or TLS) client socket. Every connection of a peer (and every reconnect) dials anew; a
 * failure is a `ConnectionError` (refused, DNS, timeout, TLS) that the peer reports.
 *
 * @since 0.1.0
 * @category clients
 */
export const connectTcp = (options: TcpClientOptions): Effect.Effect<Socket.Socket> =>
  Effect.succeed(
    NetSocket.dial(
      { host: options.host ?? "127.0.0.1", port: options.port, noDelay: true },
      { openTimeout: options.openTimeout ?? Duration.seconds(10), tls: options.tls }
    )
  )

/**
 * Options for {@link connectWebSocket}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketClientOptions {
  /** Sent as `Authorization: Bearer <token>` on the upgrade. */
  readonly token?: Token | undefined
  /** Extra headers on the upgrade request. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Gives up on the connection and the WebSocket handshake after this long. Default 10 s. */
  readonly openTimeout?: Duration.Input | undefined
  /** TLS settings for `wss://` URLs (a private CA, a client certificate, the server name). */
  readonly tls?: Tls.TlsClientOptions | undefined
  /**
   * Ping/pong keepalive: a ping every `interval` (30 s); no pong within `timeout` (10 s) closes the
   * connection as half-open, and a reconnecting peer reconnects. `false` for none.
   */
  readonly keepalive?: WsSocket.KeepaliveOptions | false | undefined
  /** The largest message accepted. Default 16 MiB. */
  readonly maxPayload?: number | undefined
}

/**
 * A WebSocket client socket (the `ws` package; `wss://` with `tls`), sending
 * `Authorization: Bearer <token>` on the upgrade when a token is given. A refused upgrade is a
 * `ConnectionError` with the HTTP status (401 and 403 stop a reconnecting peer for good).
 *
 * @since 0.1.0
 * @category clients
 */
export const connectWebSocket = (url: string, options?: WebSocketClientOptions): Effect.Effect<Socket.Socket> =>
  Effect.sync(() => {
    const headers: Record<string, string> = { ...options?.headers }
    if (options?.token !== undefined) headers["authorization"] = `Bearer ${reveal(options.token)}`
    return WsSocket.dial(url, {
      headers,
      openTimeout: options?.openTimeout,
      tls: options?.tls,
      keepalive: options?.keepalive,
      maxPayload: options?.maxPayload
    })
  })

/**
 * A socket over a readable and a writable stream (a child's stdout/stdin, or this process's
 * stdin/stdout on the backend side).
 *
 * @since 0.1.0
 * @category clients
 */
export const fromStreams = (readable: Readable, writable: Writable): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(Effect.sync(() => DuplexStream.from({ readable, writable })))

/**
 * A socket over a child process's stdio: we write its stdin and read its stdout.
 *
 * @since 0.1.0
 * @category clients
 */
export const childStdio = (child: ChildProcess): Effect.Effect<Socket.Socket> => {
  if (child.stdout === null || child.stdin === null) {
    return Effect.die(new Error("childStdio: spawn the child with stdio [\"pipe\", \"pipe\", …]"))
  }
  return fromStreams(child.stdout, child.stdin)
}

/**
 * A socket over this process's stdin/stdout: the backend side of a stdio transport.
 *
 * @since 0.1.0
 * @category clients
 */
export const processStdio = (): Effect.Effect<Socket.Socket> => fromStreams(process.stdin, process.stdout)
