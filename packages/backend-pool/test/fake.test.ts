import { assert, describe, it } from "@effect/vitest"
import { BackendPool, BackendSpec, Launchers } from "@isthmus/backend-pool"
import { FakeLauncher } from "@isthmus/backend-pool/testing"
import { Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"

const layer = BackendPool.layer.pipe(Layer.provideMerge(FakeLauncher.layer()))

/** A host's own launcher kind: here, the fake's processes registered under "Mine". */
const customLaunchers = Layer.effect(
  Launchers,
  Effect.map(FakeLauncher.make(["Mine"]), ({ launchers }) => Launchers.fromLaunchers(launchers))
)

const fake = (id: string, script: ReadonlyArray<string>, extra: Partial<BackendSpec.BackendSpec> = {}) =>
  ({ id, launcher: { _tag: "Local", command: "fake", args: script }, ...extra }) as BackendSpec.BackendSpec

/** Collects pool events in the background; read them with the returned effect. */
const recordEvents = Effect.gen(function*() {
  const pool = yield* BackendPool
  const events: Array<BackendPool["Service"]["events"] extends Stream.Stream<infer A> ? A : never> = []
  yield* pool.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
  yield* Effect.yieldNow
  return events
})

describe("BackendInstance with the fake launcher (TestClock)", () => {
  it.effect("crash loop: gaps 1, 2, 4, … s capped at 60 s (±20%), breaker after 10 failures, one CrashLoop event", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const events = yield* recordEvents
      const instance = yield* pool.register(fake("loop", ["sleep:50", "exit:1"]))
      yield* instance.start
      yield* TestClock.adjust("30 minutes")
      const spawns = (yield* control.spawns).map((s) => s.spawnedAt)
      // 10 failures within 10 minutes trip the breaker: exactly 10 spawns, no 11th.
      assert.strictEqual(spawns.length, 10)
      const gaps = spawns.slice(1).map((t, i) => t - spawns[i]! - 50)
      const nominal = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
      gaps.forEach((gap, i) => {
        assert.isAtLeast(gap, nominal[i]! * 0.8, `gap ${i}`)
        assert.isAtMost(gap, nominal[i]! * 1.2, `gap ${i}`)
      })
      const snapshot = yield* instance.snapshot
      assert.strictEqual(snapshot.phase, "CrashLoop")
      assert.strictEqual(snapshot.lastExit?.code, 1)
      assert.strictEqual(snapshot.failure?.reason, "CrashLoop")
      assert.isAbove(snapshot.failure?.lines.length ?? 0, 0)
      const crashLoops = events.filter((e) => e._tag === "Transition" && e.to === "CrashLoop")
      assert.strictEqual(crashLoops.length, 1)
      // start() is the way out of CrashLoop, from the base delay again.
      yield* instance.start
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* control.spawnCount("loop"), 11)
    }).pipe(Effect.provide(layer)))

  it.effect("backoff resets only after 60 s Ready: 61 s then crash → 1 s; 59 s then crash → keeps growing", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const instance = yield* pool.register(fake("stable", ["ready"], { restart: { backoff: { jitter: 0 } } }))
      yield* instance.start
      const crashAfter = function*(ms: number) {
        yield* TestClock.adjust(ms)
        yield* control.command("stable", { _tag: "Exit", code: 1 })
        yield* Effect.yieldNow
        yield* Effect.yieldNow
        return (yield* instance.snapshot).backoffMs
      }
      yield* Effect.yieldNow
      assert.strictEqual((yield* instance.snapshot).phase, "Ready")
      assert.strictEqual(yield* crashAfter(1_000), 1_000) // attempt 0
      yield* TestClock.adjust(1_000)
      assert.strictEqual(yield* crashAfter(1_000), 2_000) // not stable: grows
      yield* TestClock.adjust(2_000)
      assert.strictEqual(yield* crashAfter(59_000), 4_000) // 59 s is not enough
      yield* TestClock.adjust(4_000)
      assert.strictEqual(yield* crashAfter(61_000), 1_000) // 61 s Ready: back to the base delay
    }).pipe(Effect.provide(layer)))

  it.effect("never ready: StartupTimeout at 30 s, killed, never Ready, failure with the last lines", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const events = yield* recordEvents
      const instance = yield* pool.register(
        fake("slow", ["print:booting", "print:still booting", "hang"], { restart: { mode: "never" } })
      )
      yield* instance.start
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual((yield* instance.snapshot).phase, "Starting")
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow
      const s = yield* instance.snapshot
      assert.strictEqual(s.phase, "Failed")
      assert.strictEqual(s.failure?.reason, "StartupTimeout")
      assert.include(s.failure?.lines.map((l) => l.text) ?? [], "still booting")
      assert.isFalse(events.some((e) => e._tag === "Transition" && e.to === "Ready"))
    }).pipe(Effect.provide(layer)))

  it.effect("restart policies: on-failure stops after exit 0, preventExitCodes park in Failed, never", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const a = yield* pool.register(fake("clean", ["ready", "exit:0"], { restart: { mode: "on-failure" } }))
      const b = yield* pool.register(fake("prevented", ["exit:78"], { restart: { preventExitCodes: [78] } }))
      const c = yield* pool.register(fake("always", ["ready", "exit:0"], { restart: { backoff: { jitter: 0 } } }))
      yield* Effect.all([a.start, b.start, c.start])
      yield* TestClock.adjust("10 millis")
      assert.strictEqual((yield* a.snapshot).phase, "Stopped")
      assert.strictEqual((yield* b.snapshot).phase, "Failed")
      assert.strictEqual((yield* b.snapshot).lastExit?.code, 78)
      assert.strictEqual((yield* c.snapshot).phase, "Backoff")
      assert.strictEqual((yield* c.snapshot).backoffMs, 1_000)
    }).pipe(Effect.provide(layer)))

  it.effect("a deliberate stop never restarts; stop reports forced for a process that ignores the signal", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const instance = yield* pool.register(fake("stubborn", ["ignore-term", "ready"], { stop: { graceMs: 3_000 } }))
      yield* instance.start
      yield* Effect.yieldNow
      assert.strictEqual((yield* instance.snapshot).phase, "Ready")
      const stopping = yield* Effect.forkChild(instance.stop, { startImmediately: true })
      yield* TestClock.adjust("3 seconds")
      const outcome = yield* Fiber.join(stopping)
      assert.strictEqual(outcome.method, "forced")
      assert.strictEqual(outcome.durationMs, 3_000)
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(yield* control.spawnCount("stubborn"), 1)
      assert.strictEqual((yield* instance.snapshot).phase, "Stopped")
    }).pipe(Effect.provide(layer)))

  it.effect("preflight: fatal is reported with its class and nothing is spawned; bounded retries then fails", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const fatal = yield* pool.register(fake("fatal", ["ready"], {
        preflight: Effect.fail(
          new BackendSpec.PreflightError({ message: "distro missing", failureClass: "fatal" })
        )
      }))
      const bounded = yield* pool.register(fake("bounded", ["ready"], {
        restart: { backoff: { jitter: 0 } },
        preflight: Effect.fail(
          new BackendSpec.PreflightError({ message: "toolchain", failureClass: "bounded", retryLimit: 2 })
        )
      }))
      yield* Effect.all([fatal.start, bounded.start])
      yield* TestClock.adjust("1 minute")
      const f = yield* fatal.snapshot
      assert.strictEqual(f.phase, "Failed")
      assert.strictEqual(f.failure?.reason, "PreflightFailed")
      assert.strictEqual(f.failure?.failureClass, "fatal")
      const b = yield* bounded.snapshot
      assert.strictEqual(b.phase, "Failed")
      assert.strictEqual(b.failure?.failureClass, "bounded")
      assert.strictEqual(b.attempt, 2) // 2 retries through the backoff, then the third failure is final
      assert.strictEqual((yield* control.spawns).length, 0)
    }).pipe(Effect.provide(layer)))

  it.effect("preflight: transient failures are retried through the backoff until they clear", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      let calls = 0
      const instance = yield* pool.register(fake("transient", ["ready"], {
        restart: { backoff: { jitter: 0 } },
        preflight: Effect.suspend(() =>
          ++calls <= 5
            ? Effect.fail(
              new BackendSpec.PreflightError({ message: "distro still booting", failureClass: "transient" })
            )
            : Effect.void
        )
      }))
      yield* instance.start
      // 1 + 2 + 4 + 8 + 16 s of backoff for 5 transient failures: no cap, no Failed.
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* instance.snapshot).phase, "Backoff")
      yield* TestClock.adjust("1 second")
      const s = yield* instance.awaitReady
      assert.strictEqual(calls, 6)
      assert.strictEqual(s.runId, 1)
    }).pipe(Effect.provide(layer)))

  it.effect("custom readiness: called every period until it answers, with the run's context", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const seen: Array<number> = []
      const instance = yield* pool.register(fake("custom-ready", ["print:warming up"], {
        readiness: {
          periodMs: 500,
          check: {
            _tag: "Custom",
            name: "third time lucky",
            check: (context) =>
              Effect.suspend(() => {
                seen.push(context.runId)
                return seen.length < 3
                  ? Effect.fail(new BackendSpec.ReadinessCheckError({ message: "not yet" }))
                  : Effect.succeed({ url: `http://${context.host}:7000` })
              })
          }
        }
      }))
      yield* instance.start
      yield* TestClock.adjust("1 second")
      const s = yield* instance.awaitReady
      assert.strictEqual(s.url, "http://127.0.0.1:7000")
      assert.deepStrictEqual(seen, [1, 1, 1])
    }).pipe(Effect.provide(layer)))

  it.effect("liveness: 3 failed probes 5 s apart stop the run (LivenessFailed) and it restarts through the backoff", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      let healthy = true
      const instance = yield* pool.register(fake("live", ["ready"], {
        restart: { backoff: { jitter: 0 } },
        liveness: {
          check: {
            _tag: "Custom",
            name: "health flag",
            check: () =>
              healthy ? Effect.succeed({}) : Effect.fail(new BackendSpec.ReadinessCheckError({ message: "sick" }))
          }
        }
      }))
      yield* instance.start
      yield* instance.awaitReady
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* instance.snapshot).phase, "Ready") // healthy: no restart
      healthy = false
      yield* TestClock.adjust("14 seconds")
      assert.strictEqual((yield* instance.snapshot).phase, "Ready") // 2 failures so far
      yield* TestClock.adjust("1 second")
      const s = yield* instance.snapshot
      assert.strictEqual(s.phase, "Backoff")
      assert.strictEqual(s.lastExit?.reason, "LivenessFailed")
      assert.strictEqual(s.backoffMs, 1_000)
      healthy = true
      yield* TestClock.adjust("1 second")
      const again = yield* instance.awaitReady
      assert.strictEqual(again.runId, 2)
      assert.strictEqual(yield* control.spawnCount("live"), 2)
    }).pipe(Effect.provide(layer)))

  it.effect("events: one per transition, in order", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const events = yield* recordEvents
      const instance = yield* pool.register(fake("ev", ["ready"]))
      yield* instance.start
      yield* instance.awaitReady
      yield* instance.stop
      yield* Effect.yieldNow
      const transitions = events.flatMap((e) => (e._tag === "Transition" ? [`${e.from}->${e.to}`] : []))
      assert.deepStrictEqual(transitions, ["Idle->Starting", "Starting->Ready", "Ready->Stopping", "Stopping->Stopped"])
    }).pipe(Effect.provide(layer)))
})

