/**
 * Node transports: TCP and WebSocket clients and servers (loopback by default), and a child
 * process's stdio, all as `Socket`s from `effect/socket` that `RpcPeer` and `RpcServer` use.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as NodeWS from "@effect/platform-node/NodeWS"
import { Duration, Effect, Fiber, type Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import type { ChildProcess } from "node:child_process"
import type { IncomingMessage } from "node:http"
import * as net from "node:net"
import { Duplex, type Readable, type Writable } from "node:stream"
import { checkBearer, constantTimeEqual, reveal, type Token } from "../Auth.ts"
import type { RpcServer } from "../RpcServer.ts"
import * as NetSocket from "./NetSocket.ts"

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
 * Options for {@link serveTcp}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpServerOptions {
  /** Default `127.0.0.1`: loopback only. Bind elsewhere only behind auth. */
  readonly host?: string | undefined
  /** Default 0 (an ephemeral port; read it from the result). */
  readonly port?: number | undefined
}

const boundAddress = (server: SocketServer.SocketServer["Service"], host: string): BoundAddress => {
  const address = server.address
  return address._tag === "UnixPathAddress" ? { host, port: 0 } : { host, port: address.port }
}

/**
 * Serves `server` over TCP in the current scope (each accepted connection is handled by
 * `server.handle` in its own fiber; closing the scope closes the listener and every connection).
 * Returns the bound address.
 *
 * @since 0.1.0
 * @category servers
 */
export const serveTcp = Effect.fn("RpcTransport.serveTcp")(function*(
  server: RpcServer,
  options?: TcpServerOptions
): Effect.fn.Return<BoundAddress, SocketServer.SocketServerError, Scope.Scope> {
  const host = options?.host ?? "127.0.0.1"
  const run = Effect.runForkWith(yield* Effect.context<never>())
  const connections = new Set<Fiber.Fiber<void>>()
  const listener = yield* Effect.acquireRelease(
    Effect.callback<net.Server, SocketServer.SocketServerError>((resume) => {
      const srv = net.createServer({ noDelay: true }, (conn) => {
        const fiber = run(server.handle(NetSocket.fromAccepted(conn)))
        connections.add(fiber)
        fiber.addObserver(() => connections.delete(fiber))
      })
      const onListenError = (cause: Error) =>
        resume(Effect.fail(
          new SocketServer.SocketServerError({ reason: new SocketServer.SocketServerOpenError({ cause }) })
        ))
      srv.once("error", onListenError)
      srv.listen({ host, port: options?.port ?? 0 }, () => {
        srv.off("error", onListenError)
        // A later error (EMFILE on accept, say) must not crash the host: log it and keep listening.
        srv.on("error", (cause) => run(Effect.logWarning("rpc: TCP listener error", cause)))
        resume(Effect.succeed(srv))
      })
    }),
    (srv) =>
      Effect.andThen(
        Fiber.interruptAll([...connections]),
        Effect.callback<void>((resume) => {
          srv.close(() => resume(Effect.void))
        })
      )
  )
  // The address the socket is actually bound to, not the one asked for.
  const address = listener.address()
  return typeof address === "object" && address !== null
    ? { host: address.address, port: address.port }
    : { host, port: 0 }
})

/**
 * Options for {@link serveWebSocket}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketServerOptions extends TcpServerOptions {
  /** Only this path is upgraded (e.g. `"/ws"`); others get 404. Default: any path. */
  readonly path?: string | undefined
  /**
   * Require `Authorization: Bearer <token>` on the upgrade request; a missing or wrong token gets
   * HTTP 401 before the upgrade (constant-time comparison).
   */
  readonly token?: Token | undefined
  /**
   * Also accept the token as a `?token=` query parameter (browsers cannot set headers; Orbit did
   * this). Default false: query strings end up in logs.
   */
  readonly allowQueryToken?: boolean | undefined
  /** Refuse any request carrying an `Origin` header with 403, like the codex app-server. Default false. */
  readonly rejectOrigin?: boolean | undefined
  /** Maximum incoming message size in bytes. Default 16 MiB. */
  readonly maxPayload?: number | undefined
}

