import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
// One run takes ~9 s when quiet (each wsl.exe call is a fake-wsl Node process); the bounds are
// generous so a loaded machine (scripts/test-under-load.sh) does not fail it.
const run = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, [main, ...args], { timeout: 110_000 })

describe("wsl-doctor", { timeout: 240_000 }, () => {
  it("--fake reports the simulated host: distros, NAT from .wslconfig, the eth0 address not docker0, a failing preflight", async () => {
    const { stdout } = await run(["--fake"])
    const lines = stdout.split("\n")
    expect(lines[0]).toBe("wsl doctor (simulated Windows host: fake-wsl)")
    expect(stdout).toContain("version: WSL 2.6.1.0")
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}\* Ubuntu-24\.04 +Running +WSL 2$/))
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}Debian +Stopped +WSL 1$/))
    expect(stdout).toContain("default: Ubuntu-24.04")
    expect(stdout).toMatch(/networking: nat \(decided by wslconfig/)
    expect(stdout).toContain("distro address: 172.28.144.7 on eth0")
    expect(stdout).not.toContain("172.17.0.1")
    expect(stdout).toMatch(/a Windows UI should connect to: 172\.28\.144\.7 /)
    expect(stdout).toContain("preflight (node >=22.19, git): NOT READY")
    expect(stdout).toMatch(/v20\.11\.1 .*does not satisfy >=22\.19/)
  })

  it("--fake with a range the fake Node satisfies passes the preflight and names missing tools", async () => {
    const { stdout } = await run(["--fake", "--node", ">=20", "--tool", "git", "--tool", "rg"])
    expect(stdout).toContain("preflight (node >=20, git, rg): NOT READY")
    expect(stdout).toContain("missing tools: rg")
    const ok = await run(["--fake", "--node", ">=20"])
    expect(ok.stdout).toContain("preflight (node >=20, git): ok")
  })

  it("on a machine that is neither Windows nor WSL it says so instead of pretending", async () => {
    const { stdout } = await run([])
    expect(stdout).toContain("neither Windows nor a WSL distro: there is no WSL to report on")
    expect(stdout).toContain("inside WSL: no")
  })
})
