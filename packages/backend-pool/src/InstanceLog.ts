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
 * Files get the child's bytes as they came, after the ASCII stamp; `LogLine.text` is their UTF-8
 * decoding (invalid sequences become U+FFFD there, not in the files).
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
  /** The run that printed it (for `system` lines: the run they are about). */
  readonly runId: number
  /** The line without its newline (and without a trailing CR), decoded as UTF-8. */
  readonly text: string
  /** The original line was longer than `maxLineBytes` and was cut. */
  readonly truncated: boolean
}

/** Counters for an instance's logs. */
export interface LogStats {
  /** Lines appended (every line, whoever lost it afterwards). */
  readonly lines: number
  /** UTF-8 bytes of those lines' text (without newlines, after cutting over-long lines). */
  readonly bytes: number
  /** Lines live subscribers lost because their buffer was full (counted once per subscriber). */
  readonly droppedLiveLines: number
  /** Lines the file writer dropped (too much pending, or the disk refused). */
  readonly droppedFileLines: number
  /** Bytes of over-long lines beyond `maxLineBytes`, never stored anywhere. */
  readonly droppedBytes: number
  /** Lines cut at `maxLineBytes`. */
  readonly truncatedLines: number
  /** Bytes written to the log files. */
  readonly fileBytesWritten: number
  /** File rotations so far. */
  readonly rotations: number
  /** Bytes waiting for the file writer now (its queue depth; bounded by `maxPendingBytes`). */
  readonly pendingFileBytes: number
  /** Lines of the fullest live subscriber's buffer now (its queue depth; bounded by `liveBuffer`). */
  readonly liveQueued: number
}

/** Feeds raw output bytes of one stream and run into the log, split into lines. */
export interface LineSplitter {
  /** Feeds a chunk of raw bytes; complete lines are appended at once, a partial one waits for more. */
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

/** Bytes of file output per `write` call at most. */
const maxWriteBytes = 4 * 1024 * 1024
/** The first pending buffer; it doubles as needed (up to about `maxPendingBytes`). */
const initialPendingBytes = 64 * 1024

/**
 * The rotating file writer. Lines are encoded straight into one pending byte buffer (the prefix
 * as ASCII, the text copied from the child's output when it came from there), so nothing per line
 * outlives the call but its end offset. One asynchronous `write` at a time takes the whole lines
 * that fit in the current file, as a view of that buffer: new lines go after it, and the buffer
 * is only compacted or replaced when no write is reading it.
 */
class FileWriter {
  private fd: number | undefined
  private size = 0
  /** Pending bytes are `[head, length)`; allocated on demand, released once all is written. */
  private pending: Buffer | undefined
  private head = 0
  private length = 0
  /** End offsets (in `pending`) of the lines not yet taken: `ends[endsHead…]`. */
  private ends: Array<number> = []
  private endsHead = 0
  /** A drain is scheduled or a write is in progress. */
  private writing = false
  /** A write is reading `pending` now: it may neither be compacted in place nor reused. */
  private inFlight = false
  private waiters: Array<() => void> = []
  private closed = false
  droppedLines = 0
  bytesWritten = 0
  rotations = 0
  /** Bytes queued and not yet written (or dropped). */
  get pendingBytes(): number {
    return this.length - this.head
  }
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

  /** Moves the pending bytes to the start of `target` (which may be `pending` itself). */
  private moveTo(target: Buffer) {
    const shift = this.head
    this.pending!.copy(target, 0, this.head, this.length)
    this.ends = this.ends.slice(this.endsHead)
    for (let i = 0; i < this.ends.length; i++) this.ends[i]! -= shift
    this.endsHead = 0
    this.pending = target
    this.length -= shift
    this.head = 0
  }

