/**
 * `wsl doctor`: what a desktop host needs to know about WSL, as data (`--json`) and as text.
 * Built on `@isthmus/wsl`: `Wsl.state` (is WSL usable, and what to do if not), the distros, the
 * networking mode in use, where a Windows UI reaches a server, and a preflight on the PATH the
 * user's terminal has.
 */
import { Networking, type WslError, WslState } from "@isthmus/wsl"
import { Wsl, WslEnvironment } from "@isthmus/wsl/node"
import { Effect, Option, Result } from "effect"

export interface DoctorOptions {
  /** The semver range the backend's Node must satisfy. */
  readonly nodeRange: string
  /** Tools the backend needs on the distro's PATH. */
  readonly tools: ReadonlyArray<string>
}

/** Exit codes of the command (documented in the README and `--help`). */
export const exitCodes = {
  /** WSL is ready and the preflight passed. */
  ready: 0,
  /** WSL is not ready, or the preflight found something to fix. */
  notReady: 1,
  /** Bad command line (unknown flag, bad value). */
  usage: 2,
  /** The report could not be made (wsl.exe failed in a way the doctor does not know). */
  failed: 3
} as const

/** Where a Windows UI reaches a server bound to one address. */
export interface Reach {
  readonly bind: string
  readonly host: string | null
  readonly route: string | null
  readonly reason: string
}

/** The Windows-side report. */
export interface WindowsReport {
  readonly executable: string
  readonly state: WslState.WslState["_tag"]
  readonly advice: string
  readonly wslVersion: string | null
  readonly distros: ReadonlyArray<{ name: string; state: string; version: number; isDefault: boolean }>
  readonly target: string | null
  readonly networking: { mode: string; source: string; detail: string; localhostForwarding: boolean } | null
  readonly distroAddress: string | null
  readonly reach: ReadonlyArray<Reach>
  readonly preflight: {
    readonly ok: boolean
    readonly shell: string
    readonly node: string | null
    readonly nodeVersion: string | null
    readonly missingTools: ReadonlyArray<string>
    readonly windowsShims: ReadonlyArray<{ name: string; path: string }>
    readonly message: string
  } | null
  /** `true` when WSL is ready and the preflight passed. */
  readonly ok: boolean
}

const orNull = <A>(o: Option.Option<A>): A | null => Option.getOrNull(o)

/** The Windows-side report: state first; the rest only when WSL is ready. */
export const windowsReport = (
  options: DoctorOptions
): Effect.Effect<WindowsReport, WslError.WslError, Wsl.Wsl> =>
  Effect.gen(function*() {
    const wsl = yield* Wsl.Wsl
    const state = yield* wsl.state()
    const base = {
      executable: wsl.executable,
      state: state._tag,
      advice: WslState.advice(state),
      wslVersion: state._tag === "Ready" || state._tag === "NoDistributions"
        ? orNull(Option.map(state.version, (v) => v.wsl))
        : null,
      distros: state._tag === "Ready"
        ? state.distros.map((d) => ({
          name: d.name as string,
          state: d.state as string,
          version: d.version as number,
          isDefault: d.isDefault
        }))
        : [],
      target: null,
      networking: null,
      distroAddress: null,
      reach: [],
      preflight: null,
      ok: false
    } satisfies WindowsReport
    if (state._tag !== "Ready") return base as WindowsReport
    const target = Option.getOrElse(state.defaultDistro, () => state.distros[0]!.name)
    const facts = yield* wsl.networkFacts(target)
    const reach = ["127.0.0.1", "0.0.0.0", "::"].map((bind): Reach => {
      const r = Networking.reachableHost(bind, facts)
      return Result.isSuccess(r)
        ? { bind, host: r.success.host, route: r.success.route, reason: r.success.reason }
        : { bind, host: null, route: null, reason: r.failure.message }
    })
    const preflight = yield* wsl.preflight(target, { node: options.nodeRange, tools: options.tools })
    return {
      ...base,
      target,
      networking: {
        mode: facts.mode.mode,
        source: facts.mode.source,
        detail: facts.mode.detail,
        localhostForwarding: facts.localhostForwarding
      },
      distroAddress: orNull(Option.map(facts.distroAddress, (a) => a.address)),
      reach,
      preflight: {
        ok: preflight.ok,
        shell: preflight.shell,
        node: orNull(preflight.nodePath),
        nodeVersion: orNull(preflight.nodeVersion),
        missingTools: preflight.missingTools,
        windowsShims: preflight.windowsShims,
        message: preflight.message
      },
      ok: preflight.ok
    } satisfies WindowsReport
  }).pipe(Effect.withSpan("Doctor.windowsReport"))

