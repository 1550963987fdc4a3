/**
 * A step of the wall clock (NTP, a user, a resume) changes no duration the pool measures: stops,
 * grace periods, breaker windows, backoff resets and time-in-phase follow the monotonic clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { FakeLauncher } from "@isthmus/backend-pool/testing"
import { Clock, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { vi } from "vitest"
import { fixture, livePool } from "./helpers.ts"

const hour = 3_600_000

/**
 * The test clock with a wall clock that can be stepped (`step(ms)`) while the monotonic clock and
 * the timers go on untouched, as on a real machine.
 */
const steppable = Effect.gen(function*() {
  const test = yield* Clock.Clock
  let offset = 0
  const clock: Clock.Clock = {
    ...test,
    currentTimeMillisUnsafe: () => test.currentTimeMillisUnsafe() + offset,
    currentTimeMillis: Effect.sync(() => test.currentTimeMillisUnsafe() + offset),
    currentTimeNanosUnsafe: () => test.currentTimeNanosUnsafe() + BigInt(offset) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => test.currentTimeNanosUnsafe() + BigInt(offset) * 1_000_000n)
  }
  return { clock, step: (ms: number) => (offset += ms) }
})

const fake = (id: string, script: ReadonlyArray<string>, extra: Partial<BackendSpec.BackendSpec> = {}) =>
  ({ id, launcher: { _tag: "Local", command: "fake", args: script }, ...extra }) as BackendSpec.BackendSpec

describe("wall-clock steps (TestClock drives the monotonic time)", () => {
  it.effect("the breaker counts failures in monotonic time: an hour back after each crash changes nothing", () =>
    Effect.gen(function*() {
      const { clock, step } = yield* steppable
      yield* Effect.gen(function*() {
        const pool = yield* BackendPool
        const control = yield* FakeLauncher.FakeLauncher
        // A failure every ~20 s, a breaker of 3 failures within 30 s: it never trips, unless the
        // window were measured on a wall clock that keeps stepping back (every failure "recent").
        const instance = yield* pool.register(fake("loop", ["sleep:50", "exit:1"], {
          restart: {
            backoff: { initialMs: 20_000, factor: 1, jitter: 0 },
            crashLoopFailures: 3,
            crashLoopWindowMs: 30_000
          }
        }))
        yield* instance.start
        for (let i = 0; i < 8; i++) {
          yield* TestClock.adjust("10 seconds")
          step(-hour)
          yield* TestClock.adjust("10 seconds")
        }
        assert.isAtLeast(yield* control.spawnCount("loop"), 7)
        assert.notStrictEqual((yield* instance.snapshot).phase, "CrashLoop")
      }).pipe(
        Effect.provide(BackendPool.layer.pipe(Layer.provideMerge(FakeLauncher.layer()))),
        Effect.provideService(Clock.Clock, clock)
      )
    }))

  it.effect("the backoff resets only after 60 s Ready in monotonic time: a jump of 2 h forward does not count", () =>
    Effect.gen(function*() {
      const { clock, step } = yield* steppable
      yield* Effect.gen(function*() {
        const pool = yield* BackendPool
        const control = yield* FakeLauncher.FakeLauncher
        const instance = yield* pool.register(fake("stable", ["ready"], { restart: { backoff: { jitter: 0 } } }))
        yield* instance.start
        yield* Effect.yieldNow
        const crashAfter = function*(ms: number) {
          yield* TestClock.adjust(ms)
          yield* control.command("stable", { _tag: "Exit", code: 1 })
          yield* Effect.yieldNow
          yield* Effect.yieldNow
          return (yield* instance.snapshot).backoffMs
        }
        assert.strictEqual(yield* crashAfter(1_000), 1_000)
        yield* TestClock.adjust(1_000)
        step(2 * hour) // while Ready for 5 s of real time
        assert.strictEqual(yield* crashAfter(5_000), 2_000) // not reset: it grows
        yield* TestClock.adjust(2_000)
        const s = yield* instance.snapshot
        assert.strictEqual(s.phase, "Ready")
        assert.isBelow(s.timeInStateMs, 1_000) // not two hours
      }).pipe(
        Effect.provide(BackendPool.layer.pipe(Layer.provideMerge(FakeLauncher.layer()))),
        Effect.provideService(Clock.Clock, clock)
      )
    }))
})

const stubborn = (id: string): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command: process.execPath, args: [fixture("stubborn.mjs")] },
  stop: { graceMs: 500 }
})

describe("wall-clock steps with real processes (Date.now faked)", () => {
  for (const jump of [-hour, hour]) {
    it.live(
      `a stop keeps its grace and ends on time when Date.now jumps ${jump > 0 ? "+" : "-"}1 h`,
      () =>
        Effect.gen(function*() {
          const pool = yield* BackendPool
          const instance = yield* pool.register(stubborn(`jump${jump > 0 ? "ahead" : "back"}`))
          yield* instance.start
          yield* instance.awaitReady
          const realNow = Date.now.bind(Date)
          const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() + jump)
          const started = performance.now()
          const outcome = yield* instance.stop.pipe(Effect.ensuring(Effect.sync(() => spy.mockRestore())))
          const elapsed = performance.now() - started
          assert.strictEqual(outcome.method, "forced")
          // The grace (500 ms) was waited out, not skipped (+1 h) nor stretched (-1 h): quiet,
          // ~0.6 s; the upper bound is generous for a loaded machine, far below a stretched stop.
          assert.isAtLeast(elapsed, 450)
          assert.isAtLeast(outcome.durationMs, 450)
          assert.isBelow(elapsed, 10_000)
          assert.isBelow(outcome.durationMs, 10_000)
        }).pipe(Effect.provide(livePool)),
      60_000
    )
  }
})
