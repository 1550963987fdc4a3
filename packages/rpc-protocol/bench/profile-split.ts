/**
 * Profiling aid (not run by `pnpm bench`): runs ONE side of the round-trip benchmark — `ours`
 * (RpcPeer → RpcServer, daemon/NDJSON/TCP) or `raw` (the net echo baseline) — warms it up, then
 * CPU-profiles only the measured calls through the inspector and writes the profile, so the two
 * sides' profiles can be compared per call without start-up noise.
 *
 *   node packages/rpc-protocol/bench/profile-split.ts ours|raw [calls] [out.cpuprofile]
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { params, startOurs, startRaw } from "./echo-setup.ts"

const side = process.argv[2] === "raw" ? "raw" : "ours"
const calls = Number(process.argv[3] ?? 20_000)
const out = process.argv[4]
const makeOurs = async () => {
  const { peer, close } = await startOurs()
  const loop = (n: number) =>
    Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* peer.request("echo", params)
    }))
  return { loop, close }
}

const makeRaw = async () => {
  const { call, close } = await startRaw()
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) await call()
  }
  return { loop, close }
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
