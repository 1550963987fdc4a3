/**
 * Reconcile 100 trivial backends to Ready (one `reconcile`, then `awaitReady` on each) against
 * spawning 100 raw processes and waiting for every ready line.
 */
import { BackendPool } from "@isthmus/backend-pool"
import { Effect } from "effect"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { killAndWait, livePool, median, rawSpawnReady, trivialSpecs } from "./_shared.ts"

const n = 100
const rounds = 3

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const raw: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const t = performance.now()
    const children = await Promise.all(Array.from({ length: n }, () => rawSpawnReady()))
    raw.push(performance.now() - t)
    await Promise.all(children.map(killAndWait))
  }
  const specs = trivialSpecs("r", n)
  const ours = await Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const samples: Array<number> = []
      for (let r = 0; r < rounds; r++) {
        const t = performance.now()
        yield* pool.reconcile(specs)
        yield* Effect.forEach(yield* pool.list, (i) => i.awaitReady, { concurrency: "unbounded", discard: true })
        samples.push(performance.now() - t)
        yield* pool.reconcile([])
      }
      return samples
    }).pipe(Effect.provide(livePool))
  ))
  return [{
    name: `reconcile ${n} backends to Ready (median of ${rounds})`,
    value: median(ours),
    unit: "ms",
    baseline: `spawn ${n} raw processes + wait for each ready line`,
    baselineValue: median(raw),
    better: "lower"
  }]
}
