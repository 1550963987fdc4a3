/**
 * Preflight: can this distro run a Node backend, as the user's terminal sees it? Node, nvm, fnm,
 * volta and asdf put themselves on `PATH` in `~/.bashrc`, past a guard that returns at once for
 * non-interactive shells, so `wsl.exe --exec` and `bash -l -c` do not see them
 * (windows-reality.md §5). The `Wsl` service therefore reads `PATH` from the user's own shell
 * started interactive and login (`Wsl.shellEnvironment`), looks commands up on it
 * (`Wsl.resolveCommands`) and runs the Node it found by its absolute path for the version — the
 * path a launch should use, so a passing check means the launch works.
 *
 * A command found under the automount root (`/mnt/c/…`) is a Windows program leaking in through
 * `appendWindowsPath`: `npm`, `pnpm` and `yarn` there are CRLF sh scripts that fail in Linux
 * (microsoft/WSL#1512, #4249), so it is reported as a Windows shim, not as present.
 *
 * This module is the pure part: parsing the probes and judging the findings.
 * @module
 */
import * as Option from "effect/Option"
import semver from "semver"

/** What to check. */
export interface PreflightRequirements {
  /** A semver range Node must satisfy, e.g. `"^22.16 || >=24.10"`. Without it Node is not required. */
  readonly node?: string | undefined
  /** Commands that must be on the user's `PATH`, e.g. `["git", "make"]`. */
  readonly tools?: ReadonlyArray<string> | undefined
}

/** Where a command name resolves on the user's interactive `PATH`. */
export type Resolution =
  | { readonly _tag: "Found"; readonly name: string; readonly path: string }
  | { readonly _tag: "WindowsShim"; readonly name: string; readonly path: string }
  | { readonly _tag: "Missing"; readonly name: string }

/** What the preflight found. */
export interface Findings {
  /** The user's login shell, whose interactive `PATH` was used. */
  readonly shell: string
  readonly node: Resolution
  /** `node --version` run by its absolute path; `None` when it did not run. */
  readonly nodeVersion: Option.Option<string>
  readonly tools: ReadonlyArray<Resolution>
}

/** The verdict. */
export interface PreflightReport {
  readonly distro: string
  /** Node and every tool are fine. */
  readonly ok: boolean
  /** The absolute path of the Node that was checked: launch with this path. */
  readonly nodePath: Option.Option<string>
  readonly nodeVersion: Option.Option<string>
  readonly nodeRange: Option.Option<string>
  /** `true` when no range was asked for, or the found version satisfies it. */
  readonly nodeSatisfies: boolean
  readonly missingTools: ReadonlyArray<string>
  /** Commands that resolve only to Windows programs under the automount root. */
  readonly windowsShims: ReadonlyArray<{ readonly name: string; readonly path: string }>
  /** Every requested command and where it resolved (for launchers: use `Found` paths). */
  readonly resolutions: ReadonlyArray<Resolution>
  /** The shell whose interactive `PATH` was used. */
  readonly shell: string
  /** One paragraph a user can act on. */
  readonly message: string
}

/** Tool names are written into the lookup script, so only plain command names are accepted. */
export const toolPattern: RegExp = /^[A-Za-z0-9._+-]+$/

/** The flags that make `shell` interactive and login for `-c`: `-ic` for csh/tcsh, else `-ilc` (VS Code `shellEnv.ts`). */
export const interactiveFlags = (shell: string): string => {
  const name = shell.split("/").pop() ?? shell
  return name === "csh" || name === "tcsh" ? "-ic" : "-ilc"
}

const lines = (output: string): Array<string> => output.split(/\r?\n/)

/**
 * Reads `PATH` between the two `marker` lines of the environment probe; anything the startup
 * files printed around them is ignored. `None` when the markers are not both there.
 */
export const parseEnvironment = (output: string, marker: string): Option.Option<string> => {
  const all = lines(output)
  const first = all.indexOf(marker)
  const second = first === -1 ? -1 : all.indexOf(marker, first + 1)
  if (second === -1) return Option.none()
  const inside = all.slice(first + 1, second).filter((l) => l.length > 0)
  return inside.length === 1 ? Option.some(inside[0]!) : Option.none()
}

/** Classifies what `command -v name` printed: a path under `automountRoot` is a Windows shim. */
export const classify = (name: string, printed: string | undefined, automountRoot: string): Resolution => {
  const path = printed?.trim() ?? ""
  if (!path.startsWith("/")) return { _tag: "Missing", name }
  const root = automountRoot.endsWith("/") ? automountRoot : `${automountRoot}/`
  return path.startsWith(root) ? { _tag: "WindowsShim", name, path } : { _tag: "Found", name, path }
}

