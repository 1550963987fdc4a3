/**
 * The `child` helper's host watch on a lifetime descriptor of its own (`watchHost` with `fd`, as a
 * `stdio` backend gets it: stdin is its RPC channel), in this process against real FIFOs and
 * files: EOF and the stop message (split across writes, with `\r\n`, after long lines) each fire
 * once; a descriptor that is not open is a host that is gone. The oracle is what was written to
 * the pipe: the bytes a host sends, not the helper's parser.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Protocol } from "@isthmus/backend-pool"
import { watchHost } from "@isthmus/backend-pool/child"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture } from "./helpers.ts"

const dirs: Array<string> = []
const writers: Array<number> = []
afterEach(() => {
  for (const fd of writers.splice(0)) {
    try {
      NodeFs.closeSync(fd)
    } catch {
      // closed by the test
    }
  }
  for (const dir of dirs.splice(0)) NodeFs.rmSync(dir, { recursive: true, force: true })
})

const tempDir = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-watch-"))
  dirs.push(dir)
  return dir
}

/**
 * A FIFO: the read end (what the backend watches) and the write end (the host's). Writes are
 * synchronous and the reader is this process: a test writes less than the pipe's 64 KiB in all.
 */
const fifo = () => {
  const path = NodePath.join(tempDir(), "lifetime")
  NodeChild.execFileSync("mkfifo", [path])
  const read = NodeFs.openSync(path, NodeFs.constants.O_RDONLY | NodeFs.constants.O_NONBLOCK)
  const write = NodeFs.openSync(path, NodeFs.constants.O_WRONLY)
  writers.push(write)
  return { read, write }
}

/** A descriptor number that is not open (used at once, before anything else can open it). */
const closedFd = () => {
  const fd = NodeFs.openSync("/dev/null", "r")
  NodeFs.closeSync(fd)
  return fd
}

/** Every reason the watch fired with, and a promise of the first one. */
const recorder = () => {
  const reasons: Array<string> = []
  let first!: (reason: string) => void
  const fired = new Promise<string>((resolve) => (first = resolve))
  return {
    reasons,
    fired,
    callback: (reason: string) => {
      reasons.push(reason)
      first(reason)
    }
  }
}

