/**
 * `stats.calls` and `stats.callErrors` count each call of the API once, and each failed call once
 * under its error's tag, wherever the failure comes from: the reply, a refused params or result
 * encode, the call's timeout, its caller's cancel, a full outbound queue, a closed peer; an interrupted call is a call
 * but not an error. The oracle is the test's own tally of what each call returned.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MemorySocket, MethodTable, RpcError, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"

const Methods = MethodTable.make({
  echo: MethodTable.method({ params: Schema.String, result: Schema.String }),
  fail: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown }),
  slow: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown }),
  // The client expects a string; the server's handler answers a number.
  wrongResult: MethodTable.method({ params: Schema.Unknown, result: Schema.String })
})

describe("RpcPeer call and error counts", () => {
  it.effect("each call is counted once, each failure once under its tag, wherever it comes from", () =>
    Effect.gen(function*() {
      const pair = yield* MemorySocket.makePair()
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: MethodTable.make({
          echo: Methods.echo,
          fail: Methods.fail,
          slow: Methods.slow,
          wrongResult: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown })
        }),
        handlers: {
          echo: (text) => Effect.succeed(text),
          fail: () => Effect.fail(new RpcError({ code: 1, message: "refused on purpose" })),
          slow: () => Effect.never,
          wrongResult: () => Effect.succeed(42)
        }
      })
      yield* Effect.forkScoped(server.handle(pair.server))
      const peer = yield* RpcPeer.make({
        connect: pair.client,
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: Methods
      })
      yield* peer.awaitReady

      let calls = 0
      const errors: Record<string, number> = {}
      // Runs one call of the API and tallies what it returned.
      const tally = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          calls++
          const exit = yield* Effect.exit(effect)
          if (Exit.isFailure(exit)) {
            const error = yield* Effect.flip(exit)
            errors[error._tag] = (errors[error._tag] ?? 0) + 1
          }
          return exit
        })

      for (let i = 0; i < 3; i++) assert.isTrue(Exit.isSuccess(yield* tally(peer.request("echo", `r${i}`))))
      for (let i = 0; i < 2; i++) assert.isTrue(Exit.isFailure(yield* tally(peer.request("fail", null))))
      for (let i = 0; i < 2; i++) assert.isTrue(Exit.isSuccess(yield* tally(peer.call("echo", `c${i}`))))
      assert.isTrue(Exit.isFailure(yield* tally(peer.call("fail", null))))
      // The result does not match the client's schema; then params that do not match (never sent).
      assert.isTrue(Exit.isFailure(yield* tally(peer.call("wrongResult", null))))
      assert.isTrue(Exit.isFailure(yield* tally(peer.call("echo", 42 as unknown as string))))
      // Timed out, by `request` and by `call`.
      const timedOut = yield* Effect.forkChild(tally(peer.request("slow", null, { timeout: "1 second" })), {
        startImmediately: true
      })
      const timedOutCall = yield* Effect.forkChild(tally(peer.call("slow", null, { timeout: "2 seconds" })), {
        startImmediately: true
      })
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Exit.isFailure(yield* Fiber.join(timedOut)))
      assert.isTrue(Exit.isFailure(yield* Fiber.join(timedOutCall)))
      // Cancelled by its caller before it was even queued (the cancel hook is called at once).
      const cancelled = yield* tally(peer.request("slow", null, {
        onId: (_id, cancel) => cancel(new RpcError({ code: 2, message: "cancelled by the caller" }))
      }))
      assert.isTrue(Exit.isFailure(cancelled))
      // Interrupted while waiting: a call, not an error.
      calls++
      const interrupted = yield* Effect.forkChild(peer.request("slow", null), { startImmediately: true })
      yield* Fiber.interrupt(interrupted)

      assert.deepStrictEqual(errors, { RpcError: 4, RpcSchemaError: 2, RpcTimeoutError: 2 })
      const stats = yield* peer.stats
      assert.strictEqual(stats.calls, calls)
      assert.deepStrictEqual(stats.callErrors, errors)

      // A closed peer: the calls fail at once, by `request` and by `call`.
      yield* peer.close
      assert.isTrue(Exit.isFailure(yield* tally(peer.request("echo", "late"))))
      assert.isTrue(Exit.isFailure(yield* tally(peer.call("echo", "late"))))
      assert.strictEqual(errors["PeerDisconnectedError"], 2)
      const after = yield* peer.stats
      assert.strictEqual(after.calls, calls)
      assert.deepStrictEqual(after.callErrors, errors)
    }).pipe(Effect.scoped))

  it.effect("a call refused by a full outbound queue is counted once as OutboundQueueFullError", () =>
    Effect.gen(function*() {
      // The far side never reads, and the connection holds one message: the peer's queue fills.
      const pair = yield* MemorySocket.makePair({ capacity: 1 })
      const peer = yield* RpcPeer.make({
        connect: pair.client,
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        outbound: { capacity: 1, whenFull: "fail" }
      })
      yield* peer.awaitReady
      const errors: Record<string, number> = {}
      let calls = 0
      const waiting: Array<Fiber.Fiber<unknown, unknown>> = []
      for (let i = 0; i < 8 && errors["OutboundQueueFullError"] === undefined; i++) {
        calls++
        const fiber = yield* Effect.forkChild(peer.request("echo", `m${i}`), { startImmediately: true })
        yield* Effect.yieldNow
        const exit = fiber.pollUnsafe()
        if (exit === undefined) {
          waiting.push(fiber)
        } else if (Exit.isFailure(exit)) {
          const error = yield* Effect.flip(exit)
          errors[(error as { _tag: string })._tag] = (errors[(error as { _tag: string })._tag] ?? 0) + 1
        }
      }
      assert.deepStrictEqual(errors, { OutboundQueueFullError: 1 })
      const stats = yield* peer.stats
      assert.strictEqual(stats.calls, calls)
      assert.deepStrictEqual(stats.callErrors, errors)
      for (const fiber of waiting) yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual((yield* peer.stats).callErrors, errors)
    }).pipe(Effect.scoped))
})