  /** The buffer with room for `bytes` more at `length`, or undefined when the line is dropped. */
  private reserve(bytes: number): Buffer | undefined {
    if (this.closed) return undefined
    const live = this.length - this.head
    if (live + bytes > this.policy.maxPendingBytes) {
      this.droppedLines++
      return undefined
    }
    const buffer = this.pending
    if (buffer === undefined) {
      let capacity = initialPendingBytes
      while (capacity < bytes) capacity *= 2
      this.pending = Buffer.allocUnsafe(capacity)
      this.head = this.length = 0
    } else if (this.length + bytes > buffer.length) {
      if (!this.inFlight && live + bytes <= buffer.length / 2) {
        this.moveTo(buffer)
      } else {
        let capacity = buffer.length
        while (capacity < 2 * (live + bytes)) capacity *= 2
        this.moveTo(Buffer.allocUnsafe(capacity))
      }
    }
    return this.pending
  }

  private commit(end: number) {
    this.length = end
    this.ends.push(end)
    if (!this.writing) {
      this.writing = true
      setImmediate(() => this.drain())
    }
  }

  /** Queues `prefix` (ASCII) + `source[start, end)` + a newline; drops it when too much is pending. */
  writeBytes(prefix: string, source: Buffer, start: number, end: number) {
    const buffer = this.reserve(prefix.length + (end - start) + 1)
    if (buffer === undefined) return
    let at = this.length + buffer.write(prefix, this.length, "latin1")
    at += source.copy(buffer, at, start, end)
    buffer[at] = 10
    this.commit(at + 1)
  }

  /** Queues `prefix` (ASCII) + `text` (`textBytes` in UTF-8) + a newline. */
  writeText(prefix: string, text: string, textBytes: number) {
    const buffer = this.reserve(prefix.length + textBytes + 1)
    if (buffer === undefined) return
    let at = this.length + buffer.write(prefix, this.length, "latin1")
    at += buffer.write(text, at, "utf8")
    buffer[at] = 10
    this.commit(at + 1)
  }

  private finishWaiters() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private clear() {
    this.pending = undefined
    this.head = this.length = 0
    this.ends = []
    this.endsHead = 0
  }

  /** The next `count` pending lines, as a view of `pending`. */
  private take(count: number): Buffer {
    const end = this.ends[this.endsHead + count - 1]!
    const out = this.pending!.subarray(this.head, end)
    this.head = end
    this.endsHead += count
    if (this.endsHead === this.ends.length) {
      this.ends = []
      this.endsHead = 0
    }
    return out
  }

