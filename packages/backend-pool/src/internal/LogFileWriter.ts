/**
 * The rotating file writer of an instance log (`InstanceLog`): stamped lines copied into blocks,
 * written in order by one asynchronous `write` at a time, rotated on line boundaries, bounded by
 * `maxPendingBytes` (lines beyond it are dropped, counted and marked in the file where they were
 * lost). It never blocks its caller.
 * @internal
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { ResolvedLog } from "../BackendSpec.ts"

/** The file writer's blocks (a longer line gets a block of its own). */
const blockBytes = 256 * 1024
/** Bytes of file output per write at most (more when one line is longer). */
const maxWriteBytes = 1024 * 1024
/**
 * Bytes a write waits for while lines keep coming (at most a quarter of `maxPendingBytes`): a
 * write costs the event loop a round trip to the thread pool and back, so a child's flood is
 * written in a few large writes rather than one per chunk of its output.
 */
const minWriteBytes = 512 * 1024
/** The longest line saying how many lines were dropped (three ISO times, two counts, the run). */
const maxMarkBytes = 300
/** How long the file writer keeps its buffers once everything is written. */
const releaseAfterMs = 1_000
/**
 * How long closing waits for the disk to take what is pending (at most `maxPendingBytes`, a few
 * writes on a working disk) before it gives up on it: a stuck disk must not hold up a shutdown.
 */
const closeTimeoutMs = 5_000

/** Lines dropped by the file writer and not yet marked in the file. */
interface Unmarked {
  lines: number
  bytes: number
  from: number
  to: number
  runId: number
}

/** Newlines in `buffer[start, end)`: the lines in a range of stamped file output. */
const countLines = (buffer: Buffer, start: number, end: number): number => {
  let n = 0
  for (let at = buffer.indexOf(10, start); at !== -1 && at < end; at = buffer.indexOf(10, at + 1)) n++
  return n
}

/**
 * Removes `file` unless it does not exist (as `rmSync` with `force`, without its directory walk:
 * a rotation of a busy log does this every `maxFileBytes`).
 */
const unlinkIfPresent = (file: string) => {
  try {
    NodeFs.unlinkSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
  }
}

/** A buffer of whole stamped lines, `buffer[0, length)`, waiting to be written. */
interface Block {
  readonly buffer: Buffer
  length: number
}

/**
 * The rotating file writer. Lines are copied straight into fixed-size blocks (the stamp, then
 * the child's bytes), so nothing per line outlives the call, and no line spans two blocks. One
 * asynchronous `writev` at a time takes the whole lines of the oldest blocks that fit in the
 * current file (about 1 MiB at most); new lines go after them meanwhile (in the last block, or a
 * new one). While lines keep coming every turn of the event loop, a write waits for 512 KiB of
 * them (fewer round trips to the thread pool); a turn without new lines lets it go. Written blocks are
 * reused, so a busy log keeps writing from memory it has already touched (fresh memory costs a
 * page fault per 4 KiB), and they are all released a second after everything was written, so an
 * idle instance holds no pending memory.
 */
export class FileWriter {
  private fd: number | undefined
  private size = 0
  /** Blocks waiting to be written, oldest first; new lines go to the last one. */
  private queue: Array<Block> = []
  /** Bytes of `queue[0]` already written. */
  private written = 0
  /** Bytes in `queue` not yet written. */
  private pending = 0
  /** Written blocks, for reuse. */
  private free: Array<Buffer> = []
  /** A drain is scheduled or a write is in progress. */
  private writing = false
  /** Lines came since the last drain looked (see `minWriteBytes`). */
  private coming = false
  /** A `writev` is in progress (the file must stay open until it returns). */
  private inFlight = false
  /** No new lines are taken (closing, or closed). */
  private closing = false
  private closingPromise: Promise<void> | undefined
  /** Releases the blocks when nothing was written for `releaseAfterMs`. */
  private releaseTimer: ReturnType<typeof setTimeout> | undefined
  private waiters: Array<() => void> = []
  private closed = false
  private unmarked: Unmarked | undefined
  /** The run of the last line offered, for marks about lines the disk refused. */
  private runId = 0
  droppedLines = 0
  bytesWritten = 0
  rotations = 0
  readonly file: string
  private readonly dir: string
  private readonly stem: string
  private policy: ResolvedLog
  private readonly now: () => number