/** Desired state `n` of the serialization test: x changes every time, y comes and goes. */
const variant = (n: number) => [
  // Stops take 100 ms (virtual), so unserialized calls would overlap.
  fake("x", ["term-delay:100", "ready", `print:variant ${n}`]),
  ...(n % 2 === 0 ? [fake("y", ["term-delay:100", "ready"])] : [])
]

describe("BackendPool with the fake launcher", () => {
  it.effect("register/unregister: typed errors for duplicates and unknown ids", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      yield* pool.register(fake("x", ["ready"]))
      const dup = yield* Effect.flip(pool.register(fake("x", ["ready"])))
      assert.strictEqual(dup._tag, "DuplicateBackendError")
      assert.include(dup.message, `"x" is already registered; unregister it first`)
      const unknown = yield* Effect.flip(pool.unregister("nope"))
      assert.strictEqual(unknown._tag, "UnknownBackendError")
      assert.include(unknown.message, `no backend with id "nope" is registered (registered: "x")`)
      const missing = yield* Effect.flip(pool.get("nope"))
      assert.strictEqual(missing._tag, "UnknownBackendError")
      yield* pool.unregister("x")
      assert.strictEqual((yield* pool.list).length, 0)
      yield* pool.register(fake("x", ["ready"]))
      assert.strictEqual((yield* pool.list).length, 1)
    }).pipe(Effect.provide(layer)))

  it.effect("reconcile: start, keep (0 spawns, 0 stops), update in place, replace, prune", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const a = fake("a", ["ready"])
      const b = fake("b", ["ready"])
      const p1 = yield* pool.reconcile([a, b])
      assert.deepStrictEqual(p1.started, ["a", "b"])
      for (const i of yield* pool.list) yield* i.awaitReady
      const p2 = yield* pool.reconcile([a, b])
      assert.deepStrictEqual(p2.kept, ["a", "b"])
      assert.strictEqual((yield* control.spawns).length, 2)
      assert.strictEqual((yield* control.stops).length, 0)
      const p3 = yield* pool.reconcile([{ ...a, label: "Alpha", restart: { mode: "on-failure" } }, b])
      assert.deepStrictEqual(p3.updated, ["a"])
      assert.strictEqual((yield* control.spawns).length, 2)
      assert.strictEqual((yield* (yield* pool.get("a")).snapshot).label, "Alpha")
      const p4 = yield* pool.reconcile([{ ...a, env: { MODE: "x" } }])
      assert.deepStrictEqual(p4.replaced, ["a"])
      assert.deepStrictEqual(p4.stopped, ["b"])
      assert.strictEqual(yield* control.spawnCount("a"), 2)
      assert.deepStrictEqual((yield* pool.status).map((s) => s.id), ["a"])
      const dup = yield* Effect.flip(pool.reconcile([a, a]))
      assert.strictEqual(dup._tag, "InvalidDesiredStateError")
      assert.include(dup.message, `duplicate ids in the desired state: "a"`)
      // An invalid spec names its index, its id and the bad fields, never a secret's value.
      const bad = yield* Effect.flip(pool.reconcile([a, {
        ...b,
        secrets: { TOKEN: "hunter2" },
        stop: { graceMs: -1 }
      } as unknown as BackendSpec.BackendSpec]))
      assert.include(bad.message, `desired[1] (id "b") is not a valid BackendSpec`)
      assert.include(bad.message, `at ["secrets"]["TOKEN"]`)
      assert.include(bad.message, `at ["stop"]["graceMs"]`)
      assert.notInclude(bad.message, "hunter2")
      const notSpec = yield* Effect.flip(pool.reconcile([a, null as unknown as BackendSpec.BackendSpec]))
      assert.include(notSpec.message, "desired[1] is not a valid BackendSpec")
      const notArray = yield* Effect.flip(
        pool.reconcile({ wsl: true } as unknown as ReadonlyArray<BackendSpec.BackendSpec>)
      )
      assert.include(notArray.message, "must be an array of BackendSpec, got object")
      assert.deepStrictEqual((yield* pool.status).map((s) => s.id), ["a"])
    }).pipe(Effect.provide(layer)))

  it.effect("reconcile is serialized: 20 concurrent calls apply one after another, never 2 processes per id", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const fibers = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, n) => n),
        (n) => Effect.forkChild(pool.reconcile(variant(n)), { startImmediately: true })
      )
      // 20 stops of 100 ms each, one after another.
      const advance = Effect.forEach(Array.from({ length: 50 }), () => TestClock.adjust("50 millis"), { discard: true })
      yield* advance
      const plans = yield* Effect.forEach(fibers, Fiber.join)
      // Each call saw the state the previous one left: x started once, then replaced by every call,
      // y started and stopped in turn. Interleaved calls would plan from the same state twice.
      assert.deepStrictEqual(plans[0]!.started, ["x", "y"])
      for (const [n, plan] of plans.entries()) {
        if (n === 0) continue
        assert.deepStrictEqual(plan.replaced, ["x"], `call ${n}`)
        assert.deepStrictEqual(n % 2 === 0 ? plan.started : plan.stopped, ["y"], `call ${n}`)
      }
      assert.strictEqual(yield* control.spawnCount("x"), 20)
      assert.strictEqual(yield* control.maxConcurrentPerId, 1)
      const x = yield* pool.get("x")
      assert.deepStrictEqual((yield* x.spec).launcher, variant(19)[0]!.launcher)
      assert.deepStrictEqual((yield* pool.status).map((s) => s.id), ["x"])
      const cleared = yield* Effect.forkChild(pool.reconcile([]), { startImmediately: true })
      yield* advance
      yield* Fiber.join(cleared)
    }).pipe(Effect.provide(layer)))

  it.effect("register waits for an instance that is still closing; a second unregister waits too", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const first = yield* pool.register(fake("slowstop", ["term-delay:2000", "ready"], { stop: { graceMs: 5_000 } }))
      yield* first.start
      yield* first.awaitReady
      const closing = yield* Effect.forkChild(pool.unregister("slowstop"), { startImmediately: true })
      const again = yield* Effect.forkChild(pool.unregister("slowstop"), { startImmediately: true })
      const reopened = yield* Effect.forkChild(
        pool.register(fake("slowstop", ["ready"])).pipe(Effect.flatMap((i) => Effect.as(i.start, i))),
        { startImmediately: true }
      )
      yield* Effect.yieldNow
      // Closing: hidden from list/get, the new registration waits.
      assert.strictEqual((yield* pool.list).length, 0)
      assert.isUndefined(reopened.pollUnsafe())
      yield* TestClock.adjust("2 seconds")
      const outcome = yield* Fiber.join(closing)
      assert.strictEqual(outcome.method, "graceful")
      assert.strictEqual(outcome.durationMs, 2_000)
      // The second caller gets the same outcome, not a made-up one.
      assert.deepStrictEqual(yield* Fiber.join(again), outcome)
      const instance = yield* Fiber.join(reopened)
      yield* instance.awaitReady
      assert.strictEqual(yield* control.spawnCount("slowstop"), 2)
      assert.strictEqual(yield* control.maxConcurrentPerId, 1)
    }).pipe(Effect.provide(layer)))

  it.effect("restart: a new run with a new run id; a custom launcher kind is found by its name", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(fake("r", ["ready"]))
      yield* instance.start
      const first = yield* instance.awaitReady
      const outcome = yield* instance.restart
      assert.strictEqual(outcome.method, "graceful")
      const second = yield* instance.awaitReady
      assert.strictEqual(second.runId, first.runId + 1)
      const custom = yield* pool.register({ id: "custom", launcher: { _tag: "Custom", kind: "mine" } })
      yield* custom.start
      yield* TestClock.adjust("10 millis")
      // "mine" is not registered here: retrying cannot help, so the launch fails for good, with the
      // kind, the registered ones and the fix in the message.
      const s = yield* custom.snapshot
      assert.strictEqual(s.phase, "Failed")
      assert.strictEqual(s.failure?.reason, "LaunchFailed")
      assert.strictEqual(s.failure?.failureClass, "fatal")
      assert.include(s.failure?.message, "\"mine\" (registered: ")
      assert.include(s.failure?.message, "add it to the pool's Launchers")
    }).pipe(Effect.provide(layer)))

  it.effect("a Custom launcher kind registered by the host", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register({
        id: "mine",
        launcher: { _tag: "Custom", kind: "Mine", config: { script: ["print:listening on http://mine.local:1"] } },
        readiness: { check: { _tag: "LogLine", pattern: "listening on (?<url>\\S+)" } }
      })
      yield* instance.start
      const ready = yield* instance.awaitReady
      assert.strictEqual(ready.url, "http://mine.local:1")
    }).pipe(Effect.provide(BackendPool.layer.pipe(Layer.provide(customLaunchers)))))

  it.effect("quitting while instances are Starting, Ready and in Backoff: all stopped at once, no restart after", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(layer, scope)
      const control = yield* Effect.provide(FakeLauncher.FakeLauncher, context)
      const phases = yield* Effect.gen(function*() {
        const p = yield* BackendPool
        yield* p.reconcile([
          fake("starting-1", ["hang"], { stop: { graceMs: 3_000 } }),
          fake("starting-2", ["ignore-term", "hang"], { stop: { graceMs: 3_000 } }),
          fake("ready", ["ready"]),
          fake("backoff-1", ["exit:1"]),
          fake("backoff-2", ["exit:2"])
        ])
        yield* TestClock.adjust("10 millis")
        const status = yield* p.status
        // time in state is measured when the snapshot is read
        assert.isTrue(status.every((s) => s.timeInStateMs >= 0 && s.timeInStateMs <= 10))
        return status.map((s) => `${s.id}:${s.phase}`)
      }).pipe(Effect.provide(context))
      assert.deepStrictEqual(phases, [
        "backoff-1:Backoff",
        "backoff-2:Backoff",
        "ready:Ready",
        "starting-1:Starting",
        "starting-2:Starting"
      ])
      const spawnsBefore = (yield* control.spawns).length
      const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(closing)
      assert.strictEqual((yield* Effect.clockWith((c) => c.currentTimeMillis)) - started, 3_000)
      yield* TestClock.adjust("10 minutes")
      // Pending restarts were cancelled: nothing spawned after the quit; every process stopped.
      assert.strictEqual((yield* control.spawns).length, spawnsBefore)
      for (const id of ["starting-1", "starting-2", "ready", "backoff-1", "backoff-2"]) {
        assert.strictEqual(yield* control.liveCount(id), 0)
      }
      assert.deepStrictEqual((yield* control.stops).map((s) => s.outcome.method).toSorted(), [
        "forced",
        "graceful",
        "graceful"
      ])
    }))

  it.effect("closing the pool stops every instance concurrently within the longest grace period", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(layer, scope)
      const control = yield* Effect.provide(FakeLauncher.FakeLauncher, context)
      yield* Effect.gen(function*() {
        const p = yield* BackendPool
        yield* p.reconcile([
          fake("g1", ["ignore-term", "ready"], { stop: { graceMs: 2_000 } }),
          fake("g2", ["ignore-term", "ready"], { stop: { graceMs: 5_000 } }),
          fake("g3", ["ready"])
        ])
        for (const i of yield* p.list) yield* i.awaitReady
      }).pipe(Effect.provide(context))
      const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      const elapsed = (yield* Effect.clockWith((c) => c.currentTimeMillis)) - started
      const stops = yield* control.stops
      assert.deepStrictEqual(stops.map((s) => s.outcome.method).toSorted(), ["forced", "forced", "graceful"])
      // Sequential stops would take 7 s; concurrent ones take the longest grace period.
      assert.strictEqual(elapsed, 5_000)
    }))
})
