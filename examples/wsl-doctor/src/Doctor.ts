/**
 * `wsl doctor`: what a desktop host needs to know about WSL, as a report. Built on `@isthmus/wsl`:
 * the `Wsl` service on the Windows side, `WslEnvironment` inside a distro.
 */
import type { WslError } from "@isthmus/wsl"
import { Wsl, WslEnvironment } from "@isthmus/wsl/node"
import { Effect, Option } from "effect"

export interface DoctorOptions {
  /** The semver range the backend's Node must satisfy. */
  readonly nodeRange: string
  /** Tools the backend needs on the distro's PATH. */
  readonly tools: ReadonlyArray<string>
}

const yesNo = (b: boolean) => (b ? "yes" : "no")

/** The Windows-side report: distros, default, versions, networking, the address a UI should use, preflight. */
export const windowsReport = (
  options: DoctorOptions
): Effect.Effect<ReadonlyArray<string>, WslError.WslError, Wsl.Wsl> =>
  Effect.gen(function*() {
    const wsl = yield* Wsl.Wsl
    const lines: Array<string> = []
    if (!(yield* wsl.isAvailable)) {
      lines.push(`wsl.exe: not found (${wsl.executable}); install WSL with \`wsl --install\` from an elevated prompt`)
      return lines
    }
    lines.push(`wsl.exe: ${wsl.executable}`)
    const version = yield* wsl.version
    lines.push(
      Option.match(version, {
        onNone: () => "version: inbox wsl.exe (no --version); update with `wsl --update` for mirrored networking",
        onSome: (v) => `version: WSL ${v.wsl}, kernel ${v.kernel}, Windows ${v.windows}`
      })
    )
    const distros = yield* wsl.listDistros
    if (distros.length === 0) {
      lines.push("distros: none installed; install one with `wsl --install -d Ubuntu`")
      return lines
    }
    lines.push("distros:")
    for (const d of distros) {
      lines.push(`  ${d.isDefault ? "*" : " "} ${d.name.padEnd(24)} ${d.state.padEnd(12)} WSL ${d.version}`)
    }
    const target = Option.getOrElse(yield* wsl.defaultDistro, () => distros[0]!.name)
    lines.push(`default: ${target}`)
    const mode = yield* wsl.networkingMode(target)
    lines.push(`networking: ${mode.mode} (decided by ${mode.source}: ${mode.detail})`)
    const address = yield* wsl.distroIp(target)
    lines.push(
      `distro address: ${
        Option.match(address, {
          onNone: () => "none found",
          onSome: (a) => `${a.address}${Option.match(a.interface, { onNone: () => "", onSome: (i) => ` on ${i}` })}`
        })
      }`
    )
    const reachable = yield* wsl.reachableHost(target)
    lines.push(`a Windows UI should connect to: ${reachable.host} (${reachable.reason})`)
    const preflight = yield* wsl.preflight(target, { node: options.nodeRange, tools: options.tools })
    lines.push(
      `preflight (node ${options.nodeRange}${options.tools.length > 0 ? `, ${options.tools.join(", ")}` : ""}): ${
        preflight.ok ? "ok" : "NOT READY"
      }`
    )
    lines.push(
      `  node: ${Option.getOrElse(preflight.nodePath, () => "not found")} ${
        Option.getOrElse(preflight.nodeVersion, () => "")
      }`.trimEnd()
    )
    if (preflight.missingTools.length > 0) lines.push(`  missing tools: ${preflight.missingTools.join(", ")}`)
    lines.push(`  ${preflight.message}`)
    return lines
  })

/** The inside-WSL report: what `WslEnvironment` sees. */
export const insideReport = Effect.gen(function*() {
  const env = yield* WslEnvironment.WslEnvironment
  const lines = [
    `inside WSL: ${yesNo(env.isWsl)}`,
    `  version: ${Option.match(env.version, { onNone: () => "unknown", onSome: (v) => `WSL ${v}` })}`,
    `  distro: ${Option.getOrElse(env.distro, () => "unknown")}`,
    `  interop (can run Windows .exe): ${yesNo(env.interop)}`,
    `  automount root: ${env.automountRoot}`,
    `  networking: ${Option.getOrElse(env.networkingMode, () => "unknown")}`,
    `  evidence: ${env.detection.evidence.join("; ") || "none"}`
  ]
  return lines
})

/** Which report applies here. */
export type Where = "windows" | "inside-wsl" | "elsewhere"
