/**
 * Safe defaults, each with its opt-out (issue #11 point 2, findings 3–4), on real loopback sockets:
 * browsers (Origin) and HTTP requests cannot drive a token-less server, a non-loopback bind needs
 * auth, and unauthenticated connections are capped, size-limited and timed out.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MethodTable, RpcServer } from "@isthmus/rpc-protocol"
import { NetSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Ref } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import { rawTcp } from "./support/raw.ts"

/** Sends a WebSocket upgrade request and reports the HTTP status (101 when upgraded). */
const upgradeStatus = (port: number, headers: Record<string, string>) =>
  Effect.callback<number>((resume) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      path: "/",
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        ...headers
      }
    })
    req.on("response", (res) => {
      res.resume()
      resume(Effect.succeed(res.statusCode ?? 0))
    })
    req.on("upgrade", (_res, socket) => {
      socket.destroy()
      resume(Effect.succeed(101))
    })
    req.on("error", () => resume(Effect.succeed(-1)))
    req.end()
  })

/** A token-less server whose one method counts its calls. */
const recordingServer = (framing: Framing.Framing, options?: Partial<RpcServer.RpcServerOptions<{}>>) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const server = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing,
      methods: MethodTable.make({ record: MethodTable.method({}) }),
      handlers: { record: () => Ref.updateAndGet(calls, (n) => n + 1) },
      ...options
    })
    return { server, calls }
  })

describe("WebSocket Origin allowlist (on by default, token or not)", () => {
  it.live("a token-less server answers 403 to any Origin not allowed, 101 without one", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.webSocket())
      const closed = yield* serveWebSocket(server)
      assert.strictEqual(yield* upgradeStatus(closed.port, { Origin: "https://evil.example" }), 403)
      assert.strictEqual(yield* upgradeStatus(closed.port, { Origin: "null" }), 403)
      assert.strictEqual(yield* upgradeStatus(closed.port, {}), 101)
      const listed = yield* serveWebSocket(server, { allowedOrigins: ["http://127.0.0.1:5173"] })
      assert.strictEqual(yield* upgradeStatus(listed.port, { Origin: "http://127.0.0.1:5173" }), 101)
      assert.strictEqual(yield* upgradeStatus(listed.port, { Origin: "http://127.0.0.1:5174" }), 403)
      const any = yield* serveWebSocket(server, { allowedOrigins: "*" })
      assert.strictEqual(yield* upgradeStatus(any.port, { Origin: "https://evil.example" }), 101)
    }))

  it.live("with a token, a wrong Origin is refused before the token is looked at", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.webSocket())
      const { port } = yield* serveWebSocket(server, { token: "t0k3n" })
      const origin = { Origin: "https://evil.example" }
      assert.strictEqual(yield* upgradeStatus(port, { ...origin, Authorization: "Bearer t0k3n" }), 403)
      assert.strictEqual(yield* upgradeStatus(port, { ...origin, Authorization: "Bearer wrong" }), 403)
      assert.strictEqual(yield* upgradeStatus(port, { Authorization: "Bearer t0k3n" }), 101)
    }))
})

describe("TCP servers refuse HTTP (on by default)", () => {
  it.live("a fetch() POST carrying a JSON line gets 400 and the method never runs", () =>
    Effect.gen(function*() {
      const { server, calls } = yield* recordingServer(Framing.ndjson())
      const { port } = yield* serveTcp(server)
      // What a web page can do to any local port: a simple POST, no CORS preflight.
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/`, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: `{"id":1,"method":"record"}\n{"id":2,"method":"record"}\n`
        }).then((r) => r.status, (e: unknown) => String(e))
      )
      assert.strictEqual(response, 400)
      // The server still serves JSON-RPC clients, and `record` ran only for this one.
      const client = yield* rawTcp(port)
      yield* client.send(`{"id":7,"method":"record"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":7,"result":1}`)
      assert.strictEqual(yield* Ref.get(calls), 1)
    }))

  it.live("a request line split across packets is recognised; refuseHttp: false opts out", () =>
    Effect.gen(function*() {
      const { server, calls } = yield* recordingServer(Framing.ndjson())
      const strict = yield* serveTcp(server)
      const client = yield* rawTcp(strict.port)
      yield* client.send("PO")
      yield* client.send("ST / HTTP/1.1\r\nHost: x\r\n\r\n")
      assert.strictEqual(yield* client.next(), "HTTP/1.1 400 Bad Request\r")
      yield* client.closed
      const lax = yield* serveTcp(server, { refuseHttp: false })
      const other = yield* rawTcp(lax.port)
      yield* other.send(`POST / HTTP/1.1\r\n\r\n{"id":1,"method":"record"}\n`)
      assert.strictEqual(yield* other.next(), `{"id":1,"result":1}`)
      assert.strictEqual(yield* Ref.get(calls), 1)
    }))
})

describe("non-loopback binds need authentication", () => {
  it.live("serveTcp and serveWebSocket fail at start on 0.0.0.0 without auth, naming the opt-out", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.ndjson())
      for (const serve of [serveTcp(server, { host: "0.0.0.0" }), serveWebSocket(server, { host: "0.0.0.0" })]) {
        const error = yield* Effect.flip(serve)
        assert.strictEqual(error._tag, "InsecureBindError")
        assert.include(error.message, "allowUnauthenticatedRemote: true")
      }
      // A Bearer token, the server's own auth, or the opt-out each lets it bind.
      yield* serveWebSocket(server, { host: "0.0.0.0", token: "t" })
      const { server: guarded } = yield* recordingServer(Framing.ndjson(), { auth: { token: "t" } })
      yield* serveTcp(guarded, { host: "0.0.0.0" })
      yield* serveTcp(server, { host: "0.0.0.0", allowUnauthenticatedRemote: true })
    }))
})

