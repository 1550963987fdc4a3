/**
 * The app's backend settings and how they become pool specs: the native backend always, plus one
 * inside a WSL distro when the user turned it on. Pure; the main process owns the state.
 */
import type { BackendSpec } from "@isthmus/backend-pool"
import { DistroName } from "@isthmus/wsl"
import { Schema } from "effect"

/** What the renderer may set. The distro name is checked by WSL's own rules before anything runs. */
export const WslBackendSetting = Schema.Struct({
  enabled: Schema.Boolean,
  distro: Schema.NullOr(DistroName.DistroName)
})
export type WslBackendSetting = typeof WslBackendSetting.Type

export interface BackendPaths {
  /** The binary that runs the native backend (Electron's `process.execPath`) and the server entry. */
  readonly node: string
  readonly serverEntry: string
  /** The server entry as seen from inside the distro (e.g. via `Wsl.wslpath`). */
  readonly wslNode: string
  readonly wslServerEntry: string
  readonly logDir: string
}

/** The desired specs for the current setting. Tokens are stable per id so unchanged backends keep running. */
export const desiredSpecs = (
  setting: WslBackendSetting,
  paths: BackendPaths,
  tokenFor: (id: string) => string
): ReadonlyArray<BackendSpec.BackendSpec> => {
  const common = {
    restart: { backoff: { initialMs: 500, maxMs: 10_000 }, resetAfterReadyMs: 30_000 },
    stop: { graceMs: 5_000 },
    log: { dir: paths.logDir }
  }
  const native: BackendSpec.BackendSpec = {
    id: "native",
    label: "This PC",
    // In a packaged app `paths.node` is Electron's own binary: ELECTRON_RUN_AS_NODE=1 makes it
    // run the script as plain Node instead of opening a second app (plain Node ignores it).
    launcher: { _tag: "Local", command: paths.node, args: [paths.serverEntry] },
    env: { ELECTRON_RUN_AS_NODE: "1" },
    bootstrap: { delivery: "fd3", envelope: { name: "native", token: tokenFor("native") } },
    ...common
  }
  if (!setting.enabled || setting.distro === null) return [native]
  const id = `wsl-${setting.distro.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`
  return [native, {
    id,
    label: `WSL: ${setting.distro}`,
    launcher: { _tag: "Wsl", distro: setting.distro, command: paths.wslNode, args: [paths.wslServerEntry] },
    bootstrap: { delivery: "stdin", envelope: { name: id, token: tokenFor(id) } },
    ...common
  }]
}
