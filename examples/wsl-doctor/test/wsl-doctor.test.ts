import { assert, describe, it } from "@effect/vitest"
import { FakeWslHost } from "@isthmus/wsl/testing"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { exitCodes, formatWindows, windowsReport } from "../src/Doctor.ts"
import { fakeHost, type FakeState, fakeStates } from "../src/FakeHost.ts"

const options = { nodeRange: ">=22.12", tools: ["git"] }
const report = (state: FakeState, opts = options) =>
  windowsReport(opts).pipe(Effect.provide(FakeWslHost.layer(fakeHost(state))))

// What each simulated host state must report, and the advice it must give (windows-reality.md §3).
const expected: Readonly<Record<FakeState, readonly [state: string, advice: string]>> = {
  ready: ["Ready", "WSL is ready (WSL 2.6.1.0)"],
  stub: ["NotInstalled", "wsl.exe --install"],
  "inbox-old": ["Ready", "inbox wsl.exe: run `wsl.exe --update`"],
  "store-no-oc": ["Ready", "WSL is ready"],
  "vmp-missing": ["VirtualizationDisabled", "firmware settings"],
  "vmp-partial": ["ComponentMissing", "Virtual Machine Platform"],
  "firmware-off": ["VirtualizationDisabled", "Virtual Machine Platform"],
  "32bit-host": ["Ready", "WSL is ready"],
  "local-system": ["Unknown", "LocalSystem"],
  "no-distros": ["NoDistributions", "wsl.exe --install -d Ubuntu"]
}

describe("wsl-doctor's report, in every simulated host state (in process, on the in-memory host)", () => {
  for (const state of fakeStates) {
    it.effect(`${state}: ${expected[state][0]}, with the advice`, () =>
      Effect.gen(function*() {
        const r = yield* report(state)
        assert.strictEqual(r.state, expected[state][0])
        assert.include(r.advice, expected[state][1])
        assert.strictEqual(r.ok, r.state === "Ready" && r.preflight?.ok === true)
        const text = formatWindows(r, options).join("\n")
        if (r.state !== "Ready") assert.include(text, r.advice)
      }))
  }

  it.effect("ready: NAT asked in .wslconfig and reported as such, eth0 not docker0, the relay for loopback binds, nvm's Node", () =>
    Effect.gen(function*() {
      const r = yield* report("ready")
      assert.deepStrictEqual([r.networking?.mode, r.networking?.source], ["nat", "wslconfig"])
      assert.strictEqual(r.distroAddress, "172.28.144.7")
      assert.deepStrictEqual(r.reach.map((x) => [x.bind, x.host]), [["127.0.0.1", "127.0.0.1"], [
        "0.0.0.0",
        "127.0.0.1"
      ], ["::", "::1"]])
      assert.strictEqual(r.preflight?.node, "/home/ada/.nvm/versions/node/v22.12.0/bin/node")
      assert.isTrue(r.ok)
    }))

  it.effect("a stricter range and the Windows npm: NOT READY, npm named as a Windows shim, rg's package is ripgrep", () =>
    Effect.gen(function*() {
      const r = yield* report("ready", { nodeRange: ">=24", tools: ["npm", "rg"] })
      assert.isFalse(r.ok)
      assert.deepStrictEqual(r.preflight?.missingTools, ["rg"])
      assert.deepStrictEqual(r.preflight?.windowsShims.map((s) => s.name), ["npm"])
      assert.include(r.preflight?.message ?? "", "does not satisfy >=24")
      assert.include(r.preflight?.message ?? "", "sudo apt install ripgrep")
    }))
})

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}
const run = (args: ReadonlyArray<string>) =>
  Effect.callback<Ran>((resume) => {
    execFile(process.execPath, [main, ...args], (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : Number(error.code), stdout, stderr })))
  })

// Real processes: a Node start that loads effect and the packages, several seconds on a loaded
// 2-core machine. The bound is generous (about 10x a loaded run), never a speed assertion.
const generous = 180_000

describe("wsl-doctor as a command", () => {
  it.live(
    "--fake: the report and exit 0; --fake-state picks the host; NOT READY exits 1",
    () =>
      Effect.gen(function*() {
        const [ready, stub] = yield* Effect.all([run(["--fake"]), run(["--fake", "--fake-state", "vmp-missing"])], {
          concurrency: 2
        })
        assert.strictEqual(ready.code, exitCodes.ready, ready.stderr)
        const lines = ready.stdout.split("\n")
        assert.strictEqual(lines[0], "wsl doctor (simulated Windows host: ready)")
        assert.include(lines, "state: Ready (WSL 2.6.1.0)")
        assert.isTrue(lines.some((l) => /^ {2}\* Ubuntu-24\.04 +Running +WSL 2$/.test(l)))
        assert.include(ready.stdout, "preflight (node >=22.12, git, PATH of /bin/bash -il): ok")
        assert.strictEqual(stub.code, exitCodes.notReady)
        assert.include(stub.stdout, "state: VirtualizationDisabled")
        assert.include(stub.stdout, "HCS_E_HYPERV_NOT_INSTALLED")
      }),
    generous
  )

  it.live(
    "--json is the same report as data; --help exits 0; an unknown flag prints the usage and exits 2",
    () =>
      Effect.gen(function*() {
        const [json, help, bogus] = yield* Effect.all(
          [run(["--fake", "--json", "--tool", "rg"]), run(["--help"]), run(["--fake", "--bogus"])],
          { concurrency: 3 }
        )
        assert.strictEqual(json.code, exitCodes.notReady)
        const data = JSON.parse(json.stdout) as {
          state: string
          preflight: { missingTools: Array<string>; message: string }
        }
        assert.strictEqual(data.state, "Ready")
        assert.deepStrictEqual(data.preflight.missingTools, ["rg"])
        assert.include(data.preflight.message, "sudo apt install ripgrep")
        assert.strictEqual(help.code, 0)
        assert.include(help.stdout, "Exit codes: 0 ready, 1 NOT READY, 2 bad command line")
        assert.include(help.stdout, "--fake-state")
        assert.strictEqual(bogus.code, exitCodes.usage)
        assert.include(bogus.stderr, "--bogus")
        assert.include(bogus.stdout, "USAGE")
      }),
    generous
  )

  it.live(
    "on a machine that is neither Windows nor WSL it says so instead of pretending",
    () =>
      Effect.gen(function*() {
        const r = yield* run([])
        assert.include(r.stdout, "neither Windows nor a WSL distro: there is no WSL to report on")
        assert.include(r.stdout, "inside WSL: no")
        assert.strictEqual(r.code, exitCodes.notReady)
      }),
    { timeout: generous, skip: process.platform === "win32" }
  )
})
