/**
 * Log throughput with rotation: 64 MiB of 100-byte lines in 64 KiB chunks through an instance log
 * (split, stamp, ring, rotating files of 4 MiB × 3, no live subscriber) against writing the same
 * bytes to a raw `fs.createWriteStream` (waiting for `drain` when `write` says so).
 *
 * The log is fed as a host receives a child's output: one chunk per turn of the event loop (a
 * pipe's `data` events), so its file writes run while later chunks are split. The log never
 * slows its producer, so to measure throughput without losing lines the feeder waits for the
 * writer whenever it is more than half of `maxPendingBytes` behind (as a disk slower than the
 * child would make the log drop lines instead). A second row pushes the same bytes in 2 MiB
 * bursts and waits for each to be written (copying and writing never overlap): the log's cost
 * when the event loop is its bottleneck.
 *
 * Each side runs five times, alternately, and the median counts: this machine is shared, and a
 * single run swings by 2× or more with the load.
 */
import { BackendSpec, InstanceLog } from "@isthmus/backend-pool"
import { Effect, Exit, Scope } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { median } from "./_shared.ts"

const totalBytes = 64 * 1024 * 1024
const chunk = Buffer.from(("y".repeat(99) + "\n").repeat(655)) // ~64 KiB
const rounds = 5

const mibPerSecond = (bytes: number, startedAt: number) =>
  bytes / 1024 / 1024 / ((performance.now() - startedAt) / 1000)

const rawWrite = async (file: string): Promise<number> => {
  const stream = NodeFs.createWriteStream(file)
  const t = performance.now()
  let written = 0
  while (written < totalBytes) {
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()))
    written += chunk.length
  }
  await new Promise<void>((resolve) => stream.end(resolve))
  return mibPerSecond(written, t)
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Feeds the log from plain code (as a launcher's `data` handler does), so the harness costs nothing per chunk. */
const logWrite = async (policy: BackendSpec.ResolvedLog, feed: "pipe" | "burst") => {
  const scope = Scope.makeUnsafe()
  const log = Effect.runSync(Scope.provide(InstanceLog.make("bench", policy), scope))
  const flush = () => Effect.runPromise(log.flush)
  const stats = () => Effect.runSync(log.stats)
  try {
    const split = log.splitter("stdout", 1)
    const t = performance.now()
    let written = 0
    while (written < totalBytes) {
      split.push(chunk)
      written += chunk.length
      if (feed === "pipe") {
        await nextTurn()
        if (stats().pendingFileBytes > policy.maxPendingBytes / 2) await flush()
      } else if (written % (2 * 1024 * 1024) < chunk.length) await flush()
    }
    split.end()
    await flush()
    const mibs = mibPerSecond(written, t)
    const { droppedFileLines, rotations } = stats()
    return { mibs, dropped: droppedFileLines, rotations }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-bench-log-"))
  try {
    const policy: BackendSpec.ResolvedLog = {
      ...BackendSpec.resolveLog({ id: "bench", launcher: { _tag: "Local", command: "x" } }),
      dir: NodePath.join(dir, "pool"),
      maxFileBytes: 4 * 1024 * 1024,
      maxFiles: 3
    }
    const raw: Array<number> = []
    const pipe: Array<number> = []
    const burst: Array<number> = []
    let dropped = 0
    let rotations = 0
    for (let i = 0; i < rounds; i++) {
      raw.push(await rawWrite(NodePath.join(dir, "raw.log")))
      const piped = await logWrite(policy, "pipe")
      pipe.push(piped.mibs)
      dropped += piped.dropped
      rotations = piped.rotations
      const bursts = await logWrite(policy, "burst")
      burst.push(bursts.mibs)
      dropped += bursts.dropped
    }
    const rawMedian = median(raw)
    const pipeMedian = median(pipe)
    return [{
      name:
        `instance log, 64 MiB of 100-byte lines fed as a pipe delivers them, rotating 4 MiB × 3 (${rotations} rotations, ${dropped} lines dropped; median of ${rounds})`,
      value: pipeMedian,
      unit: "MiB/s",
      baseline: `fs.createWriteStream of the same bytes (median of ${rounds})`,
      baselineValue: rawMedian,
      better: "higher",
      target: ">= 0.5x",
      met: dropped === 0 && pipeMedian >= 0.5 * rawMedian
    }, {
      name: `instance log, the same bytes in 2 MiB bursts, each written before the next (median of ${rounds})`,
      value: median(burst),
      unit: "MiB/s",
      baseline: `fs.createWriteStream of the same bytes (median of ${rounds})`,
      baselineValue: rawMedian,
      better: "higher"
    }]
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}
