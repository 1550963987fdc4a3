/**
 * RpcBridge with real processes and sockets: the fake codex app-server
 * (examples/fake-app-server, an independent plain-Node model of codex's protocol) over stdio
 * upstream, clients over loopback TCP (raw line clients, so the assertions see the exact wire) and
 * WebSocket (RpcPeer clients in another dialect).
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, RpcBridge, RpcError, RpcPeer } from "@isthmus/rpc-protocol"
import { connectWebSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Redacted, Stream } from "effect"
import { fakeAppServers } from "./support/fakeAppServer.ts"
import { type Json, type JsonLines as Line, jsonLines as line, method, params, reply } from "./support/jsonLines.ts"

const tokens = [
  { token: Redacted.make("token-a"), name: "a" },
  { token: Redacted.make("token-b"), name: "b" },
  { token: Redacted.make("token-c"), name: "c" },
  { token: Redacted.make("token-d"), name: "d" },
  { token: Redacted.make("token-viewer"), name: "viewer", role: "readOnly" as const, allow: ["thread/list"] }
]

const setup = (options?: {
  readonly deltaDelayMs?: number
  readonly shape?: "shared" | "perClient"
  readonly capacity?: number
  readonly state?: boolean
}) =>
  Effect.gen(function*() {
    const servers = yield* fakeAppServers(options?.deltaDelayMs ?? 1)
    const bridge = yield* RpcBridge.make({
      upstream: { connect: servers.connect, dialect: Dialect.lite, framing: Framing.ndjson() },
      clients: {
        dialect: Dialect.lite,
        framing: Framing.ndjson(),
        outbound: { capacity: options?.capacity ?? 1024, whenFull: "disconnect" }
      },
      shape: options?.shape,
      auth: { tokens },
      initialize: { params: { clientInfo: { name: "isthmus_bridge", title: "isthmus bridge", version: "0.1.0" } } },
      catchUp: options?.state === true ? { replay: 256, state: { method: "thread/list", params: {} } } : undefined
    })
    const { port } = yield* serveTcp(bridge)
    /** A client that authenticated with `token` and initialized (replies checked). */
    const join = (token: string, name = token) =>
      Effect.gen(function*() {
        const c = yield* line(port)
        yield* c.send({ id: 1, method: "auth", params: { token } })
        const auth = yield* c.next
        yield* c.send({ id: 1, method: "initialize", params: { clientInfo: { name, version: "1" } } })
        const init = yield* c.until(reply(1))
        yield* c.send({ method: "initialized" })
        return { c, auth, init: init.at(-1)! }
      })
    return { servers, bridge, port, join }
  })

const startThread = (c: Line, id: number) =>
  Effect.gen(function*() {
    yield* c.send({ id, method: "thread/start", params: {} })
    const seen = yield* c.until(reply(id))
    return ((seen.at(-1)!["result"] as Json)["thread"] as Json)["id"] as string
  })

const turn = (threadId: string, text: string) => ({ threadId, input: [{ type: "text", text }] })

