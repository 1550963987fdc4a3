/**
 * Per-instance logs: rotating files, an in-memory ring of recent lines, and a live `Stream`.
 *
 * Every line is stamped with its time, stream and run id; run boundaries are marked with
 * `system` lines. Appending is synchronous and never waits: a slow live subscriber loses lines
 * (counted in `droppedLiveLines`), a slow disk makes the file writer drop lines once
 * `maxPendingBytes` are waiting (counted in `droppedFileLines`, and marked in the file by a line
 * saying how many were dropped there), and an over-long line is cut at `maxLineBytes` (the rest
 * is counted in `droppedBytes`; a line's terminator, LF or CR LF, is not part of it). So the process that produces the output is never blocked by
 * whoever reads it.
 *
 * Files get the child's bytes as they came, after the ASCII stamp; `LogLine.text` is their UTF-8
 * decoding (invalid sequences become U+FFFD there, not in the files).
 *
 * The hot path (a chunk of a child's output) does per line: find the newline, copy the stamp and
 * the bytes into the file buffer, and keep a small record in the ring; the whole lines of a chunk
 * share one stamp and are appended together (one check for room in the file writer per block,
 * not per line). The text of a line is
 * decoded only when someone reads it (the ring, a live subscriber with room, an observer): under
 * a flood, most lines are never read and never decoded.
 *
 * @module
 */
import { type Cause, Clock, Effect, Queue, type Scope, Stream } from "effect"
import { logFileStem, type ResolvedLog } from "./BackendSpec.ts"
import { FileWriter } from "./internal/LogFileWriter.ts"

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
  /** Bytes waiting to be written to the log files (at most `maxPendingBytes`). */
  readonly pendingFileBytes: number
  /** File rotations so far. */
  readonly rotations: number
  /** Lines of the fullest live subscriber's buffer now (its queue depth; bounded by `liveBuffer`). */
  readonly liveQueued: number
}

/** Feeds raw output bytes of one stream and run into the log, split into lines. */
export interface LineSplitter {
  /**
   * Feeds a chunk of raw bytes; complete lines are appended at once, a partial one waits for
   * more. The log keeps a reference to the chunk (lines are decoded when read), so the caller
   * must not modify it afterwards; output read from a pipe is never reused, so this is free.
   */
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

/**
 * Text kept in the ring: 1 MiB by default, so a flood of long lines cannot hold much memory.
 * (The ring refers to the child's output chunks instead of copying lines out of them; it also
 * lets go of old lines while the chunks it holds exceed twice this.)
 */
export const defaultRingBytes = 1024 * 1024

/**
 * The file line's stamp, `<ISO-8601 ms time> <source> #<run id>[ [truncated]] `, as ASCII bytes.
 * Consecutive lines of the same millisecond, stream and run (a burst of output) share one.
 */
const makePrefixer = () => {
  let time = -1
  let source: LineSource | undefined
  let runId = -1
  let truncated = false
  let prefix = Buffer.alloc(0)
  return (t: number, s: LineSource, r: number, cut: boolean): Buffer => {
    if (t !== time || s !== source || r !== runId || cut !== truncated) {
      time = t
      source = s
      runId = r
      truncated = cut
      prefix = Buffer.from(`${new Date(t).toISOString()} ${s} #${r}${cut ? " [truncated]" : ""} `, "latin1")
    }
    return prefix
  }
}

/** Whole lines of a chunk appended together at most (the size of the splitters' scratch arrays). */
const runLines = 1024

const sources: ReadonlyArray<LineSource> = ["stdout", "stderr", "system"]
const sourceCode = (source: LineSource) => (source === "stdout" ? 0 : source === "stderr" ? 1 : 2)

/**
 * The ring of recent lines, in parallel arrays (nothing allocated per line). A line of the child's
 * output refers to the chunk it came in, `chunk[start, end)`, and is decoded on first read; a
 * `system` line keeps its text. Lines are evicted, oldest first, beyond `maxLines` lines, beyond
 * `maxBytes` bytes of text, or while the chunks they point into add up to more than twice
 * `maxBytes` (a chunk of mostly cut or partial output must not be kept whole for one short line);
 * the newest line always stays.
 */
class Ring {
  private capacity = 0
  private head = 0
  private count = 0
  /** The sequence number of the oldest line (lines are numbered without gaps). */
  private firstSeq = 1
  private times = new Float64Array(0)
  private runIds = new Float64Array(0)
  /** `sourceCode | truncated << 2`. */
  private flags = new Uint8Array(0)
  private starts = new Int32Array(0)
  private ends = new Int32Array(0)
  private chunks: Array<Buffer | undefined> = []
  private texts: Array<string | undefined> = []
  private decoded: Array<LogLine | undefined> = []
  private textBytes = 0
  private heldBytes = 0
  maxLines: number
  private readonly maxBytes: number

