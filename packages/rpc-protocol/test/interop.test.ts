/**
 * Interoperability with real peer libraries over real sockets:
 * - vscode-jsonrpc 10 (Content-Length framing) calls our strict server and serves our strict peer,
 *   including requests and notifications in the other direction;
 * - json-rpc-2.0 (strict, bring-your-own framing; NDJSON here) against our strict dialect both ways,
 *   including a batch.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MethodTable, RpcError, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { JSONRPCClient, JSONRPCServer, JSONRPCServerAndClient } from "json-rpc-2.0"
import * as net from "node:net"
import * as vscode from "vscode-jsonrpc/node"
import { onLines } from "./support/lines.ts"

const Methods = MethodTable.make({
  add: MethodTable.method({ params: Schema.Struct({ a: Schema.Number, b: Schema.Number }), result: Schema.Number }),
  sum: MethodTable.method({ params: Schema.Array(Schema.Number), result: Schema.Number }),
  askClient: MethodTable.method({ params: Schema.Struct({ question: Schema.String }), result: Schema.Unknown }),
  fail: MethodTable.method({})
})

const startStrictServer = (framing: Framing.Framing) =>
  Effect.gen(function*() {
    const server = yield* RpcServer.make({
      dialect: Dialect.strict,
      framing,
      methods: Methods,
      handlers: {
        add: ({ a, b }) => Effect.succeed(a + b),
        sum: (xs) => Effect.succeed(xs.reduce((n, x) => n + x, 0)),
        askClient: ({ question }, { peer }) =>
          peer.request("client/answer", { question }).pipe(
            Effect.tap(() => Effect.ignore(peer.notify("server/said", { done: question }))),
            Effect.mapError((e) => new RpcError({ code: -32603, message: e.message }))
          ),
        fail: () => Effect.fail(new RpcError({ code: 42, message: "nope", data: { why: "test" } }))
      }
    })
    return { server, address: yield* serveTcp(server) }
  })

/** A third-party server on an ephemeral loopback port, closed with the scope; returns the port. */
const listen = (onSocket: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const srv = net.createServer(onSocket)
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) => Effect.callback<void>((resume) => void srv.close(() => resume(Effect.void)))
  ).pipe(Effect.map((srv) => (srv.address() as net.AddressInfo).port))

/** A vscode-jsonrpc connection over a fresh TCP socket, disposed with the scope. */
const vscodeClient = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ connection: vscode.MessageConnection; socket: net.Socket }>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        const connection = vscode.createMessageConnection(
          new vscode.SocketMessageReader(socket),
          new vscode.SocketMessageWriter(socket)
        )
        resume(Effect.succeed({ connection, socket }))
      })
    }),
    ({ connection, socket }) =>
      Effect.sync(() => {
        connection.dispose()
        socket.destroy()
      })
  )

describe("interop: vscode-jsonrpc 10 (Content-Length)", () => {
  it.live("vscode-jsonrpc calls our strict server; we call back into it and notify it", () =>
    Effect.gen(function*() {
      const { address } = yield* startStrictServer(Framing.contentLength())
      const { connection } = yield* vscodeClient(address.port)
      const said = yield* Deferred.make<unknown>()
      connection.onRequest("client/answer", (params: { question: string }) => ({ answer: `${params.question}: 42` }))
      connection.onNotification("server/said", (params: unknown) => {
        Deferred.doneUnsafe(said, Effect.succeed(params))
      })
      connection.listen()
      const sum = yield* Effect.promise(() => connection.sendRequest("add", { a: 2, b: 3 }))
      assert.strictEqual(sum, 5)
      assert.strictEqual(yield* Effect.promise(() => connection.sendRequest("sum", 1, 2, 3)), 6)
      const answer = yield* Effect.promise(() => connection.sendRequest("askClient", { question: "life" }))
      assert.deepStrictEqual(answer, { answer: "life: 42" })
      assert.deepStrictEqual(yield* Deferred.await(said), { done: "life" })
      const missing = yield* Effect.promise(() =>
        connection.sendRequest("nope", {}).then(() => undefined, (e: vscode.ResponseError<unknown>) => e)
      )
      assert.strictEqual(missing?.code, -32601)
      const failed = yield* Effect.promise(() =>
        connection.sendRequest("fail", {}).then(() => undefined, (e: vscode.ResponseError<unknown>) => e)
      )
      assert.strictEqual(failed?.code, 42)
      assert.deepStrictEqual(failed?.data, { why: "test" })
      const invalid = yield* Effect.promise(() =>
        connection.sendRequest("add", { a: 1 }).then(() => undefined, (e: vscode.ResponseError<unknown>) => e)
      )
      assert.strictEqual(invalid?.code, -32602)
    }))

  it.live("our strict peer calls a vscode-jsonrpc server; it calls and notifies us", () =>
    Effect.gen(function*() {
      const port = yield* listen((socket) => {
        const connection = vscode.createMessageConnection(
          new vscode.SocketMessageReader(socket),
          new vscode.SocketMessageWriter(socket)
        )
        connection.onRequest("add", async (p: { a: number; b: number }) => {
          const ours = await connection.sendRequest<{ ok: boolean }>("host/confirm", { sum: p.a + p.b })
          await connection.sendNotification("host/progress", { token: 1, value: "done" })
          return { sum: p.a + p.b, confirmed: ours.ok }
        })
        connection.listen()
      })
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.strict,
        framing: Framing.contentLength(),
        handlers: { "host/confirm": (params) => Effect.succeed({ ok: (params as { sum: number }).sum === 5 }) }
      })
      const events = yield* peer.subscribe
      const progress = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), {
        startImmediately: true
      })
      assert.deepStrictEqual(yield* peer.request("add", { a: 2, b: 3 }), { sum: 5, confirmed: true })
      const got = yield* Fiber.join(progress)
      assert.deepStrictEqual(got.map((n) => [n.method, n.params]), [["host/progress", { token: 1, value: "done" }]])
      const unhandled = yield* Effect.flip(peer.request("nope", {}))
      assert.isTrue(unhandled instanceof RpcError && unhandled.code === -32601)
    }))
})