/** Resolves once the event loop has had a chance to deliver what was already written. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

const stop = Protocol.STOP_MESSAGE

describe("watchHost on a lifetime descriptor of its own", () => {
  it("EOF of the pipe (the host is gone) fires once, with eof", async () => {
    const { read, write } = fifo()
    const r = recorder()
    watchHost(r.callback, { fd: read })
    NodeFs.writeSync(write, "some RPC-looking bytes that are not a stop\n")
    NodeFs.closeSync(write)
    assert.strictEqual(await r.fired, "eof")
    await turn()
    assert.deepStrictEqual(r.reasons, ["eof"])
  })

  it("the stop message fires stop, once, even when EOF follows", async () => {
    const { read, write } = fifo()
    const r = recorder()
    watchHost(r.callback, { fd: read })
    NodeFs.writeSync(write, `${stop}\n`)
    assert.strictEqual(await r.fired, "stop")
    NodeFs.writeSync(write, `${stop}\n`)
    NodeFs.closeSync(write)
    // A second watch on another pipe, closed after this one's, fires after it: by then this
    // one has seen its second stop line and its EOF.
    const later = fifo()
    const r2 = recorder()
    watchHost(r2.callback, { fd: later.read })
    NodeFs.closeSync(later.write)
    await r2.fired
    await turn()
    assert.deepStrictEqual(r.reasons, ["stop"])
  })

  it("finds the stop message split across writes and ended by \\r\\n, after other lines", async () => {
    const { read, write } = fifo()
    const r = recorder()
    watchHost(r.callback, { fd: read })
    NodeFs.writeSync(write, "hello\n")
    await turn()
    NodeFs.writeSync(write, stop.slice(0, 5))
    await turn()
    NodeFs.writeSync(write, `${stop.slice(5)}\r`)
    await turn()
    NodeFs.writeSync(write, "\n")
    assert.strictEqual(await r.fired, "stop")
  })

  it("a line that only starts with the stop message, or contains it, is not a stop; EOF still is", async () => {
    const { read, write } = fifo()
    const r = recorder()
    watchHost(r.callback, { fd: read })
    // Each in its own write, each then in one write with the rest: neither is the stop message.
    const notStops = [`${stop}x\n`, `${stop}${"y".repeat(20_000)}\n`, `x${stop}\n`, `${stop} \n`, `\r${stop}\n`]
    for (const line of notStops) {
      NodeFs.writeSync(write, line)
      await turn()
    }
    NodeFs.writeSync(write, notStops.join(""))
    await turn()
    NodeFs.closeSync(write)
    assert.strictEqual(await r.fired, "eof")
    assert.deepStrictEqual(r.reasons, ["eof"])
  })

  it("a long line (kept only as far as needed) followed by the stop message in the same write", async () => {
    const { read, write } = fifo()
    const r = recorder()
    watchHost(r.callback, { fd: read })
    NodeFs.writeSync(write, `${"z".repeat(30_000)}\n${stop}\n`)
    assert.strictEqual(await r.fired, "stop")
  })

  it("a regular file as the descriptor: read to its end, a stop line in it is a stop", async () => {
    const dir = tempDir()
    NodeFs.writeFileSync(NodePath.join(dir, "with-stop"), `first\n${stop}\nlast\n`)
    NodeFs.writeFileSync(NodePath.join(dir, "without"), "first\nlast\n")
    const withStop = recorder()
    watchHost(withStop.callback, { fd: NodeFs.openSync(NodePath.join(dir, "with-stop"), "r") })
    assert.strictEqual(await withStop.fired, "stop")
    const without = recorder()
    watchHost(without.callback, { fd: NodeFs.openSync(NodePath.join(dir, "without"), "r") })
    assert.strictEqual(await without.fired, "eof")
  })

  it("a descriptor that is not open means nobody holds the other end: eof, not synchronously", async () => {
    const r = recorder()
    watchHost(r.callback, { fd: closedFd() })
    assert.deepStrictEqual(r.reasons, []) // the caller gets its stop function before any callback
    assert.strictEqual(await r.fired, "eof")
  })

  it("stopped before the host goes away, it does not fire", async () => {
    const { read, write } = fifo()
    const r = recorder()
    const unwatch = watchHost(r.callback, { fd: read })
    unwatch()
    NodeFs.writeSync(write, `${stop}\n`)
    NodeFs.closeSync(write)
    // As above: a watch on another pipe, closed later, fires after this one would have.
    const later = fifo()
    const r2 = recorder()
    watchHost(r2.callback, { fd: later.read })
    NodeFs.closeSync(later.write)
    await r2.fired
    await turn()
    assert.deepStrictEqual(r.reasons, [])
    // Also for a descriptor that is not open (the microtask path).
    const gone = recorder()
    const unwatchGone = watchHost(gone.callback, { fd: closedFd() })
    unwatchGone()
    await turn()
    assert.deepStrictEqual(gone.reasons, [])
  })
})

describe("watchHost without an explicit descriptor", () => {
  it("outside a pool (no ISTHMUS_LIFETIME_FD) nothing is watched: a backend started by hand runs on", async () => {
    assert.strictEqual(process.env[Protocol.ENV_LIFETIME_FD], undefined)
    const r = recorder()
    watchHost(r.callback)
    // A watch on a pipe closed now fires after anything the first could have fired (a microtask).
    const later = fifo()
    const r2 = recorder()
    watchHost(r2.callback, { fd: later.read })
    NodeFs.closeSync(later.write)
    await r2.fired
    await turn()
    assert.deepStrictEqual(r.reasons, [])
  })

  it("under a pool it watches the descriptor ISTHMUS_LIFETIME_FD names", async () => {
    const { read, write } = fifo()
    const r = recorder()
    process.env[Protocol.ENV_LIFETIME_FD] = String(read)
    try {
      watchHost(r.callback)
    } finally {
      delete process.env[Protocol.ENV_LIFETIME_FD]
    }
    NodeFs.writeSync(write, `${stop}\n`)
    assert.strictEqual(await r.fired, "stop")
  })
})

/** Runs the fixture, lets `host` write to its stdin; what it printed and how it exited. */
const lateWatch = (host: (stdin: NodeJS.WritableStream) => void) =>
  new Promise<{ out: string; code: number | null }>((resolve) => {
    const env: Record<string, string | undefined> = { ...process.env }
    delete env[Protocol.ENV_BOOTSTRAP_FD] // the first line is not a bootstrap: it may be the stop
    delete env[Protocol.ENV_LIFETIME_FD]
    const child = NodeChild.spawn(process.execPath, [fixture("late-watch.mjs")], {
      stdio: ["pipe", "pipe", "inherit"],
      env
    })
    let out = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString()))
    child.once("close", (code) => {
      child.stdin.destroy()
      resolve({ out, code })
    })
    host(child.stdin)
  })

describe("watchHost on stdin installed after the host went away (late-watch.mjs, a child process)", () => {
  it("EOF came before the watch: it fires eof", async () => {
    assert.deepStrictEqual(await lateWatch((stdin) => stdin.end()), { out: "eof\n", code: 0 })
  })

  it("the stop message came before the watch: it fires stop, with the pipe still open", async () => {
    // The host keeps stdin open: only the stop message can fire the watch (the process exits by
    // itself once the watch was installed, having printed the reason or not).
    assert.deepStrictEqual(await lateWatch((stdin) => stdin.write(`${stop}\n`)), { out: "stop\n", code: 0 })
  })
})
