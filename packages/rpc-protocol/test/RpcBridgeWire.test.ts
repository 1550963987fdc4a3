/**
 * RpcBridge at the wire, over real loopback TCP on both sides: the test plays the upstream (a
 * plain NDJSON server that sees every line the bridge writes) and the clients (plain line clients,
 * or vscode-jsonrpc as an independent strict JSON-RPC 2.0 client).
 *
 * - A notification's extra top-level fields (codex's `emittedAtMs`) reach every client unchanged,
 *   in the clients' own dialect, live and in a late joiner's replay; one encoding serves every
 *   client yet each client's follow filter still applies.
 * - A client's `$/cancelRequest` names the client's own id: the upstream is told with *its* id.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, RpcBridge } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect } from "effect"
import * as net from "node:net"
import * as vscode from "vscode-jsonrpc/node"
import { type Json, jsonLines, jsonLineServer, method, reply } from "./support/jsonLines.ts"

const waitForLive = (bridge: RpcBridge.RpcBridge, n: number) =>
  Effect.gen(function*() {
    while ((yield* bridge.stats).clients.filter((c) => c.phase === "live").length < n) yield* Effect.sleep("5 millis")
  })

/** A bridge (no auth, no shared handshake) in front of the test's upstream, clients over TCP. */
const bridgeTo = (upstreamPort: number, options: {
  readonly upstream: Dialect.Dialect
  readonly clients: Dialect.Dialect
  readonly framing?: Framing.Framing | undefined
  readonly replay?: number | undefined
}) =>
  Effect.gen(function*() {
    const bridge = yield* RpcBridge.make({
      upstream: { connect: connectTcp({ port: upstreamPort }), dialect: options.upstream, framing: Framing.ndjson() },
      clients: { dialect: options.clients, framing: options.framing ?? Framing.ndjson() },
      catchUp: { replay: options.replay ?? 0 }
    })
    const { port } = yield* serveTcp(bridge)
    return { bridge, port }
  })

const delta = {
  method: "item/agentMessage/delta",
  params: { threadId: "thr_1", itemId: "item_2", delta: "héllo ✓ 🌉" },
  emittedAtMs: 1767225600123,
  trace: { span: "abc", sampled: true }
}

describe("RpcBridge: notifications on the wire", () => {
  it.live("extra top-level fields reach every client unchanged, live and replayed, in lite and strict", () =>
    Effect.gen(function*() {
      const upstream = yield* jsonLineServer
      const lite = yield* bridgeTo(upstream.port, { upstream: Dialect.lite, clients: Dialect.lite, replay: 16 })
      const liteUp = yield* upstream.accepted
      const strict = yield* bridgeTo(upstream.port, { upstream: Dialect.lite, clients: Dialect.strict })
      const strictUp = yield* upstream.accepted
      const liteClients = yield* Effect.forEach([1, 2, 3], () => jsonLines(lite.port))
      const strictClients = yield* Effect.forEach([1, 2], () => jsonLines(strict.port))
      yield* waitForLive(lite.bridge, 3)
      yield* waitForLive(strict.bridge, 2)
      // Client 3 follows another thread: one encoding for all, yet its filter keeps the delta away.
      const third = liteClients[2]!
      yield* third.send({ id: 1, method: "bridge/follow", params: { threadIds: ["thr_other"] } })
      yield* third.until(reply(1))
      yield* liteUp.send(delta)
      yield* strictUp.send(delta)
      yield* liteUp.send({ method: "turn/completed", params: { threadId: "thr_other" } })
      for (const c of liteClients.slice(0, 2)) {
        assert.deepStrictEqual((yield* c.until(method(delta.method))).at(-1), delta)
      }
      for (const c of strictClients) {
        assert.deepStrictEqual((yield* c.until(method(delta.method))).at(-1), { jsonrpc: "2.0", ...delta })
      }
      const seenByThird = yield* third.until(method("turn/completed"))
      assert.isFalse(seenByThird.some(method(delta.method)))
      // A late joiner gets both from the replay, extra fields included.
      const late = yield* jsonLines(lite.port)
      const replayed = (yield* late.until(method("bridge/joined"))).filter((m) =>
        !String(m["method"]).startsWith("bridge/")
      )
      assert.deepStrictEqual(replayed, [delta, { method: "turn/completed", params: { threadId: "thr_other" } }])
      assert.strictEqual((yield* lite.bridge.stats).clients.find((c) => c.id === 3)!.filtered, 1)
    }))
})