  constructor(maxLines: number, maxBytes: number) {
    this.maxLines = maxLines
    this.maxBytes = maxBytes
  }

  get size(): number {
    return this.count
  }

  private grow() {
    const capacity = Math.max(16, Math.min(this.maxLines, this.capacity * 2))
    const copy = <T extends Float64Array | Uint8Array | Int32Array>(from: T, to: T): T => {
      for (let i = 0; i < this.count; i++) to[i] = from[(this.head + i) % this.capacity]!
      return to
    }
    const reorder = <T>(from: Array<T>): Array<T> =>
      Array.from({ length: capacity }, (_, i) => (i < this.count ? from[(this.head + i) % this.capacity]! : undefined!))
    this.times = copy(this.times, new Float64Array(capacity))
    this.runIds = copy(this.runIds, new Float64Array(capacity))
    this.flags = copy(this.flags, new Uint8Array(capacity))
    this.starts = copy(this.starts, new Int32Array(capacity))
    this.ends = copy(this.ends, new Int32Array(capacity))
    this.chunks = reorder(this.chunks)
    this.texts = reorder(this.texts)
    this.decoded = reorder(this.decoded)
    this.head = 0
    this.capacity = capacity
  }

  /** The index of the line at `offset` from the oldest (`offset` at most `capacity`). */
  private slot(offset: number): number {
    const i = this.head + offset
    return i < this.capacity ? i : i - this.capacity
  }

  private evictOldest() {
    const i = this.head
    const next = this.slot(1)
    const chunk = this.chunks[i]
    const text = this.texts[i]
    this.textBytes -= text === undefined ? this.ends[i]! - this.starts[i]! : text.length
    // The chunk stops being held when the next line does not point into it.
    if (chunk !== undefined && (this.count === 1 || this.chunks[next] !== chunk)) {
      this.heldBytes -= chunk.length
    }
    this.chunks[i] = this.texts[i] = this.decoded[i] = undefined
    this.head = next
    this.count--
    this.firstSeq++
  }

  /** Appends the line numbered `seq` (the next one); `chunk` or `text` holds its text. */
  push(
    seq: number,
    time: number,
    source: LineSource,
    runId: number,
    truncated: boolean,
    chunk: Buffer | undefined,
    start: number,
    end: number,
    text: string | undefined
  ) {
    if (this.count === 0) this.firstSeq = seq
    // Lines of one chunk are appended one after the other: the chunk is counted once per run of them.
    if (
      chunk !== undefined && (this.count === 0 || this.chunks[this.slot(this.count - 1)] !== chunk)
    ) {
      this.heldBytes += chunk.length
    }
    if (this.count === this.capacity) {
      if (this.capacity < this.maxLines) this.grow()
      else this.evictOldest()
    }
    const i = this.slot(this.count)
    this.times[i] = time
    this.runIds[i] = runId
    this.flags[i] = sourceCode(source) | (truncated ? 4 : 0)
    this.starts[i] = start
    this.ends[i] = end
    this.chunks[i] = chunk
    this.texts[i] = text
    this.count++
    this.textBytes += text === undefined ? end - start : text.length
    this.evictOverCaps()
  }

  /** Evicts the oldest lines while over a cap (the newest line always stays). */
  private evictOverCaps() {
    while (
      this.count > 1 &&
      (this.count > this.maxLines || this.textBytes > this.maxBytes || this.heldBytes > 2 * this.maxBytes)
    ) this.evictOldest()
  }

