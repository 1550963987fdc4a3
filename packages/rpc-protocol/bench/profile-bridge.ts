/**
 * Profiling aid for `bridge.bench.ts` (not run by `pnpm bench`): CPU time per upstream
 * notification fanned out to N line clients (each counts newlines, no JSON work), through the
 * bridge and written directly, in alternating rounds; then CPU time per round trip through the
 * bridge against the same call made directly. CPU time (both ends in this process) is robust to a
 * loaded machine, where wall-clock figures mostly measure the scheduler.
 *
 *   node packages/rpc-protocol/bench/profile-bridge.ts [clients] [notifications per round] [rounds]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/rpc-protocol/bench/profile-bridge.ts 100 2000 3 fanout
 *
 * A fifth argument, `fanout` or `calls`, runs only that part (and only the bridge's side of the
 * fan-out, for a profile of the bridge alone).
 */
import { Dialect, Framing, MethodTable, RpcBridge, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import * as net from "node:net"

const n = Number(process.argv[2] ?? 100)
const total = Number(process.argv[3] ?? 2_000)
const rounds = Number(process.argv[4] ?? 3)
const only = process.argv[5] as "fanout" | "calls" | undefined
const BATCH = 50
const payload = { threadId: "thr_1", turnId: "turn_1", itemId: "item_3", delta: " a streamed word" }

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  )

/** N clients that count the lines they receive. */
const counters = async (port: number) => {
  let lines = 0
  let waiting: { target: number; resolve: () => void } | undefined
  const sockets = await Promise.all(Array.from({ length: n }, () =>
    new Promise<net.Socket>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port, noDelay: true }, () => resolve(socket))
      socket.on("data", (chunk: Buffer) => {
        let at = chunk.indexOf(10)
        while (at !== -1) {
          lines++
          at = chunk.indexOf(10, at + 1)
        }
        if (waiting !== undefined && lines >= waiting.target) {
          const w = waiting
          waiting = undefined
          w.resolve()
        }
      })
    })))
  return {
    lines: () => lines,
    waitFor: (target: number) =>
      new Promise<void>((resolve) => {
        if (lines >= target) resolve()
        else waiting = { target, resolve }
      }),
    close: () => sockets.forEach((s) => s.destroy())
  }
}

const line = JSON.stringify({ method: "item/agentMessage/delta", params: payload }) + "\n"

/** CPU µs per notification delivered to every client. */
const drive = async (send: (line: string) => void, c: Awaited<ReturnType<typeof counters>>) => {
  const base = c.lines()
  const cpu = process.cpuUsage()
  for (let sent = 0; sent < total; sent += BATCH) {
    for (let i = 0; i < BATCH; i++) send(line)
    await c.waitFor(base + (sent + BATCH) * n)
  }
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / total
}

const directSockets = new Set<net.Socket>()
const rawServer = net.createServer({ noDelay: true }, (s) => directSockets.add(s))
const rawClients = await counters(await listen(rawServer))

const upstreams: Array<net.Socket> = []
const upstreamServer = net.createServer({ noDelay: true }, (s) => void upstreams.push(s))
const upstreamPort = await listen(upstreamServer)
const scope = Effect.runSync(Scope.make())
const peerOn = (port: number) =>
  RpcPeer.make({ connect: connectTcp({ port }), dialect: Dialect.lite, framing: Framing.ndjson() })
const Methods = MethodTable.make({ echo: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown }) })
const setup = await Effect.runPromise(
  Effect.gen(function*() {
    const bridge = yield* RpcBridge.make({
      upstream: { connect: connectTcp({ port: upstreamPort }), dialect: Dialect.lite, framing: Framing.ndjson() },
      clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
      catchUp: { replay: 0 }
    })
    const front = yield* serveTcp(bridge)
    const server = yield* RpcServer.make({
      dialect: Dialect.lite,
      framing: Framing.ndjson(),
      methods: Methods,
      handlers: { echo: (p) => Effect.succeed(p) }
    })
    const echo = yield* serveTcp(server)
    const callBridge = yield* RpcBridge.make({
      upstream: { connect: connectTcp({ port: echo.port }), dialect: Dialect.lite, framing: Framing.ndjson() },
      clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
      catchUp: { replay: 0 }
    })
    const callFront = yield* serveTcp(callBridge)
    return {
      bridge,
      port: front.port,
      directPeer: yield* peerOn(echo.port),
      bridgedPeer: yield* peerOn(callFront.port)
    }
  }).pipe(Scope.provide(scope))
)
const bridgedClients = await counters(setup.port)
while (directSockets.size < n || upstreams.length === 0) await new Promise((r) => setTimeout(r, 5))
for (;;) {
  const stats = await Effect.runPromise(setup.bridge.stats)
  if (stats.clients.filter((c) => c.phase === "live").length === n) break
  await new Promise((r) => setTimeout(r, 5))
}
const upstream = upstreams[0]!

/** 200 sequential calls: their wall-clock latencies (µs) into `into`, and the CPU µs they took. */
const block = (peer: RpcPeer.RpcPeer, into: Array<number>) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    for (let i = 0; i < 200; i++) {
      const start = performance.now()
      yield* peer.request("echo", payload)
      into.push((performance.now() - start) * 1000)
    }
    const used = process.cpuUsage(cpu)
    return used.user + used.system
  })
const median = (xs: Array<number>) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Alternating blocks, direct then bridged, so load falls on both: p50 and CPU per call of each. */
const callRound = async () => {
  const direct: Array<number> = []
  const bridged: Array<number> = []
  let directCpu = 0
  let bridgedCpu = 0
  for (let i = 0; i < 10; i++) {
    directCpu += await Effect.runPromise(block(setup.directPeer, direct))
    bridgedCpu += await Effect.runPromise(block(setup.bridgedPeer, bridged))
  }
  return {
    direct: median(direct),
    bridged: median(bridged),
    directCpu: directCpu / 2000,
    bridgedCpu: bridgedCpu / 2000
  }
}

for (let round = 1; round <= rounds; round++) {
  if (only !== "calls") {
    const baseline = only === "fanout" ? Number.NaN : await drive((l) => {
      for (const s of directSockets) s.write(l)
    }, rawClients)
    const ours = await drive((l) => upstream.write(l), bridgedClients)
    console.log(
      `round ${round}: fan-out to ${n}: bridge ${ours.toFixed(1)} µs CPU per notification, direct ${
        baseline.toFixed(1)
      } µs (ratio ${(baseline / ours).toFixed(2)}x)`
    )
  }
  if (only !== "fanout") {
    const r = await callRound()
    console.log(
      `round ${round}: round trip p50: bridge ${r.bridged.toFixed(1)} µs, direct ${r.direct.toFixed(1)} µs (${
        (r.bridged / r.direct).toFixed(2)
      }x); CPU per call: bridge ${r.bridgedCpu.toFixed(1)} µs, direct ${r.directCpu.toFixed(1)} µs (${
        (r.bridgedCpu / r.directCpu).toFixed(2)
      }x)`
    )
  }
}
rawClients.close()
bridgedClients.close()
await Effect.runPromise(Scope.close(scope, Exit.void))
rawServer.close()
upstreamServer.close()
