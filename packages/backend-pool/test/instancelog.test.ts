/**
 * The instance log's hot path: whole lines of a chunk are appended together (one stamp, one
 * reservation in the file writer), other lines one by one. Both must give the same files, ring
 * and counters; the expected bytes here are built from the input lines, not by the log's code.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendSpec, InstanceLog } from "@isthmus/backend-pool"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

const maxLineBytes = 256

const policy = (dir: string | undefined, over: Partial<BackendSpec.ResolvedLog> = {}): BackendSpec.ResolvedLog => ({
  ...BackendSpec.resolveLog({ id: "x", launcher: { _tag: "Local", command: "x" } }),
  ...(dir === undefined ? {} : { dir }),
  maxFileBytes: 1024 * 1024,
  maxFiles: 100,
  ringLines: 5_000,
  maxLineBytes,
  maxPendingBytes: 4 * 1024 * 1024,
  liveBuffer: 100_000,
  ...over
})

/** The log files of `stem` in `dir`, oldest first, concatenated. */
const readFiles = (dir: string, stem: string): Buffer => {
  const index = (f: string) => (f === `${stem}.log` ? 0 : Number(f.slice(stem.length + 1, -".log".length)))
  const files = NodeFs.readdirSync(dir).filter((f) => f.startsWith(stem)).toSorted((a, b) => index(b) - index(a))
  return Buffer.concat(files.map((f) => NodeFs.readFileSync(NodePath.join(dir, f))))
}

/** One input line: its bytes (no newline), whether it ends with CR LF, and whether it is over the cap. */
interface Input {
  readonly text: Buffer
  readonly crlf: boolean
}

/** The file line the log must write for `line` (the TestClock stays at 0, so the stamp is fixed). */
const expectedFileLine = (source: string, runId: number, line: Input): Buffer => {
  const cut = line.text.length > maxLineBytes // the CR of a CR LF is the terminator, not text
  const stamp = `1970-01-01T00:00:00.000Z ${source} #${runId}${cut ? " [truncated]" : ""} `
  return Buffer.concat([Buffer.from(stamp, "latin1"), line.text.subarray(0, maxLineBytes), Buffer.of(10)])
}

const inputBytes = (lines: ReadonlyArray<Input>): Buffer =>
  Buffer.concat(lines.map((l) => Buffer.concat([l.text, Buffer.from(l.crlf ? "\r\n" : "\n")])))

/** Short lines (any bytes but CR and LF), now and then one at the cap or well over it. */
const arbLine: fc.Arbitrary<Input> = fc.record({
  text: fc.oneof(
    { weight: 9, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: maxLineBytes - 1, max: maxLineBytes + 1 }).chain((n) =>
        fc.uint8Array({ minLength: n, maxLength: n })
      )
    },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 300, maxLength: 700 }) }
  ).map((bytes) => Buffer.from(bytes.map((b) => (b === 10 || b === 13 ? 120 : b)))),
  crlf: fc.boolean()
})

