/**
 * Profiling aid for the bridge's per-call cost (not run by `pnpm bench`): the upstream (an
 * RpcServer echo) and the caller (an RpcPeer making sequential calls) run in processes of their
 * own, so this process runs only the bridge and `--cpu-prof` sees the bridge alone. Each process
 * reports its own CPU time per call, the caller first to the upstream directly, then through the
 * bridge, so the bridge's hop can be compared with the work of a whole direct round trip.
 *
 *   node packages/rpc-protocol/bench/profile-bridge-hop.ts [calls] [rounds]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/rpc-protocol/bench/profile-bridge-hop.ts 20000 3
 */
import { Dialect, Framing, MethodTable, RpcBridge, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

const payload = { threadId: "thr_1", turnId: "turn_1", itemId: "item_3", delta: " a streamed word" }
const Methods = MethodTable.make({ echo: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown }) })
const cpuNow = () => {
  const used = process.cpuUsage()
  return used.user + used.system
}

/** Child: the upstream. Prints its port, then its CPU µs since the last "cpu" line on stdin. */
const upstreamMain = Effect.gen(function*() {
  const server = yield* RpcServer.make({
    dialect: Dialect.lite,
    framing: Framing.ndjson(),
    methods: Methods,
    handlers: { echo: (p) => Effect.succeed(p) }
  })
  const { port } = yield* serveTcp(server)
  console.log(port)
  let mark = cpuNow()
  createInterface({ input: process.stdin }).on("line", () => {
    const now = cpuNow()
    console.log(now - mark)
    mark = now
  })
  yield* Effect.never
}).pipe(Effect.scoped)

/** Child: the caller. Makes `calls` sequential calls to `port`, prints CPU µs per call. */
const callerMain = (port: number, calls: number) =>
  Effect.gen(function*() {
    const peer = yield* RpcPeer.make({
      connect: connectTcp({ port }),
      dialect: Dialect.lite,
      framing: Framing.ndjson()
    })
    for (let i = 0; i < 200; i++) yield* peer.request("echo", payload)
    const start = cpuNow()
    const t0 = performance.now()
    for (let i = 0; i < calls; i++) yield* peer.request("echo", payload)
    console.log(`${(cpuNow() - start) / calls} ${((performance.now() - t0) / calls) * 1000}`)
  }).pipe(Effect.scoped)

const self = fileURLToPath(import.meta.url)
const firstLine = (child: ChildProcess) =>
  new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))

const role = process.argv[2]
if (role === "upstream") {
  await Effect.runPromise(upstreamMain)
} else if (role === "caller") {
  await Effect.runPromise(callerMain(Number(process.argv[3]), Number(process.argv[4])))
} else {
  const calls = Number(process.argv[2] ?? 20_000)
  const rounds = Number(process.argv[3] ?? 3)
  const upstream = spawn(process.execPath, [self, "upstream"], { stdio: ["pipe", "pipe", "inherit"] })
  const upstreamLines = createInterface({ input: upstream.stdout! })
  const nextUpstreamLine = () => new Promise<string>((resolve) => upstreamLines.once("line", resolve))
  const upstreamPort = Number(await nextUpstreamLine())
  const upstreamCpu = async () => {
    upstream.stdin!.write("cpu\n")
    return Number(await nextUpstreamLine())
  }
  const scope = Effect.runSync(Scope.make())
  const { port } = await Effect.runPromise(
    Effect.gen(function*() {
      const bridge = yield* RpcBridge.make({
        upstream: { connect: connectTcp({ port: upstreamPort }), dialect: Dialect.lite, framing: Framing.ndjson() },
        clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
        catchUp: { replay: 0 }
      })
      yield* bridge.awaitUpstream
      return yield* serveTcp(bridge)
    }).pipe(Scope.provide(scope))
  )
  const caller = async (target: number) => {
    const child = spawn(process.execPath, [self, "caller", String(target), String(calls)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const [cpu, wall] = (await firstLine(child)).split(" ").map(Number)
    return { cpu: cpu!, wall: wall! }
  }
  for (let round = 1; round <= rounds; round++) {
    await upstreamCpu()
    const direct = await caller(upstreamPort)
    const directUpstream = (await upstreamCpu()) / calls
    const bridgeStart = cpuNow()
    const bridged = await caller(port)
    const bridgeCpu = (cpuNow() - bridgeStart) / calls
    const bridgedUpstream = (await upstreamCpu()) / calls
    const directTotal = direct.cpu + directUpstream
    console.log(
      `round ${round} (CPU µs per call): direct: caller ${direct.cpu.toFixed(1)} + upstream ${
        directUpstream.toFixed(1)
      } = ${directTotal.toFixed(1)}, wall ${direct.wall.toFixed(1)} µs; bridged: caller ${
        bridged.cpu.toFixed(1)
      } + bridge ${bridgeCpu.toFixed(1)} + upstream ${bridgedUpstream.toFixed(1)}, wall ${
        bridged.wall.toFixed(1)
      } µs; bridge hop / direct total ${(bridgeCpu / directTotal).toFixed(2)}`
    )
  }
  upstream.kill()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
