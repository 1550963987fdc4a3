/**
 * Random desired-state sequences fed to `reconcile` and to `follow` (fake launcher): the pool ends
 * in the last desired state, never runs two processes for one id, and never restarts an instance
 * whose spec did not change.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, BackendSpec, ReconcilePlan } from "@isthmus/backend-pool"
import { FakeLauncher } from "@isthmus/backend-pool/testing"
import { Effect, Layer, SubscriptionRef } from "effect"
import * as fc from "fast-check"

const ids = ["a", "b", "c", "d", "e"] as const

/** A spec variant: `launch` changes argv (replace), `policy` changes label and restart (in place). */
const arbSpec = (id: string) =>
  fc.record({ launch: fc.integer({ min: 0, max: 2 }), policy: fc.integer({ min: 0, max: 2 }) }).map((
    v
  ): BackendSpec.BackendSpec => ({
    id,
    label: `${id}-p${v.policy}`,
    launcher: { _tag: "Local", command: "fake", args: ["ready", `print:variant ${v.launch}`] },
    restart: { mode: v.policy === 2 ? "on-failure" : "always", backoff: { initialMs: 100 + v.policy } }
  }))

const arbDesired: fc.Arbitrary<ReadonlyArray<BackendSpec.BackendSpec>> = fc
  .subarray([...ids])
  .chain((chosen): fc.Arbitrary<ReadonlyArray<BackendSpec.BackendSpec>> =>
    chosen.length === 0 ? fc.constant([]) : fc.tuple(...chosen.map(arbSpec))
  )

const arbSequence = fc.array(arbDesired, { minLength: 1, maxLength: 8 })

const numbered = (n: number): BackendSpec.BackendSpec => ({
  id: "x",
  launcher: { _tag: "Local", command: "fake", args: ["ready", `print:${n}`] }
})

const layer = () => BackendPool.layer.pipe(Layer.provideMerge(FakeLauncher.layer()))

const argsOf = (spec: BackendSpec.BackendSpec) =>
  spec.launcher._tag === "Local" ? JSON.stringify(spec.launcher.args) : ""

/** Waits until every desired id is Ready with the desired spec (bounded). */
const settle = (desired: ReadonlyArray<BackendSpec.BackendSpec>) =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    for (let i = 0; i < 2_000; i++) {
      const status = yield* pool.status
      const specs = yield* Effect.forEach(yield* pool.list, (x) => x.spec)
      const want = new Map(desired.map((s) => [s.id, s]))
      const ok = status.length === want.size &&
        status.every((s) => s.phase === "Ready" && want.has(s.id)) &&
        specs.every((s) => argsOf(s) === argsOf(want.get(s.id)!) && s.label === want.get(s.id)!.label)
      if (ok) return true
      yield* Effect.yieldNow
    }
    return false
  })

const checkFinal = (desired: ReadonlyArray<BackendSpec.BackendSpec>) =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    const control = yield* FakeLauncher.FakeLauncher
    assert.isTrue(yield* settle(desired))
    assert.deepStrictEqual((yield* pool.status).map((s) => s.id), desired.map((s) => s.id).toSorted())
    for (const id of ids) assert.isAtMost(yield* control.liveCount(id), 1)
    assert.isAtMost(yield* control.maxConcurrentPerId, 1)
  })

