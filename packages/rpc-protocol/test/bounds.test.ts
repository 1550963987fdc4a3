/**
 * Bounds that must hold under every policy (issue #11, point 1 and findings 1–2): replies waiting
 * for a reader that never reads count against the connection's in-flight bound, and a subscriber
 * that falls behind (or is abandoned) never blocks the connection; the same for a client answering
 * requests under its default `suspend` policy.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Fanout, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

describe("Fanout", () => {
  it.effect("dropOldest keeps the newest items and counts the rest", () =>
    Effect.gen(function*() {
      const fanout = Fanout.make<number>({ name: "test" })
      const subscription = yield* fanout.subscribe({ capacity: 3 })
      for (let i = 1; i <= 10; i++) yield* fanout.publish(i)
      yield* fanout.shutdown
      assert.deepStrictEqual(yield* Stream.runCollect(subscription.stream), [8, 9, 10])
      assert.strictEqual(yield* subscription.dropped, 7)
      assert.strictEqual(fanout.dropped(), 7)
    }))

  it.effect("end delivers what was buffered, then fails with SubscriberOverflowError", () =>
    Effect.gen(function*() {
      const fanout = Fanout.make<number>({ name: "test" })
      const subscription = yield* fanout.subscribe({ capacity: 2, whenFull: "end" })
      const other = yield* fanout.subscribe({ capacity: 100 })
      for (let i = 1; i <= 5; i++) yield* fanout.publish(i)
      const seen: Array<number> = []
      const error = yield* subscription.stream.pipe(
        Stream.runForEach((n) => Effect.sync(() => seen.push(n))),
        Effect.flip
      )
      assert.deepStrictEqual(seen, [1, 2])
      assert.instanceOf(error, Fanout.SubscriberOverflowError)
      assert.strictEqual(error.capacity, 2)
      // The ended subscriber is gone; the other one got everything.
      assert.strictEqual(fanout.size(), 1)
      yield* fanout.shutdown
      assert.deepStrictEqual(yield* Stream.runCollect(other.stream), [1, 2, 3, 4, 5])
    }))

  it.effect("a stream that ends early unsubscribes", () =>
    Effect.gen(function*() {
      const fanout = Fanout.make<number>({ name: "test" })
      const { stream } = yield* fanout.subscribe()
      assert.strictEqual(fanout.size(), 1)
      const first = yield* Effect.forkChild(stream.pipe(Stream.take(1), Stream.runCollect), { startImmediately: true })
      yield* fanout.publish(1)
      assert.deepStrictEqual(yield* Fiber.join(first), [1])
      assert.strictEqual(fanout.size(), 0)
      // Publishing to nobody is a no-op, not an error.
      yield* fanout.publish(2)
    }))
})

/** Reads a `/proc/<pid>/status` field in KiB (VmRSS, VmHWM). */
const procKiB = (pid: number, field: string): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`))
  return Number(line?.split(/\s+/)[1] ?? Number.NaN)
}

/** Starts `fixtures/flood-server.ts` in its own process and returns its pid and port. */
const floodServer = Effect.acquireRelease(
  Effect.callback<{ pid: number; port: number; kill: () => void }>((resume) => {
    const script = fileURLToPath(new URL("./fixtures/flood-server.ts", import.meta.url))
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout.setEncoding("utf8")
    let out = ""
    child.stdout.on("data", (chunk: string) => {
      out += chunk
      if (out.includes("\n")) {
        resume(Effect.succeed({ pid: child.pid!, port: Number(out.trim()), kill: () => child.kill() }))
      }
    })
  }),
  (server) => Effect.sync(() => server.kill())
)

/**
 * Writes `count` requests of about `bytes` bytes each without ever reading the replies, honouring
 * backpressure; stops early when the socket has not drained for `stallMillis` (the server stopped
 * reading). Returns how many requests were written.
 */
const floodWithoutReading = (port: number, count: number, bytes: number, stallMillis: number) =>
  Effect.promise(() =>
    new Promise<number>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      socket.pause()
      socket.on("error", reject)
      const padding = "x".repeat(bytes)
      let sent = 0
      const pump = () => {
        while (sent < count) {
          sent++
          if (!socket.write(`{"id":${sent},"method":"echo","params":"${padding}"}\n`)) {
            const timer = setTimeout(() => {
              socket.off("drain", pump)
              resolve(sent)
            }, stallMillis)
            socket.once("drain", () => {
              clearTimeout(timer)
              pump()
            })
            return
          }
        }
        resolve(sent)
      }
      socket.on("connect", pump)
    })
  )

describe("in-flight bound under the drop policy (real loopback, separate process)", () => {
  it.live(
    "a client that never reads its replies stops being read; the server's RSS stays bounded",
    () =>
      Effect.gen(function*() {
        const server = yield* floodServer
        const before = procKiB(server.pid, "VmRSS")
        // 400k requests of 1 KiB (400 MiB) with 1 KiB replies. Before the fix every reply waited for
        // room without bound, since its concurrency slot was freed first: +1.7 GiB and counting.
        // The stall window is generous (a loaded machine may pause the server for a while).
        const sent = yield* floodWithoutReading(server.port, 400_000, 1024, 3000)
        const peak = procKiB(server.pid, "VmHWM")
        const growthMiB = (peak - before) / 1024
        // The server holds at most concurrency (32) + maxQueuedRequests (1024) requests, 1024 queued
        // replies and its socket buffers: a few MiB. 100 MiB leaves room for the GC's slack.
        assert.isBelow(growthMiB, 100, `server RSS grew ${growthMiB.toFixed(0)} MiB after ${sent} unread requests`)
        assert.isBelow(sent, 400_000, "the server kept reading although nobody read its replies")
      }),
    120_000
  )
})

describe("notification subscribers never block the connection (real loopback)", () => {
  it.live("an abandoned subscription and a take(1) subscription do not stall replies", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: MethodTable.make({
          burst: MethodTable.method({ params: Schema.Number, result: Schema.Number })
        }),
        handlers: {
          burst: (n, { peer }) =>
            Effect.gen(function*() {
              for (let i = 0; i < n; i++) yield* Effect.ignore(peer.notify("tick", { i }))
              return n
            })
        },
        outbound: { capacity: 8192 }
      })
      const address = yield* serveTcp(server)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        requestTimeout: "60 seconds"
      })
      // The README pattern: take the first event and stop reading.
      const events = yield* peer.subscribe
      const first = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), {
        startImmediately: true
      })
      // A subscription nobody ever reads.
      const abandoned = yield* peer.subscribeWith({ capacity: 16 })
      // A subscriber that reads everything sees every notification in order.
      const all = yield* peer.subscribeWith({ capacity: 5000 })
      const reader = yield* Effect.forkScoped(all.stream.pipe(Stream.take(5000), Stream.runCollect), {
        startImmediately: true
      })
      assert.strictEqual(yield* peer.request("burst", 5000), 5000)
      // Before the fix, the reader blocked on the full 1024-item buffer and this call timed out.
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
      assert.deepStrictEqual((yield* Fiber.join(first)).map((n) => n.params), [{ i: 0 }])
      const received = yield* Fiber.join(reader)
      assert.deepStrictEqual(
        received.map((n) => (n.params as { i: number }).i),
        Array.from({ length: 5000 }, (_, i) => i)
      )
      assert.strictEqual(yield* abandoned.dropped, 5000 - 16)
      assert.isAtLeast((yield* peer.stats).droppedNotifications, 5000 - 16)
    }))
})

/**
 * A raw NDJSON server that sends `count` requests of about `bytes` bytes to the client that
 * connects and never reads its replies, honouring backpressure; it stops when its socket has not
 * drained for `stallMillis` (the client stopped reading). Resolves with how many it wrote.
 */
const floodClientWithoutReading = (count: number, bytes: number, stallMillis: number) =>
  Effect.acquireRelease(
    Effect.callback<{ port: number; sent: Promise<number>; server: net.Server }>((resume) => {
      let done: ((n: number) => void) | undefined
      const sent = new Promise<number>((resolve) => done = resolve)
      const server = net.createServer((socket) => {
        socket.pause()
        socket.on("error", () => {}) // the client's end closes with the test
        const padding = "x".repeat(bytes)
        let n = 0
        const pump = () => {
          while (n < count) {
            n++
            if (!socket.write(`{"id":${n},"method":"echo","params":"${padding}"}\n`)) {
              const timer = setTimeout(() => {
                socket.off("drain", pump)
                done?.(n)
              }, stallMillis)
              socket.once("drain", () => {
                clearTimeout(timer)
                pump()
              })
              return
            }
          }
          done?.(n)
        }
        pump()
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as net.AddressInfo).port, sent, server })))
    }),
    ({ server }) =>
      Effect.sync(() =>
        server.close()
      )
  )

describe("in-flight bound of a client under its default (suspend) policy (real loopback)", () => {
  it.live(
    "a server that never reads the client's replies to its requests stops being read",
    () =>
      Effect.gen(function*() {
        // 200k requests of 1 KiB (200 MiB). A client that freed a request's slot before its reply was
        // queued would read them all, each reply waiting for room without bound.
        // The stall window is generous: a loaded machine may pause the client for a while.
        const flood = yield* floodClientWithoutReading(200_000, 1024, 5000)
        const peer = yield* RpcPeer.make({
          connect: connectTcp({ port: flood.port }),
          dialect: Dialect.daemon,
          framing: Framing.ndjson(),
          dispatch: (request) => Effect.succeed(request.params)
        })
        const sent = yield* Effect.promise(() => flood.sent)
        const stats = yield* peer.stats
        assert.isBelow(sent, 200_000, "the client kept reading although nobody read its replies")
        // Requests in flight (default concurrency 32) wait for room in the outbound queue (512); the
        // rest of what was read sits in the kernel's socket buffers, not in the client.
        assert.isAtMost(stats.outboundQueued, 512)
      }),
    120_000
  )
})
