// A raw line client for wire-level assertions: send exact bytes, read exact lines.
import { Effect, type Scope } from "effect"
import * as net from "node:net"
import { onLines } from "./lines.ts"

export interface RawClient {
  readonly send: (text: string) => Effect.Effect<void>
  /** The next line (without "\n"); fails after `ms` with "timeout". */
  readonly next: (ms?: number) => Effect.Effect<string, "timeout" | "closed">
  readonly closed: Effect.Effect<void>
  readonly socket: net.Socket
}

export const rawTcp = (port: number): Effect.Effect<RawClient, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<RawClient>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      const lines: Array<string> = []
      const waiters: Array<(line: string | undefined) => void> = []
      let ended = false
      const closeWaiters: Array<() => void> = []
      onLines(socket, (line) => {
        const waiter = waiters.shift()
        if (waiter) waiter(line)
        else lines.push(line)
      })
      socket.on("close", () => {
        ended = true
        for (const w of waiters.splice(0)) w(undefined)
        for (const c of closeWaiters.splice(0)) c()
      })
      socket.on("error", () => {})
      const take = (ms: number) =>
        Effect.callback<string | undefined, "timeout">((res) => {
          const line = lines.shift()
          if (line !== undefined) return res(Effect.succeed(line))
          if (ended) return res(Effect.succeed(undefined))
          const waiter = (l: string | undefined) => {
            clearTimeout(timer)
            res(Effect.succeed(l))
          }
          const timer = setTimeout(() => {
            const i = waiters.indexOf(waiter)
            if (i !== -1) waiters.splice(i, 1)
            res(Effect.fail("timeout"))
          }, ms)
          waiters.push(waiter)
        })
      socket.on("connect", () =>
        resume(Effect.succeed({
          socket,
          send: (text) => Effect.callback<void>((res) => void socket.write(text, () => res(Effect.void))),
          next: (ms = 5000) =>
            take(ms).pipe(Effect.flatMap((l) => l === undefined ? Effect.fail("closed" as const) : Effect.succeed(l))),
          closed: Effect.callback<void>((res) => {
            if (ended) return res(Effect.void)
            closeWaiters.push(() => res(Effect.void))
          })
        })))
    }),
    (client) => Effect.sync(() => client.socket.destroy())
  )
