/**
 * Host memory per idle instance: the heap held by 50 Ready instances (process, pumps, log ring,
 * state, fibers) against 50 raw `child_process.spawn` children with stdout listeners.
 */
import { BackendPool } from "@isthmus/backend-pool"
import { Effect } from "effect"
import * as NodeV8 from "node:v8"
import * as NodeVm from "node:vm"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { killAndWait, livePool, rawSpawnReady, trivialSpecs } from "./_shared.ts"

const n = 50

NodeV8.setFlagsFromString("--expose-gc")
const gc = NodeVm.runInNewContext("gc") as () => void
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const before = heap()
  const children = await Promise.all(Array.from({ length: n }, () => rawSpawnReady()))
  const raw = (heap() - before) / n
  await Promise.all(children.map(killAndWait))

  const specs = trivialSpecs("m", n)
  const ours = await Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const start = heap()
      yield* pool.reconcile(specs)
      yield* Effect.forEach(yield* pool.list, (i) => i.awaitReady, { concurrency: "unbounded", discard: true })
      return (heap() - start) / n
    }).pipe(Effect.provide(livePool))
  ))
  return [{
    name: `host heap per idle Ready instance (${n} instances)`,
    value: ours / 1024,
    unit: "KiB",
    baseline: "raw child_process.spawn child with stdout listeners",
    baselineValue: raw / 1024,
    better: "lower"
  }]
}