/** A `ping` request line of about 100 KiB. */
const bigPing = (id: number) => `{"id":${id},"method":"ping","params":"${"x".repeat(100 * 1024)}"}\n`

describe("limits before auth", () => {
  it.live("connections past maxConnections are closed at once (TCP) or refused with 503 (WebSocket)", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.ndjson(), { maxConnections: 2 })
      const { port } = yield* serveTcp(server)
      const first = yield* rawTcp(port)
      const second = yield* rawTcp(port)
      yield* first.send(`{"id":1,"method":"ping"}\n`)
      yield* second.send(`{"id":1,"method":"ping"}\n`)
      yield* first.next()
      yield* second.next()
      const third = yield* rawTcp(port)
      yield* third.closed
      assert.strictEqual(yield* server.connections, 2)
      const { server: wsServer } = yield* recordingServer(Framing.webSocket(), { maxConnections: 0 })
      const ws = yield* serveWebSocket(wsServer)
      assert.strictEqual(yield* upgradeStatus(ws.port, {}), 503)
    }))

  it.live("a transport that hands over a connection past maxConnections sees it closed", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.ndjson(), { maxConnections: 1 })
      // A transport of our own that does not look at isFull: handle() itself must refuse.
      const run = Effect.runForkWith(yield* Effect.context<never>())
      const port = yield* Effect.acquireRelease(
        Effect.callback<net.Server>((resume) => {
          const srv = net.createServer((conn) => void run(server.handle(NetSocket.fromAccepted(conn))))
          srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
        }),
        (srv) => Effect.sync(() => srv.close())
      ).pipe(Effect.map((srv) => (srv.address() as net.AddressInfo).port))
      const first = yield* rawTcp(port)
      yield* first.send(`{"id":1,"method":"ping"}\n`)
      yield* first.next()
      const second = yield* rawTcp(port)
      yield* second.closed
      assert.strictEqual(yield* server.connections, 1)
    }))

  it.live("a connection that does not authenticate within authTimeout is closed; one that does stays", () =>
    Effect.gen(function*() {
      // 1 s instead of the 10 s default (long enough for a loaded machine to read the other
      // connection's auth line in time); the test only waits for the close to happen.
      const { server } = yield* recordingServer(Framing.ndjson(), {
        auth: { token: "s3cret" },
        authTimeout: "1 second"
      })
      const { port } = yield* serveTcp(server)
      const silent = yield* rawTcp(port)
      const authed = yield* rawTcp(port)
      yield* authed.send(`{"id":1,"method":"auth","params":"s3cret"}\n`)
      assert.strictEqual(yield* authed.next(), `{"id":1,"result":{"ok":true}}`)
      yield* silent.closed
      yield* Effect.sleep("1500 millis")
      yield* authed.send(`{"id":2,"method":"record"}\n`)
      assert.strictEqual(yield* authed.next(), `{"id":2,"result":1}`)
    }))

  it.live("a connection silent for idleTimeout is closed", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.ndjson(), { idleTimeout: "300 millis" })
      const { port } = yield* serveTcp(server)
      const client = yield* rawTcp(port)
      yield* client.send(`{"id":1,"method":"record"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":1,"result":1}`)
      yield* client.closed
      assert.strictEqual(yield* server.connections, 0)
    }))

  it.live("before auth a message is held to maxBytesBeforeAuth (64 KiB); after auth to the framing's limit", () =>
    Effect.gen(function*() {
      const { server } = yield* recordingServer(Framing.ndjson(), { auth: { token: "s3cret" } })
      const { port } = yield* serveTcp(server)
      const client = yield* rawTcp(port)
      // `ping` is public, so only the size can stop it before auth.
      yield* client.send(`${bigPing(1)}{"id":2,"method":"ping"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":2,"result":{"ok":true}}`)
      yield* client.send(`{"id":3,"method":"auth","params":"s3cret"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":3,"result":{"ok":true}}`)
      yield* client.send(bigPing(4))
      assert.strictEqual(yield* client.next(), `{"id":4,"result":{"ok":true}}`)
    }))
})