describe("RpcBridge over a real fake app-server (stdio) and loopback TCP clients", () => {
  it.live(
    "three clients initialize, call concurrently with the same ids, get only their own replies, all see every notification",
    () =>
      Effect.gen(function*() {
        const { servers, join } = yield* setup()
        const clients = yield* Effect.forEach(["token-a", "token-b", "token-c"], (t) => join(t))
        for (const { auth, init } of clients) {
          assert.deepStrictEqual(auth, { id: 1, result: { ok: true, role: "full" } })
          // Answered from the bridge's own upstream handshake, not forwarded.
          assert.match(String((init["result"] as Json)["userAgent"]), /^isthmus_bridge\//)
        }
        // A second initialize on a connection is refused as codex refuses it.
        const a = clients[0]!.c
        yield* a.send({ id: 2, method: "initialize", params: { clientInfo: { name: "again", version: "1" } } })
        assert.deepStrictEqual((yield* a.until(reply(2))).at(-1), {
          id: 2,
          error: { code: -32600, message: "Already initialized" }
        })
        // Every client sends ids 10..14 at once.
        const ids = [10, 11, 12, 13, 14]
        yield* Effect.forEach(
          clients,
          ({ c }) => Effect.forEach(ids, (id) => c.send({ id, method: "thread/start", params: {} }), { discard: true }),
          { concurrency: "unbounded", discard: true }
        )
        const perClient = yield* Effect.forEach(clients, ({ c }) =>
          Effect.gen(function*() {
            const replies = new Map<number, string>()
            const started = new Set<string>()
            while (replies.size < ids.length || started.size < 15) {
              const m = yield* c.next
              if (m["method"] === "thread/started") started.add(((params(m)["thread"]) as Json)["id"] as string)
              else if (typeof m["id"] === "number") {
                replies.set(m["id"], ((m["result"] as Json)["thread"] as Json)["id"] as string)
              }
            }
            return { replies, started }
          }), { concurrency: "unbounded" })
        const all = perClient.flatMap(({ replies }) => [...replies.values()])
        // 15 threads, each reply went to exactly one client (its own ids), and every client saw all 15 start.
        assert.strictEqual(new Set(all).size, 15)
        for (const { replies, started } of perClient) {
          assert.deepStrictEqual([...replies.keys()].toSorted(), ids)
          assert.strictEqual(started.size, 15)
        }
        // The upstream saw one `initialized`: the clients' own stayed at the bridge.
        assert.strictEqual(servers.stderr.filter((l) => l.includes("client initialized")).length, 1)
      }),
    60_000
  )

  it.live(
    "an approval is shown to every full client, the first answer goes upstream once, the others are told it is settled",
    () =>
      Effect.gen(function*() {
        const { servers, bridge, join } = yield* setup()
        const [a, b, c] = (yield* Effect.forEach(["token-a", "token-b", "token-c"], (t) => join(t))).map((x) => x.c)
        const threadId = yield* startThread(a!, 2)
        yield* a!.send({ id: 3, method: "turn/start", params: turn(threadId, "run ls") })
        const asked = yield* Effect.forEach([a!, b!, c!], (x) =>
          Effect.map(x.until(method("item/commandExecution/requestApproval")), (seen) => seen.at(-1)!))
        for (const request of asked) {
          assert.deepInclude(params(request), { threadId, command: "ls" })
        }
        // B answers first.
        yield* b!.send({ id: asked[1]!["id"] as number, result: { decision: "accept" } })
        const settledA = (yield* a!.until(method("serverRequest/resolved"))).at(-1)!
        const settledC = (yield* c!.until(method("serverRequest/resolved"))).at(-1)!
        assert.deepStrictEqual(params(settledA), {
          requestId: asked[0]!["id"],
          threadId,
          method: "item/commandExecution/requestApproval",
          outcome: "answered"
        })
        assert.strictEqual(params(settledC)["requestId"], asked[2]!["id"])
        // B gets the upstream's own notice, with B's id, and its extra top-level field kept.
        const resolvedB = (yield* b!.until(method("serverRequest/resolved"))).at(-1)!
        assert.deepStrictEqual(params(resolvedB), { threadId, requestId: asked[1]!["id"] })
        assert.isNumber(resolvedB["emittedAtMs"])
        // Late answers from A and C are dropped here: the upstream logs an answer it does not know.
        yield* a!.send({ id: asked[0]!["id"] as number, result: { decision: "decline" } })
        yield* c!.send({ id: asked[2]!["id"] as number, error: { code: 1, message: "no" } })
        for (const x of [a!, b!, c!]) {
          const rest = yield* x.until(method("turn/completed"))
          const text = rest.filter(method("item/agentMessage/delta")).map((m) =>
            params(m)["delta"]
          ).join("")
          assert.include(text, "I ran ls") // B's accept is the answer the turn got
          // A and C got no second "resolved" (they were told by the bridge already).
          assert.isFalse(x !== b && rest.some(method("serverRequest/resolved")))
        }
        yield* a!.send({ id: 9, method: "thread/list", params: {} })
        yield* a!.until(reply(9))
        assert.deepStrictEqual(servers.stderr.filter((l) => l.includes("unknown server request")), [])
        const stats = yield* bridge.stats
        assert.strictEqual(stats.upstreams[0]!.serverRequestsAnswered, 1)
        assert.strictEqual(stats.clients.find((s) => s.name === "b")!.answered, 1)
      }),
    60_000
  )

  it.live(
    "a late joiner gets the replay, the state request, the open approval under its own id, and its settlement",
    () =>
      Effect.gen(function*() {
        const { join } = yield* setup({ state: true })
        const { c: a } = yield* join("token-a")
        const threadId = yield* startThread(a, 2)
        // A first approval (upstream id 0), answered, so the next one's upstream id is 1.
        yield* a.send({ id: 3, method: "turn/start", params: turn(threadId, "run true") })
        const first = (yield* a.until(method("item/commandExecution/requestApproval"))).at(-1)!
        yield* a.send({ id: first["id"] as number, result: { decision: "accept" } })
        yield* a.until(method("turn/completed"))
        yield* a.send({ id: 4, method: "turn/start", params: turn(threadId, "run ls") })
        const second = (yield* a.until(method("item/commandExecution/requestApproval"))).at(-1)!
        assert.strictEqual(second["id"], 1)
        // D joins now.
        const { c: d } = yield* join("token-d")
        const caughtUp = yield* d.until(method("bridge/joined"))
        const replayed = caughtUp.filter((m) => m["method"] !== "bridge/state" && m["method"] !== "bridge/joined")
        assert.isTrue(replayed.some(method("thread/started")))
        const firstTurnText = replayed.filter(method("item/agentMessage/delta")).map((m) => params(m)["delta"]).join("")
        assert.include(firstTurnText, "You said: run true. I ran true.")
        const state = caughtUp.find(method("bridge/state"))!
        assert.deepStrictEqual(
          ((params(state)["result"] as Json)["data"] as Array<Json>).map((t) => t["id"]),
          [threadId]
        )
        assert.strictEqual(params(caughtUp.at(-1)!)["replayed"], replayed.length)
        const offered = (yield* d.until(method("item/commandExecution/requestApproval"))).at(-1)!
        assert.strictEqual(offered["id"], 0) // D's own first id, while the upstream's is 1
        yield* a.send({ id: second["id"] as number, result: { decision: "decline" } })
        const settled = (yield* d.until(method("serverRequest/resolved"))).at(-1)!
        assert.strictEqual(params(settled)["requestId"], 0)
        assert.strictEqual(params(settled)["outcome"], "answered")
      }),
    60_000
  )

  it.live(
    "a read-only client listens but may call only its allow-list and never gets approvals",
    () =>
      Effect.gen(function*() {
        const { join } = yield* setup()
        const { c: a } = yield* join("token-a")
        const { c: v, auth } = yield* join("token-viewer")
        assert.deepStrictEqual(auth, { id: 1, result: { ok: true, role: "readOnly" } })
        yield* v.send({ id: 2, method: "thread/start", params: {} })
        const refused = (yield* v.until(reply(2))).at(-1)!
        assert.strictEqual((refused["error"] as Json)["code"], RpcBridge.BridgeErrorCode.Forbidden)
        assert.match(String((refused["error"] as Json)["message"]), /not allowed.*readOnly/)
        yield* v.send({ id: 3, method: "thread/list", params: {} })
        assert.deepStrictEqual(((yield* v.until(reply(3))).at(-1)!["result"] as Json)["data"], [])
        const threadId = yield* startThread(a, 2)
        yield* a.send({ id: 3, method: "turn/start", params: turn(threadId, "run ls") })
        const ask = (yield* a.until(method("item/commandExecution/requestApproval"))).at(-1)!
        yield* a.send({ id: ask["id"] as number, result: { decision: "accept" } })
        const seen = yield* v.until(method("turn/completed"))
        assert.isTrue(seen.some(method("thread/started")))
        assert.isFalse(seen.some(method("item/commandExecution/requestApproval")))
      }),
    60_000
  )

  it.live(
    "killing the backend mid-turn: the in-flight call fails as upstream restarted, the approval is settled, clients keep working",
    () =>
      Effect.gen(function*() {
        const { servers, bridge, join } = yield* setup()
        const { c: a } = yield* join("token-a")
        const { c: b } = yield* join("token-b")
        const threadId = yield* startThread(a, 2)
        yield* a.send({ id: 3, method: "turn/start", params: turn(threadId, "run ls") })
        const ask = (yield* b.until(method("item/commandExecution/requestApproval"))).at(-1)!
        // Freeze the backend so a call is surely in flight, then kill it.
        const child = servers.children[0]!
        child.kill("SIGSTOP")
        const before = (yield* bridge.stats).upstreams[0]!.requests
        yield* a.send({ id: 4, method: "thread/list", params: {} })
        // Wait until the bridge has sent it upstream (it is then pending there), then kill.
        while ((yield* bridge.stats).upstreams[0]!.requests === before) yield* Effect.sleep("5 millis")
        child.kill("SIGKILL")
        const seenA = yield* a.until(reply(4))
        const error = seenA.at(-1)!["error"] as Json
        assert.strictEqual(error["code"], RpcBridge.BridgeErrorCode.UpstreamRestarted)
        assert.isTrue(RpcBridge.isUpstreamRestarted(error as { code: number }))
        const settled = (yield* b.until(method("serverRequest/resolved"))).at(-1)!
        assert.deepInclude(params(settled), { requestId: ask["id"], outcome: "upstreamRestarted" })
        const status = yield* b.until((m) => m["method"] === "bridge/upstream" && params(m)["state"] === "ready")
        assert.isTrue(status.some((m) => m["method"] === "bridge/upstream" && params(m)["state"] === "down"))
        assert.strictEqual(params(status.at(-1)!)["generation"], 2)
        // Same connections, new backend: the session goes on (it is a new process: thr_1 again).
        const again = yield* startThread(a, 5)
        assert.strictEqual(again, "thr_1")
        yield* a.send({ id: 6, method: "turn/start", params: turn(again, "hello") })
        const done = yield* b.until(method("turn/completed"))
        assert.include(done.filter(method("item/agentMessage/delta")).map((m) => params(m)["delta"]).join(""), "hello")
        assert.strictEqual(servers.children.length, 2)
        const upstream = (yield* bridge.stats).upstreams[0]!
        assert.strictEqual(upstream.restarts, 1)
        assert.strictEqual(upstream.generation, 2)
      }),
    60_000
  )

  it.live("a client that never reads is cut off; the others get every notification", () =>
    Effect.gen(function*() {
      const { bridge, join } = yield* setup({ deltaDelayMs: 0, capacity: 256 })
      const { c: a } = yield* join("token-a")
      const { c: b } = yield* join("token-b")
      const { c: slow } = yield* join("token-c")
      slow.raw.socket.pause() // never reads again: the kernel buffers fill, then its queue
      // 40 turns of 100 words of 400 bytes: about 7 MB to each client (deltas and item echoes),
      // more than the kernel's buffers on loopback (about 4 MB) plus the silent client's queue.
      const turns = 40
      const words = 100
      const text = Array.from({ length: words }, (_, i) => `w${i}`.padEnd(400, "x")).join(" ")
      const threads = yield* Effect.forEach(Array.from({ length: turns }, (_, i) => i), (i) => startThread(a, 100 + i))
      yield* Effect.forEach(threads, (t, i) => a.send({ id: 200 + i, method: "turn/start", params: turn(t, text) }), {
        discard: true
      })
      const counts = yield* Effect.forEach([a, b], (x) =>
        Effect.gen(function*() {
          let deltas = 0
          let completed = 0
          while (completed < turns) {
            const m = yield* x.next
            if (m["method"] === "item/agentMessage/delta") deltas++
            if (m["method"] === "turn/completed") completed++
          }
          return deltas
        }))
      // "You said: " is two more words than the text.
      assert.deepStrictEqual(counts, [turns * (words + 2), turns * (words + 2)])
      // It was cut off: once it reads again it gets what was queued before, then the end.
      slow.raw.socket.resume()
      yield* slow.raw.closed
      const names = (yield* bridge.stats).clients.map((s) => s.name)
      assert.deepStrictEqual(names.toSorted(), ["a", "b"])
    }), 120_000)

  it.live(
    "per-client shape: each client has its own upstream process and sees only its own session",
    () =>
      Effect.gen(function*() {
        const { servers, join } = yield* setup({ shape: "perClient" })
        const { c: a } = yield* join("token-a")
        const { c: b } = yield* join("token-b")
        assert.strictEqual(yield* startThread(a, 2), "thr_1")
        assert.strictEqual(yield* startThread(b, 2), "thr_1")
        assert.strictEqual(servers.children.length, 2)
        yield* a.send({ id: 3, method: "turn/start", params: turn("thr_1", "only for a") })
        yield* a.until(method("turn/completed"))
        yield* b.send({ id: 4, method: "thread/list", params: {} })
        const seenB = yield* b.until(reply(4))
        assert.isFalse(seenB.some(method("turn/started")))
      }),
    60_000
  )
})

const untilDone = <E>(events: Stream.Stream<{ readonly method: string; readonly params: unknown }, E>) =>
  events.pipe(
    Stream.filter((n) => n.method.startsWith("turn/") || n.method.startsWith("item/")),
    Stream.takeUntil((n) => n.method === "turn/completed"),
    Stream.runCollect
  )

describe("RpcBridge: auth, dialects and filters", () => {
  it.live("refuses calls before auth and wrong tokens, and keeps the connection open", () =>
    Effect.gen(function*() {
      const { port } = yield* setup()
      const c = yield* line(port)
      yield* c.send({ id: 1, method: "thread/list", params: {} })
      assert.deepStrictEqual(yield* c.next, { id: 1, error: { code: -32600, message: "Not initialized" } })
      yield* c.send({ id: 2, method: "auth", params: { token: "token-a-and-more" } })
      assert.deepStrictEqual(yield* c.next, { id: 2, error: { code: -32600, message: "invalid token" } })
      yield* c.send({ id: 3, method: "auth", params: "token-a" })
      assert.deepStrictEqual(yield* c.next, { id: 3, result: { ok: true, role: "full" } })
      yield* c.send({ id: 4, method: "thread/list", params: {} })
      assert.deepStrictEqual(yield* c.next, { id: 4, error: { code: -32600, message: "Not initialized" } })
    }), 60_000)

  it.live(
    "strict JSON-RPC 2.0 clients over WebSocket in front of codex's lite dialect, each following its own thread",
    () =>
      Effect.gen(function*() {
        const servers = yield* fakeAppServers(1)
        const bridge = yield* RpcBridge.make({
          upstream: { connect: servers.connect, dialect: Dialect.lite, framing: Framing.ndjson() },
          clients: { dialect: Dialect.strict, framing: Framing.webSocket() },
          initialize: { params: { clientInfo: { name: "isthmus_bridge", version: "0.1.0" } } }
        })
        const { port } = yield* serveWebSocket(bridge, { path: "/rpc" })
        const client = () =>
          RpcPeer.make({
            connect: connectWebSocket(`ws://127.0.0.1:${port}/rpc`),
            dialect: Dialect.strict,
            framing: Framing.webSocket()
          })
        const a = yield* client()
        const b = yield* client()
        for (const p of [a, b]) yield* p.request("initialize", { clientInfo: { name: "strict", version: "1" } })
        const ta = ((yield* a.request("thread/start", {})) as { thread: { id: string } }).thread.id
        const tb = ((yield* b.request("thread/start", {})) as { thread: { id: string } }).thread.id
        yield* a.request("bridge/follow", { threadIds: [ta] })
        yield* b.request("bridge/follow", { threadIds: [tb] })
        const eventsA = yield* a.subscribe
        const eventsB = yield* b.subscribe
        yield* a.request("turn/start", turn(ta, "for a"))
        yield* b.request("turn/start", turn(tb, "for b"))
        const [seenA, seenB] = yield* Effect.all([untilDone(eventsA), untilDone(eventsB)], { concurrency: 2 })
        assert.isTrue(seenA.every((n) => (n.params as Json)["threadId"] === ta))
        assert.isTrue(seenB.every((n) => (n.params as Json)["threadId"] === tb))
        // Upstream errors keep their code through the translation.
        const error = yield* Effect.flip(a.request("no/such", {}))
        assert.instanceOf(error, RpcError)
        assert.strictEqual((error as RpcError).code, -32600)
      }),
    60_000
  )
})
