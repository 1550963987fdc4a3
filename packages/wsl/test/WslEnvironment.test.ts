import { assert, describe, it } from "@effect/vitest"
import { WslEnvironment } from "@isthmus/wsl/node"
import { Effect, Option } from "effect"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const none: WslEnvironment.Facts = {
  platform: "linux",
  kernelRelease: "6.8.0-45-generic",
  procVersion: Option.some("Linux version 6.8.0-45-generic (buildd@lcy02)"),
  env: {},
  interopBinfmt: Option.none(),
  runWslExists: false,
  wslConf: Option.none(),
  inContainer: false,
  wslinfoNetworkingMode: Option.none()
}

const wsl2: WslEnvironment.Facts = {
  ...none,
  kernelRelease: "5.15.167.4-microsoft-standard-WSL2",
  procVersion: Option.some("Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f)"),
  env: { WSL_DISTRO_NAME: "Ubuntu-24.04", WSL_INTEROP: "/run/WSL/1234_interop" },
  interopBinfmt: Option.some("enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n"),
  runWslExists: true,
  wslinfoNetworkingMode: Option.some("mirrored")
}

describe("WslEnvironment.detect", () => {
  it("plain Linux is not WSL", () => {
    const d = WslEnvironment.detect(none)
    assert.isFalse(d.isWsl)
    assert.isTrue(Option.isNone(d.version))
    assert.isFalse(d.interop)
  })
  it("WSL 2: version, distro, interop, networking mode, default automount root", () => {
    const d = WslEnvironment.detect(wsl2)
    assert.deepStrictEqual(
      [d.isWsl, d.version, d.distro, d.interop, d.automountRoot, d.networkingMode],
      [true, Option.some(2), Option.some("Ubuntu-24.04"), true, "/mnt/", Option.some("mirrored")]
    )
    assert.isTrue(d.evidence.length >= 3)
  })
  it("WSL 1 from the capital-M kernel string, without WSL_INTEROP", () => {
    const d = WslEnvironment.detect({
      ...none,
      kernelRelease: "4.4.0-19041-Microsoft",
      procVersion: Option.some("Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com)"),
      env: { WSL_DISTRO_NAME: "legacy" },
      interopBinfmt: Option.some("enabled\ninterpreter /init\nflags: P\n")
    })
    assert.deepStrictEqual([d.isWsl, d.version], [true, Option.some(1)])
  })
  it("older WSL 2 kernels (4.19.x-microsoft-standard) and custom kernels found by /run/WSL", () => {
    const old = WslEnvironment.detect({ ...none, kernelRelease: "4.19.104-microsoft-standard" })
    assert.deepStrictEqual([old.isWsl, old.version], [true, Option.some(2)])
    const custom = WslEnvironment.detect({ ...none, kernelRelease: "6.6.0-custom", runWslExists: true })
    assert.isTrue(custom.isWsl)
  })
  it("sudo lost WSL_DISTRO_NAME: still WSL, distro unknown", () => {
    const d = WslEnvironment.detect({ ...wsl2, env: {} })
    assert.isTrue(d.isWsl)
    assert.isTrue(Option.isNone(d.distro))
  })
  it("containers on WSL are excluded", () => {
    const d = WslEnvironment.detect({ ...wsl2, inContainer: true })
    assert.isFalse(d.isWsl)
    assert.isTrue(d.inContainer)
  })
  it("not Linux is never WSL", () => {
    assert.isFalse(WslEnvironment.detect({ ...wsl2, platform: "win32" }).isWsl)
  })
  it("interop disabled by binfmt or by /etc/wsl.conf; automount root and enabled from wsl.conf", () => {
    assert.isFalse(WslEnvironment.detect({ ...wsl2, interopBinfmt: Option.some("disabled\n") }).interop)
    const conf = "[automount]\nenabled = false\nroot = /win # mine\n\n[interop]\nenabled=false\n"
    const d = WslEnvironment.detect({ ...wsl2, wslConf: Option.some(conf) })
    assert.deepStrictEqual([d.interop, d.automountRoot, d.automountEnabled], [false, "/win/", false])
    const root = WslEnvironment.detect({ ...wsl2, wslConf: Option.some("[boot]\nroot=/nope\n[automount]\nroot=/\n") })
    assert.strictEqual(root.automountRoot, "/")
  })
  it("WSLInterop-late counts too; wslinfo wsl1 means version 1", () => {
    const d = WslEnvironment.detect({
      ...none,
      interopBinfmt: Option.some("enabled\n"),
      wslinfoNetworkingMode: Option.some("wsl1")
    })
    assert.deepStrictEqual([d.isWsl, d.version, d.networkingMode], [true, Option.some(1), Option.some("wsl1")])
  })
})

describe("WslEnvironment layers", () => {
  it.effect("layerFromFacts", () =>
    Effect.gen(function*() {
      const env = yield* WslEnvironment.WslEnvironment
      assert.isTrue(env.isWsl)
      assert.deepStrictEqual(env.distro, Option.some("Ubuntu-24.04"))
    }).pipe(Effect.provide(WslEnvironment.layerFromFacts(wsl2))))

  // The live layer against facts this test sets up itself (the oracle), not against `detect` of
  // `readFacts` (which would repeat the code under test): WSL_DISTRO_NAME in this process's
  // environment, and a `wslinfo` on PATH that records it ran and prints a mode. A WSL marker makes
  // the layer ask wslinfo, unless container markers rule WSL out (CI and this machine may run in
  // one): then it must not run wslinfo at all.
  it.live("the live layer reads this machine: the environment, and wslinfo only when it is WSL", () =>
    Effect.gen(function*() {
      const bin = mkdtempSync(join(tmpdir(), "wslinfo-"))
      const ran = join(bin, "ran")
      writeFileSync(join(bin, "wslinfo"), `#!/bin/sh\necho "$@" > "${ran}"\necho mirrored\n`, { mode: 0o755 })
      const saved = { distro: process.env["WSL_DISTRO_NAME"], path: process.env["PATH"] }
      process.env["WSL_DISTRO_NAME"] = "Isthmus-Probe"
      process.env["PATH"] = `${bin}:${saved.path ?? ""}`
      const env = yield* Effect.gen(function*() {
        return yield* WslEnvironment.WslEnvironment
      }).pipe(
        Effect.provide(WslEnvironment.layer),
        Effect.ensuring(Effect.sync(() => {
          for (const [name, value] of [["WSL_DISTRO_NAME", saved.distro], ["PATH", saved.path]] as const) {
            if (value === undefined) delete process.env[name]
            else process.env[name] = value
          }
        }))
      )
      assert.include(env.detection.evidence, "WSL_DISTRO_NAME=Isthmus-Probe")
      assert.strictEqual(env.isWsl, !env.detection.inContainer)
      if (env.isWsl) {
        assert.deepStrictEqual(env.distro, Option.some("Isthmus-Probe"))
        assert.deepStrictEqual(env.networkingMode, Option.some("mirrored"))
        assert.strictEqual(readFileSync(ran, "utf8"), "--networking-mode -n\n")
      } else {
        assert.deepStrictEqual([env.distro, env.networkingMode], [Option.none(), Option.none()])
        assert.isFalse(existsSync(ran), "wslinfo runs only inside WSL")
      }
    }))
})
