/**
 * Effect `Metric`s for a `BackendPool`, next to the spans its operations already run in:
 *
 * - `isthmus_pool_instances` (counter that goes up and down, attribute `phase`): instances per phase;
 * - `isthmus_pool_transitions_total` (counter, attributes `from`, `to`): every phase change;
 * - `isthmus_pool_restarts_total` (counter, attribute `id`): runs started after the first (the
 *   instance's `restartCount` going up);
 * - `isthmus_pool_ready_seconds` (gauge, attribute `id`): how long each instance has been Ready,
 *   updated on every transition and every `interval` (0 when not Ready).
 *
 * Export them with any metrics exporter, e.g. `OtlpMetrics` from `effect/observability`.
 *
 * @module
 */
import { Clock, Duration, Effect, Layer, Metric, Schedule, Stream } from "effect"
import type { Phase } from "./BackendInstance.ts"
import { BackendPool } from "./BackendPool.ts"

/**
 * Instances per phase (`phase` attribute).
 *
 * @since 0.1.0
 */
export const instances = Metric.counter("isthmus_pool_instances", {
  description: "Backend instances in each phase"
})

/**
 * Phase changes (`from`, `to` attributes).
 *
 * @since 0.1.0
 */
export const transitions = Metric.counter("isthmus_pool_transitions_total", {
  description: "Backend instance phase changes",
  incremental: true
})

/**
 * Restarts per instance (`id` attribute).
 *
 * @since 0.1.0
 */
export const restarts = Metric.counter("isthmus_pool_restarts_total", {
  description: "Runs started after an instance's first",
  incremental: true
})

/**
 * Seconds each instance has been Ready (`id` attribute; 0 when it is not Ready).
 *
 * @since 0.1.0
 */
export const readySeconds = Metric.gauge("isthmus_pool_ready_seconds", {
  description: "How long each backend instance has been Ready"
})

/**
 * Follows the pool's events for as long as the layer lives and keeps the metrics above up to
 * date; the uptime gauge is also refreshed every `interval` (default 10 s).
 *
 * @since 0.1.0
 */
export const layer = (options?: { readonly interval?: Duration.Input | undefined }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const pool = yield* BackendPool
    const known = new Map<string, { phase: Phase; restartCount: number; readySince: number | undefined }>()
    const uptimes = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [id, state] of known) {
        yield* Metric.update(
          Metric.withAttributes(readySeconds, { id }),
          state.readySince === undefined ? 0 : (now - state.readySince) / 1000
        )
      }
    })
    const follow = pool.events.pipe(
      Stream.runForEach((event) =>
        Effect.gen(function*() {
          if (event._tag === "Registered") {
            known.set(event.id, { phase: "Idle", restartCount: 0, readySince: undefined })
            yield* Metric.update(Metric.withAttributes(instances, { phase: "Idle" }), 1)
            return
          }
          const state = known.get(event.id)
          if (event._tag === "Unregistered") {
            if (state !== undefined) yield* Metric.update(Metric.withAttributes(instances, { phase: state.phase }), -1)
            known.delete(event.id)
            return
          }
          yield* Metric.update(Metric.withAttributes(instances, { phase: event.from }), -1)
          yield* Metric.update(Metric.withAttributes(instances, { phase: event.to }), 1)
          yield* Metric.update(Metric.withAttributes(transitions, { from: event.from, to: event.to }), 1)
          const restartCount = event.snapshot.restartCount
          const grown = restartCount - (state?.restartCount ?? 0)
          if (grown > 0) yield* Metric.update(Metric.withAttributes(restarts, { id: event.id }), grown)
          known.set(event.id, {
            phase: event.to,
            // restartCount starts again from 0 after a deliberate start: follow it down too.
            restartCount,
            readySince: event.to === "Ready" ? event.at : undefined
          })
          yield* uptimes
        })
      )
    )
    // Started at once, so the subscription exists before anything is registered.
    yield* Effect.forkScoped(follow, { startImmediately: true })
    yield* uptimes.pipe(
      Effect.repeat(Schedule.spaced(Duration.fromInputUnsafe(options?.interval ?? "10 seconds"))),
      Effect.forkScoped
    )
  }))