  constructor(dir: string, stem: string, policy: ResolvedLog, now: () => number) {
    this.dir = dir
    this.stem = stem
    this.policy = policy
    this.now = now
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
        // (A rename would replace the oldest file too, but over an existing file ext4 first
        // allocates the renamed file's delayed blocks, in this call: removing it first is cheaper.)
        if (i === max - 1) unlinkIfPresent(this.nameOf(i))
        NodeFs.renameSync(from, this.nameOf(i))
      } catch {
        // the older file does not exist yet
      }
    }
    if (max === 1) unlinkIfPresent(this.file)
    this.rotations++
    this.open()
  }

  /** Counts `lines` lines of `bytes` file bytes as dropped, to be marked where they were lost. */
  private drop(lines: number, bytes: number, time: number) {
    this.droppedLines += lines
    const u = this.unmarked
    if (u === undefined) this.unmarked = { lines, bytes, from: time, to: time, runId: this.runId }
    else {
      u.lines += lines
      u.bytes += bytes
      u.to = time
      u.runId = this.runId
    }
  }

  /**
   * The block to copy a line of `bytes` into, at its `length`; or undefined (and the line counted
   * as dropped) when that would put more than `maxPendingBytes` in waiting, or when earlier drops
   * cannot be marked yet: a line is never written past a gap that is not marked.
   */
  private reserve(bytes: number, runId: number, time: number): Block | undefined {
    if (this.closing) return undefined
    this.runId = runId
    const mark = this.unmarked === undefined ? 0 : maxMarkBytes
    if (this.pending + mark + bytes > this.policy.maxPendingBytes) {
      this.drop(1, bytes, time)
      return undefined
    }
    if (mark > 0) this.mark()
    return this.room(bytes)
  }

  /** The last block when it has room for `bytes` more, else a new one (reused when possible). */
  private room(bytes: number): Block {
    const last = this.queue[this.queue.length - 1]
    if (last !== undefined && last.buffer.length - last.length >= bytes) return last
    let buffer: Buffer | undefined
    while (this.free.length > 0 && buffer === undefined) {
      const candidate = this.free.pop()!
      if (candidate.length >= bytes) buffer = candidate
    }
    // (No bigger than the pending cap needs: a log allowed 16 KiB in waiting gets 16 KiB blocks.)
    const size = Math.max(bytes, Math.min(blockBytes, this.policy.maxPendingBytes))
    const block: Block = { buffer: buffer ?? Buffer.allocUnsafe(size), length: 0 }
    this.queue.push(block)
    return block
  }

  private schedule() {
    this.coming = true
    if (!this.writing) {
      this.writing = true
      setImmediate(() => this.drain())
    }
  }

  /**
   * Queues the line saying how many lines were dropped here (the caller made sure it fits). It
   * goes before the next line that is written, or alone once everything else is written, so it
   * sits where the lines were lost.
   */
  private mark() {
    const u = this.unmarked
    if (u === undefined) return
    const text = `[log] ${u.lines} line${u.lines === 1 ? "" : "s"} (${u.bytes} bytes) dropped here, ${
      new Date(u.from).toISOString()
    } to ${new Date(u.to).toISOString()}: the log files fell behind the output (maxPendingBytes)`
    const line = `${new Date(this.now()).toISOString()} system #${u.runId} ${text}\n`
    const block = this.room(line.length)
    const bytes = block.buffer.write(line, block.length, "latin1")
    block.length += bytes
    this.pending += bytes
    this.unmarked = undefined
    this.schedule()
  }

  /** Queues `prefix` (ASCII) + `source[start, end)` + a newline; drops it when too much is pending. */
  writeBytes(prefix: Buffer, source: Buffer, start: number, end: number, runId: number, time: number) {
    const bytes = prefix.length + (end - start) + 1
    const block = this.reserve(bytes, runId, time)
    if (block === undefined) return
    const buffer = block.buffer
    let at = block.length
    buffer.set(prefix, at)
    at += prefix.length
    source.copy(buffer, at, start, end)
    buffer[at + end - start] = 10
    block.length += bytes
    this.pending += bytes
    this.schedule()
  }

  /**
   * Queues `prefix` (ASCII) + `source[starts[i], ends[i])` + a newline for each of the first
   * `count` lines, as `count` calls of {@link writeBytes} would (a line that does not fit is
   * dropped), but checks the room once per block instead of once per line: a chunk of a child's
   * output costs two copies per line and nothing else.
   */
  writeLines(
    prefix: Buffer,
    source: Buffer,
    starts: Int32Array,
    ends: Int32Array,
    count: number,
    runId: number,
    time: number
  ) {
    let queued = false
    let i = 0
    while (i < count) {
      // The first line goes through `reserve` (a new block, a mark, or a drop), which makes room
      // for it; the lines after it are copied while they fit in that block and within
      // `maxPendingBytes`.
      const block = this.reserve(prefix.length + ends[i]! - starts[i]! + 1, runId, time)
      if (block === undefined) {
        i++
        continue
      }
      const buffer = block.buffer
      const limit = Math.min(buffer.length, block.length + this.policy.maxPendingBytes - this.pending)
      let at = block.length
      let next = at + prefix.length + ends[i]! - starts[i]! + 1
      do {
        buffer.set(prefix, at)
        source.copy(buffer, at + prefix.length, starts[i]!, ends[i]!)
        buffer[next - 1] = 10
        at = next
        if (++i === count) break
        next = at + prefix.length + ends[i]! - starts[i]! + 1
      } while (next <= limit)
      this.pending += at - block.length
      block.length = at
      queued = true
    }
    if (queued) this.schedule()
  }

  /** Queues `prefix` (ASCII) + `text` (`textBytes` in UTF-8) + a newline. */
  writeText(prefix: Buffer, text: string, textBytes: number, runId: number, time: number) {
    const bytes = prefix.length + textBytes + 1
    const block = this.reserve(bytes, runId, time)
    if (block === undefined) return
    const buffer = block.buffer
    let at = block.length
    buffer.set(prefix, at)
    at += prefix.length
    at += buffer.write(text, at, "utf8")
    buffer[at] = 10
    block.length += bytes
    this.pending += bytes
    this.schedule()
  }

  private finishWaiters() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private clear() {
    this.queue = []
    this.free = []
    this.written = this.pending = 0
  }

  /** Lines that can no longer be written (the disk refused): counted, and marked if it recovers. */
  private lose(buffer: Buffer, start: number, end: number) {
    const lines = countLines(buffer, start, end)
    if (lines > 0) this.drop(lines, end - start, this.now())
  }

  private drain(): void {
    if (this.closed) return this.idle()
    // While lines keep coming, wait a turn of the event loop for more, up to `minWriteBytes`; a
    // turn without new lines (a burst has ended, or a single line came) lets the write go.
    if (
      this.coming && !this.closing && this.pending > 0 &&
      this.pending < Math.min(minWriteBytes, this.policy.maxPendingBytes / 4)
    ) {
      this.coming = false
      setImmediate(() => this.drain())
      return
    }
    this.coming = false
    const block = this.queue[0]
    if (this.pending === 0 || block === undefined) {
      if (this.unmarked === undefined) return this.idle()
      this.mark()
      return this.drain()
    }
    try {
      if (this.fd === undefined) this.open()
      const cap = this.policy.maxFileBytes
      if (this.size >= cap) this.rotate()
      const room = cap - this.size
      // One write of whole lines that fit in the current file, from as many blocks as fit (the
      // last one may be cut at a line boundary). A write is a round trip to the thread pool, so
      // fewer, larger ones cost the event loop less.
      const pieces: Array<Buffer> = []
      let length = 0
      for (let i = 0; i < this.queue.length && length < maxWriteBytes; i++) {
        const b = this.queue[i]!
        const from = i === 0 ? this.written : 0
        if (b.length === from) continue
        if (length + b.length - from <= room) {
          pieces.push(b.buffer.subarray(from, b.length))
          length += b.length - from
          continue
        }
        const lastNewline = b.buffer.lastIndexOf(10, from + room - length - 1)
        if (lastNewline >= from) {
          pieces.push(b.buffer.subarray(from, lastNewline + 1))
          length += lastNewline + 1 - from
        }
        break
      }
      if (length === 0) {
        if (this.size > 0) {
          this.rotate()
          return this.drain()
        }
        // A single line longer than a whole file: cut it to the file size.
        const buffer = block.buffer
        const end = buffer.indexOf(10, this.written) + 1
        const cut = Buffer.concat([buffer.subarray(this.written, this.written + cap - 1), Buffer.of(10)])
        return this.write([cut], end - this.written)
      }
      this.write(pieces, length)
    } catch {
      // The disk refused (open, rotate): drop what is pending rather than block or crash the host.
      for (const [i, b] of this.queue.entries()) this.lose(b.buffer, i === 0 ? this.written : 0, b.length)
      this.clear()
      this.idle()
    }
  }

  /** Writes `pieces`, which stand for the next `taken` pending bytes (the same, unless a line was cut). */
  private write(pieces: ReadonlyArray<Buffer>, taken: number) {
    this.inFlight = true
    NodeFs.writev(this.fd!, pieces, (error, written) => {
      this.inFlight = false
      const length = pieces.reduce((n, p) => n + p.length, 0)
      if (error === null && written === length) {
        this.size += length
        this.bytesWritten += length
      } else {
        // (A short write to a regular file means the disk is full; the rest of it is lost.)
        if (error === null) {
          this.size += written
          this.bytesWritten += written
        }
        for (const p of pieces) this.lose(p, 0, p.length)
      }
      if (this.closed) return this.closeFile() // its blocks are gone; the file waited for this write
      this.consume(taken)
      this.drain()
    })
  }

  /** Marks `taken` pending bytes as written, across blocks. */
  private consume(taken: number) {
    this.pending -= taken
    while (taken > 0) {
      const block = this.queue[0]!
      const step = Math.min(taken, block.length - this.written)
      this.written += step
      taken -= step
      if (taken > 0 || (this.written === block.length && this.queue.length > 1)) {
        this.free.push(this.queue.shift()!.buffer)
        this.written = 0
      }
    }
  }

  /** Nothing left to write: release the blocks soon (an idle instance holds no pending memory). */
  private idle() {
    this.writing = false
    if (this.closing) this.clear()
    else {
      // Keep one empty block to write into, and the others for reuse, for a while.
      const last = this.queue[this.queue.length - 1]
      for (const b of this.queue) if (b !== last) this.free.push(b.buffer)
      if (last !== undefined) last.length = 0
      this.queue = last === undefined ? [] : [last]
      this.written = this.pending = 0
      this.releaseTimer ??= setTimeout(() => {
        this.releaseTimer = undefined
        if (!this.writing && this.pending === 0) this.clear()
      }, releaseAfterMs).unref()
    }
    this.finishWaiters()
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.pending
  }

  flush(): Promise<void> {
    if (!this.writing) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /**
   * Stops taking lines, writes what is pending (the last lines before a stop are the ones that
   * matter), then closes the file. Gives up on the pending lines after `timeoutMs` if the disk
   * does not take them. The file is closed only once no write is in progress: closing a file
   * descriptor under a pending write could send that write to a file opened meanwhile.
   */
  close(timeoutMs = closeTimeoutMs): Promise<void> {
    if (this.closingPromise !== undefined) return this.closingPromise
    this.closing = true
    if (this.releaseTimer !== undefined) clearTimeout(this.releaseTimer)
    this.releaseTimer = undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
    })
    this.closingPromise = Promise.race([this.flush(), gaveUp]).then(() => {
      clearTimeout(timer)
      this.closed = true
      this.clear()
      this.writing = false
      if (!this.inFlight) this.closeFile()
      this.finishWaiters()
    })
    return this.closingPromise
  }

  private closeFile() {
    if (this.fd === undefined) return
    try {
      NodeFs.closeSync(this.fd)
    } catch {
      // already closed
    }
    this.fd = undefined
  }
}
