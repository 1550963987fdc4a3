/**
 * Profiling aid for the round-trip benchmark (not run by `pnpm bench`): the same RpcPeer →
 * RpcServer setup (daemon dialect, NDJSON over loopback TCP, one call in flight), run for a fixed
 * number of calls so `node --cpu-prof` sees nothing else.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/rpc-protocol/bench/profile-roundtrip.ts 20000
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Schema } from "effect"

const calls = Number(process.argv[2] ?? 20_000)
const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }
const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

const program = Effect.gen(function*() {
  const server = yield* RpcServer.make({
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: Methods,
    handlers: { echo: (p) => Effect.succeed(p) }
  })
  const address = yield* serveTcp(server)
  const peer = yield* RpcPeer.make({
    connect: connectTcp({ port: address.port }),
    dialect: Dialect.daemon,
    framing: Framing.ndjson()
  })
  const started = performance.now()
  const cpu = process.cpuUsage()
  for (let i = 0; i < calls; i++) yield* peer.request("echo", params)
  const used = process.cpuUsage(cpu)
  console.log(
    `ours: ${calls} calls, ${(((performance.now() - started) / calls) * 1000).toFixed(1)} µs each, ` +
      `CPU ${((used.user + used.system) / calls).toFixed(1)} µs each (user ${(used.user / calls).toFixed(1)})`
  )
}).pipe(Effect.scoped)

await Effect.runPromise(program)