describe("reconcile and follow, property-based", () => {
  it.live("reconcile: ends in the last desired state; unchanged specs are never restarted; ≤ 1 process per id", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbSequence, (sequence) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const pool = yield* BackendPool
              const control = yield* FakeLauncher.FakeLauncher
              let previous: ReadonlyArray<BackendSpec.BackendSpec> = []
              for (const desired of sequence) {
                const before = new Map<string, number>()
                for (const id of ids) before.set(id, yield* control.spawnCount(id))
                const plan = yield* pool.reconcile(desired)
                // The plan is exactly the pure diff of the two states.
                const prev = previous.map((s) => ({
                  id: s.id,
                  launchHash: BackendSpec.launchHash(s),
                  policyHash: BackendSpec.policyHash(s)
                }))
                assert.deepStrictEqual(plan, ReconcilePlan.toPlan(ReconcilePlan.diff(prev, desired)))
                // Kept and updated instances: 0 new spawns.
                for (const id of [...plan.kept, ...plan.updated]) {
                  assert.strictEqual(yield* control.spawnCount(id), before.get(id), `${id} was restarted`)
                }
                for (const id of [...plan.started, ...plan.replaced]) {
                  assert.strictEqual(yield* control.spawnCount(id), before.get(id)! + 1)
                }
                previous = desired
              }
              yield* checkFinal(sequence.at(-1)!)
              // Reapplying the last state changes nothing: 0 spawns, 0 stops.
              const spawns = (yield* control.spawns).length
              const stops = (yield* control.stops).length
              const again = yield* pool.reconcile(sequence.at(-1)!)
              assert.strictEqual(again.kept.length, sequence.at(-1)!.length)
              assert.strictEqual((yield* control.spawns).length, spawns)
              assert.strictEqual((yield* control.stops).length, stops)
            }).pipe(Effect.provide(layer()))
          )),
        { numRuns: 60 }
      )
    ))

  it.live("follow: bursts of changes are coalesced and the pool converges to the last value", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbSequence, (sequence) =>
          Effect.runPromise(
            Effect.scoped(Effect.gen(function*() {
              const pool = yield* BackendPool
              const control = yield* FakeLauncher.FakeLauncher
              const ref = yield* SubscriptionRef.make<ReadonlyArray<BackendSpec.BackendSpec>>([])
              yield* pool.follow(ref)
              for (const desired of sequence) yield* SubscriptionRef.set(ref, desired)
              const last = sequence.at(-1)!
              yield* checkFinal(last)
              // An id whose spec never changed during the burst was started at most once.
              for (const id of ids) {
                const versions = new Set(
                  sequence.map((d) => d.find((s) => s.id === id)).map((s) => (s === undefined ? "-" : argsOf(s)))
                )
                if (versions.size === 1 && !versions.has("-")) assert.strictEqual(yield* control.spawnCount(id), 1)
              }
            })).pipe(Effect.provide(layer()))
          )),
        { numRuns: 40 }
      )
    ))

  // A burst is coalesced to its last value, so the test above mostly reconciles from an empty pool
  // and never needs a stop: here the pool settles between bursts, so ids dropped by a later burst
  // must be stopped and removed (a reconcile that never stops old backends fails this).
  it.live("follow: bursts that settle in between; ids a later burst drops are stopped and removed", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(arbSequence, { minLength: 2, maxLength: 4 }), (bursts) =>
          Effect.runPromise(
            Effect.scoped(Effect.gen(function*() {
              const pool = yield* BackendPool
              const control = yield* FakeLauncher.FakeLauncher
              const ref = yield* SubscriptionRef.make<ReadonlyArray<BackendSpec.BackendSpec>>([])
              yield* pool.follow(ref)
              for (const burst of bursts) {
                for (const desired of burst) yield* SubscriptionRef.set(ref, desired)
                yield* checkFinal(burst.at(-1)!)
                // Nothing outside the desired state runs: the fake's live processes are exactly its ids.
                // (An unregistered id leaves `status` when its stop begins; its process goes when the stop ends.)
                const want = new Set(burst.at(-1)!.map((s) => s.id))
                const exact = Effect.map(
                  Effect.forEach(ids, (id) => control.liveCount(id)),
                  (counts) => counts.every((n, i) => n === (want.has(ids[i]!) ? 1 : 0))
                )
                let matched = yield* exact
                for (let i = 0; i < 5_000 && !matched; i++) matched = yield* Effect.sleep(1).pipe(Effect.andThen(exact))
                assert.isTrue(
                  matched,
                  `live processes: ${JSON.stringify(yield* Effect.forEach(ids, control.liveCount))}`
                )
              }
            })).pipe(Effect.provide(layer()))
          )),
        { numRuns: 30 }
      )
    ))

  it.live("follow: 100 updates in a burst cause at most 2 reconciles' worth of transitions", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* BackendPool
      const control = yield* FakeLauncher.FakeLauncher
      const ref = yield* SubscriptionRef.make<ReadonlyArray<BackendSpec.BackendSpec>>([])
      yield* pool.follow(ref)
      for (let n = 1; n <= 100; n++) yield* SubscriptionRef.set(ref, [numbered(n)])
      yield* checkFinal([numbered(100)])
      // Without coalescing each update would replace the process: 100 spawns.
      assert.isAtMost(yield* control.spawnCount("x"), 2)
    })).pipe(Effect.provide(layer())))
})
