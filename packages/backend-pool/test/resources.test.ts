/**
 * RSS, CPU and process counts of a real backend's process group (ResourceUsage and PoolMetrics),
 * and the log's dropped lines and queue depth, each checked against a count the code under test
 * does not make: `ps` (procps) for members and RSS, the backend's own getrusage for CPU, the log's
 * ring and what a subscriber actually received for dropped lines.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, PoolMetrics, ProcTable, ResourceUsage } from "@isthmus/backend-pool"
import { Effect, Fiber, Layer, Metric, Schedule, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture, livePool } from "./helpers.ts"

const hog = (
  id: string,
  trigger: string,
  options: { mb: number; seconds: number; lines: number; liveBuffer?: number }
) =>
  ({
    id,
    launcher: {
      _tag: "Local",
      command: process.execPath,
      args: [fixture("hog.mjs"), String(options.mb), trigger, String(options.seconds), String(options.lines)]
    },
    readiness: { check: { _tag: "LogLine", pattern: "^ready$" } },
    restart: { mode: "never" },
    stop: { graceMs: 2_000 },
    ...(options.liveBuffer === undefined ? {} : { log: { liveBuffer: options.liveBuffer } })
  }) as BackendSpec.BackendSpec

/** `ps`'s view of a group: live members and their RSS in bytes (an independent reader of the kernel's numbers). */
const psGroup = (pgid: number) => {
  const rows = execFileSync("ps", ["-o", "pid=,stat=,rss=", "-g", String(pgid)], { encoding: "utf8" })
    .trim().split("\n").map((l) => l.trim().split(/\s+/))
    .filter((r) => r.length === 3 && !r[1]!.startsWith("Z"))
  return { processes: rows.length, rssBytes: rows.reduce((n, r) => n + Number(r[2]) * 1024, 0) }
}

const gauge = (metric: Metric.Gauge<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.value)
const count = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => s.count)

/** Polls (the metrics refresh every 100 ms) until `f` holds; the test's timeout bounds it. */
const until = <A>(read: Effect.Effect<A>, f: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until: f, schedule: Schedule.spaced("50 millis") }))

const awaitLine = (instance: { log: { recent: Effect.Effect<ReadonlyArray<{ text: string }>> } }, re: RegExp) =>
  until(Effect.map(instance.log.recent, (lines) => lines.find((l) => re.test(l.text))?.text), (t) => t !== undefined)
    .pipe(Effect.map((t) => t!))

const layer = PoolMetrics.layer({ interval: "100 millis" }).pipe(
  Layer.provideMerge(livePool),
  Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map()))
)

describe("ResourceUsage parsing", () => {
  it("reads pgrp, CPU ticks and start time after the last parenthesis of the command name", () => {
    // proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss …
    const line = "4242 (a) (b) c) S 1 4240 4240 0 -1 4194560 100 0 0 0 " +
      "123 45 7 8 20 0 1 0 987654 1000000 250 18446744073709551615"
    assert.deepStrictEqual(ResourceUsage.parseStat(line), { pgrp: 4240, live: true, cpuTicks: 168, startTime: 987654 })
    assert.strictEqual(ResourceUsage.parseStat(line.replace(") S ", ") Z "))?.live, false)
    assert.strictEqual(ResourceUsage.parseStat("garbage"), undefined)
    assert.strictEqual(ResourceUsage.parseRssBytes("Name:\tx\nVmRSS:\t    2048 kB\nVmData:\t 1 kB\n"), 2048 * 1024)
    assert.strictEqual(ResourceUsage.parseRssBytes("Name:\tzombie\nState:\tZ (zombie)\n"), undefined)
  })
})

