/**
 * RpcBridge's server-request routing in memory (MemorySocket pairs; the upstream is an RpcPeer
 * playing the backend): a request held while no client is connected reaches the first client that
 * joins; one that nobody takes is answered upstream with the typed error once its timeout passes;
 * `route: "one"` asks a single client.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MemorySocket, RpcBridge, RpcError, RpcPeer } from "@isthmus/rpc-protocol"
import { Deferred, Effect, Fiber, Stream } from "effect"

const setup = (serverRequests?: RpcBridge.ServerRequestOptions) =>
  Effect.gen(function*() {
    const upstreamPair = yield* MemorySocket.makePair()
    const backend = yield* RpcPeer.make({
      connect: upstreamPair.server,
      dialect: Dialect.lite,
      framing: Framing.webSocket()
    })
    const bridge = yield* RpcBridge.make({
      upstream: { connect: Stream.make(upstreamPair.client), dialect: Dialect.lite, framing: Framing.webSocket() },
      clients: { dialect: Dialect.lite, framing: Framing.webSocket() },
      serverRequests
    })
    yield* bridge.awaitUpstream
    const client = (answer: unknown) =>
      Effect.gen(function*() {
        const pair = yield* MemorySocket.makePair()
        yield* Effect.forkScoped(bridge.handle(pair.server))
        const asked = yield* Deferred.make<unknown>()
        const peer = yield* RpcPeer.make({
          connect: pair.client,
          dialect: Dialect.lite,
          framing: Framing.webSocket(),
          handlers: {
            "item/tool/call": (params) => Effect.as(Deferred.succeed(asked, params), answer)
          }
        })
        yield* peer.awaitReady
        return { peer, asked }
      })
    return { backend, bridge, client }
  })

const waitForLive = (bridge: RpcBridge.RpcBridge, n: number) =>
  Effect.gen(function*() {
    while ((yield* bridge.stats).clients.filter((c) => c.phase === "live").length < n) yield* Effect.sleep("5 millis")
  })

describe("RpcBridge server-request routing", () => {
  it.live("holds a request while no client is connected and gives it to the first that joins", () =>
    Effect.gen(function*() {
      const { backend, bridge, client } = yield* setup()
      const call = yield* Effect.forkChild(backend.request("item/tool/call", { threadId: "t", tool: "x" }), {
        startImmediately: true
      })
      while ((yield* bridge.stats).upstreams[0]!.openServerRequests === 0) yield* Effect.sleep("5 millis")
      const late = yield* client({ contentItems: [], success: true })
      assert.deepStrictEqual(yield* Deferred.await(late.asked), { threadId: "t", tool: "x" })
      assert.deepStrictEqual(yield* Fiber.join(call), { contentItems: [], success: true })
    }))

  it.live("answers the upstream with the typed error when nobody takes the request in time", () =>
    Effect.gen(function*() {
      // Real time is the point here: the hold's own timeout, kept short.
      const { backend, bridge } = yield* setup({ timeout: "200 millis" })
      const error = yield* Effect.flip(backend.request("item/tool/call", {}))
      assert.instanceOf(error, RpcError)
      assert.strictEqual((error as RpcError).code, RpcBridge.BridgeErrorCode.NoClientAnswered)
      assert.strictEqual((yield* bridge.stats).upstreams[0]!.serverRequestsTimedOut, 1)
    }))

  it.live("route one: only the longest-connected full client is asked", () =>
    Effect.gen(function*() {
      const { backend, bridge, client } = yield* setup({ route: "one" })
      const first = yield* client({ from: "first" })
      const second = yield* client({ from: "second" })
      yield* waitForLive(bridge, 2)
      assert.deepStrictEqual(yield* backend.request("item/tool/call", {}), { from: "first" })
      assert.isFalse(yield* Deferred.isDone(second.asked))
      assert.isTrue(yield* Deferred.isDone(first.asked))
    }))
})
