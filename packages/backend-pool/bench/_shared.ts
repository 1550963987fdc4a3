import { NodeServices } from "@effect/platform-node"
import { BackendPool, type BackendSpec, LocalLauncher } from "@isthmus/backend-pool"
import { Layer } from "effect"
import * as NodeChild from "node:child_process"

/** A trivial backend: prints the ready line, then idles. `sh` so spawning costs little. */
export const readyCommand = { command: "sh", args: ["-c", "echo '@@isthmus:ready {}'; exec sleep 300"] }

/** `n` trivial backends (ids `<prefix>0`…), killed at once when stopped. */
export const trivialSpecs = (prefix: string, n: number): ReadonlyArray<BackendSpec.BackendSpec> =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    launcher: { _tag: "Local", ...readyCommand },
    stop: { signal: "SIGKILL", graceMs: 1_000 }
  }))

export const livePool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))

/** Raw baseline: spawn, wait for the ready line on stdout; returns the child. */
export const rawSpawnReady = (): Promise<NodeChild.ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = NodeChild.spawn(readyCommand.command, readyCommand.args, { stdio: ["pipe", "pipe", "pipe"] })
    let buffer = ""
    child.once("error", reject)
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      if (buffer.includes("@@isthmus:ready")) resolve(child)
    })
  })

export const killAndWait = (child: NodeChild.ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

export const median = (xs: ReadonlyArray<number>): number => {
  const s = xs.toSorted((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
