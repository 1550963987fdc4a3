// The fake codex app-server (examples/fake-app-server) as real child processes over stdio: the
// upstream of the bridge tests. Each `connect` spawns a new process (a "restart" of the backend).
import { childStdio } from "@isthmus/rpc-protocol/node"
import { Effect, type Scope } from "effect"
import type * as Socket from "effect/socket/Socket"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const fakeAppServerEntry = fileURLToPath(
  new URL("../../../../examples/fake-app-server/src/main.ts", import.meta.url)
)

export interface FakeAppServers {
  /** Spawns a new fake app-server and returns a socket over its stdin/stdout. */
  readonly connect: Effect.Effect<Socket.Socket>
  /** Every process spawned so far, oldest first. */
  readonly children: ReadonlyArray<ChildProcess>
  /** Every stderr line of every process (the fake logs answers to unknown server requests there). */
  readonly stderr: ReadonlyArray<string>
}

/** Fake app-servers that are killed when the scope closes. */
export const fakeAppServers = (deltaDelayMs = 1): Effect.Effect<FakeAppServers, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const children: Array<ChildProcess> = []
      const stderr: Array<string> = []
      const connect = Effect.suspend(() => {
        const child = spawn(process.execPath, [fakeAppServerEntry, "--delta-delay-ms", String(deltaDelayMs)], {
          stdio: ["pipe", "pipe", "pipe"]
        })
        children.push(child)
        let partial = ""
        child.stderr!.setEncoding("utf8")
        child.stderr!.on("data", (chunk: string) => {
          partial += chunk
          const lines = partial.split("\n")
          partial = lines.pop()!
          stderr.push(...lines)
        })
        return childStdio(child)
      })
      return { connect, children, stderr }
    }),
    (servers) =>
      Effect.sync(() => {
        for (const child of servers.children) if (child.exitCode === null) child.kill("SIGKILL")
      })
  )