  /** Appends `count` lines of `chunk`, `chunk[starts[k], ends[k])`, numbered from `seq`. */
  pushRun(
    seq: number,
    time: number,
    source: LineSource,
    runId: number,
    chunk: Buffer,
    starts: Int32Array,
    ends: Int32Array,
    count: number
  ) {
    // As `count` calls of `push`, with what they would check per line checked once: the chunk
    // is held once, and every line has the same time, source and run.
    if (count === 0) return
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent, the ring is empty only before its first line, numbered 1 as firstSeq starts.
    if (this.count === 0) this.firstSeq = seq
    if (this.count === 0 || this.chunks[this.slot(this.count - 1)] !== chunk) this.heldBytes += chunk.length
    const flags = sourceCode(source)
    for (let k = 0; k < count; k++) {
      if (this.count === this.capacity) {
        if (this.capacity < this.maxLines) this.grow()
        else this.evictOldest()
      }
      const i = this.slot(this.count)
      const start = starts[k]!
      const end = ends[k]!
      this.times[i] = time
      this.runIds[i] = runId
      this.flags[i] = flags
      this.starts[i] = start
      this.ends[i] = end
      this.chunks[i] = chunk
      this.texts[i] = undefined
      this.count++
      this.textBytes += end - start
      this.evictOverCaps()
    }
  }

  /** The line at `offset` from the oldest, decoded (once). */
  private line(offset: number): LogLine {
    const i = this.slot(offset)
    const known = this.decoded[i]
    if (known !== undefined) return known
    const flags = this.flags[i]!
    const line: LogLine = {
      seq: this.firstSeq + offset,
      time: this.times[i]!,
      source: sources[flags & 3]!,
      runId: this.runIds[i]!,
      text: this.texts[i] ?? this.chunks[i]!.toString("utf8", this.starts[i]!, this.ends[i]!),
      truncated: (flags & 4) !== 0
    }
    this.decoded[i] = line
    return line
  }

  /** The last `n` lines (all by default), oldest first. */
  last(n = this.count): Array<LogLine> {
    const from = Math.max(0, this.count - n)
    return Array.from({ length: this.count - from }, (_, k) => this.line(from + k))
  }

