/**
 * The round trip's two setups, shared by `roundtrip.bench.ts` and its profiling aids
 * (`profile-compare.ts`, `profile-split.ts`): ours, RpcPeer → RpcServer (daemon dialect, NDJSON
 * over loopback TCP, every bound on), and the baseline, a raw `net` echo doing the same framing
 * and JSON work (split lines, JSON.parse, JSON.stringify). One request in flight at a time.
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import * as net from "node:net"
import { onLines } from "../test/support/lines.ts"

export const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }

const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

/** Ours: a server on loopback and a peer connected to it, both in a scope `close` ends. */
export const startOurs = async () => {
  const scope = Effect.runSync(Scope.make())
  const peer = await Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers: { echo: (p) => Effect.succeed(p) }
      })
      const address = yield* serveTcp(server)
      return yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
    }).pipe(Scope.provide(scope))
  )
  return { peer, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The baseline: a raw net server and client; `call` sends one request and waits for its reply. */
export const startRaw = async () => {
  const server = net.createServer({ noDelay: true }, (socket) => {
    onLines(socket, (line) => {
      if (line.length === 0) return
      const request = JSON.parse(line) as { id: number; params: unknown }
      socket.write(JSON.stringify({ id: request.id, result: request.params }) + "\n")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  const client = net.connect({ host: "127.0.0.1", port, noDelay: true })
  await new Promise<void>((resolve) => client.once("connect", resolve))
  let waiting: ((line: string) => void) | undefined
  onLines(client, (line) => {
    if (line.length === 0) return
    JSON.parse(line)
    waiting?.(line)
  })
  let id = 0
  const call = () =>
    new Promise<string>((resolve) => {
      waiting = resolve
      client.write(JSON.stringify({ id: ++id, method: "echo", params }) + "\n")
    })
  const close = async () => {
    client.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { call, close }
}
