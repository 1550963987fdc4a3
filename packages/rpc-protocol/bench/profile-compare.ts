/**
 * Profiling aid: CPU time per round trip (process.cpuUsage, both ends in this process) of our
 * RpcPeer → RpcServer against the raw echo, in alternating rounds; robust to a loaded machine,
 * where wall-clock latency mostly measures the scheduler.
 *
 *   node packages/rpc-protocol/bench/profile-compare.ts [calls per round] [rounds]
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import * as net from "node:net"
import { onLines } from "../test/support/lines.ts"

const calls = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 5)
const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }
const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

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

const server = net.createServer({ noDelay: true }, (socket) => {
  onLines(socket, (line) => {
    if (line.length === 0) return
    const request = JSON.parse(line) as { id: number; params: unknown }
    socket.write(JSON.stringify({ id: request.id, result: request.params }) + "\n")
  })
})
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const client = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, noDelay: true })
await new Promise<void>((resolve) => client.once("connect", resolve))
let waiting: ((line: string) => void) | undefined
onLines(client, (line) => {
  if (line.length === 0) return
  JSON.parse(line)
  waiting?.(line)
})
let id = 0
const rawCall = () =>
  new Promise<string>((resolve) => {
    waiting = resolve
    client.write(JSON.stringify({ id: ++id, method: "echo", params }) + "\n")
  })

const cpuPerCall = async (run: () => Promise<void>) => {
  const cpu = process.cpuUsage()
  await run()
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / calls
}
const oursLoop = Effect.gen(function*() {
  for (let i = 0; i < calls; i++) yield* peer.request("echo", params)
})
const ratios: Array<number> = []
for (let r = 0; r < rounds; r++) {
  const raw = await cpuPerCall(async () => {
    for (let i = 0; i < calls; i++) await rawCall()
  })
  const ours = await cpuPerCall(() => Effect.runPromise(oursLoop))
  ratios.push(ours / raw)
  console.log(`round ${r}: raw ${raw.toFixed(1)} µs, ours ${ours.toFixed(1)} µs, ratio ${(ours / raw).toFixed(2)}`)
}
ratios.sort((a, b) => a - b)
console.log(`median CPU ratio ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}`)
client.destroy()
server.close()
await Effect.runPromise(Scope.close(scope, Exit.void))
