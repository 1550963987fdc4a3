/**
 * The example's command line as a user meets it (issue #15's CLI conventions), as real processes:
 * `--help` exits 0 with the flags and exit codes, an unknown flag or `--wsl` without `--codex`
 * exits 2 with the reason and no stack trace, and a run serves the page until SIGINT, then exits 130.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const started: Array<ChildProcess> = []

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

const start = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  started.push(child)
  const out = { stdout: "", stderr: "" }
  child.stdout!.on("data", (chunk: Buffer) => (out.stdout += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (out.stderr += chunk.toString()))
  return { child, out }
}

const runToEnd = async (args: ReadonlyArray<string>) => {
  const { child, out } = start(args)
  const [code] = await once(child, "exit")
  return { code: code as number | null, ...out }
}

// Real processes on a loaded 2-core machine: generous time, no assertion on it.
describe("remote-bridge command line", { timeout: 120_000 }, () => {
  it("--help prints the flags and the exit codes, exit 0", async () => {
    const r = await runToEnd(["--help"])
    expect(r.code).toBe(0)
    for (const flag of ["--codex", "--wsl", "--port"]) expect(r.stdout).toContain(flag)
    expect(r.stdout).toContain("Exit codes: 0 --help; 130 stopped by Ctrl-C; 1 the bridge failed; 2 bad usage.")
  })

  it("an unknown flag prints the usage with the error, exit 2, and starts nothing", async () => {
    const r = await runToEnd(["--bogus"])
    expect(r.code).toBe(2)
    expect(r.stdout + r.stderr).toContain("Unrecognized flag: --bogus")
    expect(r.stdout).not.toContain("open (full access)")
  })

  it("--wsl without --codex says what to add, exit 2, no stack trace", async () => {
    const r = await runToEnd(["--wsl", "Ubuntu"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("give its Linux path there with --codex PATH")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("serves the session until SIGINT, then stops the backend and exits 130 (128 + SIGINT)", async () => {
    const { child, out } = start([])
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", () => {
        if (out.stdout.includes("Ctrl-C stops")) resolve()
      })
      child.once("exit", (code) => reject(new Error(`exited (${code}) before serving: ${out.stdout}${out.stderr}`)))
    })
    expect(out.stdout).toMatch(/open \(full access\): http:\/\/127\.0\.0\.1:\d+\/#token=/)
    child.kill("SIGINT")
    const [code] = await once(child, "exit")
    expect(code).toBe(130)
  })
})
