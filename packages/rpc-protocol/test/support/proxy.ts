// A loopback TCP proxy that can stop forwarding without closing anything: what a NAT or a mobile
// network does to an idle connection (half-open). New connections after a freeze work normally.
import { Effect, type Scope } from "effect"
import * as net from "node:net"

export interface FreezingProxy {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** Stops forwarding on every open connection, in both directions, without closing them. */
  readonly freeze: () => void
}

export const freezingProxy = (target: number): Effect.Effect<FreezingProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; proxy: FreezingProxy; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const pairs: Array<[net.Socket, net.Socket]> = []
      let accepted = 0
      const server = net.createServer((client) => {
        accepted++
        const upstream = net.connect({ host: "127.0.0.1", port: target })
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on("error", () => {})
          s.on("close", () => sockets.delete(s))
        }
        client.pipe(upstream)
        upstream.pipe(client)
        pairs.push([client, upstream])
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          server,
          sockets,
          proxy: {
            port: (server.address() as net.AddressInfo).port,
            accepted: () => accepted,
            freeze: () => {
              for (const [client, upstream] of pairs.splice(0)) {
                client.unpipe(upstream)
                upstream.unpipe(client)
                // Read and discard: nothing flows, nothing closes.
                client.removeAllListeners("data")
                upstream.removeAllListeners("data")
                client.on("data", () => {})
                upstream.on("data", () => {})
              }
            }
          }
        })))
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
