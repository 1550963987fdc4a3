/**
 * Where the WSL backend runs. On Windows: the real `wsl.exe`. Anywhere else there is no WSL, so
 * the WSL backend runs through `fake-wsl` from `@isthmus/wsl/testing` — the same launcher, the
 * same `wsl.exe` arguments, bytes and exit codes, the command run on this machine — and the
 * orchestrator labels it simulated.
 */
import { type Launcher, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, type Layer } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import { dirname } from "node:path"

export interface WslSetup {
  readonly simulated: boolean
  readonly description: string
  readonly launchers: ReadonlyArray<Effect.Effect<Launcher, never, Wsl.Wsl | ChildProcessSpawner.ChildProcessSpawner>>
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
    // Node as nvm installs it: in a directory only `~/.bashrc` puts on PATH, so the preflight's
    // interactive shell finds this Node (not whatever `/usr/bin/node` the machine has).
    node: { path: node, version: process.version },
    bashrc: { path: [dirname(node)] },
    tools: ["git"]
  }]
})

/** What every WSL launch is checked for first (`Wsl.preflight`): nothing is spawned when it fails. */
export const requirements = { node: ">=22.19", tools: ["node"] }

export const wslLaunchers: Effect.Effect<WslSetup> = Effect.sync(() => {
  if (process.platform === "win32") {
    return {
      simulated: false,
      description: "wsl.exe on this Windows host",
      launchers: [WslLauncher.make({ requirements })],
      layer: Wsl.layer()
    }
  }
  const host = fakeWslHostOptions(simulatedHost(process.execPath))
  return {
    simulated: true,
    description: "no WSL on this machine: the WSL backend runs through fake-wsl (simulated)",
    launchers: [WslLauncher.make({ host, requirements })],
    layer: Wsl.layer({ host })
  }
})
