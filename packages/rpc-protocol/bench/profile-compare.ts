/**
 * Profiling aid: CPU time per round trip (process.cpuUsage, both ends in this process) of our
 * RpcPeer → RpcServer against the raw echo, in alternating rounds; robust to a loaded machine,
 * where wall-clock latency mostly measures the scheduler.
 *
 *   node packages/rpc-protocol/bench/profile-compare.ts [calls per round] [rounds]
 */
import { Effect } from "effect"
import { params, startOurs, startRaw } from "./echo-setup.ts"

const calls = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 5)
const { peer, close } = await startOurs()
const echo = await startRaw()

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
    for (let i = 0; i < calls; i++) await echo.call()
  })
  const ours = await cpuPerCall(() => Effect.runPromise(oursLoop))
  ratios.push(ours / raw)
  console.log(`round ${r}: raw ${raw.toFixed(1)} µs, ours ${ours.toFixed(1)} µs, ratio ${(ours / raw).toFixed(2)}`)
}
ratios.sort((a, b) => a - b)
console.log(`median CPU ratio ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}`)
await echo.close()
await close()
