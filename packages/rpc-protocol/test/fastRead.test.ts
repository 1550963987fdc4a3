/**
 * The Node socket adapter's synchronous read path (`pullWith`, attached to its reader under the
 * `@isthmus/rpc-protocol/FastRead` symbol; `RpcPeer` reads through it): each read is handed to the
 * handler in the stream's own `data` callback, the pull goes on waiting while the handler returns
 * `undefined`, and completes with the first value it returns (or the defect it throws). Driven by
 * a fake stream whose events the test emits itself, so "in the callback" can be checked exactly.
 */
import { assert, describe, it } from "@effect/vitest"
import { NetSocket } from "@isthmus/rpc-protocol/node"
import { Cause, Effect, Exit, Fiber } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Socket from "effect/socket/Socket"
import { EventEmitter } from "node:events"
import type { Duplex } from "node:stream"

interface FastRead {
  readonly pullWith: <A>(
    handle: (chunks: NonEmptyReadonlyArray<Uint8Array>) => A | undefined
  ) => Effect.Effect<A, Socket.SocketError>
}

/** The part of a `net.Socket` the adapter uses, with the events under the test's control. */
class FakeStream extends EventEmitter {
  destroyed = false
  writableEnded = false
  paused = false
  isPaused() {
    return this.paused
  }
  pause() {
    this.paused = true
    return this
  }
  resume() {
    this.paused = false
    return this
  }
  write() {
    return true
  }
  end() {
    this.writableEnded = true
    return this
  }
  destroy() {
    this.destroyed = true
    return this
  }
  /** Emits a read, as a socket does, and returns the bytes. */
  data(text: string) {
    this.emit("data", Buffer.from(text))
  }
}

const text = (chunks: ReadonlyArray<Uint8Array | string>) =>
  chunks.map((c) => typeof c === "string" ? c : Buffer.from(c).toString()).join("|")

/** A reader over a fake stream and its synchronous read path. */
const open = Effect.gen(function*() {
  const stream = new FakeStream()
  const reader = yield* NetSocket.fromStream(Effect.succeed(stream as unknown as Duplex)).reader
  const fast = (reader as unknown as { readonly [key: symbol]: FastRead | undefined })[
    Symbol.for("@isthmus/rpc-protocol/FastRead")
  ]
  assert.isDefined(fast)
  return { stream, reader, fast: fast! }
})

describe("NetSocket synchronous reads (pullWith)", () => {
  it.effect("reads the handler deals with keep the pull waiting; the first value it returns completes it", () =>
    Effect.gen(function*() {
      const { fast, stream } = yield* open
      const seen: Array<string> = []
      const fiber = yield* Effect.forkChild(
        fast.pullWith((chunks) => {
          seen.push(text(chunks))
          return seen.length === 3 ? `done after ${seen.join(",")}` : undefined
        }),
        { startImmediately: true }
      )
      stream.data("a")
      // Handled in the emit itself, and the pull still waits.
      assert.deepStrictEqual(seen, ["a"])
      assert.isUndefined(fiber.pollUnsafe())
      stream.data("b")
      assert.deepStrictEqual(seen, ["a", "b"])
      assert.isUndefined(fiber.pollUnsafe())
      stream.data("c")
      assert.deepStrictEqual(seen, ["a", "b", "c"])
      assert.strictEqual(yield* Fiber.join(fiber), "done after a,b,c")
    }).pipe(Effect.scoped))

  it.effect("a read already buffered is handed over when the pull starts", () =>
    Effect.gen(function*() {
      const { fast, stream } = yield* open
      stream.data("early")
      stream.data("later")
      const got = yield* fast.pullWith((chunks) => text(chunks))
      assert.strictEqual(got, "early|later")
    }).pipe(Effect.scoped))

  it.effect("reads arriving while the handler runs are handed over after it returns, in order, never nested", () =>
    Effect.gen(function*() {
      const { fast, stream } = yield* open
      const seen: Array<string> = []
      let depth = 0
      let deepest = 0
      const fiber = yield* Effect.forkChild(
        fast.pullWith((chunks) => {
          depth++
          deepest = Math.max(deepest, depth)
          const t = text(chunks)
          seen.push(t)
          // The handler's own work makes more data arrive (as a synchronous reply could).
          if (t === "1") {
            stream.data("2")
            stream.data("3")
          }
          depth--
          return t === "4" ? "end" : undefined
        }),
        { startImmediately: true }
      )
      stream.data("1")
      assert.deepStrictEqual(seen, ["1", "2|3"])
      assert.strictEqual(deepest, 1)
      stream.data("4")
      assert.strictEqual(yield* Fiber.join(fiber), "end")
      assert.deepStrictEqual(seen, ["1", "2|3", "4"])
    }).pipe(Effect.scoped))

  it.effect("a handler that throws completes the pull with that defect", () =>
    Effect.gen(function*() {
      const { fast, stream } = yield* open
      const boom = new Error("boom")
      const fiber = yield* Effect.forkChild(
        fast.pullWith(() => {
          throw boom
        }),
        { startImmediately: true }
      )
      stream.data("x")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.deepStrictEqual(Cause.squash(exit.cause), boom)
    }).pipe(Effect.scoped))

  it.effect("an interrupted pull is handed no more reads: they wait for the next pull", () =>
    Effect.gen(function*() {
      const { fast, reader, stream } = yield* open
      const seen: Array<string> = []
      let fiber: Fiber.Fiber<never, Socket.SocketError> | undefined
      fiber = yield* Effect.forkChild(
        fast.pullWith<never>((chunks) => {
          seen.push(text(chunks))
          // Interrupted while handling (as when a reply's continuation closes the peer).
          fiber?.interruptUnsafe()
          return undefined
        }),
        { startImmediately: true }
      )
      stream.data("a")
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      stream.data("b")
      assert.deepStrictEqual(seen, ["a"])
      const next = yield* reader.pull
      assert.strictEqual(text(next), "b")
    }).pipe(Effect.scoped))

  it.effect("the end of the stream fails a waiting pull with a close error", () =>
    Effect.gen(function*() {
      const { fast, stream } = yield* open
      const fiber = yield* Effect.forkChild(fast.pullWith(() => undefined), { startImmediately: true })
      stream.data("ignored")
      assert.isUndefined(fiber.pollUnsafe())
      stream.emit("end")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error.reason._tag, "SocketCloseError")
    }).pipe(Effect.scoped))
})
