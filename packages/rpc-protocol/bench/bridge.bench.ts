/**
 * RpcBridge costs, each against a baseline measured in the same run:
 * - notification fan-out to 1, 10 and 100 clients (lite dialect, NDJSON over loopback TCP):
 *   upstream notifications fully delivered per second and p99 delivery latency, against writing
 *   the same bytes to the same kind of sockets directly from the upstream side;
 * - per-call overhead: a round trip through the bridge against calling the upstream directly.
 * Notifications go in batches of 50; the next batch leaves when every client has the last one, so
 * no queue ever overflows and both setups do the same work.
 */
import { Dialect, Framing, MethodTable, RpcBridge, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import * as net from "node:net"
import { type BenchRow, percentile } from "../../../scripts/bench-kit.ts"
import { onLines } from "../test/support/lines.ts"

const BATCH = 50
const payload = { threadId: "thr_1", turnId: "turn_1", itemId: "item_3", delta: " a streamed word" }

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  )

/** N line clients on `port`; each notification's `params.t` gives its latency. */
const clients = async (port: number, n: number) => {
  const latencies: Array<number> = []
  let received = 0
  let waiting: { target: number; resolve: () => void } | undefined
  const sockets = await Promise.all(Array.from({ length: n }, () =>
    new Promise<net.Socket>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port, noDelay: true }, () => resolve(socket))
      onLines(socket, (line) => {
        const message = JSON.parse(line) as { params?: { t?: number } }
        const t = message.params?.t
        if (t === undefined) return
        latencies.push(performance.now() - t)
        received++
        if (waiting !== undefined && received >= waiting.target) {
          const w = waiting
          waiting = undefined
          w.resolve()
        }
      })
    })))
  return {
    sockets,
    latencies,
    received: () => received,
    waitFor: (target: number) =>
      new Promise<void>((resolve) => {
        if (received >= target) resolve()
        else waiting = { target, resolve }
      }),
    close: () => sockets.forEach((s) => s.destroy())
  }
}

/** Sends `total` notifications through `send` in batches; returns deliveries/s of upstream messages. */
const drive = async (
  n: number,
  total: number,
  send: (line: string) => void,
  c: Awaited<ReturnType<typeof clients>>
) => {
  const start = performance.now()
  for (let sent = 0; sent < total; sent += BATCH) {
    for (let i = 0; i < BATCH; i++) {
      send(JSON.stringify({ method: "item/agentMessage/delta", params: { ...payload, t: performance.now() } }) + "\n")
    }
    await c.waitFor((sent + BATCH) * n)
  }
  return (total / (performance.now() - start)) * 1000
}

const fanOut = async (n: number, total: number) => {
  // Baseline: the upstream side writes each line to every client socket itself.
  const direct = new Set<net.Socket>()
  const rawServer = net.createServer({ noDelay: true }, (s) => direct.add(s))
  const rawPort = await listen(rawServer)
  const rawClients = await clients(rawPort, n)
  while (direct.size < n) await new Promise((r) => setTimeout(r, 5))
  const baseline = await drive(n, total, (line) => {
    for (const s of direct) s.write(line)
  }, rawClients)
  rawClients.close()
  rawServer.close()

  // Ours: an upstream socket the bench writes to, the bridge, the same kind of clients.
  const upstreams: Array<net.Socket> = []
  const upstreamServer = net.createServer({ noDelay: true }, (s) => void upstreams.push(s))
  const upstreamPort = await listen(upstreamServer)
  const scope = Effect.runSync(Scope.make())
  const bridge = await Effect.runPromise(
    Effect.gen(function*() {
      const b = yield* RpcBridge.make({
        upstream: { connect: connectTcp({ port: upstreamPort }), dialect: Dialect.lite, framing: Framing.ndjson() },
        clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
        catchUp: { replay: 0 }
      })
      const address = yield* serveTcp(b)
      return { b, port: address.port }
    }).pipe(Scope.provide(scope))
  )
  const bridged = await clients(bridge.port, n)
  while (upstreams.length === 0) await new Promise((r) => setTimeout(r, 5))
  const upstream = upstreams[0]!
  for (;;) {
    const stats = await Effect.runPromise(bridge.b.stats)
    if (stats.clients.filter((c) => c.phase === "live").length === n) break
    await new Promise((r) => setTimeout(r, 5))
  }
  const ours = await drive(n, total, (line) => upstream.write(line), bridged)
  bridged.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  upstreamServer.close()
  return {
    ours,
    baseline,
    oursP99: percentile(bridged.latencies, 99),
    baselineP99: percentile(rawClients.latencies, 99)
  }
}

const peerOn = (port: number) =>
  RpcPeer.make({ connect: connectTcp({ port }), dialect: Dialect.lite, framing: Framing.ndjson() })

const timedBlock = (peer: RpcPeer.RpcPeer, into: Array<number>, record: boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const start = performance.now()
      yield* peer.request("echo", payload)
      if (record) into.push(performance.now() - start)
    }
  })

const Methods = MethodTable.make({ echo: MethodTable.method({ params: Schema.Unknown, result: Schema.Unknown }) })

const perCall = async () => {
  const scope = Effect.runSync(Scope.make())
  const { direct, bridged } = await Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers: { echo: (p) => Effect.succeed(p) }
      })
      const upstream = yield* serveTcp(server)
      const bridge = yield* RpcBridge.make({
        upstream: { connect: connectTcp({ port: upstream.port }), dialect: Dialect.lite, framing: Framing.ndjson() },
        clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
        catchUp: { replay: 0 }
      })
      const front = yield* serveTcp(bridge)
      return { direct: yield* peerOn(upstream.port), bridged: yield* peerOn(front.port) }
    }).pipe(Scope.provide(scope))
  )
  const ours: Array<number> = []
  const baseline: Array<number> = []
  for (let round = 0; round < 20; round++) {
    const record = round >= 4
    await Effect.runPromise(timedBlock(direct, baseline, record))
    await Effect.runPromise(timedBlock(bridged, ours, record))
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return { ours, baseline }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const rows: Array<BenchRow> = []
  for (const [n, total] of [[1, 20_000], [10, 5_000], [100, 1_000]] as const) {
    const r = await fanOut(n, total)
    rows.push({
      name: `RpcBridge fan-out to ${n} client${n === 1 ? "" : "s"} (notifications fully delivered)`,
      value: r.ours,
      unit: "msgs/s",
      baseline: "same lines written to the same sockets directly",
      baselineValue: r.baseline,
      better: "higher"
    }, {
      name: `RpcBridge fan-out to ${n} client${n === 1 ? "" : "s"}, p99 delivery latency`,
      value: r.oursP99 * 1000,
      unit: "µs",
      baseline: "same lines written to the same sockets directly",
      baselineValue: r.baselineP99 * 1000,
      better: "lower"
    })
  }
  const calls = await perCall()
  for (const p of [50, 99]) {
    rows.push({
      name: `round trip through RpcBridge p${p} (lite/NDJSON/TCP both sides)`,
      value: percentile(calls.ours, p) * 1000,
      unit: "µs",
      baseline: "the same call to the upstream directly",
      baselineValue: percentile(calls.baseline, p) * 1000,
      better: "lower"
    })
  }
  return rows
}
