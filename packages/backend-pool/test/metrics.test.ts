/**
 * PoolMetrics after a scripted run on the fake launcher and the TestClock: every value is checked
 * against the pool's own bookkeeping (its status, each instance's restart count, the events a
 * separate subscriber saw), not against a copy of the metrics code.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, PoolMetrics } from "@isthmus/backend-pool"
import { FakeLauncher } from "@isthmus/backend-pool/testing"
import { Clock, Effect, Layer, Metric, Stream } from "effect"
import { TestClock } from "effect/testing"

const registry = new Map()
const layer = PoolMetrics.layer({ interval: "1 second" }).pipe(
  Layer.provideMerge(BackendPool.layer),
  Layer.provideMerge(FakeLauncher.layer()),
  Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, registry))
)

const fake = (id: string, script: ReadonlyArray<string>) =>
  ({
    id,
    launcher: { _tag: "Local", command: "fake", args: script },
    restart: { mode: "always", backoff: { initialMs: 100, maxMs: 100 } }
  }) as BackendSpec.BackendSpec

const count = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.count)
const gauge = (metric: Metric.Gauge<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.value)

describe("PoolMetrics", () => {
  it.effect("instances by phase, transitions, restarts and Ready time match the pool after a scripted run", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const seen: Array<string> = []
      yield* pool.events.pipe(
        Stream.runForEach((e) => Effect.sync(() => e._tag === "Transition" && seen.push(`${e.from}>${e.to}`))),
        Effect.forkChild({ startImmediately: true })
      )
      const flaky = yield* pool.register(fake("flaky", ["ready:http://127.0.0.1:1", "sleep:1000", "exit:1"]))
      const steady = yield* pool.register(fake("steady", ["ready:http://127.0.0.1:2"]))
      yield* flaky.start
      yield* steady.start
      yield* TestClock.adjust("30 seconds")

      const status = yield* pool.status
      for (const phase of ["Idle", "Starting", "Ready", "Backoff", "CrashLoop", "Stopping", "Stopped", "Failed"]) {
        assert.strictEqual(
          yield* count(PoolMetrics.instances, { phase }),
          status.filter((s) => s.phase === phase).length,
          `instances in ${phase}`
        )
      }
      const flakyRestarts = (yield* flaky.snapshot).restartCount
      // A crash every ~1.1 s until the breaker (10 failures in 10 minutes) parks it in CrashLoop.
      assert.strictEqual((yield* flaky.snapshot).phase, "CrashLoop")
      assert.isAtLeast(flakyRestarts, 5)
      assert.strictEqual(yield* count(PoolMetrics.restarts, { id: "flaky" }), flakyRestarts)
      assert.strictEqual(yield* count(PoolMetrics.restarts, { id: "steady" }), 0)
      assert.strictEqual(
        yield* count(PoolMetrics.transitions, { from: "Ready", to: "Backoff" }),
        seen.filter((t) => t === "Ready>Backoff").length
      )
      const steadySince = (yield* steady.snapshot).since
      const now = yield* Clock.currentTimeMillis
      const ready = yield* gauge(PoolMetrics.readySeconds, { id: "steady" })
      assert.isAtMost(Math.abs(ready - (now - steadySince) / 1000), 1) // refreshed every second

      yield* pool.unregister("steady")
      const after = yield* pool.status
      assert.strictEqual(
        yield* count(PoolMetrics.instances, { phase: "Ready" }),
        after.filter((s) => s.phase === "Ready").length
      )
    }).pipe(Effect.provide(layer)))
})
