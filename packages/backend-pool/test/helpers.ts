import { NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"

export const fixture = (name: string): string =>
  NodePath.join(fileURLToPath(new URL("./fixtures/", import.meta.url)), name)

/** The pool with the real `Local` launcher. */
export const livePool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))

/** The environment variable {@link reapTagged} looks for (inherited by every descendant). */
export const REAP_TAG = "ISTHMUS_TEST_REAP"

/**
 * A fresh tag for a test's host process: spawn it with `{ [REAP_TAG]: tag }` in its environment
 * and every process it starts (backends, watchdogs, relays, grandchildren, `setsid` escapees)
 * inherits it, so {@link reapTagged} can end them all when the test fails half-way.
 */
export const reapTag = (): string => `${process.pid}-${Math.random().toString(36).slice(2)}`

/**
 * SIGKILLs every live process whose environment holds `REAP_TAG=tag` (Linux `/proc`); returns
 * their pids. A test's finalizer, so a failing host-death test never leaves processes behind.
 */
export const reapTagged = (tag: string): Array<number> => {
  const needle = `${REAP_TAG}=${tag}\0`
  const killed: Array<number> = []
  for (let round = 0; round < 3; round++) {
    let found = 0
    for (const entry of NodeFs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
      let environ: string
      try {
        environ = NodeFs.readFileSync(`/proc/${entry}/environ`, "latin1")
      } catch {
        continue
      }
      if (!`${environ}\0`.includes(needle)) continue
      try {
        process.kill(Number(entry), "SIGKILL")
        found++
        if (!killed.includes(Number(entry))) killed.push(Number(entry))
      } catch {
        // gone meanwhile
      }
    }
    if (found === 0) break
  }
  return killed
}
