/**
 * Profiling aid (not run by `pnpm bench`): the round trip's JavaScript work alone. Both setups of
 * `roundtrip.bench.ts` — ours (RpcPeer → RpcServer through the Node socket adapter, daemon dialect,
 * NDJSON) and the raw echo (same framing and JSON work) — run over an in-process pair of fake
 * sockets whose writes arrive at the other end as Buffers in a later macrotask (`setImmediate`),
 * so there are no system calls and no kernel time: what is left is what each side's code costs
 * per call. `strace -c` shows both real setups make the same system calls per call (two writes,
 * two reads, two epoll waits), so this is the difference that matters. Rounds alternate.
 *
 *   node packages/rpc-protocol/bench/profile-js.ts [calls per round] [rounds] [out.cpuprofile [ours|raw]]
 */
import { Dialect, Framing, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { NetSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Exit, Schema, Scope } from "effect"
import { EventEmitter } from "node:events"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { constants, PerformanceObserver } from "node:perf_hooks"
import type { Duplex } from "node:stream"
import { StringDecoder } from "node:string_decoder"

const calls = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 5)
const profileOut = process.argv[4]
const profileSide = process.argv[5] === "raw" ? "raw" : "ours"
const params = { workspaceId: "ws-1", threadId: "thr_1", text: "hello from the bench" }
const Methods = MethodTable.make({
  echo: MethodTable.method({
    params: Schema.Struct({ workspaceId: Schema.String, threadId: Schema.String, text: Schema.String }),
    result: Schema.Unknown
  })
})

/** One end of a fake connection: the subset of `net.Socket` the adapter and the echo use. */
class FakeEnd extends EventEmitter {
  other!: FakeEnd
  destroyed = false
  writableEnded = false
  writableNeedDrain = false
  paused = false
  write(chunk: string | Uint8Array): boolean {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk)
    const other = this.other
    setImmediate(() => {
      if (!other.destroyed) other.emit("data", data)
    })
    return true
  }
  isPaused() {
    return this.paused
  }
  pause() {
    this.paused = true
    return this
  }
  resume() {
    this.paused = false
    return this
  }
  cork() {}
  uncork() {}
  end() {
    this.writableEnded = true
    return this
  }
  destroy() {
    this.destroyed = true
    return this
  }
}
const fakePair = () => {
  const a = new FakeEnd()
  const b = new FakeEnd()
  a.other = b
  b.other = a
  return [a, b] as const
}

/** Like `test/support/lines.ts` on a socket with `setEncoding("utf8")`. */
const onLines = (end: FakeEnd, onLine: (line: string) => void) => {
  const decoder = new StringDecoder("utf8")
  let buffer = ""
  end.on("data", (chunk: Buffer) => {
    buffer += decoder.write(chunk)
    let nl: number
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      onLine(line)
    }
  })
}

const makeRaw = () => {
  const [clientEnd, serverEnd] = fakePair()
  onLines(serverEnd, (line) => {
    if (line.length === 0) return
    const request = JSON.parse(line) as { id: number; params: unknown }
    serverEnd.write(JSON.stringify({ id: request.id, result: request.params }) + "\n")
  })
  let waiting: ((line: string) => void) | undefined
  onLines(clientEnd, (line) => {
    if (line.length === 0) return
    JSON.parse(line)
    waiting?.(line)
  })
  let id = 0
  const call = () =>
    new Promise<string>((resolve) => {
      waiting = resolve
      clientEnd.write(JSON.stringify({ id: ++id, method: "echo", params }) + "\n")
    })
  return async (n: number) => {
    for (let i = 0; i < n; i++) await call()
  }
}

const scope = Effect.runSync(Scope.make())
const makeOurs = async () => {
  const [clientEnd, serverEnd] = fakePair()
  const peer = await Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers: { echo: (p) => Effect.succeed(p) }
      })
      // As serveTcp does for an accepted connection (refuseHttp on).
      yield* Effect.forkScoped(
        server.handle(NetSocket.fromStream(Effect.succeed(serverEnd as unknown as Duplex), { refuseHttp: true }))
      )
      return yield* RpcPeer.make({
        connect: NetSocket.fromStream(Effect.succeed(clientEnd as unknown as Duplex)),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
    }).pipe(Scope.provide(scope))
  )
  const loop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* peer.request("echo", params)
    })
  return (n: number) => Effect.runPromise(loop(n))
}

const raw = makeRaw()
const ours = await makeOurs()
await raw(5000)
await ours(5000)

// Garbage collection time per call, by kind (minor: scavenges; major: mark-compact), per side.
let gcMinor = 0
let gcMajor = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { readonly detail?: { readonly kind?: number } }).detail?.kind
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcMinor += entry.duration
    else gcMajor += entry.duration
  }
}).observe({ entryTypes: ["gc"] })
const gc = { raw: { minor: 0, major: 0 }, ours: { minor: 0, major: 0 } }
const cpuPerCall = async (run: (n: number) => Promise<void>, side: "raw" | "ours") => {
  const minor = gcMinor
  const major = gcMajor
  const cpu = process.cpuUsage()
  await run(calls)
  const used = process.cpuUsage(cpu)
  // PerformanceObserver delivers entries asynchronously.
  await new Promise((resolve) => setImmediate(resolve))
  gc[side].minor += gcMinor - minor
  gc[side].major += gcMajor - major
  return (used.user + used.system) / calls
}
const ratios: Array<number> = []
const oursCpu: Array<number> = []
const rawCpu: Array<number> = []
for (let r = 0; r < rounds; r++) {
  const a = await cpuPerCall(raw, "raw")
  const b = await cpuPerCall(ours, "ours")
  rawCpu.push(a)
  oursCpu.push(b)
  ratios.push(b / a)
}
const median = (xs: Array<number>) => xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)]!
console.log(
  `JS only (fake sockets): raw ${median(rawCpu).toFixed(2)} µs, ours ${median(oursCpu).toFixed(2)} µs CPU per call ` +
    `(+${(median(oursCpu) - median(rawCpu)).toFixed(2)}), ratio ${
      median(ratios).toFixed(2)
    } (medians of ${rounds} rounds)`
)
const perCall = (ms: number) => ((ms * 1000) / (calls * rounds)).toFixed(2)
console.log(
  `GC per call: raw ${perCall(gc.raw.minor)} µs minor + ${perCall(gc.raw.major)} µs major, ` +
    `ours ${perCall(gc.ours.minor)} µs minor + ${perCall(gc.ours.major)} µs major`
)
if (profileOut !== undefined) {
  const session = new Session()
  session.connect()
  if (profileOut.endsWith(".heapprofile")) {
    // Allocation sampling: where the bytes allocated per call come from.
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true
    })
    await (profileSide === "raw" ? raw : ours)(calls)
    const { profile } = await session.post("HeapProfiler.stopSampling")
    writeFileSync(profileOut, JSON.stringify(profile))
  } else {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 50 })
    await session.post("Profiler.start")
    await (profileSide === "raw" ? raw : ours)(calls)
    const { profile } = await session.post("Profiler.stop")
    writeFileSync(profileOut, JSON.stringify(profile))
  }
  session.disconnect()
}
await Effect.runPromise(Scope.close(scope, Exit.void))
