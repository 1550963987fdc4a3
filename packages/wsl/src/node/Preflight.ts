/**
 * The preflight probe: can this distro run a Node backend? The probe script runs in a login
 * shell (so nvm/fnm/volta PATH changes apply) and prints `nodePath:`, `nodeVersion:` and
 * `missing:` lines, which {@link parseProbe} reads and {@link report} checks against a semver
 * range, with a message a user can act on.
 * @module
 */
import * as Option from "effect/Option"
import semver from "semver"
import { probeMarkers } from "./WslProbes.ts"

/** What to check. */
export interface PreflightRequirements {
  /** A semver range Node must satisfy, e.g. `"^22.16 || >=24.10"`. Without it Node is not required. */
  readonly node?: string | undefined
  /** Commands that must be on the login shell's PATH, e.g. `["git", "make"]`. */
  readonly tools?: ReadonlyArray<string> | undefined
}

/** The probe's raw findings. */
export interface ProbeResult {
  readonly nodePath: Option.Option<string>
  readonly nodeVersion: Option.Option<string>
  readonly missingTools: ReadonlyArray<string>
  /** Whether the script ran to its end marker. */
  readonly complete: boolean
}

/** The verdict. */
export interface PreflightReport {
  readonly distro: string
  /** Node and every tool are fine. */
  readonly ok: boolean
  readonly nodePath: Option.Option<string>
  readonly nodeVersion: Option.Option<string>
  readonly nodeRange: Option.Option<string>
  /** `true` when no range was asked for, or the found version satisfies it. */
  readonly nodeSatisfies: boolean
  readonly missingTools: ReadonlyArray<string>
  /** One paragraph a user can act on. */
  readonly message: string
}

/** The marker first line that identifies the probe script (fakes recognise it). */
export const marker: string = probeMarkers.preflight

/** Tool names are written into the script, so only plain command names are accepted. */
export const toolPattern: RegExp = /^[A-Za-z0-9._+-]+$/

/** The probe script for `tools` (names must match {@link toolPattern}). */
export const script = (tools: ReadonlyArray<string>): string =>
  [
    marker,
    "node_path=$(command -v node 2>/dev/null || true)",
    "printf 'nodePath:%s\\n' \"$node_path\"",
    `if [ -n "$node_path" ]; then printf 'nodeVersion:%s\\n' "$("$node_path" --version 2>/dev/null | tr -d '\\r')"; fi`,
    ...(tools.length === 0
      ? []
      : [`for t in ${tools.join(" ")}; do command -v "$t" >/dev/null 2>&1 || printf 'missing:%s\\n' "$t"; done`]),
    "printf 'preflight:done\\n'",
    ""
  ].join("\n")

/** Reads the probe output (CR tolerated; unknown lines ignored, e.g. from a noisy profile). */
export const parseProbe = (output: string): ProbeResult => {
  let nodePath: Option.Option<string> = Option.none()
  let nodeVersion: Option.Option<string> = Option.none()
  const missingTools: Array<string> = []
  let complete = false
  for (const raw of output.split(/\r*\n/)) {
    const line = raw.replace(/\r$/, "")
    if (line.startsWith("nodePath:")) {
      const v = line.slice(9).trim()
      nodePath = v.length > 0 ? Option.some(v) : Option.none()
    } else if (line.startsWith("nodeVersion:")) {
      const v = line.slice(12).trim()
      nodeVersion = v.length > 0 ? Option.some(v) : Option.none()
    } else if (line.startsWith("missing:")) {
      const v = line.slice(8).trim()
      if (v.length > 0) missingTools.push(v)
    } else if (line === "preflight:done") complete = true
  }
  return { nodePath, nodeVersion, missingTools, complete }
}

/** Whether `range` is a valid semver range. */
export const isValidRange = (range: string): boolean => semver.validRange(range) !== null

/** Checks the findings against the requirements and writes the message. */
export const report = (distro: string, requirements: PreflightRequirements, probe: ProbeResult): PreflightReport => {
  const range = requirements.node
  const problems: Array<string> = []
  let nodeSatisfies = true
  if (range !== undefined) {
    if (Option.isNone(probe.nodePath)) {
      nodeSatisfies = false
      problems.push(
        `Node.js was not found on the login shell's PATH in ${distro}. Install Node.js ${range} inside the distribution (for example with nvm, fnm or your package manager) and make sure a login shell (\`bash -l\`) finds it.`
      )
    } else {
      const version = Option.getOrElse(probe.nodeVersion, () => "")
      const coerced = semver.coerce(version, { includePrerelease: false })
      nodeSatisfies = coerced !== null && semver.satisfies(coerced, range, { includePrerelease: true })
      if (!nodeSatisfies) {
        problems.push(
          `Node.js ${
            version.length > 0 ? version : "(version unknown)"
          } at ${probe.nodePath.value} in ${distro} does not satisfy ${range}. Install a matching version (e.g. \`nvm install 22 && nvm alias default 22\`) so the login shell picks it.`
        )
      }
    }
  }
  if (probe.missingTools.length > 0) {
    problems.push(
      `Missing in ${distro}: ${
        probe.missingTools.join(", ")
      }. Install them with the distribution's package manager (for example \`sudo apt install ${
        probe.missingTools.join(" ")
      }\`).`
    )
  }
  if (!probe.complete) {
    problems.push(`The preflight probe in ${distro} did not finish; check that the login shell starts cleanly.`)
  }
  const ok = problems.length === 0
  const nodeText = Option.isSome(probe.nodePath)
    ? `Node.js ${Option.getOrElse(probe.nodeVersion, () => "?")} at ${probe.nodePath.value}`
    : "no Node.js"
  return {
    distro,
    ok,
    nodePath: probe.nodePath,
    nodeVersion: probe.nodeVersion,
    nodeRange: Option.fromNullishOr(range),
    nodeSatisfies,
    missingTools: probe.missingTools,
    message: ok
      ? `${distro} is ready: ${nodeText}${range === undefined ? "" : ` (satisfies ${range})`}.`
      : problems.join(" ")
  }
}
