/**
 * Profiling aid (not run by `pnpm bench`): runs ONE side of the round-trip benchmark — `ours`
 * (RpcPeer → RpcServer, daemon/NDJSON/TCP) or `raw` (the net echo baseline) — warms it up, then
 * CPU-profiles only the measured calls through the inspector and writes the profile, so the two
 * sides' profiles can be compared per call without start-up noise.
 *
 *   node packages/rpc-protocol/bench/profile-split.ts ours|raw [calls] [out.cpuprofile]
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import * as net from "node:net"
import { onLines } from "../test/support/lines.ts"

const side = process.argv[2] === "raw" ? "raw" : "ours"
const calls = Number(process.argv[3] ?? 20_000)
const out = process.argv[4]
const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }
const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

const makeOurs = async () => {
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
  const loop = (n: number) =>
    Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* peer.request("echo", params)
    }))
  return { loop, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const makeRaw = async () => {
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
  const call = () =>
    new Promise<string>((resolve) => {
      waiting = resolve
      client.write(JSON.stringify({ id: ++id, method: "echo", params }) + "\n")
    })
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) await call()
  }
  return {
    loop,
    close: async () => {
      client.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

const setup = side === "raw" ? await makeRaw() : await makeOurs()
await setup.loop(5000)
const session = new Session()
if (out !== undefined) {
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 100 })
  await session.post("Profiler.start")
}
const cpu = process.cpuUsage()
const started = performance.now()
await setup.loop(calls)
const used = process.cpuUsage(cpu)
const wall = performance.now() - started
if (out !== undefined) {
  const { profile } = await session.post("Profiler.stop")
  writeFileSync(out, JSON.stringify(profile))
  session.disconnect()
}
console.log(
  `${side}: ${calls} calls, ${((wall / calls) * 1000).toFixed(1)} µs each, CPU ${
    ((used.user + used.system) / calls).toFixed(1)
  } µs each (user ${(used.user / calls).toFixed(1)}, system ${(used.system / calls).toFixed(1)})`
)
await setup.close()
