import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, Handshake, PeerDisconnectedError, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import {
  checkUpgrade,
  childStdio,
  connectWebSocket,
  serveTcp,
  serveWebSocket,
  type UpgradeDecision
} from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, Stream } from "effect"
import { spawn } from "node:child_process"
import * as http from "node:http"
import { fileURLToPath } from "node:url"

/** Sends a WebSocket upgrade request and reports the HTTP status (101 when upgraded). */
const upgradeStatus = (port: number, path: string, headers: Record<string, string>) =>
  Effect.callback<number>((resume) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      path,
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

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers })

const echoServer = RpcServer.make({
  dialect: Dialect.lite,
  framing: Framing.webSocket(),
  methods: {},
  handlers: {}
})

const accept = (role?: string): UpgradeDecision => (role === undefined ? { _tag: "Accept" } : { _tag: "Accept", role })
const refuse = (status: 401 | 403 | 404): UpgradeDecision => ({ _tag: "Refuse", status })

describe("WebSocket server upgrade checks", () => {
  it.live("401 before the upgrade on a missing or wrong Bearer token, 101 with the right one", () =>
    Effect.gen(function*() {
      const server = yield* echoServer
      const { port } = yield* serveWebSocket(server, { token: "t0k3n", path: "/ws" })
      assert.strictEqual(yield* upgradeStatus(port, "/ws", {}), 401)
      assert.strictEqual(yield* upgradeStatus(port, "/ws", { Authorization: "Bearer wrong" }), 401)
      assert.strictEqual(yield* upgradeStatus(port, "/ws", { Authorization: "Basic t0k3n" }), 401)
      assert.strictEqual(yield* upgradeStatus(port, "/ws?token=t0k3n", {}), 401)
      assert.strictEqual(yield* upgradeStatus(port, "/ws", { Authorization: "Bearer t0k3n" }), 101)
      assert.strictEqual(yield* upgradeStatus(port, "/other", { Authorization: "Bearer t0k3n" }), 404)
      assert.strictEqual(
        yield* upgradeStatus(port, "/ws", { Authorization: "Bearer t0k3n", Origin: "https://evil.example" }),
        403
      )
    }))

  it("checkUpgrade decides without a server (query token only when allowed)", () => {
    assert.deepStrictEqual(checkUpgrade(req("/"), {}), accept())
    assert.deepStrictEqual(checkUpgrade(req("/?token=a"), { token: "a" }), refuse(401))
    assert.deepStrictEqual(checkUpgrade(req("/?token=a"), { token: "a", allowQueryToken: true }), accept("full"))
    assert.deepStrictEqual(checkUpgrade(req("/", { authorization: "bearer a" }), { token: "a" }), accept("full"))
    const roles = { tokens: [{ token: "r", role: "read-only" }, { token: "f", role: "full" }] }
    assert.deepStrictEqual(checkUpgrade(req("/", { authorization: "Bearer r" }), roles), accept("read-only"))
    assert.deepStrictEqual(checkUpgrade(req("/", { authorization: "Bearer f" }), roles), accept("full"))
    assert.deepStrictEqual(checkUpgrade(req("/", { authorization: "Bearer rf" }), roles), refuse(401))
  })

  it.live("a peer with the right token connects; the wrong token never does", () =>
    Effect.gen(function*() {
      const server = yield* echoServer
      const { port } = yield* serveWebSocket(server, { token: "t0k3n" })
      const good = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}`, { token: "t0k3n" }),
        dialect: Dialect.lite,
        framing: Framing.webSocket()
      })
      assert.deepStrictEqual(yield* good.request("ping"), { ok: true })
      const bad = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}`, { token: "nope" }),
        dialect: Dialect.lite,
        framing: Framing.webSocket()
      })
      assert.instanceOf(yield* Effect.flip(bad.awaitReady), PeerDisconnectedError)
    }))

  it.live("TCP servers bind to loopback by default and report the bound address", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {}
      })
      // The host comes from the listening socket itself, so this checks the actual bind.
      const address = yield* serveTcp(server)
      assert.strictEqual(address.host, "127.0.0.1")
      assert.isAbove(address.port, 0)
      // Every interface without auth is refused at start, naming the opt-out; with it, it binds.
      const insecure = yield* Effect.flip(serveTcp(server, { host: "0.0.0.0" }))
      assert.strictEqual(insecure._tag, "InsecureBindError")
      assert.include(insecure.message, "allowUnauthenticatedRemote")
      const anyHost = yield* serveTcp(server, { host: "0.0.0.0", allowUnauthenticatedRemote: true })
      assert.strictEqual(anyHost.host, "0.0.0.0")
      // A port in use fails the listen with a typed error instead of crashing the process.
      const taken = yield* Effect.flip(serveTcp(server, { port: address.port }))
      assert.strictEqual(taken._tag, "SocketServerError")
    }))
})

describe("child stdio transport", () => {
  it.live("initialize/initialized handshake, calls and notifications over a child's stdio; its exit fails pending calls", () =>
    Effect.gen(function*() {
      const script = fileURLToPath(new URL("./fixtures/stdio-backend.ts", import.meta.url))
      const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "inherit"] })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let initialized: unknown
      const peer = yield* RpcPeer.make({
        connect: childStdio(child),
        dialect: Dialect.lite,
        framing: Framing.ndjson(),
        handshake: Handshake.initialize(
          { clientInfo: { name: "isthmus_test", version: "0.1.0" } },
          { onResult: (result) => Effect.sync(() => (initialized = result)) }
        )
      })
      const events = yield* peer.subscribe
      const ready = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), { startImmediately: true })
      assert.strictEqual(yield* peer.request("echo", { text: "héllo" }), "héllo")
      assert.deepStrictEqual(initialized, { userAgent: "stdio-backend", platformFamily: "unix" })
      const note = yield* Fiber.join(ready)
      assert.strictEqual(note[0]?.method, "backend/ready")
      const hanging = yield* Effect.forkChild(Effect.flip(peer.request("hang", {})), { startImmediately: true })
      while ((yield* peer.stats).pending < 1) yield* Effect.yieldNow
      child.kill("SIGKILL")
      assert.instanceOf(yield* Fiber.join(hanging), PeerDisconnectedError)
    }))
})
