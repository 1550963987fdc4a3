/**
 * Loopback request round trip: our RpcPeer ↔ RpcServer (daemon dialect, NDJSON over TCP) against a
 * raw socket echo with the same framing and the same JSON work (split lines, JSON.parse,
 * JSON.stringify), one request in flight at a time, with every bound of the hardening work on (in-flight
 * and outbound bounds, idle timeout, activity counters). Targets: p50 within 1.3x and p99 within
 * 1.5x of the raw echo (issue #14). `profile-roundtrip.ts` and `profile-compare.ts` are the tools
 * to look inside (CPU profile; CPU time per call, which a loaded machine disturbs less than latency).
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import * as net from "node:net"
import { type BenchRow, percentile } from "../../../scripts/bench-kit.ts"
import { onLines } from "../test/support/lines.ts"

const WARMUP = 3000
const SAMPLES = 5000
const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }

const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

/** The baseline: a raw net server and client doing the same framing and JSON work. */
const startRaw = async () => {
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

/**
 * Both setups stay up and are measured in alternating blocks, so load from anything else on the
 * machine falls on both alike. The baseline is timed in plain async code, ours inside Effect.
 */
const measure = async () => {
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
  const raw = await startRaw()
  const ours: Array<number> = []
  const baseline: Array<number> = []
  const block = 250
  const oursBlock = (record: boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < block; i++) {
        const start = performance.now()
        yield* peer.request("echo", params)
        if (record) ours.push(performance.now() - start)
      }
    })
  for (let done = 0; done < WARMUP + SAMPLES; done += block) {
    const record = done >= WARMUP
    for (let i = 0; i < block; i++) {
      const start = performance.now()
      await raw.call()
      if (record) baseline.push(performance.now() - start)
    }
    await Effect.runPromise(oursBlock(record))
  }
  await raw.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return { ours, baseline }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const { ours: measured, baseline } = await measure()
  const p50 = percentile(measured, 50)
  const p99 = percentile(measured, 99)
  const b50 = percentile(baseline, 50)
  const b99 = percentile(baseline, 99)
  return [
    {
      name: "loopback round trip p50 (RpcPeer→RpcServer, daemon/NDJSON/TCP)",
      value: p50 * 1000,
      unit: "µs",
      baseline: "raw net echo, same framing + JSON",
      baselineValue: b50 * 1000,
      better: "lower",
      target: "<= 1.3x",
      met: p50 <= 1.3 * b50
    },
    {
      name: "loopback round trip p99 (RpcPeer→RpcServer, daemon/NDJSON/TCP)",
      value: p99 * 1000,
      unit: "µs",
      baseline: "raw net echo, same framing + JSON",
      baselineValue: b99 * 1000,
      better: "lower",
      target: "<= 1.5x",
      met: p99 <= 1.5 * b99
    }
  ]
}