/**
 * Decides an upgrade request: `undefined` to accept, or the HTTP status to refuse with.
 *
 * @since 0.1.0
 * @category servers
 */
export const checkUpgrade = (
  request: Pick<IncomingMessage, "headers" | "url">,
  options: WebSocketServerOptions
): 401 | 403 | 404 | undefined => {
  const url = new URL(request.url ?? "/", "http://localhost")
  if (options.path !== undefined && url.pathname !== options.path) return 404
  if (options.rejectOrigin === true && request.headers.origin !== undefined) return 403
  if (options.token !== undefined) {
    const header = request.headers.authorization
    if (checkBearer(header, options.token)) return undefined
    const query = options.allowQueryToken === true ? url.searchParams.get("token") : null
    if (query !== null && constantTimeEqual(query, reveal(options.token))) return undefined
    return 401
  }
  return undefined
}

const statusText = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" } as const

/**
 * Serves `server` over WebSocket (one message per text frame with `Framing.webSocket()`) in the
 * current scope. Returns the bound address.
 *
 * @since 0.1.0
 * @category servers
 */
export const serveWebSocket = Effect.fn("RpcTransport.serveWebSocket")(function*(
  server: RpcServer,
  options?: WebSocketServerOptions
): Effect.fn.Return<BoundAddress, SocketServer.SocketServerError, Scope.Scope> {
  const host = options?.host ?? "127.0.0.1"
  const settings = options ?? {}
  const socketServer = yield* NodeSocketServer.makeWebSocket({
    host,
    port: options?.port ?? 0,
    maxPayload: options?.maxPayload ?? 16 * 1024 * 1024,
    verifyClient: (info, callback) => {
      const refused = checkUpgrade(info.req, settings)
      if (refused === undefined) callback(true)
      else {
        callback(false, refused, statusText[refused], refused === 401 ? { "WWW-Authenticate": "Bearer" } : undefined)
      }
    }
  })
  yield* Effect.forkScoped(socketServer.run(server.handle), { startImmediately: true })
  return boundAddress(socketServer, host)
})

/**
 * A TCP client socket. Every connection of a peer (and every reconnect) dials anew.
 *
 * @since 0.1.0
 * @category clients
 */
export const connectTcp = (options: {
  readonly host?: string | undefined
  readonly port: number
  readonly openTimeout?: Duration.Input | undefined
}): Effect.Effect<Socket.Socket> =>
  Effect.succeed(
    NetSocket.dial(
      { host: options.host ?? "127.0.0.1", port: options.port, noDelay: true },
      { openTimeout: options.openTimeout ?? Duration.seconds(10) }
    )
  )

/**
 * A WebSocket client socket (the `ws` package), sending `Authorization: Bearer <token>` on the
 * upgrade when a token is given. A 401 fails the connection with a `SocketError`.
 *
 * @since 0.1.0
 * @category clients
 */
export const connectWebSocket = (
  url: string,
  options?: {
    readonly token?: Token | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
    readonly openTimeout?: Duration.Input | undefined
  }
): Effect.Effect<Socket.Socket> => {
  const headers: Record<string, string> = { ...options?.headers }
  if (options?.token !== undefined) headers["authorization"] = `Bearer ${reveal(options.token)}`
  return Socket.makeWebSocket(url, {
    headers,
    openTimeout: options?.openTimeout ?? Duration.seconds(10)
  }).pipe(Effect.provide(NodeWS.layerWebSocketConstructor))
}

/**
 * A socket over a readable and a writable stream (a child's stdout/stdin, or this process's
 * stdin/stdout on the backend side).
 *
 * @since 0.1.0
 * @category clients
 */
export const fromStreams = (readable: Readable, writable: Writable): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(Effect.sync(() => Duplex.from({ readable, writable })))

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