describe.skipIf(!ProcTable.available)("ResourceUsage and PoolMetrics on a real process group (Linux /proc)", () => {
  it.live("members, RSS and CPU match ps and the backend's own getrusage; the metrics follow", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-resources-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true })))
      const trigger = NodePath.join(dir, "burn")
      const pool = yield* BackendPool
      const instance = yield* pool.register(hog("hog", trigger, { mb: 64, seconds: 0.5, lines: 0 }))
      yield* instance.start
      yield* instance.awaitReady
      const pgid = (yield* instance.snapshot).pid!

      // Members: the watchdog, node and its sleep, as ps counts them (the sampler finds the
      // backend's child by its asynchronous /proc scan).
      const members = psGroup(pgid).processes
      assert.isAtLeast(members, 3)
      yield* until(gauge(PoolMetrics.processes, { id: "hog" }), (n) => n === members)

      // RSS: within 10% of ps's sum (read at another moment), and holding the 64 MiB it touched.
      const rss = yield* gauge(PoolMetrics.rssBytes, { id: "hog" })
      const psRss = psGroup(pgid).rssBytes
      assert.isAtLeast(rss, 64 * 1024 * 1024)
      assert.approximately(rss, psRss, psRss * 0.1)

      // CPU: a sampler's readings around a burn the backend measured itself.
      const sampler = yield* ResourceUsage.makeSampler()
      const groups = new Map([["hog", pgid]])
      const before = (yield* sampler.sample(groups)).get("hog")!
      NodeFs.writeFileSync(trigger, "")
      const burned = yield* awaitLine(instance, /^burned /)
      const after = (yield* sampler.sample(groups)).get("hog")!
      const [, ownBurn, , ownTotal] = burned.split(" ").map(Number)
      const delta = after.cpuSeconds - before.cpuSeconds
      // 10 ms ticks per process, and the node process's idle work around the burn.
      assert.isAtLeast(delta, ownBurn! - 0.03)
      assert.isAtMost(delta, ownBurn! + 0.3)
      assert.isAtLeast(after.cpuSeconds, ownTotal! - 0.03)
      assert.isAtMost(after.cpuSeconds, ownTotal! + 0.5)
      // cpuPercent is that delta over the time between the readings.
      assert.isDefined(after.cpuPercent)
      assert.approximately(after.cpuPercent! / 100 * after.elapsedMs / 1000, delta, 0.011)
      assert.strictEqual(after.processes, members)

      // The pool's gauge catches up with the same total.
      const seconds = yield* until(gauge(PoolMetrics.cpuSeconds, { id: "hog" }), (s) => s >= ownTotal! - 0.03)
      assert.isAtMost(seconds, ownTotal! + 0.5)

      // Stopped: the group is gone and the gauges say 0.
      yield* instance.stop
      yield* until(gauge(PoolMetrics.processes, { id: "hog" }), (n) => n === 0)
      assert.strictEqual(yield* gauge(PoolMetrics.rssBytes, { id: "hog" }), 0)
      assert.strictEqual((yield* sampler.sample(groups)).size, 0)
    }).pipe(Effect.scoped, Effect.provide(layer)))

  it.live("dropped live lines and the live queue's depth match what a stalled subscriber received", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(
        hog("chatty", "/nonexistent", { mb: 0, seconds: 0, lines: 200, liveBuffer: 5 })
      )
      // Subscribed before the run starts (a pull waiting for its first chunk), then not pulling
      // again: the buffer fills and the rest is lost.
      const pull = yield* Stream.toPull(instance.log.lines)
      const first = yield* Effect.forkChild(pull, { startImmediately: true })
      yield* instance.start
      yield* instance.awaitReady
      yield* awaitLine(instance, /^ready$/)
      let received = (yield* Fiber.join(first)).length
      assert.strictEqual(yield* until(gauge(PoolMetrics.logLiveQueued, { id: "chatty" }), (n) => n === 5), 5)
      while ((yield* instance.log.stats).liveQueued > 0) received += (yield* pull).length
      // A refresh after the drain (the backend prints nothing more once ready).
      yield* until(gauge(PoolMetrics.logLiveQueued, { id: "chatty" }), (n) => n === 0)
      // Every line of the run is in the ring (1000 lines); what the subscriber did not get was dropped.
      const total = (yield* instance.log.recent).length
      assert.isAtLeast(total, 201)
      assert.strictEqual(yield* count(PoolMetrics.logDroppedLines, { id: "chatty", where: "live" }), total - received)
      assert.strictEqual(yield* count(PoolMetrics.logDroppedLines, { id: "chatty", where: "file" }), 0)
    }).pipe(Effect.scoped, Effect.provide(layer)))
})
