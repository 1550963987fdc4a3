/**
 * Where the WSL backend runs. On Windows: the real `wsl.exe`. Anywhere else there is no WSL, so
 * the WSL backend runs through `fake-wsl` from `@isthmus/wsl/testing` — the same launcher, the
 * same `wsl.exe` arguments, bytes and exit codes, the command run on this machine — and the
 * orchestrator labels it simulated.
 */
import type { Launcher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, type Layer } from "effect"

export interface WslSetup {
  readonly simulated: boolean
  readonly description: string
  readonly launchers: ReadonlyArray<Effect.Effect<Launcher, never, Wsl.Wsl>>
  readonly layer: Layer.Layer<Wsl.Wsl>
}

/** The fake host of the simulated run: one running WSL 2 distro with mirrored networking. */
export const simulatedHost = (node: string) => ({
  distros: [{
    name: "Ubuntu-24.04",
    state: "Running" as const,
    version: 2 as const,
    default: true,
    user: "dev",
    home: "/home/dev",
    interfaces: [{ name: "eth0", address: "127.0.0.1" }, { name: "docker0", address: "172.17.0.1" }],
    networkingMode: "mirrored",
    node: { path: node, version: process.version },
    tools: ["node", "git"]
  }]
})

export const wslLaunchers = (_workdir: string): Effect.Effect<WslSetup> =>
  Effect.sync(() => {
    if (process.platform === "win32") {
      return { simulated: false, description: "wsl.exe on this Windows host", launchers: [], layer: Wsl.layer() }
    }
    return {
      simulated: true,
      description: "no WSL on this machine: the WSL backend runs through fake-wsl (simulated)",
      launchers: [],
      layer: Wsl.layer({ host: fakeWslHostOptions(simulatedHost(process.execPath)) })
    }
  })