  private drain(): void {
    if (this.head === this.length || this.closed) {
      // Nothing left: release the buffer (an idle instance holds no pending memory).
      this.clear()
      this.writing = false
      this.finishWaiters()
      return
    }
    try {
      if (this.fd === undefined) this.open()
      const cap = this.policy.maxFileBytes
      if (this.size >= cap) this.rotate()
      // Take whole lines that fit in the current file (at most maxWriteBytes per write).
      const limit = this.head + Math.min(cap - this.size, maxWriteBytes)
      let count = 0
      while (this.endsHead + count < this.ends.length && this.ends[this.endsHead + count]! <= limit) count++
      let out: Buffer
      if (count > 0) {
        out = this.take(count)
      } else if (this.ends[this.endsHead]! - this.head <= cap - this.size) {
        out = this.take(1) // one line longer than maxWriteBytes, which fits in the file
      } else if (this.size > 0) {
        this.rotate()
        return this.drain()
      } else {
        // A single line larger than a whole file: cut it to the file size.
        out = Buffer.concat([this.take(1).subarray(0, cap - 1), Buffer.of(10)])
      }
      this.inFlight = true
      NodeFs.write(this.fd!, out, 0, out.length, null, (error) => {
        this.inFlight = false
        if (error === null) {
          this.size += out.length
          this.bytesWritten += out.length
        }
        // Everything pending was written: start again at the front of the same buffer.
        if (this.head === this.length) this.head = this.length = 0
        this.drain()
      })
    } catch {
      // The disk refused: drop what is pending rather than block or crash the host.
      this.droppedLines += this.ends.length - this.endsHead
      this.inFlight = false
      this.clear()
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
    this.clear()
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

/**
 * The file line's prefix, `<ISO-8601 ms time> <source> #<run id>[ [truncated]] `: plain ASCII (so
 * its UTF-8 length is its `length`). Consecutive lines of the same millisecond, stream and run
 * (a burst of output) share one string.
 */
const makePrefixer = () => {
  let time = -1
  let source: LineSource | undefined
  let runId = -1
  let truncated = false
  let prefix = ""
  return (line: LogLine): string => {
    if (line.time !== time || line.source !== source || line.runId !== runId || line.truncated !== truncated) {
      time = line.time
      source = line.source
      runId = line.runId
      truncated = line.truncated
      prefix = `${new Date(time).toISOString()} ${source} #${runId}${truncated ? " [truncated]" : ""} `
    }
    return prefix
  }
}

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
    const prefixOf = makePrefixer()
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

    /** Appends a line of `textBytes` UTF-8 bytes, read at `time`. */
    const appendAt = (
      source: LineSource,
      runId: number,
      text: string,
      truncated: boolean,
      time: number,
      textBytes: number,
      raw?: Buffer,
      rawStart = 0
    ) => {
      const line: LogLine = { seq: ++seq, time, source, runId, text, truncated }
      bytes += textBytes
      if (truncated) truncatedLines++
      pushRing(line)
      // (The size checks skip an iterator per line in the common case of nobody listening.)
      if (subscribers.size > 0) {
        for (const q of subscribers) {
          if (!Queue.offerUnsafe(q, line)) droppedLive++
        }
      }
      if (writer !== undefined) {
        // The child's bytes go to the file as they came (`text` is their decoded copy).
        if (raw === undefined) writer.writeText(prefixOf(line), text, textBytes)
        else writer.writeBytes(prefixOf(line), raw, rawStart, rawStart + textBytes)
      }
      if (observers.size > 0) { for (const f of observers) f(line) }
    }

    const append = (source: LineSource, runId: number, text: string, truncated = false) =>
      appendAt(source, runId, text, truncated, clock.currentTimeMillisUnsafe(), Buffer.byteLength(text))

    const splitter = (source: "stdout" | "stderr", runId: number): LineSplitter => {
      let partial: Array<Buffer> = []
      let partialBytes = 0
      let discarding = false
      // Lines of one chunk arrived together: one clock read per chunk.
      let time = 0
      /** Emits `buf[start, end)` as a line (without a trailing CR). */
      const emit = (buf: Buffer, start: number, end: number, truncated: boolean) => {
        if (end > start && buf[end - 1] === 13) end-- // CRLF
        appendAt(source, runId, buf.toString("utf8", start, end), truncated, time, end - start, buf, start)
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
          time = clock.currentTimeMillisUnsafe()
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
                emit(line, 0, max, true)
                droppedBytes += line.length - max
                discarding = true
                return
              }
              partial.push(Buffer.from(rest)) // copy: the chunk's memory may be reused
              partialBytes += rest.length
              return
            }
            const from = start
            start = nl + 1
            if (discarding) {
              droppedBytes += nl - from
              discarding = false
              continue
            }
            if (partialBytes === 0 && nl - from <= max) {
              emit(buf, from, nl, false) // the common case: a whole line inside the chunk
              continue
            }
            const line = takePartial(buf.subarray(from, nl))
            if (line.length > max) {
              emit(line, 0, max, true)
              droppedBytes += line.length - max
              continue
            }
            emit(line, 0, line.length, false)
          }
        },
        end() {
          if (!discarding && partialBytes > 0) {
            const line = takePartial(Buffer.alloc(0))
            time = clock.currentTimeMillisUnsafe()
            emit(line, 0, line.length, false)
          }
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
        rotations: writer?.rotations ?? 0,
        pendingFileBytes: writer?.pendingBytes ?? 0,
        liveQueued: Math.max(0, ...Array.from(subscribers, Queue.sizeUnsafe))
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
