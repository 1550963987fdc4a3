import { BackendSpec, ReconcilePlan } from "@isthmus/backend-pool"
import { Exit, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { desiredSpecs, WslBackendSetting } from "../src/Settings.ts"

const paths = {
  node: "C:\\app\\node.exe",
  serverEntry: "C:\\app\\server\\main.js",
  wslNode: "node",
  wslServerEntry: "/opt/app/server/main.js",
  logDir: "C:\\logs"
}
const tokenFor = (id: string) => `token-${id}`

describe("electron-main settings", () => {
  it("runs the native backend alone until the WSL backend is turned on, then adds it with the bootstrap on stdin", () => {
    expect(desiredSpecs({ enabled: false, distro: null }, paths, tokenFor).map((s) => s.id)).toEqual(["native"])
    expect(desiredSpecs({ enabled: true, distro: null }, paths, tokenFor).map((s) => s.id)).toEqual(["native"])
    const specs = desiredSpecs({ enabled: true, distro: "Ubuntu-24.04" as never }, paths, tokenFor)
    expect(specs.map((s) => s.id)).toEqual(["native", "wsl-ubuntu-24-04"])
    expect(specs[1]?.launcher).toEqual({
      _tag: "Wsl",
      distro: "Ubuntu-24.04",
      command: "node",
      args: ["/opt/app/server/main.js"]
    })
    expect(specs[1]?.bootstrap?.delivery).toBe("stdin")
  })

  it("turning WSL on keeps the native backend untouched (same launch hash: no restart)", () => {
    const before = desiredSpecs({ enabled: false, distro: null }, paths, tokenFor)
    const after = desiredSpecs({ enabled: true, distro: "Debian" as never }, paths, tokenFor)
    const current = before.map((spec) => ({
      id: spec.id,
      launchHash: BackendSpec.launchHash(spec),
      policyHash: BackendSpec.policyHash(spec)
    }))
    const plan = ReconcilePlan.toPlan(ReconcilePlan.diff(current, after))
    expect(plan).toEqual({ started: ["wsl-debian"], replaced: [], updated: [], kept: ["native"], stopped: [] })
  })

  it("refuses a distro name WSL itself would refuse, before it reaches a command line", () => {
    // `Legacy` is not here: it is reserved for new registrations only, and machines migrated
    // from lxrun list a distro of that name (windows-reality.md, LxssUserSession.cpp).
    for (const distro of ["Ubuntu; rm -rf /", "../etc", "", "a".repeat(257), "Ubuntu 24.04", "Ubuntu/x"]) {
      expect(Exit.isFailure(Schema.decodeUnknownExit(WslBackendSetting)({ enabled: true, distro }))).toBe(true)
    }
    for (const distro of ["Ubuntu-24.04", "Legacy"]) {
      expect(Exit.isSuccess(Schema.decodeUnknownExit(WslBackendSetting)({ enabled: true, distro }))).toBe(true)
    }
  })
})
