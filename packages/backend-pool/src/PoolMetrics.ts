/**
 * Effect `Metric`s for a `BackendPool`, next to the spans its operations already run in:
 *
 * - `isthmus_pool_instances` (counter that goes up and down, attribute `phase`): instances per phase;
 * - `isthmus_pool_transitions_total` (counter, attributes `from`, `to`): every phase change;
 * - `isthmus_pool_restarts_total` (counter, attribute `id`): runs started after the first (the
 *   instance's `restartCount` going up);
 * - `isthmus_pool_ready_seconds` (gauge, attribute `id`): how long each instance has been Ready,
 *   updated on every transition and every `interval` (0 when not Ready);
 * - `isthmus_pool_rss_bytes`, `isthmus_pool_cpu_percent`, `isthmus_pool_cpu_seconds`,
 *   `isthmus_pool_processes` (gauges, attribute `id`): the RSS, CPU use and live processes of each
 *   running `Local` instance's process group, read every `interval` from `/proc` without blocking
 *   (see `ResourceUsage`; Linux only, 0 when not running);
 * - `isthmus_pool_log_dropped_lines_total` (counter, attributes `id`, `where`: `live` for lines a
 *   slow log subscriber lost, `file` for lines the file writer dropped), and the log queues' depths
 *   `isthmus_pool_log_pending_bytes` (bytes waiting for the disk) and `isthmus_pool_log_live_queued`
 *   (lines in the fullest subscriber's buffer), gauges with attribute `id`, every `interval`.
 *
 * Export them with any metrics exporter, e.g. `OtlpMetrics` from `effect/observability`.
 *
 * @module
 */
import { Clock, Duration, Effect, Layer, Metric, Schedule, Stream } from "effect"
import type { Phase } from "./BackendInstance.ts"
import { BackendPool } from "./BackendPool.ts"
import * as ResourceUsage from "./ResourceUsage.ts"

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
 * Resident set size of each running `Local` instance's process group, in bytes (`id` attribute).
 *
 * @since 0.1.0
 */
export const rssBytes = Metric.gauge("isthmus_pool_rss_bytes", {
  description: "Resident memory of each backend instance's process group"
})

/**
 * CPU use of each running `Local` instance's process group over the last `interval`, in percent
 * of one core (`id` attribute).
 *
 * @since 0.1.0
 */
export const cpuPercent = Metric.gauge("isthmus_pool_cpu_percent", {
  description: "CPU use of each backend instance's process group, percent of one core"
})

/**
 * CPU time (user + system) of the live processes of each running `Local` instance's group, in
 * seconds (`id` attribute).
 *
 * @since 0.1.0
 */
export const cpuSeconds = Metric.gauge("isthmus_pool_cpu_seconds", {
  description: "CPU time of the live processes of each backend instance's process group"
})

/**
 * Live processes in each running `Local` instance's process group (`id` attribute).
 *
 * @since 0.1.0
 */
export const processes = Metric.gauge("isthmus_pool_processes", {
  description: "Live processes in each backend instance's process group"
})

/**
 * Log lines lost (`id`; `where`: `live` — a slow subscriber's full buffer, `file` — the file
 * writer's pending limit or a disk error).
 *
 * @since 0.1.0
 */
export const logDroppedLines = Metric.counter("isthmus_pool_log_dropped_lines_total", {
  description: "Log lines dropped by live subscribers' full buffers or by the file writer",
  incremental: true
})

/**
 * Bytes of log lines waiting for the disk (`id` attribute): the file writer's queue depth.
 *
 * @since 0.1.0
 */
export const logPendingBytes = Metric.gauge("isthmus_pool_log_pending_bytes", {
  description: "Log bytes waiting for the file writer"
})

/**
 * Lines waiting in the fullest live log subscriber's buffer (`id` attribute): that queue's depth.
 *
 * @since 0.1.0
 */
export const logLiveQueued = Metric.gauge("isthmus_pool_log_live_queued", {
  description: "Log lines waiting in the fullest live subscriber's buffer"
})

/**
 * Follows the pool's events for as long as the layer lives and keeps the metrics above up to
 * date; uptime, resource and log gauges are refreshed every `interval` (default 10 s), resources
 * through one `ResourceUsage` sampler (`discoverEvery`: how often it looks for new processes in
 * the groups, default 10 s).
 *
 * @since 0.1.0
 */
export const layer = (options?: {
  readonly interval?: Duration.Input | undefined
  readonly discoverEvery?: Duration.Input | undefined
}) =>
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

    const sampler = yield* ResourceUsage.makeSampler({ discoverEvery: options?.discoverEvery })
    const sampled = new Set<string>()
    // Dropped-line counts already published, per id and instance object (a replaced instance's
    // log counts from 0 again).
    const published = new Map<string, { log: object; live: number; file: number }>()
    const resources = Effect.gen(function*() {
      const usage = yield* sampler.sample(yield* ResourceUsage.localGroups(pool))
      for (const id of new Set([...sampled, ...usage.keys()])) {
        const u = usage.get(id)
        const attrs = { id }
        yield* Metric.update(Metric.withAttributes(rssBytes, attrs), u?.rssBytes ?? 0)
        yield* Metric.update(Metric.withAttributes(cpuPercent, attrs), u?.cpuPercent ?? 0)
        yield* Metric.update(Metric.withAttributes(cpuSeconds, attrs), u?.cpuSeconds ?? 0)
        yield* Metric.update(Metric.withAttributes(processes, attrs), u?.processes ?? 0)
        if (u === undefined) sampled.delete(id)
        else sampled.add(id)
      }
      for (const instance of yield* pool.list) {
        const stats = yield* instance.log.stats
        const before = published.get(instance.id)
        const same = before !== undefined && before.log === instance.log
        const live = stats.droppedLiveLines - (same ? before.live : 0)
        const file = stats.droppedFileLines - (same ? before.file : 0)
        if (live > 0) {
          yield* Metric.update(Metric.withAttributes(logDroppedLines, { id: instance.id, where: "live" }), live)
        }
        if (file > 0) {
          yield* Metric.update(Metric.withAttributes(logDroppedLines, { id: instance.id, where: "file" }), file)
        }
        published.set(instance.id, { log: instance.log, live: stats.droppedLiveLines, file: stats.droppedFileLines })
        yield* Metric.update(Metric.withAttributes(logPendingBytes, { id: instance.id }), stats.pendingFileBytes)
        yield* Metric.update(Metric.withAttributes(logLiveQueued, { id: instance.id }), stats.liveQueued)
      }
    })
    // Apart: the uptime refresh never waits on /proc reads.
    const every = Schedule.spaced(Duration.fromInputUnsafe(options?.interval ?? "10 seconds"))
    yield* uptimes.pipe(Effect.repeat(every), Effect.forkScoped)
    yield* resources.pipe(Effect.repeat(every), Effect.forkScoped)
  }))
