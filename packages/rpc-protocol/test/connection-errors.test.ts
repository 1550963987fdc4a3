/**
 * Connection errors a program can act on (issue #11 point 3, finding 5), on real loopback sockets:
 * each cause is its own `ConnectionError` reason carried by the call's error, the peer's status
 * stream shows the attempts, and 401/403 on the upgrade stop a reconnecting peer at once.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  ConnectionError,
  Dialect,
  Framing,
  MethodTable,
  PeerDisconnectedError,
  RpcPeer,
  RpcServer
} from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Duration, Effect, Fiber, Stream } from "effect"
import * as http from "node:http"
import * as net from "node:net"

/** A port nothing listens on (bound, then closed). */
const closedPort = Effect.callback<number>((resume) => {
  const srv = net.createServer()
  srv.listen(0, "127.0.0.1", () => {
    const port = (srv.address() as net.AddressInfo).port
    srv.close(() => resume(Effect.succeed(port)))
  })
})

/** An HTTP server answering every request (upgrades included) with `status`; counts the requests. */
const statusServer = (status: number) =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; requests: () => number }>((resume) => {
      let requests = 0
      const server = http.createServer((_req, res) => {
        requests++
        res.writeHead(status).end()
      })
      server.on("upgrade", (_req, socket) => {
        requests++
        socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, requests: () => requests })))
    }),
    ({ server }) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  ).pipe(Effect.map(({ server, requests }) => ({ port: (server.address() as net.AddressInfo).port, requests })))

/** A TCP server that accepts and then says nothing (a WebSocket handshake never completes). */
const silentServer = Effect.acquireRelease(
  Effect.callback<{ server: net.Server; sockets: Set<net.Socket> }>((resume) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.callback<void>((resume) => {
      for (const s of sockets) s.destroy()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ server }) => (server.address() as net.AddressInfo).port))

const lite = { dialect: Dialect.lite, framing: Framing.webSocket() }

/** The reason of the `ConnectionError` inside a call's failure. */
const reasonOf = (error: unknown) => error instanceof PeerDisconnectedError ? error.cause?.reason : undefined

describe("each cause is its own reason, carried by the call's error", () => {
  it.live("refused: the status stream backs off with the reason; the call says why", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        reconnect: { initialDelay: "20 millis", maxAttempts: 3 }
      })
      const statuses = yield* Effect.forkChild(Stream.runCollect(peer.statusChanges), { startImmediately: true })
      const error = yield* Effect.flip(peer.request("list_workspaces", {}, { timeout: "30 seconds" }))
      assert.strictEqual(reasonOf(error), "Refused")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.include(error.message, "nothing accepts connections there")
      const seen = yield* Fiber.join(statuses)
      const backoffs = seen.filter((s) => s._tag === "BackingOff")
      assert.deepStrictEqual(backoffs.map((s) => s.attempt), [1, 2, 3])
      for (const s of backoffs) assert.strictEqual(s.lastError.reason, "Refused")
      // The delays grow: 20, 40, 80 ms.
      assert.deepStrictEqual(backoffs.map((s) => Duration.toMillis(s.nextDelay)), [20, 40, 80])
      const last = seen.at(-1)!
      assert.isTrue(last._tag === "Closed" && last.reason === "gaveUp" && last.error?._tag === "ConnectionError")
    }))

  it.live("DNS: a name that does not resolve", () =>
    Effect.gen(function*() {
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ host: "no-such-host.invalid", port: 4732 }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
      const error = yield* Effect.flip(peer.awaitReady)
      assert.strictEqual(reasonOf(error), "Dns")
    }))

  it.live("timeout: a server that accepts but never completes the WebSocket handshake", () =>
    Effect.gen(function*() {
      const port = yield* silentServer
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}/`, { openTimeout: "300 millis" }),
        ...lite
      })
      const error = yield* Effect.flip(peer.awaitReady)
      assert.strictEqual(reasonOf(error), "Timeout")
    }))

  it.live("closed by the peer: a connection the server drops backs off as ClosedByPeer, then reconnects", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        ...lite,
        methods: MethodTable.make({ drop: MethodTable.method({}) }),
        handlers: { drop: (_, { peer }) => peer.disconnect }
      })
      const { port } = yield* serveWebSocket(server)
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}/`),
        ...lite,
        reconnect: { initialDelay: "20 millis" }
      })
      yield* peer.awaitReady
      const statuses = yield* Effect.forkChild(
        peer.statusChanges.pipe(
          Stream.takeUntil((s) => s._tag === "Connected" && s.connection === 2),
          Stream.runCollect
        ),
        { startImmediately: true }
      )
      yield* Effect.ignore(peer.request("drop"))
      const seen = yield* Fiber.join(statuses)
      const backoff = seen.find((s) => s._tag === "BackingOff")
      assert.strictEqual(backoff?._tag === "BackingOff" ? backoff.lastError.reason : undefined, "ClosedByPeer")
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
    }))
})

