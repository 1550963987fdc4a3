/**
 * The shared session end to end with real sockets: the fake app-server supervised over stdio by a
 * real pool, RpcBridge attached to the instance's channels, clients over loopback WebSocket.
 * (Late joiners and slow consumers are covered against a plain child in
 * packages/rpc-protocol/test/RpcBridge.test.ts; the bridge code is the same.)
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Dialect, Framing, Handshake, type Message, RpcBridge, RpcError, RpcPeer } from "@isthmus/rpc-protocol"
import { connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Fiber, Layer, Queue, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { startRemoteBridge } from "../src/host.ts"

const pool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))
const token = Redacted.make("session-full")
const viewer = Redacted.make("session-viewer")

type Json = Record<string, unknown>

/** A client whose approvals wait for `answer`, and which records every notification. */
const client = (wsUrl: string, secret: Redacted.Redacted<string>, name: string) =>
  Effect.gen(function*() {
    const notifications = yield* Queue.unbounded<Message.Notification>()
    const asked = yield* Queue.unbounded<{ id: Message.Id; params: Json; answer: Deferred.Deferred<unknown> }>()
    const peer = yield* RpcPeer.make({
      connect: connectWebSocket(wsUrl),
      dialect: Dialect.lite,
      framing: Framing.webSocket(),
      handshake: Handshake.sequence(
        Handshake.tokenAuth(secret),
        Handshake.initialize({ clientInfo: { name, version: "1" } })
      ),
      dispatch: (request) =>
        Effect.gen(function*() {
          const answer = yield* Deferred.make<unknown>()
          yield* Queue.offer(asked, { id: request.id, params: request.params as Json, answer })
          return yield* Deferred.await(answer)
        }),
      onNotification: (n) => Effect.asVoid(Queue.offer(notifications, n))
    })
    yield* peer.awaitReady
    const until = (method: string, match: (params: Json) => boolean = () => true) =>
      Effect.gen(function*() {
        const seen: Array<Message.Notification> = []
        for (;;) {
          const n = yield* Queue.take(notifications)
          seen.push(n)
          if (n.method === method && match((n.params ?? {}) as Json)) return seen
        }
      })
    return { peer, asked, until }
  })

const turn = (threadId: string, text: string) => ({ threadId, input: [{ type: "text", text }] })

describe("one pool-supervised stdio app-server shared through RpcBridge", () => {
  it(
    "three clients, concurrent calls, one approval answered once, a read-only client, a backend killed mid-turn",
    async () => {
      const out = await Effect.runPromise(
        Effect.gen(function*() {
          const remote = yield* startRemoteBridge({ token, viewerToken: viewer, deltaDelayMs: 1 })
          const instance = yield* (yield* BackendPool).get("app-server")
          const [a, b, c] = yield* Effect.forEach(["a", "b", "c"], (n) => client(remote.wsUrl, token, n))
          // Concurrent thread/start from all three: each gets its own reply; everyone sees all starts.
          const started = yield* Effect.forEach(
            [a!, b!, c!],
            (x) =>
              Effect.forEach([1, 2, 3], () => x.peer.request("thread/start", {}), { concurrency: "unbounded" }).pipe(
                Effect.map((rs) => rs.map((r) => (r as { thread: { id: string } }).thread.id))
              ),
            { concurrency: "unbounded" }
          )
          const threadIds = started.flat()
          // The approval: shown to all three, answered by B only.
          const threadId = started[0]![0]!
          yield* a!.peer.request("turn/start", turn(threadId, "run make test"))
          const asks = yield* Effect.forEach([a!, b!, c!], (x) => Queue.take(x.asked))
          yield* Deferred.succeed(asks[1]!.answer, { decision: "accept" })
          const resolvedA = (yield* a!.until("serverRequest/resolved")).at(-1)!
          const resolvedC = (yield* c!.until("serverRequest/resolved")).at(-1)!
          const afterA = yield* a!.until("turn/completed")
          const agentText = afterA.filter((n) => n.method === "item/agentMessage/delta")
            .map((n) => (n.params as Json)["delta"]).join("")
          // Late answers from A and C go nowhere.
          yield* Deferred.succeed(asks[0]!.answer, { decision: "decline" })
          yield* Deferred.succeed(asks[2]!.answer, { decision: "decline" })
          yield* a!.peer.request("thread/list", {})
          // A read-only client sees the session but cannot change it.
          const v = yield* client(remote.wsUrl, viewer, "viewer")
          const listed = (yield* v.peer.request("thread/list", {})) as { data: Array<unknown> }
          const forbidden = yield* Effect.flip(v.peer.request("turn/start", turn(threadId, "nope")))
          // Kill the backend (its whole group) while a call is in flight.
          const pid = (yield* instance.snapshot).pid!
          process.kill(-pid, "SIGSTOP")
          const inFlight = yield* Effect.forkChild(Effect.flip(b!.peer.request("thread/list", {})), {
            startImmediately: true
          })
          const requestsBefore = (yield* remote.bridge.stats).upstreams[0]!.requests
          while ((yield* remote.bridge.stats).upstreams[0]!.requests === requestsBefore) yield* Effect.sleep("5 millis")
          process.kill(-pid, "SIGKILL")
          const restarted = yield* Fiber.join(inFlight)
          const ready = yield* instance.awaitReady
          // The same connections keep working on the new run.
          yield* b!.until("bridge/upstream", (p) => p["state"] === "ready" && p["generation"] === 2)
          const fresh = (yield* a!.peer.request("thread/start", {})) as { thread: { id: string } }
          const unknownAnswers = instance.log.tail(1000).filter((l) => l.text.includes("unknown server request")).length
          return {
            threadIds,
            askedIds: asks.map((x) => x.params["command"]),
            resolvedA: resolvedA.params as Json,
            resolvedC: resolvedC.params as Json,
            agentText,
            unknownAnswers,
            listed: listed.data.length,
            forbidden,
            restarted,
            runId: ready.runId,
            fresh: fresh.thread.id
          }
        }).pipe(Effect.scoped, Effect.provide(pool))
      )
      expect(new Set(out.threadIds).size).toBe(9)
      expect(out.askedIds).toEqual(["make test", "make test", "make test"])
      expect(out.resolvedA).toMatchObject({ outcome: "answered", method: "item/commandExecution/requestApproval" })
      expect(out.resolvedC).toMatchObject({ outcome: "answered" })
      expect(out.agentText).toContain("I ran make test.")
      expect(out.unknownAnswers).toBe(0)
      expect(out.listed).toBe(9)
      expect(out.forbidden).toBeInstanceOf(RpcError)
      expect((out.forbidden as RpcError).code).toBe(RpcBridge.BridgeErrorCode.Forbidden)
      expect(RpcBridge.isUpstreamRestarted(out.restarted as RpcError)).toBe(true)
      expect(out.runId).toBe(2)
      expect(out.fresh).toBe("thr_1")
    },
    180_000
  )
})