  /** The newest line, decoded (for live subscribers and observers). */
  newest(): LogLine {
    return this.line(this.count - 1)
  }
}

/**
 * Creates an instance log for `id`. Files go to `<dir>/<logFileStem(id)>.log` (rotated to
 * `.1.log`, `.2.log`, …), created with mode 0600 in a 0700 directory. When the scope closes, the
 * lines still pending are written (waiting at most 5 s for the disk) and the file is closed.
 */
export const make = (id: string, initial: ResolvedLog, options?: { readonly ringBytes?: number }) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    let policy = initial
    const ringBytesCap = options?.ringBytes ?? defaultRingBytes
    const ring = new Ring(policy.ringLines, ringBytesCap)
    let seq = 0
    let bytes = 0
    let droppedLive = 0
    let droppedBytes = 0
    let truncatedLines = 0
    const subscribers = new Set<Queue.Queue<LogLine, Cause.Done>>()
    const observers = new Set<(line: LogLine) => void>()
    const now = () => clock.currentTimeMillisUnsafe()
    const writer = policy.dir === undefined ? undefined : new FileWriter(policy.dir, logFileStem(id), policy, now)
    const prefixOf = makePrefixer()
    // The last lines before a stop matter most: closing writes what is pending first.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        for (const q of subscribers) Queue.endUnsafe(q)
        subscribers.clear()
        return writer === undefined ? Effect.void : Effect.promise(() => writer.close())
      })
    )

    /** Hands the newest line to live subscribers that have room and to observers (decoding it once). */
    const deliver = () => {
      let line: LogLine | undefined
      for (const q of subscribers) {
        if (Queue.isFullUnsafe(q)) droppedLive++
        else if (!Queue.offerUnsafe(q, line ??= ring.newest())) droppedLive++
      }
      if (observers.size > 0) {
        line ??= ring.newest()
        for (const f of observers) f(line)
      }
    }

    const append = (source: LineSource, runId: number, text: string, truncated = false) => {
      const time = now()
      const textBytes = Buffer.byteLength(text)
      ring.push(++seq, time, source, runId, truncated, undefined, 0, 0, text)
      bytes += textBytes
      if (truncated) truncatedLines++
      writer?.writeText(prefixOf(time, source, runId, truncated), text, textBytes, runId, time)
      if (subscribers.size > 0 || observers.size > 0) deliver()
    }

    // The whole lines of a chunk, found before they are appended together (see `appendRun`).
    const runStarts = new Int32Array(runLines)
    const runEnds = new Int32Array(runLines)

    const splitter = (source: "stdout" | "stderr", runId: number): LineSplitter => {
      let partial: Array<Buffer> = []
      let partialBytes = 0
      let discarding = false
      // While discarding: the last byte dropped was a CR, the terminator's if an LF comes next.
      let droppedCR = false
      // Lines of one chunk arrived together: one clock read per chunk.
      let time = 0
      /** Appends `buf[start, end)` as a line (without a trailing CR); files get these very bytes. */
      const emit = (buf: Buffer, start: number, end: number, truncated: boolean) => {
        if (end > start && buf[end - 1] === 13) end-- // CRLF
        ring.push(++seq, time, source, runId, truncated, buf, start, end, undefined)
        bytes += end - start
        if (truncated) truncatedLines++
        writer?.writeBytes(prefixOf(time, source, runId, truncated), buf, start, end, runId, time)
        if (subscribers.size > 0 || observers.size > 0) deliver()
      }
      /**
       * Appends the `count` lines of `buf` gathered in `runStarts`/`runEnds` (CRs already cut),
       * `runBytes` bytes in all: as many `emit`s, with one stamp and one reservation in the file
       * writer for all of them. Lines go one by one to live subscribers and observers.
       */
      const appendRun = (buf: Buffer, count: number, runBytes: number) => {
        if (subscribers.size > 0 || observers.size > 0) {
          for (let k = 0; k < count; k++) emit(buf, runStarts[k]!, runEnds[k]!, false)
          return
        }
        ring.pushRun(seq + 1, time, source, runId, buf, runStarts, runEnds, count)
        seq += count
        bytes += runBytes
        writer?.writeLines(prefixOf(time, source, runId, false), buf, runStarts, runEnds, count, runId, time)
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
          time = now()
          const max = policy.maxLineBytes
          let start = 0
          while (start < buf.length) {
            if (partialBytes === 0 && !discarding) {
              // The common case: whole lines inside the chunk, gathered and appended together.
              let count = 0
              let runBytes = 0
              while (count < runLines) {
                const nl = buf.indexOf(10, start)
                if (nl === -1) break
                const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl // CRLF
                if (end - start > max) break
                runStarts[count] = start
                runEnds[count++] = end
                runBytes += end - start
                start = nl + 1
              }
              if (count > 0) {
                appendRun(buf, count, runBytes)
                continue
              }
            }
            const nl = buf.indexOf(10, start)
            if (nl === -1) {
              const rest = buf.subarray(start)
              // A CR at the end may be the terminator of a line of exactly `max` bytes.
              const endsInCR = rest[rest.length - 1] === 13
              if (discarding) {
                droppedBytes += rest.length
                droppedCR = endsInCR
                return
              }
              if (partialBytes + rest.length - (endsInCR ? 1 : 0) > max) {
                const line = takePartial(rest)
                emit(line, 0, max, true)
                droppedBytes += line.length - max
                discarding = true
                droppedCR = endsInCR
                return
              }
              partial.push(Buffer.from(rest)) // a copy, not a view that keeps the whole chunk alive
              partialBytes += rest.length
              return
            }
            const from = start
            start = nl + 1
            if (discarding) {
              // The CR of a CR LF is the terminator, not a dropped byte (counted already if it
              // ended the previous chunk).
              droppedBytes += nl - from - (nl > from ? (buf[nl - 1] === 13 ? 1 : 0) : (droppedCR ? 1 : 0))
              discarding = false
              continue
            }
            // A line completing a partial one, or one longer than `maxLineBytes`.
            const line = takePartial(buf.subarray(from, nl))
            const length = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length // CRLF
            if (length > max) {
              emit(line, 0, max, true)
              droppedBytes += length - max
              continue
            }
            emit(line, 0, line.length, false)
          }
        },
        end() {
          if (!discarding && partialBytes > 0) {
            const line = takePartial(Buffer.alloc(0))
            time = now()
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
        const recent = ring.last()
        const last = recent.length === 0 ? 0 : recent[recent.length - 1]!.seq
        return Stream.concat(
          Stream.fromIterable(recent),
          Stream.fromQueue(q).pipe(Stream.filter((line) => line.seq > last))
        )
      })
    )

    const log: InstanceLog = {
      recent: Effect.sync(() => ring.last()),
      tail: (n) => (n <= 0 ? [] : ring.last(n)),
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
        pendingFileBytes: writer?.pendingBytes ?? 0,
        rotations: writer?.rotations ?? 0,
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
        ring.maxLines = next.ringLines
        writer?.setPolicy(next)
      }
    }
    return log
  })

/** The scope-requiring type of {@link make}, for hosts wiring logs by hand. */
export type Make = (id: string, policy: ResolvedLog) => Effect.Effect<InstanceLog, never, Scope.Scope>