describe("HTTP status on the WebSocket upgrade", () => {
  it.live("401 under reconnect: one attempt, a fatal error naming the status, calls fail with it", () =>
    Effect.gen(function*() {
      const { port, requests } = yield* statusServer(401)
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}/rpc?token=secret`, { token: "wrong" }),
        ...lite,
        reconnect: { initialDelay: "10 millis" }
      })
      yield* peer.closed
      const status = yield* peer.status
      assert.isTrue(status._tag === "Closed" && status.reason === "rejected")
      const error = yield* Effect.flip(peer.request("thread/start", {}))
      assert.instanceOf(error, PeerDisconnectedError)
      assert.strictEqual(error.cause?.reason, "HttpStatus")
      assert.strictEqual(error.cause?.status, 401)
      assert.isTrue(error.cause?.fatal)
      assert.include(error.message, "401")
      // The URL in messages never carries the query (a token may be in it).
      assert.notInclude(error.message, "secret")
      // Not retried: exactly one upgrade request reached the server.
      assert.strictEqual(requests(), 1)
    }))

  it.live("403 is fatal as well; 404 and 503 are retried", () =>
    Effect.gen(function*() {
      const forbidden = yield* statusServer(403)
      const peer403 = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${forbidden.port}/`),
        ...lite,
        reconnect: { initialDelay: "10 millis" }
      })
      yield* peer403.closed
      assert.strictEqual(forbidden.requests(), 1)
      for (const status of [404, 503]) {
        const server = yield* statusServer(status)
        const peer = yield* RpcPeer.make({
          connect: connectWebSocket(`ws://127.0.0.1:${server.port}/`),
          ...lite,
          reconnect: { initialDelay: "10 millis", maxAttempts: 2 }
        })
        yield* peer.closed
        assert.strictEqual(server.requests(), 3)
        const error = yield* Effect.flip(peer.awaitReady)
        assert.strictEqual(error._tag === "PeerDisconnectedError" ? error.cause?.status : undefined, status)
      }
    }))

  it.live("our own server's 401 (wrong Bearer token) is the same fatal error", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({ ...lite, methods: {}, handlers: {} })
      const { port } = yield* serveWebSocket(server, { token: "right" })
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}/`, { token: "wrong" }),
        ...lite,
        reconnect: true
      })
      const error = yield* Effect.flip(peer.awaitReady)
      assert.strictEqual(error._tag === "PeerDisconnectedError" ? error.cause?.status : undefined, 401)
    }))
})

describe("ConnectionError.classify", () => {
  it("maps system and TLS codes to reasons, and keeps the code", () => {
    const cases: ReadonlyArray<readonly [string, ConnectionError.Reason]> = [
      ["ECONNREFUSED", "Refused"],
      ["ENOTFOUND", "Dns"],
      ["EAI_AGAIN", "Dns"],
      ["ETIMEDOUT", "Timeout"],
      ["ECONNRESET", "ClosedByPeer"],
      ["EPIPE", "ClosedByPeer"],
      ["EHOSTUNREACH", "Unreachable"],
      ["DEPTH_ZERO_SELF_SIGNED_CERT", "Tls"],
      ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "Tls"],
      ["CERT_HAS_EXPIRED", "Tls"],
      ["ERR_TLS_CERT_ALTNAME_INVALID", "Tls"],
      ["ERR_SSL_WRONG_VERSION_NUMBER", "Tls"],
      ["EWHATEVER", "Unknown"]
    ]
    for (const [code, reason] of cases) {
      const error = ConnectionError.classify("h:1", Object.assign(new Error(code), { code }))
      assert.strictEqual(error.reason, reason, code)
      assert.strictEqual(error.code, code)
    }
    const upgrade = ConnectionError.classify("ws://h/", new Error("Unexpected server response: 403"))
    assert.isTrue(upgrade.reason === "HttpStatus" && upgrade.status === 403 && upgrade.fatal)
    assert.isFalse(ConnectionError.httpStatus("ws://h/", 404).fatal)
  })
})
