/**
 * The `child` helper's host watch in child processes (`late-watch.mjs`, `fd-watch.mjs`): on stdin
 * installed after the host already went away, and on a socket of its own as a `stdio` backend
 * gets it. Apart from `child-watch.test.ts` (in-process) so that this file does not load the
 * helper in the test process: `pnpm mutate … -- --coverageAnalysis off` then runs these tests for
 * every mutant (Stryker would otherwise go by the test process's coverage, which never sees code
 * that runs only in the children). The oracle is what the host writes and what the child prints.
 */
import { assert, describe, it } from "@effect/vitest"
import { Protocol } from "@isthmus/backend-pool"
import * as NodeChild from "node:child_process"
import { fixture } from "./helpers.ts"

const stop = Protocol.STOP_MESSAGE

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

/** Runs fd-watch.mjs with a pipe (a socket pair) as fd 3; `host` gets the pool's end of it. */
const fdWatch = (env: Record<string, string>, host: (pipe: NodeJS.WritableStream) => void) =>
  new Promise<{ out: string; code: number | null }>((resolve) => {
    const child = NodeChild.spawn(process.execPath, [fixture("fd-watch.mjs")], {
      stdio: ["ignore", "pipe", "inherit", "pipe"],
      env: { ...process.env, ...env }
    })
    const pipe = child.stdio[3] as NodeJS.WritableStream & { destroy: () => void }
    let out = ""
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()))
    child.once("close", (code) => {
      pipe.destroy()
      resolve({ out, code })
    })
    host(pipe)
  })

describe("watchHost on a socket of its own (fd-watch.mjs, a child process: what a stdio backend gets)", () => {
  it("the stop message on it is a stop", async () => {
    assert.deepStrictEqual(await fdWatch({ HOLD: "1" }, (pipe) => pipe.write(`${stop}\n`)), { out: "stop\n", code: 0 })
  })

  it("its EOF (the host is gone) is eof", async () => {
    assert.deepStrictEqual(await fdWatch({ HOLD: "1" }, (pipe) => pipe.end()), { out: "eof\n", code: 0 })
  })

  it("the watch does not keep the backend alive: with nothing else to do it exits, the pipe still open", async () => {
    assert.deepStrictEqual(await fdWatch({}, () => undefined), { out: "", code: 0 })
  })
})
