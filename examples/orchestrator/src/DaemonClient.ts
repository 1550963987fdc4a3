/**
 * Talking to a supervised daemon through `@isthmus/rpc-protocol`: NDJSON over TCP in the minimal
 * daemon dialect with the token `auth` handshake, or WebSocket with the token as a Bearer header.
 */
import { DaemonMethods } from "@isthmus-examples/daemon/Methods"
import { Dialect, Framing, Handshake, type RpcPeer } from "@isthmus/rpc-protocol"
import { RpcPeer as Peer } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, type Redacted, type Scope } from "effect"

export type DaemonPeer = RpcPeer.RpcPeer<DaemonMethods>

/** `tcp://host:port` → host and port; anything else is refused. */
export const parseTcpUrl = (url: string): { readonly host: string; readonly port: number } | undefined => {
  const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(url)
  if (match === null) return undefined
  const port = Number(match[2])
  return port > 0 && port < 65536 ? { host: match[1]!.replace(/^\[|\]$/g, ""), port } : undefined
}

/** A peer over TCP that authenticates with `auth` before anything else. */
export const connectDaemonTcp = (
  url: string,
  token: Redacted.Redacted<string>
): Effect.Effect<DaemonPeer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const address = parseTcpUrl(url)
    if (address === undefined) return yield* Effect.fail(new Error(`not a tcp:// URL: ${url}`))
    const peer = yield* Peer.make({
      connect: connectTcp(address),
      dialect: Dialect.daemon,
      framing: Framing.ndjson(),
      methods: DaemonMethods,
      handshake: Handshake.tokenAuth(token),
      requestTimeout: "5 seconds"
    })
    yield* peer.awaitReady
    return peer
  })

/** A peer over WebSocket with `Authorization: Bearer` on the upgrade. */
export const connectDaemonWs = (
  url: string,
  token: Redacted.Redacted<string>
): Effect.Effect<DaemonPeer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const peer = yield* Peer.make({
      connect: connectWebSocket(url, { token, openTimeout: "5 seconds" }),
      dialect: Dialect.daemon,
      framing: Framing.webSocket(),
      methods: DaemonMethods,
      requestTimeout: "5 seconds"
    })
    yield* peer.awaitReady
    return peer
  })
