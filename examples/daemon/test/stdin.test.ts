/**
 * The README's promise, as a real process: started by hand with a pipe on stdin, the daemon exits
 * when that pipe closes; with /dev/null on stdin (no parent to watch) it keeps running.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const started: Array<ChildProcess> = []
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

/** Starts the daemon by hand (token in the environment) and waits for its ready line. */
const startByHand = async (stdin: "pipe" | "ignore") => {
  const child = spawn(process.execPath, [main], {
    stdio: [stdin, "pipe", "inherit"],
    env: { ...process.env, DAEMON_TOKEN: "by-hand-token", ISTHMUS_LIFETIME_FD: undefined }
  })
  started.push(child)
  let output = ""
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("@@isthmus:ready ")) resolve()
    })
    child.once("exit", (code) => reject(new Error(`daemon exited (${code}) before ready: ${output}`)))
  })
  return { child, tcpUrl: /tcp (tcp:\/\/\S+),/.exec(output)?.[1] }
}

/** Runs the daemon to its end with `args` and no token, /dev/null on stdin. */
const runToEnd = async (args: ReadonlyArray<string>) => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ["DAEMON_TOKEN", "ISTHMUS_LIFETIME_FD", "ISTHMUS_BOOTSTRAP", "ISTHMUS_BOOTSTRAP_FD"]) {
    delete env[name]
  }
  const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"], env })
  started.push(child)
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const [code] = await once(child, "exit")
  return { code: code as number | null, stdout, stderr }
}

// Real processes on a loaded 2-core machine: generous time, no assertion on it.
describe("daemon command line", { timeout: 120_000 }, () => {
  it("--help prints the usage and the exit codes, exit 0", async () => {
    const r = await runToEnd(["--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("USAGE")
    expect(r.stdout).toContain(
      "Exit codes: 0 stopped normally, 1 failed while running, 2 bad command line or no token."
    )
  })

  it("an unknown flag prints the usage with the error, exit 2", async () => {
    const r = await runToEnd(["--bogus"])
    expect(r.code).toBe(2)
    expect(r.stdout + r.stderr).toContain("Unrecognized flag: --bogus")
  })

  it("no token: says how to give one, no stack trace, exit 2", async () => {
    const r = await runToEnd([])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("DAEMON_TOKEN=<token> node examples/daemon/src/main.ts")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})

describe("daemon started by hand", { timeout: 120_000 }, () => {
  it("exits (code 0) when the pipe on its stdin closes", async () => {
    const { child } = await startByHand("pipe")
    const exited = once(child, "exit")
    child.stdin!.end()
    const [code, signal] = await exited
    expect({ code, signal }).toEqual({ code: 0, signal: null })
  })

  it("keeps running with /dev/null on stdin", async () => {
    const { child, tcpUrl } = await startByHand("ignore")
    expect(tcpUrl).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    // An EOF on /dev/null is immediate: had it been watched, the process would be gone before it
    // answers a connection. It answers, and is still there.
    const { port } = new URL(tcpUrl!.replace("tcp:", "http:"))
    const socket = net.connect(Number(port), "127.0.0.1")
    await once(socket, "connect")
    socket.write(`{"id":1,"method":"ping"}\n`)
    const [reply] = await once(socket, "data")
    expect(JSON.parse(String(reply))).toEqual({ id: 1, result: { ok: true } })
    socket.destroy()
    expect(child.exitCode).toBe(null)
  })
})
