// The Wsl service on the real Node process layer (WslHost.layer), against the fake-wsl executable.
import { assert, describe, it } from "@effect/vitest"
import { Wsl } from "@isthmus/wsl/node"
import { type FakeWslConfig, fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Layer, Option } from "effect"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { networkInterfaces, tmpdir } from "node:os"
import { join } from "node:path"
import * as fixtures from "./fixtures.ts"
import { tag } from "./fixtures.ts"
import { contract } from "./Wsl.contract.ts"

let recordFile = ""

const layerFor = (config: FakeWslConfig, env: Record<string, string> = {}) =>
  Layer.unwrap(Effect.sync(() => {
    recordFile = join(mkdtempSync(join(tmpdir(), "fake-wsl-record-")), "calls.jsonl")
    writeFileSync(recordFile, "")
    const baseEnv: Record<string, string | undefined> = { ...process.env, ...env }
    if (env["WSLENV"] === undefined) delete baseEnv["WSLENV"]
    return Wsl.layer({ host: fakeWslHostOptions({ ...config, record: recordFile }, baseEnv) })
  }))

/** The collision fixture, with the distro address set to one of this machine's real addresses. */
const localAddress = Object.values(networkInterfaces()).flat().find((i) => i?.family === "IPv4" && !i.internal)?.address

contract({
  name: "WslHost.layer + fake-wsl",
  layer: (config, options) =>
    layerFor(
      config === fixtures.collision && localAddress !== undefined
        ? {
          ...config,
          distros: config.distros.map((d) =>
            d.name === "Ubuntu" ? { ...d, interfaces: [{ name: "eth0", address: localAddress }] } : d
          )
        }
        : config,
      options?.env
    ),
  recorded: Effect.sync(() =>
    readFileSync(recordFile, "utf8").split("\n").filter((l) => l.length > 0).map((l) => {
      const call = JSON.parse(l) as { argv: Array<string>; wslenv: string | null }
      return { args: call.argv, wslenv: call.wslenv ?? undefined }
    })
  ),
  it: it.live,
  // Generous (10x a loaded run's ~20 s for the longest test): fake-wsl is one Node start per call.
  timeout: 240_000
})

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("fake-wsl process specifics", () => {
  // microsoft/WSL#2496 (Puma ignores SIGHUP and outlives a killed wsl.exe), windows-reality.md
  // §2.1: fake-wsl does to the Linux side what WSL's relay does, so only a stop made inside the
  // distro ends a command that ignores SIGHUP.
  it.live("a timeout kills the Linux process inside the distro, even one that ignores SIGHUP", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "fake-wsl-kill-"))
      const pidFile = join(dir, "pid")
      const wsl = yield* Wsl.Wsl
      const error = yield* wsl.exec("Ubuntu-24.04", ["sh", "-c", `trap '' HUP; echo $$ > ${pidFile}; exec sleep 60`], {
        timeout: "2 seconds"
      }).pipe(Effect.flip)
      assert.strictEqual(tag(error), "WslTimeoutError")
      assert.isTrue(existsSync(pidFile), "the Linux command never started")
      const pid = Number(readFileSync(pidFile, "utf8").trim())
      const survived = alive(pid)
      if (survived) process.kill(-pid, "SIGKILL") // leave nothing behind, then fail
      assert.isFalse(survived, `the Linux process ${pid} is still running`)
    }).pipe(Effect.provide(layerFor(fixtures.config))))

  it.live("the real login-shell preflight probe runs when the model does not answer", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      const report = yield* wsl.preflight("Ubuntu", { tools: ["sh", "no-such-tool-xyz"] })
      assert.deepStrictEqual(report.missingTools, ["no-such-tool-xyz"])
      assert.include(report.message, "no-such-tool-xyz")
      const home = yield* wsl.userHome("Ubuntu")
      assert.isTrue(home.startsWith("/"))
    }).pipe(Effect.provide(layerFor({ distros: [{ name: "Ubuntu", state: "Running", default: true }] }))))

  it.live("without an executable on a non-Windows host, WSL is unavailable", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      assert.isFalse(yield* wsl.isAvailable)
      const error = yield* Effect.flip(wsl.listDistros)
      assert.strictEqual(tag(error), "WslUnavailableError")
      assert.include(error.message, "wsl.exe --install")
    }).pipe(Effect.provide(Wsl.layer())), { skip: process.platform === "win32" })

  it.live("inbox wsl.exe: version is None", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      assert.isTrue(Option.isNone(yield* wsl.version))
    }).pipe(Effect.provide(layerFor({ ...fixtures.config, inbox: true }))))
})