describe("InstanceLog hot path", () => {
  it.effect("files, ring and counters match the input lines for any chunking, across rotations", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(arbLine, { minLength: 1, maxLength: 300 }),
          fc.array(fc.integer({ min: 1, max: 3_000 }), { minLength: 1, maxLength: 20 }),
          fc.integer({ min: 1, max: 400 }),
          async (lines, cuts, ringLines) => {
            const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
            try {
              const bytes = inputBytes(lines)
              await Effect.runPromise(Effect.scoped(
                Effect.gen(function*() {
                  const log = yield* InstanceLog.make("hot", policy(dir, { maxFileBytes: 8 * 1024, ringLines }))
                  const split = log.splitter("stderr", 5)
                  for (let at = 0, i = 0; at < bytes.length; at += cuts[i++ % cuts.length]!) {
                    split.push(bytes.subarray(at, at + cuts[i % cuts.length]!))
                  }
                  split.end()
                  yield* log.flush
                  const stats = yield* log.stats
                  assert.strictEqual(stats.lines, lines.length)
                  assert.strictEqual(stats.droppedFileLines, 0)
                  assert.strictEqual(stats.truncatedLines, lines.filter((l) => l.text.length > maxLineBytes).length)
                  assert.strictEqual(
                    stats.droppedBytes,
                    lines.reduce((n, l) => n + Math.max(0, l.text.length - maxLineBytes), 0)
                  )
                  assert.strictEqual(
                    stats.bytes,
                    lines.reduce((n, l) => n + Math.min(l.text.length, maxLineBytes), 0)
                  )
                  // The ring holds the last `ringLines` lines (its byte caps are far).
                  assert.deepStrictEqual(
                    (yield* log.recent).map((l) => [l.seq, l.text, l.truncated]),
                    lines.map((l, i) => [
                      i + 1,
                      l.text.subarray(0, maxLineBytes).toString("utf8"),
                      l.text.length > maxLineBytes
                    ]).slice(-ringLines)
                  )
                }).pipe(Effect.provide(TestClock.layer()))
              ))
              const expected = Buffer.concat(lines.map((l) => expectedFileLine("stderr", 5, l)))
              assert.isTrue(readFiles(dir, BackendSpec.logFileStem("hot")).equals(expected))
            } finally {
              NodeFs.rmSync(dir, { recursive: true, force: true })
            }
          }
        ),
        { numRuns: 40 }
      )
    ))

  it.effect("runs of lines cross the writer's blocks, within one chunk and from one chunk to the next", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
      const lines = Array.from({ length: 12_000 }, (_, i) => ({
        text: Buffer.from(`${i} ${"w".repeat(i % 60)}`),
        crlf: i % 3 === 0
      }))
      const bytes = inputBytes(lines)
      const expected = (source: string) => Buffer.concat(lines.map((l) => expectedFileLine(source, 2, l)))
      // One chunk of about 1 MiB of file lines: several 256 KiB blocks, several runs of lines.
      const big = yield* InstanceLog.make("big", policy(dir))
      big.splitter("stdout", 2).push(bytes)
      yield* big.flush
      assert.strictEqual((yield* big.stats).droppedFileLines, 0)
      assert.isTrue(readFiles(dir, BackendSpec.logFileStem("big")).equals(expected("stdout")))
      // 16 KiB blocks (as much as may be pending), 2 KiB of input at a time: runs start in one
      // block and go on in the next.
      const small = yield* InstanceLog.make("small", policy(dir, { maxPendingBytes: 16 * 1024 }))
      const split = small.splitter("stderr", 2)
      for (let at = 0; at < bytes.length; at += 2048) {
        split.push(bytes.subarray(at, at + 2048))
        if ((yield* small.stats).pendingFileBytes > 8 * 1024) yield* small.flush
      }
      yield* small.flush
      assert.strictEqual((yield* small.stats).droppedFileLines, 0)
      assert.isTrue(readFiles(dir, BackendSpec.logFileStem("small")).equals(expected("stderr")))
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("a run of lines stops at maxPendingBytes even where the block has room; the rest is dropped and marked", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
      // 300 KiB may be pending, in 256 KiB blocks: the second block has room to spare.
      const maxPendingBytes = 300 * 1024
      const log = yield* InstanceLog.make("cap", policy(dir, { maxPendingBytes }))
      const lines = Array.from(
        { length: 4_000 },
        (_, i) => ({ text: Buffer.from(`${i} ${"c".repeat(100)}`), crlf: false })
      )
      // About 540 KiB of file lines in one turn: nothing is written meanwhile.
      log.splitter("stdout", 1).push(inputBytes(lines))
      const stats = yield* log.stats
      assert.isAtMost(stats.pendingFileBytes, maxPendingBytes)
      assert.isAbove(stats.pendingFileBytes, maxPendingBytes - 1024)
      const kept = lines.length - stats.droppedFileLines
      yield* log.flush
      const expected = Buffer.concat(lines.slice(0, kept).map((l) => expectedFileLine("stdout", 1, l)))
      const data = readFiles(dir, BackendSpec.logFileStem("cap"))
      assert.isTrue(data.subarray(0, expected.length).equals(expected))
      assert.match(
        data.subarray(expected.length).toString("latin1"),
        new RegExp(`^\\S+ system #1 \\[log\\] ${lines.length - kept} lines \\(\\d+ bytes\\) dropped here, .*\\n$`)
      )
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("a line of exactly maxLineBytes ends in CR LF: not truncated, wherever the chunks split it", () =>
    Effect.gen(function*() {
      // CR LF is the line's terminator (Windows programs write it), so `max` bytes + CR LF is a line
      // at the cap, not over it; `max + 1` bytes is over it by one byte. Every split point of the
      // input is tried, so the CR falls at a chunk's end, alone, and in the middle.
      const lines: ReadonlyArray<Input> = [
        { text: Buffer.alloc(maxLineBytes, "a"), crlf: true },
        { text: Buffer.alloc(maxLineBytes + 1, "b"), crlf: true },
        { text: Buffer.alloc(maxLineBytes, "c"), crlf: true },
        { text: Buffer.alloc(maxLineBytes + 2, "d"), crlf: false },
        { text: Buffer.from("e"), crlf: true }
      ]
      const bytes = inputBytes(lines)
      for (let at = 0; at <= bytes.length; at++) {
        const log = yield* InstanceLog.make("cap", policy(undefined))
        const split = log.splitter("stdout", 1)
        split.push(bytes.subarray(0, at))
        split.push(bytes.subarray(at))
        split.end()
        const recent = yield* log.recent
        assert.deepStrictEqual(
          recent.map((l) => [l.text.length, l.truncated]),
          [[maxLineBytes, false], [maxLineBytes, true], [maxLineBytes, false], [maxLineBytes, true], [1, false]],
          `split at ${at}`
        )
        const stats = yield* log.stats
        assert.deepStrictEqual([stats.truncatedLines, stats.droppedBytes], [2, 3], `split at ${at}`)
      }
    }))

  it.effect("with maxFiles 1 a rotation starts the one file afresh; with 2, the older lines move to .1.log", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
      const lines = Array.from(
        { length: 300 },
        (_, i) => ({ text: Buffer.from(`${i} ${"r".repeat(40)}`), crlf: false })
      )
      const expected = lines.map((l) => expectedFileLine("stdout", 1, l))
      for (const maxFiles of [1, 2]) {
        const stem = BackendSpec.logFileStem(`one${maxFiles}`)
        const log = yield* InstanceLog.make(`one${maxFiles}`, policy(dir, { maxFileBytes: 4 * 1024, maxFiles }))
        const split = log.splitter("stdout", 1)
        for (const line of lines) {
          split.push(inputBytes([line]))
          yield* log.flush
        }
        assert.isAbove((yield* log.stats).rotations, 2)
        const files = NodeFs.readdirSync(dir).filter((f) => f.startsWith(stem)).toSorted()
        assert.deepStrictEqual(files, maxFiles === 1 ? [`${stem}.log`] : [`${stem}.1.log`, `${stem}.log`])
        // The files hold the last lines, whole and in order, and no more than they may.
        const data = readFiles(dir, stem)
        const kept = expected.slice(expected.length - data.toString("latin1").split("\n").length + 1)
        assert.isTrue(data.equals(Buffer.concat(kept)))
        assert.isAbove(kept.length, 0)
        assert.isAtMost(data.length, maxFiles * 4 * 1024)
      }
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("the ring lets go of lines whose chunk is large, however short their text", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("held", policy(undefined, { ringLines: 100 }), { ringBytes: 64 })
      const split = log.splitter("stdout", 1)
      // Two short lines in a 204-byte chunk (the rest is a partial line, copied out): holding the
      // chunk for the first one is over twice the 64 bytes, so only the newest line stays.
      split.push(Buffer.from(`a\nb\n${"p".repeat(200)}`))
      assert.deepStrictEqual(log.tail(10).map((l) => l.text), ["b"])
      // Lines of 2-byte chunks (of another stream) stay; "b" goes with the first of them, as its
      // chunk is still over the cap.
      const other = log.splitter("stderr", 1)
      for (const text of ["c", "d", "e"]) other.push(Buffer.from(`${text}\n`))
      assert.deepStrictEqual(log.tail(10).map((l) => [l.seq, l.text]), [[3, "c"], [4, "d"], [5, "e"]])
    }))

  it.effect("the ring keeps the newest lines while it wraps around, whatever the runs' lengths", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("wrap", policy(undefined, { ringLines: 5 }))
      const split = log.splitter("stdout", 1)
      const texts: Array<string> = []
      for (let i = 0; i < 60; i++) {
        // Runs of 1 to 7 lines: the ring's slots wrap at every offset.
        const run = Array.from({ length: 1 + (i % 7) }, (_, k) => `${i}.${k}`)
        texts.push(...run)
        split.push(Buffer.from(run.map((t) => `${t}\n`).join("")))
        assert.deepStrictEqual(log.tail(10).map((l) => [l.seq, l.text]), texts.map((t, n) => [n + 1, t]).slice(-5))
      }
    }))

  it.effect("output arriving every turn is written in writes of 512 KiB or more; a lone line at once", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
      // (Room for all of it pending: the writer may fall behind on a busy machine, not drop.)
      const log = yield* InstanceLog.make(
        "flood",
        policy(dir, { maxFileBytes: 64 * 1024 * 1024, maxPendingBytes: 64 * 1024 * 1024 })
      )
      const chunk = Buffer.from(`${"f".repeat(99)}\n`.repeat(655))
      const split = log.splitter("stdout", 1)
      // As a pipe delivers a child's flood: one 64 KiB chunk per turn of the event loop, from
      // plain code (an Effect fiber may yield to the event loop between steps).
      const writes = yield* Effect.promise(async () => {
        const sizes: Array<number> = []
        let written = 0
        // (Until 4 writes have completed: how many do within so many turns depends on the load.)
        for (let i = 0; i < 256 && sizes.length < 4; i++) {
          split.push(chunk)
          await new Promise((resolve) => setImmediate(resolve))
          const now = Effect.runSync(log.stats).fileBytesWritten
          if (now > written) sizes.push(now - written)
          written = now
        }
        return sizes
      })
      yield* log.flush
      const stats = yield* log.stats
      assert.strictEqual(stats.droppedFileLines, 0)
      assert.isAtLeast(writes.length, 1)
      for (const bytes of writes) assert.isAtLeast(bytes, 512 * 1024)
      // A single line, once the flood is over, does not wait for more (else this waits forever).
      log.splitter("stderr", 1).push(Buffer.from("alone\n"))
      yield* log.flush
      assert.isTrue(readFiles(dir, BackendSpec.logFileStem("flood")).toString("latin1").endsWith(" stderr #1 alone\n"))
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("with a small maxPendingBytes, writes wait for a quarter of it at most: nothing is dropped", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-hot-"))
      const log = yield* InstanceLog.make("smallcap", policy(dir, { maxPendingBytes: 16 * 1024 }))
      const nextTurn = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      const lines = Array.from(
        { length: 200 },
        (_, i) => ({ text: Buffer.from(`${i} ${"s".repeat(2000)}`), crlf: false })
      )
      const split = log.splitter("stdout", 1)
      // Two lines of 2 KiB per turn, faster than a write completes sometimes: pending stays low.
      for (let i = 0; i < lines.length; i += 2) {
        split.push(inputBytes(lines.slice(i, i + 2)))
        yield* nextTurn
        if ((yield* log.stats).pendingFileBytes > 8 * 1024) yield* log.flush
      }
      yield* log.flush
      assert.strictEqual((yield* log.stats).droppedFileLines, 0)
      const expected = Buffer.concat(lines.map((l) => expectedFileLine("stdout", 1, l)))
      assert.isTrue(readFiles(dir, BackendSpec.logFileStem("smallcap")).equals(expected))
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("observers and live subscribers get every line of a chunk, one by one and in order", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("obs", policy(undefined))
      const seen: Array<string> = []
      const seqs: Array<number> = []
      const remove = log.observe((line) => {
        seen.push(line.text)
        // The ring already holds the line an observer is called with, and no later one.
        seqs.push(log.tail(1)[0]!.seq - line.seq)
      })
      const texts = Array.from({ length: 1_500 }, (_, i) => `line ${i}`)
      log.splitter("stdout", 1).push(Buffer.from(texts.map((t) => `${t}\n`).join("")))
      assert.deepStrictEqual(seen, texts)
      assert.isTrue(seqs.every((d) => d === 0))
      remove()
      log.splitter("stdout", 1).push(Buffer.from("after\n"))
      assert.strictEqual(seen.length, texts.length)
      assert.strictEqual(log.tail(1)[0]!.text, "after")
    }))
})
