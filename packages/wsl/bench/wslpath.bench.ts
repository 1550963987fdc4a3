/**
 * Pure path conversion against what a `wslpath`-calling library pays: one process spawn per
 * conversion. The spawn baselines are `/bin/echo <path>` (the cheapest possible process, a lower
 * bound on `wsl.exe wslpath`) and `fake-wsl --exec wslpath` (a wsl.exe stand-in).
 */
import { WslPath } from "@isthmus/wsl"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { type BenchRow, opsPerSecond, percentile } from "../../../scripts/bench-kit.ts"

const context: WslPath.Context = {
  distro: "Ubuntu-24.04",
  mounts: [{ windows: "\\\\localhost\\share", linux: "/mnt/share" }]
}
const windowsInputs = [
  "C:\\Users\\ada\\projects\\isthmus\\src\\index.ts",
  "D:/data/set/../set2/file.json",
  "\\\\wsl.localhost\\Ubuntu-24.04\\home\\ada\\.config",
  "\\\\?\\C:\\Program Files\\Git\\bin\\git.exe",
  "C:\\"
]
const linuxInputs = ["/mnt/c/Users/ada/projects", "/home/ada/src/app.ts", "/mnt/d/", "/tmp/a:b", "/"]

/**
 * Operations per second of CPU time spent by this process (user + system): "on one core",
 * and stable when other processes compete for the machine (wall-clock rates are also given).
 */
const opsPerCpuSecond = (f: () => unknown, ms = 1000): { readonly cpu: number; readonly wall: number } => {
  for (let i = 0; i < 10_000; i++) f()
  let n = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  while (performance.now() - start < ms) {
    for (let i = 0; i < 10_000; i++) f()
    n += 10_000
  }
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu0)
  return { cpu: n / ((used.user + used.system) / 1e6), wall: (n / wall) * 1000 }
}

const spawnRate = (command: string, args: (i: number) => Array<string>, env: NodeJS.ProcessEnv, samples: number) => {
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const start = performance.now()
    const r = spawnSync(command, args(i), { env, encoding: "utf8" })
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr}`)
    times.push(performance.now() - start)
  }
  return { perSecond: 1000 / percentile(times, 50), p50: percentile(times, 50) }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  let i = 0
  const linuxRate = opsPerCpuSecond(() => WslPath.toLinux(windowsInputs[i++ % windowsInputs.length]!, context))
  let j = 0
  const windowsRate = opsPerCpuSecond(() => WslPath.toWindows(linuxInputs[j++ % linuxInputs.length]!, context))
  const toLinux = linuxRate.cpu
  const toWindows = windowsRate.cpu
  const simple = opsPerSecond(() => WslPath.toLinux("C:\\Users\\ada", context), 500)

  const echo = spawnRate("/bin/echo", (n) => [linuxInputs[n % linuxInputs.length]!], process.env, 200)
  const fakeWsl = fileURLToPath(new URL("../bin/fake-wsl.js", import.meta.url))
  const fake = spawnRate(
    fakeWsl,
    (n) => ["-d", "Ubuntu-24.04", "--exec", "wslpath", "-u", windowsInputs[n % windowsInputs.length]!],
    { ...process.env, FAKE_WSL_CONFIG_JSON: JSON.stringify({ distros: [{ name: "Ubuntu-24.04", default: true }] }) },
    10
  )
  const target = "> 1,000,000 conversions/s on one core"
  const rows: Array<BenchRow> = [
    {
      name: "WslPath.toLinux (mixed inputs, per CPU-second)",
      value: toLinux,
      unit: "ops/s",
      baseline: "spawn /bin/echo per conversion",
      baselineValue: echo.perSecond,
      better: "higher",
      target,
      met: toLinux > 1_000_000
    },
    {
      name: "WslPath.toWindows (mixed inputs, per CPU-second)",
      value: toWindows,
      unit: "ops/s",
      baseline: "spawn /bin/echo per conversion",
      baselineValue: echo.perSecond,
      better: "higher",
      target,
      met: toWindows > 1_000_000
    },
    {
      name: "WslPath.toLinux (mixed inputs)",
      value: toLinux,
      unit: "ops/s",
      baseline: "spawn fake-wsl --exec wslpath per conversion",
      baselineValue: fake.perSecond,
      better: "higher"
    }
  ]
  process.stderr.write(
    `wall-clock: toLinux ${Math.round(linuxRate.wall).toLocaleString("en-US")}/s, toWindows ${
      Math.round(windowsRate.wall).toLocaleString("en-US")
    }/s, toLinux("C:\\Users\\ada") ${Math.round(simple).toLocaleString("en-US")}/s; spawn p50: /bin/echo ${
      echo.p50.toFixed(2)
    } ms, fake-wsl ${fake.p50.toFixed(0)} ms\n`
  )
  for (const row of rows) {
    process.stderr.write(
      `${row.name}: ${Math.round(row.value).toLocaleString("en-US")} ops/s vs ${row.baseline}: ${
        row.baselineValue.toFixed(1)
      } ops/s → ${Math.round(row.value / row.baselineValue).toLocaleString("en-US")}x\n`
    )
  }
  return rows
}