/** The report as lines of text. */
export const formatWindows = (r: WindowsReport, options: DoctorOptions): Array<string> => {
  const lines = [
    `wsl.exe: ${r.executable}`,
    `state: ${r.state}${r.wslVersion === null ? "" : ` (WSL ${r.wslVersion})`}`
  ]
  if (r.state !== "Ready") {
    lines.push(`  ${r.advice}`)
    return lines
  }
  if (r.wslVersion === null) {
    lines.push("  inbox wsl.exe: update with `wsl --update` for mirrored networking and WSL_UTF8")
  }
  lines.push("distros:")
  for (const d of r.distros) {
    lines.push(`  ${d.isDefault ? "*" : " "} ${d.name.padEnd(24)} ${d.state.padEnd(12)} WSL ${d.version}`)
  }
  lines.push(`default: ${r.target}`)
  if (r.networking !== null) {
    lines.push(
      `networking: ${r.networking.mode} (decided by ${r.networking.source}: ${r.networking.detail}); localhostForwarding ${
        r.networking.localhostForwarding ? "on" : "off"
      }`
    )
  }
  lines.push(`distro address: ${r.distroAddress ?? "none found"}`)
  lines.push("a Windows UI reaches a server bound to:")
  for (const x of r.reach) {
    lines.push(`  ${x.bind.padEnd(10)} ${x.host === null ? "unreachable" : `at ${x.host} (${x.route})`}: ${x.reason}`)
  }
  const p = r.preflight
  if (p !== null) {
    lines.push(
      `preflight (node ${options.nodeRange}${
        options.tools.length > 0 ? `, ${options.tools.join(", ")}` : ""
      }, PATH of ${p.shell} -il): ${p.ok ? "ok" : "NOT READY"}`
    )
    lines.push(`  node: ${p.node ?? "not found"} ${p.nodeVersion ?? ""}`.trimEnd())
    if (p.missingTools.length > 0) lines.push(`  missing tools: ${p.missingTools.join(", ")}`)
    for (const s of p.windowsShims) lines.push(`  Windows shim, not usable: ${s.name} at ${s.path}`)
    lines.push(`  ${p.message}`)
  }
  return lines
}

const yesNo = (b: boolean) => (b ? "yes" : "no")

/** The inside-WSL report: what `WslEnvironment` sees. */
export const insideReport = Effect.gen(function*() {
  const env = yield* WslEnvironment.WslEnvironment
  return {
    isWsl: env.isWsl,
    version: orNull(env.version),
    distro: orNull(env.distro),
    interop: env.interop,
    automountRoot: env.automountRoot,
    networkingMode: orNull(env.networkingMode),
    evidence: env.detection.evidence
  }
})

export type InsideReport = Effect.Success<typeof insideReport>

export const formatInside = (r: InsideReport): Array<string> => [
  `inside WSL: ${yesNo(r.isWsl)}`,
  `  version: ${r.version === null ? "unknown" : `WSL ${r.version}`}`,
  `  distro: ${r.distro ?? "unknown"}`,
  `  interop (can run Windows .exe): ${yesNo(r.interop)}`,
  `  automount root: ${r.automountRoot}`,
  `  networking: ${r.networkingMode ?? "unknown"}`,
  `  evidence: ${r.evidence.join("; ") || "none"}`
]