const vscodeClient = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly socket: net.Socket; readonly connection: vscode.MessageConnection }>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        const connection = vscode.createMessageConnection(
          new vscode.SocketMessageReader(socket),
          new vscode.SocketMessageWriter(socket)
        )
        connection.listen()
        resume(Effect.succeed({ socket, connection }))
      })
    }),
    ({ connection, socket }) =>
      Effect.sync(() => {
        connection.dispose()
        socket.destroy()
      })
  )

/** Settles with the result, or the error vscode-jsonrpc rejected with. */
const settled = (promise: Promise<unknown>) =>
  Effect.promise(() => promise.then((result) => ({ result }), (error: vscode.ResponseError<unknown>) => ({ error })))

describe("RpcBridge: cancellation is translated to the upstream's ids", () => {
  it.live("vscode-jsonrpc clients cancel through the bridge: the upstream gets $/cancelRequest with its own id", () =>
    Effect.gen(function*() {
      const upstream = yield* jsonLineServer
      const { port } = yield* bridgeTo(upstream.port, {
        upstream: Dialect.strict,
        clients: Dialect.strict,
        framing: Framing.contentLength()
      })
      const up = yield* upstream.accepted
      const a = yield* vscodeClient(port)
      const b = yield* vscodeClient(port)
      // Both clients number their first request 0; upstream they become 1 and 2.
      const sourceA = new vscode.CancellationTokenSource()
      const answerA = a.connection.sendRequest("slow", { who: "a" }, sourceA.token)
      const requestA = yield* up.next
      const sourceB = new vscode.CancellationTokenSource()
      const answerB = b.connection.sendRequest("slow", { who: "b" }, sourceB.token)
      const requestB = yield* up.next
      assert.deepStrictEqual(requestA, { jsonrpc: "2.0", id: 1, method: "slow", params: { who: "a" } })
      assert.deepStrictEqual(requestB, { jsonrpc: "2.0", id: 2, method: "slow", params: { who: "b" } })
      // B cancels its request 0: the upstream is told about its request 2, not 0, not A's 1.
      sourceB.cancel()
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 2 } })
      const outcomeB = yield* settled(answerB)
      assert.strictEqual("error" in outcomeB ? outcomeB.error.code : undefined, -32800)
      // The upstream's late answer to 2 is dropped; A's call is untouched and gets its own answer.
      yield* up.send({ jsonrpc: "2.0", id: 2, result: "too late" })
      yield* up.send({ jsonrpc: "2.0", id: 1, result: "for a" })
      assert.deepStrictEqual(yield* settled(answerA), { result: "for a" })
      // B goes on: its next call is forwarded as usual.
      const answerB2 = b.connection.sendRequest("quick", {})
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", id: 3, method: "quick", params: {} })
      yield* up.send({ jsonrpc: "2.0", id: 3, result: "done" })
      assert.deepStrictEqual(yield* settled(answerB2), { result: "done" })
    }))

  it.live("a lite client's $/cancelRequest is translated too; one naming no call of its own is not forwarded", () =>
    Effect.gen(function*() {
      const upstream = yield* jsonLineServer
      const { bridge, port } = yield* bridgeTo(upstream.port, { upstream: Dialect.strict, clients: Dialect.lite })
      const up = yield* upstream.accepted
      const a = yield* jsonLines(port)
      const b = yield* jsonLines(port)
      yield* waitForLive(bridge, 2)
      yield* a.send({ id: 7, method: "slow", params: {} })
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", id: 1, method: "slow", params: {} })
      // B names A's id (and an unknown one): nothing is cancelled, nothing goes upstream.
      yield* b.send({ method: "$/cancelRequest", params: { id: 7 } })
      yield* b.send({ method: "$/cancelRequest", params: { id: 1 } })
      yield* b.send({ method: "note/b", params: {} })
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", method: "note/b", params: {} })
      yield* a.send({ method: "$/cancelRequest", params: { id: 7 } })
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } })
      assert.deepStrictEqual((yield* a.until(reply(7))).at(-1), {
        id: 7,
        error: { code: -32800, message: "Request cancelled" }
      })
    }))

  it.live("a client that disconnects with a call in flight cancels it upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* jsonLineServer
      const { bridge, port } = yield* bridgeTo(upstream.port, { upstream: Dialect.strict, clients: Dialect.lite })
      const up = yield* upstream.accepted
      const a = yield* jsonLines(port)
      yield* waitForLive(bridge, 1)
      yield* a.send({ id: 1, method: "slow", params: {} })
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", id: 1, method: "slow", params: {} })
      a.raw.socket.destroy()
      assert.deepStrictEqual(yield* up.next, { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } })
      const upstreamStats: Json = { ...(yield* bridge.stats).upstreams[0]! }
      assert.strictEqual(upstreamStats["requests"], 1)
    }))
})
