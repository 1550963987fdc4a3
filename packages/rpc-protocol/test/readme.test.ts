/**
 * The README's examples, verbatim (between the `// README:` markers, which start below each
 * block's imports: the README blocks carry their own imports, which test/readme-compiles.test.ts
 * type-checks), run against each other.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Redacted, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

import { Dialect, Framing, Handshake, RpcPeer } from "@isthmus/rpc-protocol"
import { connectTcp } from "@isthmus/rpc-protocol/node"

// README: daemon-client
const daemonClient = (port: number) =>
  Effect.gen(function*() {
    const peer = yield* RpcPeer.make({
      connect: connectTcp({ host: "127.0.0.1", port }),
      dialect: Dialect.daemon, // CodexMonitor: numeric ids, {message} errors, no "jsonrpc"
      framing: Framing.ndjson(), // one JSON object per line, 16 MiB max line
      handshake: Handshake.tokenAuth(Redacted.make("s3cret")), // `auth` first, on every (re)connect
      reconnect: { initialDelay: "500 millis", maxDelay: "20 seconds" },
      idempotent: ["list_workspaces", "get_git_status"], // replayed after a reconnect; others fail
      requestTimeout: "300 seconds"
    })
    const events = yield* peer.subscribe // app-server-event, terminal-output, …
    yield* events.pipe(
      Stream.take(1),
      Stream.runForEach((event) => Effect.log(`event ${event.method}`)),
      Effect.forkScoped
    )
    return yield* peer.request("list_workspaces", {})
  }).pipe(Effect.scoped)
// README: end

import { MethodTable, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveTcp } from "@isthmus/rpc-protocol/node"

// README: typed-server
const Workspace = Schema.Struct({ id: Schema.String, name: Schema.String })
const Methods = MethodTable.make({
  list_workspaces: MethodTable.method({ result: Schema.Array(Workspace), idempotent: true }),
  rename_workspace: MethodTable.method({
    params: Schema.Struct({ id: Schema.String, name: Schema.String }),
    result: Workspace
  })
})

const startServer = Effect.gen(function*() {
  const workspaces = new Map([["ws-1", { id: "ws-1", name: "isthmus" }]])
  const server = yield* RpcServer.make({
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: Methods,
    handlers: {
      list_workspaces: () => Effect.succeed([...workspaces.values()]),
      rename_workspace: ({ id, name }, context) =>
        Effect.gen(function*() {
          if (!workspaces.has(id)) return yield* new RpcError({ message: `unknown workspace ${id}` })
          workspaces.set(id, { id, name })
          yield* context.server.broadcast("workspace-renamed", { id, name }) // authenticated peers only
          return { id, name }
        })
    },
    auth: { token: Redacted.make("s3cret") }, // constant-time; only auth/ping before it
    outbound: { capacity: 1024, whenFull: "disconnect" } // slow consumers are cut off
  })
  const address = yield* serveTcp(server, { port: 0 }) // 127.0.0.1 unless told otherwise
  return { server, port: address.port }
})
// README: end

import { connectWebSocket } from "@isthmus/rpc-protocol/node"

// README: websocket-client
const appServerClient = (url: string) =>
  Effect.gen(function*() {
    const peer = yield* RpcPeer.make({
      connect: connectWebSocket(url, { token: Redacted.make("ws-token") }), // Authorization: Bearer …
      dialect: Dialect.lite, // codex app-server: JSON-RPC without "jsonrpc"
      framing: Framing.webSocket(), // one message per text frame
      handshake: Handshake.initialize({ clientInfo: { name: "my_app", title: "My App", version: "1.0.0" } }),
      handlers: {
        // Server-to-client requests are answered by handlers.
        "item/commandExecution/requestApproval": () => Effect.succeed({ decision: "accept" })
      }
    })
    return yield* peer.request("thread/start", { cwd: "/repo" })
  }).pipe(Effect.scoped)
// README: end

import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { readBootstrap } from "@isthmus/rpc-protocol/node"

// README: bootstrap
// Host side: one line of JSON, written to the child's fd 3 (or stdin for WSL), then closed.
const line = BootstrapEnvelope.desktop.encodeSync({
  mode: "desktop",
  noBrowser: true,
  port: 3773,
  host: "127.0.0.1",
  desktopBootstrapToken: "tok",
  tailscaleServeEnabled: false,
  tailscaleServePort: 443
})

// Backend side (started with --bootstrap-fd 3): none on EOF, a closed fd or 1 s of silence;
// a BootstrapEnvelopeDecodeError when the first line does not match the schema.
const readEnvelope = (fd: number) =>
  readBootstrap(BootstrapEnvelope.desktop, { fd, timeout: "1 second" }).pipe(
    Effect.map(Option.match({
      onNone: () => "no envelope: use flags and environment",
      onSome: (envelope) => `backend on ${envelope.host}:${envelope.port}`
    }))
  )
// README: end

import { serveWebSocket } from "@isthmus/rpc-protocol/node"

describe("README examples", () => {
  it.live("the daemon client talks to the typed server", () =>
    Effect.gen(function*() {
      const { server, port } = yield* startServer
      assert.deepStrictEqual(yield* daemonClient(port), [{ id: "ws-1", name: "isthmus" }])
      // The server notices the client's close on its own socket.
      yield* Effect.gen(function*() {
        while ((yield* server.connections) > 0) yield* Effect.yieldNow
      }).pipe(Effect.timeout("5 seconds"))
    }))

  it.live("the WebSocket client with a Bearer token completes initialize and answers an approval", () =>
    Effect.gen(function*() {
      const AppServer = MethodTable.make({
        initialize: MethodTable.method({}),
        "thread/start": MethodTable.method({ params: Schema.Struct({ cwd: Schema.String }) })
      })
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: AppServer,
        handlers: {
          initialize: () => Effect.succeed({ userAgent: "test", platformFamily: "unix" }),
          "thread/start": ({ cwd }, { peer }) =>
            peer.request("item/commandExecution/requestApproval", { cwd }).pipe(
              Effect.mapError((e) => new RpcError({ code: -32603, message: e.message }))
            )
        }
      })
      const { port } = yield* serveWebSocket(server, { token: "ws-token" })
      assert.deepStrictEqual(yield* appServerClient(`ws://127.0.0.1:${port}`), { decision: "accept" })
    }))

  it.live("the bootstrap envelope round-trips through a descriptor", () =>
    Effect.gen(function*() {
      assert.isTrue(line.endsWith("}\n"))
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isthmus-readme-"))
      const file = path.join(dir, "fd3")
      fs.writeFileSync(file, line)
      const fd = fs.openSync(file, "r")
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          fs.closeSync(fd)
          fs.rmSync(dir, { recursive: true, force: true })
        })
      )
      assert.strictEqual(yield* readEnvelope(fd), "backend on 127.0.0.1:3773")
      assert.strictEqual(yield* readEnvelope(1000), "no envelope: use flags and environment")
      const fiber = yield* Effect.forkChild(readEnvelope(1001))
      assert.strictEqual(yield* Fiber.join(fiber), "no envelope: use flags and environment")
    }).pipe(Effect.scoped))
})

const withoutImports = (text: string) => text.replace(/^import .*\n/gm, "")

describe("README stays in step with this file", () => {
  // Each README block has its own imports (each compiles on its own, see the repo's readme-compiles
  // test), while this file shares one set, so import lines are not compared.
  it("every example section appears verbatim in README.md (apart from its imports)", () => {
    const source = withoutImports(fs.readFileSync(new URL("./readme.test.ts", import.meta.url), "utf8"))
    const readme = withoutImports(fs.readFileSync(new URL("../README.md", import.meta.url), "utf8"))
    const sections = [...source.matchAll(/\/\/ README: ([a-z-]+)\n([\s\S]*?)\/\/ README: end/g)]
    assert.strictEqual(sections.length, 4)
    for (const [, name, code] of sections) assert.include(readme, code!.trimEnd(), `README section ${name}`)
  })
})
