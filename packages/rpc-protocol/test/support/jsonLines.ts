// JSON line clients and a raw JSON line server for the bridge tests: exact wire messages in and
// out, no code under test on the other side of the socket.
import { Effect, type Scope } from "effect"
import * as net from "node:net"
import { onLines } from "./lines.ts"
import { type RawClient, rawTcp } from "./raw.ts"

export type Json = Record<string, unknown>

// Waits are safety nets against a hang, not speed assertions: generous for a busy 2-core CI.
export const WAIT = 30_000

export interface JsonLines {
  readonly raw: RawClient
  readonly send: (message: Json) => Effect.Effect<void>
  readonly next: Effect.Effect<Json, "timeout" | "closed">
  /** Reads until `match`; returns everything read, the match last. */
  readonly until: (match: (m: Json) => boolean) => Effect.Effect<Array<Json>, "timeout" | "closed">
}

/** A JSON line client on `port` (loopback TCP). */
export const jsonLines = (port: number): Effect.Effect<JsonLines, never, Scope.Scope> =>
  Effect.map(rawTcp(port), (raw) => {
    const next = Effect.map(raw.next(WAIT), (text) => JSON.parse(text) as Json)
    return {
      raw,
      send: (message) => raw.send(JSON.stringify(message) + "\n"),
      next,
      until: (match) =>
        Effect.gen(function*() {
          const seen: Array<Json> = []
          for (;;) {
            const m = yield* next
            seen.push(m)
            if (match(m)) return seen
          }
        })
    }
  })

export const reply = (id: unknown) => (m: Json) => m["id"] === id && m["method"] === undefined
export const method = (name: string) => (m: Json) => m["method"] === name
export const params = (m: Json) => m["params"] as Json

/** One connection accepted by a {@link jsonLineServer}. */
export interface ServerConnection {
  readonly socket: net.Socket
  /** The next line received, parsed. */
  readonly next: Effect.Effect<Json, "timeout">
  readonly send: (message: Json) => Effect.Effect<void>
}

/**
 * A plain NDJSON server on a loopback port: the test plays the upstream and sees every line the
 * bridge writes. `accepted` waits for the next connection.
 */
export const jsonLineServer = Effect.gen(function*() {
  const pending: Array<ServerConnection> = []
  const waiters: Array<(c: ServerConnection) => void> = []
  const sockets = new Set<net.Socket>()
  const server = yield* Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const srv = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        const lines: Array<Json> = []
        const lineWaiters: Array<(m: Json) => void> = []
        onLines(socket, (text) => {
          const m = JSON.parse(text) as Json
          const w = lineWaiters.shift()
          if (w) w(m)
          else lines.push(m)
        })
        const connection: ServerConnection = {
          socket,
          next: Effect.callback<Json, "timeout">((res) => {
            const m = lines.shift()
            if (m !== undefined) return res(Effect.succeed(m))
            const waiter = (l: Json) => {
              clearTimeout(timer)
              res(Effect.succeed(l))
            }
            const timer = setTimeout(() => {
              lineWaiters.splice(lineWaiters.indexOf(waiter), 1)
              res(Effect.fail("timeout"))
            }, WAIT)
            lineWaiters.push(waiter)
          }),
          send: (message) =>
            Effect.callback<void>((res) => void socket.write(JSON.stringify(message) + "\n", () => res(Effect.void)))
        }
        const w = waiters.shift()
        if (w) w(connection)
        else pending.push(connection)
      })
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) =>
      Effect.sync(() => {
        for (const s of sockets) s.destroy()
        srv.close()
      })
  )
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: Effect.callback<ServerConnection>((res) => {
      const c = pending.shift()
      if (c !== undefined) return res(Effect.succeed(c))
      waiters.push((conn) => res(Effect.succeed(conn)))
    })
  }
})
