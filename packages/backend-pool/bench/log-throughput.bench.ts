/**
 * Log throughput with rotation: 64 KiB chunks of 100-byte lines through an instance log (split,
 * stamp, ring, live subscribers none, rotating files of 4 MiB × 3) against writing the same bytes
 * to a raw `fs.createWriteStream`.
 */
import { BackendSpec, InstanceLog } from "@isthmus/backend-pool"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { BenchRow } from "../../../scripts/bench-kit.ts"

const totalMb = 64
const chunk = Buffer.from(("y".repeat(99) + "\n").repeat(655)) // ~64 KiB

const rawWrite = async (file: string): Promise<number> => {
  const stream = NodeFs.createWriteStream(file)
  const t = performance.now()
  let written = 0
  while (written < totalMb * 1024 * 1024) {
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()))
    written += chunk.length
  }
  await new Promise<void>((resolve) => stream.end(resolve))
  return written / 1024 / 1024 / ((performance.now() - t) / 1000)
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-bench-log-"))
  const raw = await rawWrite(NodePath.join(dir, "raw.log"))
  const policy: BackendSpec.ResolvedLog = {
    ...BackendSpec.resolveLog({ id: "bench", launcher: { _tag: "Local", command: "x" } }),
    dir: NodePath.join(dir, "pool"),
    maxFileBytes: 4 * 1024 * 1024,
    maxFiles: 3
  }
  const { dropped, mbs } = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const log = yield* InstanceLog.make("bench", policy)
    const split = log.splitter("stdout", 1)
    const t = performance.now()
    let written = 0
    while (written < totalMb * 1024 * 1024) {
      split.push(chunk)
      written += chunk.length
      // Let the writer keep up, as a pipe would: the log itself never blocks the producer.
      if (written % (2 * 1024 * 1024) < chunk.length) yield* log.flush
    }
    split.end()
    yield* log.flush
    const stats = yield* log.stats
    return {
      dropped: stats.droppedFileLines,
      mbs: written / 1024 / 1024 / ((performance.now() - t) / 1000)
    }
  })))
  NodeFs.rmSync(dir, { recursive: true, force: true })
  return [{
    name: `instance log, ${totalMb} MiB of 100-byte lines, rotating 4 MiB × 3 (${dropped} lines dropped)`,
    value: mbs,
    unit: "MiB/s",
    baseline: "fs.createWriteStream of the same bytes",
    baselineValue: raw,
    better: "higher"
  }]
}