/** json-rpc-2.0 brings no framing: feed it the JSON of each NDJSON line. */
const ndjsonLines = (socket: net.Socket, onJson: (json: unknown) => void) =>
  onLines(socket, (line) => {
    if (line.trim()) onJson(JSON.parse(line))
  })

describe("interop: json-rpc-2.0 1.8.1 (strict) over NDJSON/TCP", () => {
  it.live("json-rpc-2.0 client calls our strict server, including a batch", () =>
    Effect.gen(function*() {
      const { address } = yield* startStrictServer(Framing.ndjson())
      const socket = yield* Effect.acquireRelease(
        Effect.callback<net.Socket>((resume) => {
          const s = net.connect({ host: "127.0.0.1", port: address.port }, () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.destroy())
      )
      const client = new JSONRPCClient((request) => {
        socket.write(JSON.stringify(request) + "\n")
      })
      ndjsonLines(socket, (json) => client.receive(json as never))
      assert.strictEqual(yield* Effect.promise(() => client.request("add", { a: 20, b: 22 })), 42)
      const missing = yield* Effect.promise(() =>
        client.request("nope", {}).then(() => undefined, (e: { code: number }) => e)
      )
      assert.strictEqual(missing?.code, -32601)
      const batch = yield* Effect.promise(() =>
        client.requestAdvanced([
          { jsonrpc: "2.0", id: 100, method: "add", params: { a: 1, b: 1 } },
          { jsonrpc: "2.0", id: 101, method: "sum", params: [1, 2] },
          { jsonrpc: "2.0", method: "add", params: { a: 0, b: 0 } }
        ])
      )
      assert.deepStrictEqual(
        batch.map((r) => [r.id, r.result]).toSorted((x, y) => Number(x[0]) - Number(y[0])),
        [[100, 2], [101, 3]]
      )
    }))

  it.live("our strict peer calls a json-rpc-2.0 server, which calls back and notifies", () =>
    Effect.gen(function*() {
      const port = yield* listen((socket) => {
        const endpoint: JSONRPCServerAndClient = new JSONRPCServerAndClient(
          new JSONRPCServer(),
          new JSONRPCClient((request) => {
            socket.write(JSON.stringify(request) + "\n")
          })
        )
        endpoint.addMethod("echo", async (params: { text: string }) => {
          const confirmed = await endpoint.request("host/confirm", { text: params.text })
          endpoint.notify("host/log", { line: params.text })
          return { echoed: params.text, confirmed }
        })
        ndjsonLines(socket, (json) => {
          void endpoint.receiveAndSend(json as never)
        })
      })
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.strict,
        framing: Framing.ndjson(),
        handlers: { "host/confirm": () => Effect.succeed(true) }
      })
      const events = yield* peer.subscribe
      const log = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), { startImmediately: true })
      assert.deepStrictEqual(yield* peer.request("echo", { text: "hi" }), { echoed: "hi", confirmed: true })
      assert.deepStrictEqual((yield* Fiber.join(log)).map((n) => n.params), [{ line: "hi" }])
      const missing = yield* Effect.flip(peer.request("nope", {}))
      assert.isTrue(missing instanceof RpcError && missing.code === -32601)
    }))
})
