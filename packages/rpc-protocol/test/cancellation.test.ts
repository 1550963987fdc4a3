/**
 * Cancellation (issue #11 point 5) against vscode-jsonrpc 10 in both directions, over real
 * loopback TCP with Content-Length framing: interrupting a call sends `$/cancelRequest`, and a
 * received one interrupts the handler's fiber, which is answered `-32800`. Dialects without a
 * cancel message send none.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Fiber } from "effect"
import * as net from "node:net"
import * as vscode from "vscode-jsonrpc/node"
import { onLines } from "./support/lines.ts"

/** A server on an ephemeral loopback port, closed with the scope; returns the port. */
const listen = (onSocket: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const srv = net.createServer(onSocket)
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) => Effect.callback<void>((resume) => void srv.close(() => resume(Effect.void)))
  ).pipe(Effect.map((srv) => (srv.address() as net.AddressInfo).port))

const connection = (socket: net.Socket) =>
  vscode.createMessageConnection(new vscode.SocketMessageReader(socket), new vscode.SocketMessageWriter(socket))

describe("cancellation with vscode-jsonrpc", () => {
  it.live("vscode-jsonrpc cancels a call to our server: the handler is interrupted and answers -32800", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const server = yield* RpcServer.make({
        dialect: Dialect.strict,
        framing: Framing.contentLength(),
        methods: MethodTable.make({ slow: MethodTable.method({}), quick: MethodTable.method({}) }),
        handlers: {
          slow: () =>
            Deferred.succeed(started, undefined).pipe(
              Effect.andThen(Effect.never),
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            ),
          quick: () => Effect.succeed("done")
        }
      })
      const { port } = yield* serveTcp(server)
      const socket = yield* Effect.acquireRelease(
        Effect.callback<net.Socket>((resume) => {
          const s = net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.destroy())
      )
      const client = connection(socket)
      client.listen()
      const source = new vscode.CancellationTokenSource()
      const answer = client.sendRequest("slow", {}, source.token).then(
        () => undefined,
        (e: vscode.ResponseError<unknown>) => e
      )
      yield* Deferred.await(started)
      source.cancel()
      yield* Deferred.await(interrupted)
      const error = yield* Effect.promise(() => answer)
      // LSP's RequestCancelled (vscode-languageserver-protocol's LSPErrorCodes; jsonrpc has no name for it).
      assert.strictEqual(error?.code, -32800)
      // The connection's slot was given back: another call goes through.
      assert.strictEqual(yield* Effect.promise(() => client.sendRequest("quick", {})), "done")
      client.dispose()
    }))

  it.live("interrupting our call to a vscode-jsonrpc server cancels its token", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const cancelled = yield* Deferred.make<void>()
      const port = yield* listen((socket) => {
        const server = connection(socket)
        server.onRequest("slow", (_params: unknown, token: vscode.CancellationToken) =>
          new Promise((resolve) => {
            Deferred.doneUnsafe(started, Effect.void)
            token.onCancellationRequested(() => {
              Deferred.doneUnsafe(cancelled, Effect.void)
              resolve("too late")
            })
          }))
        server.onRequest("quick", () => "done")
        server.listen()
      })
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.strict,
        framing: Framing.contentLength()
      })
      const call = yield* Effect.forkChild(peer.request("slow", {}), { startImmediately: true })
      yield* Deferred.await(started)
      yield* Fiber.interrupt(call)
      yield* Deferred.await(cancelled)
      assert.strictEqual((yield* peer.stats).pending, 0)
      // The late answer to the cancelled call is ignored; the connection goes on.
      assert.strictEqual(yield* peer.request("quick", {}), "done")
    }))

  it.live("a call that times out is cancelled too", () =>
    Effect.gen(function*() {
      const cancelled = yield* Deferred.make<void>()
      const port = yield* listen((socket) => {
        const server = connection(socket)
        server.onRequest("slow", (_params: unknown, token: vscode.CancellationToken) =>
          new Promise((resolve) => {
            token.onCancellationRequested(() => {
              Deferred.doneUnsafe(cancelled, Effect.void)
              resolve(null)
            })
          }))
        server.listen()
      })
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.strict,
        framing: Framing.contentLength()
      })
      const error = yield* Effect.flip(peer.request("slow", {}, { timeout: "200 millis" }))
      assert.strictEqual(error._tag, "RpcTimeoutError")
      yield* Deferred.await(cancelled)
    }))
})

describe("dialects without a cancel message", () => {
  for (const dialect of [Dialect.lite, Dialect.daemon]) {
    it.live(`${dialect.name}: interrupting a call sends nothing more`, () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const secondArrived = yield* Deferred.make<void>()
        const port = yield* listen((socket) =>
          onLines(socket, (line) => {
            lines.push(line)
            if (lines.length === 2) Deferred.doneUnsafe(secondArrived, Effect.void)
          })
        )
        const peer = yield* RpcPeer.make({ connect: connectTcp({ port }), dialect, framing: Framing.ndjson() })
        const call = yield* Effect.forkChild(peer.request("slow", {}), { startImmediately: true })
        while ((yield* peer.stats).pending < 1) yield* Effect.yieldNow
        yield* Fiber.interrupt(call)
        yield* Effect.ignore(peer.notify("next", {}))
        yield* Deferred.await(secondArrived)
        assert.deepStrictEqual(lines.map((l) => (JSON.parse(l) as { method: string }).method), ["slow", "next"])
      }))
  }

  it.live("strict with cancellation: false sends none; a custom cancellation is used instead", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const arrived = yield* Deferred.make<void>()
      const port = yield* listen((socket) =>
        onLines(socket, (line) => {
          lines.push(line)
          if (lines.length === 5) Deferred.doneUnsafe(arrived, Effect.void)
        })
      )
      const custom: Dialect.Cancellation = {
        ...Dialect.cancelRequest,
        method: "turn/interrupt",
        params: (id) => ({ turn: id })
      }
      for (const cancellation of [false, custom] as const) {
        const peer = yield* RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          cancellation
        })
        const call = yield* Effect.forkChild(peer.request("slow", {}), { startImmediately: true })
        while ((yield* peer.stats).pending < 1) yield* Effect.yieldNow
        yield* Fiber.interrupt(call)
        yield* Effect.ignore(peer.notify("next", {}))
      }
      yield* Deferred.await(arrived)
      const methods = lines.map((l) => (JSON.parse(l) as { method: string; params: unknown }))
      // Two connections' lines interleave only by connection; check each call's follow-up.
      assert.deepStrictEqual(methods.filter((m) => m.method === "turn/interrupt").map((m) => m.params), [{ turn: 1 }])
      assert.strictEqual(methods.filter((m) => m.method === "$/cancelRequest").length, 0)
    }))
})
