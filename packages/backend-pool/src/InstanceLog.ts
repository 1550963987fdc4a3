/**
 * Per-instance logs: rotating files, an in-memory ring of recent lines, and a live `Stream`.
 *
 * Every line is stamped with its time, stream and run id; run boundaries are marked with
 * `system` lines. Appending is synchronous and never waits: a slow live subscriber loses lines
 * (counted in `droppedLiveLines`), a slow disk makes the file writer drop lines once
 * `maxPendingBytes` are waiting (counted in `droppedFileLines`), and an over-long line is cut at
 * `maxLineBytes` (the rest is counted in `droppedBytes`). So the process that produces the output
 * is never blocked by whoever reads it.
 *
 * @module
 */
import { type Cause, Clock, Effect, Queue, type Scope, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { logFileStem, type ResolvedLog } from "./BackendSpec.ts"

/** Where a line came from. `system` lines are written by the pool (run boundaries, exits). */
export type LineSource = "stdout" | "stderr" | "system"

/** One stamped log line. */
export interface LogLine {
  /** Sequence number within the instance, from 1. */
  readonly seq: number
  /** Epoch milliseconds (from the Effect `Clock`). */
  readonly time: number
  readonly source: LineSource
  readonly runId: number
  readonly text: string
  /** The original line was longer than `maxLineBytes` and was cut. */
  readonly truncated: boolean
}

/** Counters for an instance's logs. */
export interface LogStats {
  readonly lines: number
  readonly bytes: number
  readonly droppedLiveLines: number
  readonly droppedFileLines: number
  readonly droppedBytes: number
  readonly truncatedLines: number
  readonly fileBytesWritten: number
  readonly rotations: number
}

/** Feeds raw output bytes of one stream and run into the log, split into lines. */
export interface LineSplitter {
  push(chunk: Uint8Array): void
  /** Flushes a final line without a newline. */
  end(): void
}

/** An instance's log. Created by the pool; exposed through `BackendInstance.log`. */
export interface InstanceLog {
  /** The recent lines (at most `ringLines`, and at most `ringBytes` of text), oldest first. */
  readonly recent: Effect.Effect<ReadonlyArray<LogLine>>
  /** The last `n` lines of the ring. */
  tail(n: number): ReadonlyArray<LogLine>
  /**
   * Live lines from now on. Each subscriber has its own buffer of `liveBuffer` lines; when it is
   * full the subscriber loses lines (and `droppedLiveLines` grows) instead of slowing the backend.
   */
  readonly lines: Stream.Stream<LogLine>
  /** `recent` followed by `lines`, without a gap (lines are de-duplicated by `seq`). */
  readonly follow: Stream.Stream<LogLine>
  readonly stats: Effect.Effect<LogStats>
  /** The current log file, when files are enabled. */
  readonly file: string | undefined
  /** Waits until the file writer has written (or dropped) everything appended so far. */
  readonly flush: Effect.Effect<void>
  /** Appends a line (synchronous, never blocks). */
  append(source: LineSource, runId: number, text: string, truncated?: boolean): void
  /** A splitter for raw bytes of `source` in run `runId`. */
  splitter(source: "stdout" | "stderr", runId: number): LineSplitter
  /** Observers called synchronously for every line (readiness uses this); returns a remover. */
  observe(f: (line: LogLine) => void): () => void
  /** Replaces the policy (caps apply from the next line on). */
  setPolicy(policy: ResolvedLog): void
}

/** Text kept in the ring: 1 MiB by default, so a flood of long lines cannot hold much memory. */
export const defaultRingBytes = 1024 * 1024

class FileWriter {
  private fd: number | undefined
  private size = 0
  private pending: Array<string> = []
  private pendingSizes: Array<number> = []
  private head = 0
  private pendingBytes = 0
  private writing = false
  private waiters: Array<() => void> = []
  private closed = false
  droppedLines = 0
  bytesWritten = 0
  rotations = 0
  readonly file: string
  private readonly dir: string
  private readonly stem: string
  private policy: ResolvedLog

  constructor(dir: string, stem: string, policy: ResolvedLog) {
    this.dir = dir
    this.stem = stem
    this.policy = policy
    this.file = NodePath.join(dir, `${stem}.log`)
  }

  setPolicy(policy: ResolvedLog) {
    this.policy = policy
  }

  private nameOf(index: number): string {
    return index === 0 ? this.file : NodePath.join(this.dir, `${this.stem}.${index}.log`)
  }

  private open() {
    NodeFs.mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    this.fd = NodeFs.openSync(this.file, "a", 0o600)
    this.size = NodeFs.fstatSync(this.fd).size
  }

  private rotate() {
    if (this.fd !== undefined) NodeFs.closeSync(this.fd)
    this.fd = undefined
    const max = this.policy.maxFiles
    for (let i = max - 1; i >= 1; i--) {
      const from = this.nameOf(i - 1)
      try {
        if (i === max - 1) NodeFs.rmSync(this.nameOf(i), { force: true })
        NodeFs.renameSync(from, this.nameOf(i))
      } catch {
        // the older file does not exist yet
      }
    }
    if (max === 1) NodeFs.rmSync(this.file, { force: true })
    this.rotations++
    this.open()
  }

  write(text: string) {
    if (this.closed) return
    const bytes = Buffer.byteLength(text)
    if (this.pendingBytes + bytes > this.policy.maxPendingBytes) {
      this.droppedLines++
      return
    }
    this.pending.push(text)
    this.pendingSizes.push(bytes)
    this.pendingBytes += bytes
    if (!this.writing) {
      this.writing = true
      setImmediate(() => this.drain())
    }
  }

  private finishWaiters() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private compact() {
    if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head)
      this.pendingSizes = this.pendingSizes.slice(this.head)
      this.head = 0
    }
  }

  private drain() {
    if (this.head >= this.pending.length || this.closed) {
      this.pending = []
      this.pendingSizes = []
      this.head = 0
      this.writing = false
      this.finishWaiters()
      return
    }
    try {
      if (this.fd === undefined) this.open()
      const cap = this.policy.maxFileBytes
      if (this.size >= cap) this.rotate()
      // Take whole lines that fit in the current file (at most 4 MiB per write).
      const room = Math.min(cap - this.size, 4 * 1024 * 1024)
      const from = this.head
      let taken = 0
      let cut: string | undefined
      while (this.head < this.pending.length) {
        const len = this.pendingSizes[this.head]!
        if (taken + len > room) {
          if (taken === 0 && this.size === 0) {
            // A single line larger than a whole file: cut it to the file size.
            cut = Buffer.from(this.pending[this.head]!).subarray(0, cap - 1).toString() + "\n"
            taken = Buffer.byteLength(cut)
            this.pendingBytes -= len
            this.head++
          } else if (taken === 0) {
            this.rotate()
            continue
          }
          break
        }
        taken += len
        this.pendingBytes -= len
        this.head++
      }
      const text = cut ?? this.pending.slice(from, this.head).join("")
      this.compact()
      const buffer = Buffer.from(text)
      NodeFs.write(this.fd!, buffer, 0, buffer.length, null, (error) => {
        if (error === null) {
          this.size += buffer.length
          this.bytesWritten += buffer.length
        }
        this.drain()
      })
    } catch {
      // The disk refused: drop what is pending rather than block or crash the host.
      this.droppedLines += this.pending.length - this.head
      this.pending = []
      this.pendingSizes = []
      this.head = 0
      this.pendingBytes = 0
      this.writing = false
      this.finishWaiters()
    }
  }

  flush(): Promise<void> {
    if (!this.writing) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  close() {
    this.closed = true
    this.pending = []
    this.pendingSizes = []
    this.head = 0
    this.pendingBytes = 0
    if (this.fd !== undefined) {
      try {
        NodeFs.closeSync(this.fd)
      } catch {
        // already closed
      }
      this.fd = undefined
    }
    this.finishWaiters()
  }
}