/** Reads the lookup probe: each `marker name` line, then what `command -v name` printed. */
export const parseLookup = (
  output: string,
  marker: string,
  names: ReadonlyArray<string>,
  automountRoot: string
): ReadonlyArray<Resolution> => {
  const all = lines(output)
  return names.map((name) => {
    const at = all.indexOf(`${marker} ${name}`)
    const next = at === -1 ? undefined : all[at + 1]
    return classify(name, next === undefined || next.startsWith(marker) ? undefined : next, automountRoot)
  })
}

/** Whether `range` is a valid semver range. */
export const isValidRange = (range: string): boolean => semver.validRange(range) !== null

/** Checks the findings against the requirements and writes the message. */
export const report = (distro: string, requirements: PreflightRequirements, findings: Findings): PreflightReport => {
  const range = requirements.node
  const problems: Array<string> = []
  const where = `the PATH of ${findings.shell} started the way a terminal does (interactive, login) in ${distro}`
  let nodeSatisfies = true
  const node = findings.node
  if (range !== undefined) {
    if (node._tag === "Missing") {
      nodeSatisfies = false
      problems.push(
        `Node.js was not found on ${where}. Install Node.js ${range} inside the distribution (with nvm, fnm, volta or the package manager).`
      )
    } else if (node._tag === "WindowsShim") {
      nodeSatisfies = false
      problems.push(
        `node resolves to the Windows program ${node.path}, which does not run as a Linux backend. Install Node.js ${range} inside ${distro}.`
      )
    } else {
      const version = Option.getOrElse(findings.nodeVersion, () => "")
      const coerced = semver.coerce(version, { includePrerelease: false })
      nodeSatisfies = coerced !== null && semver.satisfies(coerced, range, { includePrerelease: true })
      if (!nodeSatisfies) {
        problems.push(
          `Node.js ${
            version.length > 0 ? version : "(its version did not print)"
          } at ${node.path} in ${distro} does not satisfy ${range}. Install a matching version (e.g. \`nvm install 22 && nvm alias default 22\`).`
        )
      }
    }
  }
  const missingTools = findings.tools.filter((t) => t._tag === "Missing").map((t) => t.name)
  const windowsShims = [node, ...findings.tools].flatMap((t) =>
    t._tag === "WindowsShim" ? [{ name: t.name, path: t.path }] : []
  )
  const toolShims = findings.tools.flatMap((t) => (t._tag === "WindowsShim" ? [t] : []))
  if (missingTools.length > 0) {
    problems.push(
      `Missing on ${where}: ${
        missingTools.join(", ")
      }. Install them with the distribution's package manager (for example \`sudo apt install ${
        missingTools.map(aptPackage).join(" ")
      }\`).`
    )
  }
  if (toolShims.length > 0) {
    problems.push(
      `Only Windows programs were found for ${
        toolShims.map((t) => `${t.name} (${t.path})`).join(", ")
      }: Windows shims reached through appendWindowsPath do not run in Linux. Install them inside ${distro}.`
    )
  }
  const ok = problems.length === 0
  const nodeText = node._tag === "Found"
    ? `Node.js ${Option.getOrElse(findings.nodeVersion, () => "?")} at ${node.path}`
    : "no Node.js"
  return {
    distro,
    ok,
    nodePath: node._tag === "Found" ? Option.some(node.path) : Option.none(),
    nodeVersion: findings.nodeVersion,
    nodeRange: Option.fromNullishOr(range),
    nodeSatisfies,
    missingTools,
    windowsShims,
    resolutions: [node, ...findings.tools],
    shell: findings.shell,
    message: ok
      ? `${distro} is ready: ${nodeText}${range === undefined ? "" : ` (satisfies ${range})`}.`
      : problems.join(" ")
  }
}

/** Debian/Ubuntu package names that differ from the command (`rg` is in `ripgrep`, …). */
const aptPackages: Readonly<Record<string, string>> = {
  rg: "ripgrep",
  fd: "fd-find",
  python: "python3",
  pip: "python3-pip",
  pip3: "python3-pip",
  node: "nodejs",
  ag: "silversearcher-ag"
}

/** The Debian/Ubuntu package that provides `command`. */
export const aptPackage = (command: string): string => aptPackages[command] ?? command
