/**
 * Spawn-to-ready: `register` + `start` + `awaitReady` (Local launcher, ready-line readiness)
 * against raw `child_process.spawn` plus waiting for the same ready line. Target: < 10 ms extra.
 */
import { BackendPool } from "@isthmus/backend-pool"
import { Effect } from "effect"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { killAndWait, livePool, median, rawSpawnReady, readyCommand } from "./_shared.ts"

const iterations = 30

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const raw: Array<number> = []
  for (let i = 0; i < iterations + 3; i++) {
    const t = performance.now()
    const child = await rawSpawnReady()
    if (i >= 3) raw.push(performance.now() - t)
    await killAndWait(child)
  }
  const ours = await Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const samples: Array<number> = []
      for (let i = 0; i < iterations + 3; i++) {
        const t = performance.now()
        const instance = yield* pool.register({
          id: `b${i}`,
          launcher: { _tag: "Local", ...readyCommand },
          stop: { signal: "SIGKILL", graceMs: 1_000 }
        })
        yield* instance.start
        yield* instance.awaitReady
        if (i >= 3) samples.push(performance.now() - t)
        yield* pool.unregister(`b${i}`)
      }
      return samples
    }).pipe(Effect.provide(livePool))
  ))
  const extra = median(ours) - median(raw)
  return [{
    name: "spawn-to-ready (median)",
    value: median(ours),
    unit: "ms",
    baseline: "child_process.spawn + wait for the ready line",
    baselineValue: median(raw),
    better: "lower",
    target: `< 10 ms extra (measured ${extra.toFixed(2)} ms)`,
    met: extra < 10
  }]
}