let isoCacheTime = -1
let isoCache = ""
/** ISO-8601 with milliseconds; lines of the same millisecond share the string. */
const isoOf = (time: number): string => {
  if (time !== isoCacheTime) {
    isoCacheTime = time
    isoCache = new Date(time).toISOString()
  }
  return isoCache
}

const formatLine = (line: LogLine): string =>
  `${isoOf(line.time)} ${line.source} #${line.runId}${line.truncated ? " [truncated]" : ""} ${line.text}\n`

/**
 * Creates an instance log for `id`. Files go to `<dir>/<logFileStem(id)>.log` (rotated to
 * `.1.log`, `.2.log`, …), created with mode 0600 in a 0700 directory. The writer is closed when
 * the scope closes.
 */
export const make = (id: string, initial: ResolvedLog, options?: { readonly ringBytes?: number }) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    let policy = initial
    const ringBytesCap = options?.ringBytes ?? defaultRingBytes
    const ring: Array<LogLine> = []
    let ringHead = 0
    let ringBytes = 0
    let seq = 0
    let bytes = 0
    let droppedLive = 0
    let droppedBytes = 0
    let truncatedLines = 0
    const subscribers = new Set<Queue.Queue<LogLine, Cause.Done>>()
    const observers = new Set<(line: LogLine) => void>()
    const writer = policy.dir === undefined ? undefined : new FileWriter(policy.dir, logFileStem(id), policy)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        writer?.close()
        for (const q of subscribers) Queue.endUnsafe(q)
        subscribers.clear()
      })
    )

    const ringSize = () => ring.length - ringHead
    const pushRing = (line: LogLine) => {
      ring.push(line)
      ringBytes += line.text.length
      while (ringSize() > 1 && (ringSize() > policy.ringLines || ringBytes > ringBytesCap)) {
        ringBytes -= ring[ringHead]!.text.length
        ringHead++
      }
      if (ringHead > 1024 && ringHead * 2 > ring.length) {
        ring.splice(0, ringHead)
        ringHead = 0
      }
    }
    const snapshotRing = () => ring.slice(ringHead)

    const append = (source: LineSource, runId: number, text: string, truncated = false) => {
      const line: LogLine = { seq: ++seq, time: clock.currentTimeMillisUnsafe(), source, runId, text, truncated }
      bytes += text.length
      if (truncated) truncatedLines++
      pushRing(line)
      for (const q of subscribers) {
        if (!Queue.offerUnsafe(q, line)) droppedLive++
      }
      writer?.write(formatLine(line))
      for (const f of observers) f(line)
    }

    const splitter = (source: "stdout" | "stderr", runId: number): LineSplitter => {
      let partial: Array<Buffer> = []
      let partialBytes = 0
      let discarding = false
      const emit = (buf: Buffer, truncated: boolean) => {
        let end = buf.length
        if (end > 0 && buf[end - 1] === 13) end-- // CRLF
        append(source, runId, buf.toString("utf8", 0, end), truncated)
      }
      const takePartial = (tail: Buffer): Buffer => {
        if (partial.length === 0) return tail
        const all = Buffer.concat([...partial, tail])
        partial = []
        partialBytes = 0
        return all
      }
      return {
        push(chunk) {
          const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          const max = policy.maxLineBytes
          let start = 0
          while (start < buf.length) {
            const nl = buf.indexOf(10, start)
            if (nl === -1) {
              const rest = buf.subarray(start)
              if (discarding) {
                droppedBytes += rest.length
                return
              }
              if (partialBytes + rest.length > max) {
                const line = takePartial(rest)
                emit(line.subarray(0, max), true)
                droppedBytes += line.length - max
                discarding = true
                return
              }
              partial.push(Buffer.from(rest)) // copy: the chunk's memory may be reused
              partialBytes += rest.length
              return
            }
            const piece = buf.subarray(start, nl)
            start = nl + 1
            if (discarding) {
              droppedBytes += piece.length
              discarding = false
              continue
            }
            if (partialBytes + piece.length > max) {
              const line = takePartial(piece)
              emit(line.subarray(0, max), true)
              droppedBytes += line.length - max
              continue
            }
            emit(takePartial(piece), false)
          }
        },
        end() {
          if (!discarding && partialBytes > 0) emit(takePartial(Buffer.alloc(0)), false)
          partial = []
          partialBytes = 0
          discarding = false
        }
      }
    }

    const subscribe = Effect.acquireRelease(
      Effect.gen(function*() {
        const q = yield* Queue.dropping<LogLine, Cause.Done>(policy.liveBuffer)
        subscribers.add(q)
        return q
      }),
      (q) => Effect.sync(() => subscribers.delete(q))
    )

    const lines: Stream.Stream<LogLine> = Stream.unwrap(Effect.map(subscribe, (q) => Stream.fromQueue(q)))

    const follow: Stream.Stream<LogLine> = Stream.unwrap(
      Effect.gen(function*() {
        const q = yield* subscribe
        const recent = snapshotRing()
        const last = recent.length === 0 ? 0 : recent[recent.length - 1]!.seq
        return Stream.concat(
          Stream.fromIterable(recent),
          Stream.fromQueue(q).pipe(Stream.filter((line) => line.seq > last))
        )
      })
    )

    const log: InstanceLog = {
      recent: Effect.sync(snapshotRing),
      tail: (n) => {
        const all = snapshotRing()
        return n <= 0 ? [] : all.slice(Math.max(0, all.length - n))
      },
      lines,
      follow,
      stats: Effect.sync(() => ({
        lines: seq,
        bytes,
        droppedLiveLines: droppedLive,
        droppedFileLines: writer?.droppedLines ?? 0,
        droppedBytes,
        truncatedLines,
        fileBytesWritten: writer?.bytesWritten ?? 0,
        rotations: writer?.rotations ?? 0
      })),
      file: writer?.file,
      flush: writer === undefined ? Effect.void : Effect.promise(() => writer.flush()),
      append,
      splitter,
      observe: (f) => {
        observers.add(f)
        return () => observers.delete(f)
      },
      setPolicy: (next) => {
        policy = next
        writer?.setPolicy(next)
      }
    }
    return log
  })

/** The scope-requiring type of {@link make}, for hosts wiring logs by hand. */
export type Make = (id: string, policy: ResolvedLog) => Effect.Effect<InstanceLog, never, Scope.Scope>
