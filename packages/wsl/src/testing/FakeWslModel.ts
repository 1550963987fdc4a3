/**
 * The model both WSL fakes run: the in-memory `FakeWslHost` layer and the `fake-wsl`
 * executable. It is plain JSON, so a test can write it to a file for `fake-wsl`.
 *
 * `interpret` plays `wsl.exe`'s own part (arguments, listing, status, errors with exit 255 on
 * stdout) and answers the `Wsl` service's probes from the model; anything else is a Linux
 * command for the caller to run (locally for `fake-wsl`, with the model's programs in memory).
 * @module
 */
import type * as DistroList from "../DistroList.ts"
import * as Format from "../internal/distroFormat.ts"
import * as DistroName from "../internal/distroNameRule.ts"
import { iniValue } from "../internal/ini.ts"
import * as LinuxProcess from "../internal/linuxProcess.ts"
import * as WslPath from "../internal/pathCore.ts"
import { probeMarkers } from "../node/WslProbes.ts"
import { fill, type Language, strings } from "./fakeWslStrings.ts"

export type { Language } from "./fakeWslStrings.ts"

/**
 * The state of the Windows host, each with the bytes and exit codes of windows-reality.md §3:
 * - `ready`: WSL installed and working;
 * - `stub`: no WSL, only the `System32\wsl.exe` installer stub (KB5004296): every command prints
 *   usage text with no error code and exits 1 (dorssel/usbipd-win `Wsl.cs`: "case 1: … returned by
 *   the default wsl.exe placeholder"; microsoft/WSL#7268, #4854);
 * - `inbox-old`: the pre-Store inbox `wsl.exe`: `--status`, `--version`, `--install` are
 *   "Invalid command line option" (localised) plus usage, exit -1 (usbipd-win#77, #10975);
 * - `store-no-oc`: Store WSL without the WSL 1 optional component: `--status` adds the
 *   `MessageWsl1NotSupported` lines (`WslClient.cpp` `Status()`); WSL 1 distros do not start;
 * - `vmp-missing`: no Virtual Machine Platform: `--status` adds `MessageEnableVirtualization`
 *   (no `vmcompute` service) and starting a WSL 2 distro fails with `HCS_E_HYPERV_NOT_INSTALLED`;
 * - `vmp-partial`: a partly installed platform: starting fails with `HCS_E_SERVICE_NOT_AVAILABLE`
 *   (#40723, #13275);
 * - `firmware-off`: a clean `--status`, but starting a WSL 2 distro fails with
 *   `HCS_E_HYPERV_NOT_INSTALLED` (#10332, #8793);
 * - `32bit-host`: WSL works, but the host is a 32-bit process: `System32\wsl.exe` is not there
 *   (WOW64 shows SysWOW64), only `Sysnative\wsl.exe` (#5319; VS Code `wsl.ts`). Modelled by the
 *   fake host's executable lookup; `wsl.exe` itself behaves as `ready`;
 * - `local-system`: the host runs as LocalSystem (a Windows service): every command that reaches
 *   the WSL service fails with `MessageLocalSystemNotSupported` and
 *   `Wsl/WSL_E_LOCAL_SYSTEM_NOT_SUPPORTED`, exit -1 (`LxssUserSessionFactory.cpp` refuses a
 *   LocalSystem token; the token as reported by users running `wsl.exe` from services and
 *   `az vm run-command`); `--version` and `--help` answer on the client side (`WslClient.cpp`
 *   `Version()`). `Wsl.state` reports it as `Unknown`, with advice for this code.
 */
export type HostState =
  | "ready"
  | "stub"
  | "inbox-old"
  | "store-no-oc"
  | "vmp-missing"
  | "vmp-partial"
  | "firmware-off"
  | "32bit-host"
  | "local-system"

/** Every host state, for tools that offer a choice (`wsl-doctor --fake <state>`). */
export const hostStates: ReadonlyArray<HostState> = [
  "ready",
  "stub",
  "inbox-old",
  "store-no-oc",
  "vmp-missing",
  "vmp-partial",
  "firmware-off",
  "32bit-host",
  "local-system"
]

/** A network interface inside a distro. */
export interface FakeInterface {
  readonly name: string
  readonly address: string
}

/** What one shell startup file does (windows-reality.md §5). */
export interface FakeStartupFile {
  /** Directories it puts in front of `PATH` (what nvm, fnm, volta and asdf do in `~/.bashrc`). */
  readonly path?: ReadonlyArray<string> | undefined
  /** What it prints on stdout when it runs (a banner, `nvm use` chatter). */
  readonly output?: string | undefined
  /**
   * After its `path` and `output`, it replaces the shell with `program` (dotfiles that
   * `exec tmux` or `exec zsh` when interactive), so the shell's own command never runs, unless
   * the variable `unless` is set: many dotfiles skip it under `VSCODE_RESOLVING_ENVIRONMENT`
   * (windows-reality.md §5). `tmux` without a terminal prints `open terminal failed: not a
   * terminal` and exits 1; any other program exits 0 (an interactive shell reading an empty stdin).
   */
  readonly exec?: { readonly program: string; readonly unless?: string | undefined } | undefined
  /**
   * How long it takes to run, in milliseconds (nvm alone can take seconds; VS Code's resolver
   * gives up after 10 s; windows-reality.md §5). The in-memory host sleeps on the `Clock` (a
   * `TestClock` in tests); `fake-wsl` writes a real `sleep`.
   */
  readonly delayMillis?: number | undefined
}

/** What a startup file's `exec` writes to stderr and exits with (see {@link FakeStartupFile.exec}). */
export const execOutcome = (program: string): { readonly stderr: string; readonly exitCode: number } =>
  program === "tmux" ? { stderr: "open terminal failed: not a terminal\n", exitCode: 1 } : { stderr: "", exitCode: 0 }

/** One distribution of the fake host. */
export interface FakeDistro {
  readonly name: string
  /** Default `"Stopped"`. */
  readonly state?: DistroList.DistroState | undefined
  /** Default 2. */
  readonly version?: 1 | 2 | undefined
  /** The default distribution (else the first one is). */
  readonly default?: boolean | undefined
  /** The default user (default `"user"`). */
  readonly user?: string | undefined
  /** The default user's home (answers `Wsl.userHome`; default `/home/<user>`, `/root` for root). */
  readonly home?: string | undefined
  /** Interfaces in `ip` order (answers `Wsl.distroIp`; `fake-wsl` runs the real probe when unset). */
  readonly interfaces?: ReadonlyArray<FakeInterface> | undefined
  /** The default route's interface (default: the first non-virtual). */
  readonly defaultInterface?: string | undefined
  /** What `wslinfo --networking-mode` prints (`"nat"`, `"mirrored"`…); unset: `wslinfo` is missing. */
  readonly networkingMode?: string | undefined
  /**
   * A Node.js executable at `path` (`--version` prints `version`). It is found only where `PATH`
   * leads: put its directory in `bashrc.path` to model nvm (found by interactive shells only).
   * `null` or unset: no Node in the distro.
   */
  readonly node?: { readonly path: string; readonly version: string } | null | undefined
  /** Commands installed in `/usr/bin` (git, make, …). */
  readonly tools?: ReadonlyArray<string> | undefined
  /** The user's login shell (passwd; default `/bin/bash`). */
  readonly shell?: string | undefined
  /**
   * `~/.profile`, read by login shells. As in Ubuntu's skeleton, a bash login shell then sources
   * `~/.bashrc` from it.
   */
  readonly profile?: FakeStartupFile | undefined
  /**
   * `~/.bashrc` (also `~/.zshrc` for zsh). It starts with the stock
   * `case $- in *i*) ;; *) return;; esac`, so only interactive shells get past it: `bash -l -c`
   * misses its `PATH`, `bash -i -c` and `bash -ilc` see it (nvm-sh `install.sh`; #2816;
   * microsoft/intelligent-terminal#563).
   */
  readonly bashrc?: FakeStartupFile | undefined
  /**
   * Windows `PATH` entries WSL appends to every Linux `PATH` (`[interop] appendWindowsPath`, the
   * default), as Linux paths: `/mnt/c/Program Files/nodejs`, `/mnt/c/Users/ada/AppData/Roaming/npm`.
   */
  readonly windowsPath?: ReadonlyArray<string> | undefined
  /**
   * More executables by absolute path. `windowsShim`: an extension-less sh script with CRLF line
   * ends, as npm, npx, pnpm and yarn install on Windows: `command -v npm` finds it, running it
   * fails (`: not found…Syntax error`, microsoft/WSL#1512, #4249).
   */
  readonly executables?: Readonly<Record<string, "tool" | "windowsShim">> | undefined
  /** `[automount] root` (default `/mnt/`). */
  readonly automountRoot?: string | undefined
  /** Extra drvfs mounts. */
  readonly mounts?: ReadonlyArray<WslPath.Mount> | undefined
  /** Symbolic links for `wslpath` (Linux path → target, absolute or relative to the link's directory). */
  readonly symlinks?: Readonly<Record<string, string>> | undefined
  /** Paths that exist (so `wslpath -w <relative>` resolves them against the cwd, as realpath would). */
  readonly files?: ReadonlyArray<string> | undefined
}

/** The whole fake host. */
export interface FakeWslConfig {
  readonly distros: ReadonlyArray<FakeDistro>
  /** The host's IPv4 addresses (for the mirrored-mode collision check). */
  readonly hostAddresses?: ReadonlyArray<string> | undefined
  /** The text of `.wslconfig`. */
  readonly wslConfig?: string | undefined
  /** The state of the Windows host (default `ready`); see {@link HostState}. */
  readonly hostState?: HostState | undefined
  /** An inbox wsl.exe; the same as `hostState: "inbox-old"`. */
  readonly inbox?: boolean | undefined
  /** The Windows display language of wsl.exe's messages (default `en`). Errors codes and `-l -v` stay literal. */
  readonly language?: Language | undefined
  /** An older build: a localised message over the English `Error code:` label. */
  readonly legacyErrorLabel?: boolean | undefined
  /** The `WSL version` line of `--version` (default `2.6.1.0`). */
  readonly wslVersion?: string | undefined
  /**
   * `fake-wsl` only: append one JSON line per invocation here (`argv`, `WSLENV`, the names of the
   * forwarded variables — never their values).
   */
  readonly record?: string | undefined
  /** `fake-wsl` only: extra host variables the local Linux command also sees (besides PATH, HOME, …). */
  readonly passthroughEnv?: ReadonlyArray<string> | undefined
}

/** What `wsl.exe` printed and its exit code (255 stands for -1). */
export interface Output {
  readonly kind: "Output"
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  /** `stdout` is wsl.exe's own text (encoded UTF-16LE/UTF-8), not a Linux command's bytes. */
  readonly fromWslExe: boolean
}

/** A Linux command to run in `distro`. */
export interface Exec {
  readonly kind: "Exec"
  readonly distro: FakeDistro
  readonly argv: ReadonlyArray<string>
  readonly user: string | undefined
  readonly cwd: string | undefined
  /** `--` form: `argv` is `[shell, "-c", line]`. */
  readonly viaShell: boolean
  /**
   * wsl.exe's own warnings when this command boots the VM (`wsl: …`, one per line), written to
   * its stderr before anything of the Linux side (windows-reality.md §6.5, §6.7).
   */
  readonly warnings: string
}

/** A command whose stdin must be read first (a script for `sh -s`): call {@link answer}. */
export type Step = Output | Exec

/** The effective host state. */
export const hostStateOf = (config: FakeWslConfig): HostState =>
  config.hostState ?? (config.inbox === true ? "inbox-old" : "ready")

const text = (config: FakeWslConfig) => strings[config.language ?? "en"]

/**
 * A wsl.exe-level failure: the message, then `<label>: <code>` when there is a code, on stdout,
 * exit -1 (255 here: only 8 bits survive on Linux) (`wslutil.h` `PrintMessage`; wsl.md §2).
 */
const wslError = (config: FakeWslConfig, message: string, code?: string): Output => ({
  kind: "Output",
  exitCode: 255,
  stdout: `${
    code === undefined
      ? message
      : fill(config.legacyErrorLabel === true ? strings.en.errorCode : text(config).errorCode, message, code)
  }\n`,
  stderr: "",
  fromWslExe: true
})

const invalidArgument = (config: FakeWslConfig, argument: string): Output =>
  wslError(config, fill(text(config).invalidArgument, argument, "wsl.exe"))

const ok = (stdout: string, fromWslExe = true): Output => ({
  kind: "Output",
  exitCode: 0,
  stdout,
  stderr: "",
  fromWslExe
})

const usage =
  "Usage: wsl.exe [Argument] [Options...] [CommandLine]\n\nArguments for running Linux binaries:\n    --exec, -e <CommandLine>\n    --distribution, -d <DistroName>\n    --user, -u <UserName>\n    --cd <Directory>\n"

/** The old inbox wsl.exe's answer to an option it does not know: the localised line, then usage. */
const invalidOption = (config: FakeWslConfig, option: string): Output =>
  wslError(config, `${fill(text(config).invalidOption, option)}\n${usage}`)

/** The distro info rows of the model. */
export const distroInfos = (config: FakeWslConfig): ReadonlyArray<DistroList.DistroInfo> => {
  const explicit = config.distros.findIndex((d) => d.default === true)
  const defaultIndex = explicit === -1 ? 0 : explicit
  return config.distros.flatMap((d, i) =>
    DistroName.isValid(d.name)
      ? [{
        name: d.name as DistroList.DistroInfo["name"],
        state: d.state ?? "Stopped",
        version: d.version ?? 2,
        isDefault: i === defaultIndex
      }]
      : []
  )
}

/** Finds a distro by name, case-insensitively, as wsl.exe does. */
export const findDistro = (config: FakeWslConfig, name: string): FakeDistro | undefined =>
  config.distros.find((d) => DistroName.equals(d.name, name))

const notFound = (config: FakeWslConfig) =>
  wslError(config, text(config).distroNotFound, "Wsl/Service/WSL_E_DISTRO_NOT_FOUND")

/** No code: WSL_E_DEFAULT_DISTRO_NOT_FOUND prints no token (windows-reality.md §4). */
const noDistros = (config: FakeWslConfig) => wslError(config, text(config).noDistros)

/**
 * Starting `distro` fails on this host (windows-reality.md §3): WSL 2 without virtualization, or
 * WSL 1 without its optional component. `undefined` when it starts.
 */
const startFailure = (config: FakeWslConfig, distro: FakeDistro): Output | undefined => {
  const state = hostStateOf(config)
  const version = distro.version ?? 2
  if (version === 2 && (state === "vmp-missing" || state === "firmware-off")) {
    return wslError(
      config,
      text(config).enableVirtualization,
      "Wsl/Service/CreateInstance/CreateVm/HCS/HCS_E_HYPERV_NOT_INSTALLED"
    )
  }
  if (version === 2 && state === "vmp-partial") {
    // No WSL message for it (GetErrorString falls back to the system text of 0x80370114). S.
    return wslError(
      config,
      "The operation could not be started because a required feature is not installed.",
      "Wsl/Service/CreateInstance/CreateVm/HCS/HCS_E_SERVICE_NOT_AVAILABLE"
    )
  }
  if (version === 1 && state === "store-no-oc") {
    return wslError(
      config,
      "This application requires the Windows Subsystem for Linux Optional Component.\nInstall it by running: wsl.exe --install --no-distribution\nThe system may need to be restarted so the changes can take effect.",
      "Wsl/Service/CreateInstance/WSL_E_WSL_OPTIONAL_COMPONENT_REQUIRED"
    )
  }
  return undefined
}

const list = (config: FakeWslConfig, flags: ReadonlyArray<string>): Output => {
  const has = (...names: Array<string>) => names.some((n) => flags.includes(n))
  const verbose = has("-v", "--verbose")
  const quiet = has("-q", "--quiet")
  const all = has("--all")
  const running = has("--running")
  const unknown = flags.find((f) => !["-v", "--verbose", "-q", "--quiet", "--all", "--running"].includes(f))
  if (unknown !== undefined) return invalidArgument(config, unknown)
  if ((verbose && quiet) || (all && running)) return invalidArgument(config, flags.join(" "))
  const infos = distroInfos(config)
  if (verbose) return infos.length === 0 ? noDistros(config) : ok(Format.formatVerbose(infos))
  let shown = infos
  if (running) shown = shown.filter((d) => d.state === "Running")
  else if (!all) shown = shown.filter((d) => !Format.isTransient(d.state))
  if (quiet) return ok(Format.formatQuiet(shown))
  if (infos.length === 0) return noDistros(config)
  if (running && shown.length === 0) return wslError(config, text(config).noRunningDistros)
  const sorted = [...shown.filter((d) => d.isDefault), ...shown.filter((d) => !d.isDefault)]
  return ok(
    `${text(config).listHeader}\n${
      sorted.map((d) => `${d.isDefault ? fill(text(config).listDefault, d.name) : d.name}\n`).join("")
    }`
  )
}

/**
 * Interprets a `wsl.exe` command line against the model. Returns wsl.exe's own output, or the
 * Linux command to run.
 */
export const interpret = (config: FakeWslConfig, args: ReadonlyArray<string>): Step => {
  const state = hostStateOf(config)
  if (state === "stub") return { kind: "Output", exitCode: 1, stdout: `${usage}`, stderr: "", fromWslExe: true }
  if (state === "local-system" && !["--version", "-v", "--help"].includes(args[0] ?? "")) {
    return wslError(config, text(config).localSystemNotSupported, "Wsl/WSL_E_LOCAL_SYSTEM_NOT_SUPPORTED")
  }
  let distroName: string | undefined
  let user: string | undefined
  let cwd: string | undefined
  let shellType: string | undefined
  let i = 0
  while (i < args.length) {
    const a = args[i]!
    const value = () => {
      const v = args[i + 1]
      i += 2
      return v
    }
    switch (a) {
      case "-l":
      case "--list":
        return list(config, args.slice(i + 1))
      case "--status": {
        if (state === "inbox-old") return invalidOption(config, a)
        // WslClient.cpp Status(): the default line only when there is a default, then the
        // default version, then a line per missing component.
        const def = distroInfos(config).find((d) => d.isDefault)
        return ok(
          [
            ...(def === undefined ? [] : [fill(text(config).statusDefaultDistro, def.name)]),
            fill(text(config).statusDefaultVersion, "2"),
            ...(state === "store-no-oc" ? [text(config).wsl1NotSupported] : []),
            ...(state === "vmp-missing" ? [text(config).enableVirtualization] : []),
            ""
          ].join("\n")
        )
      }
      case "--version":
      case "-v":
      case "--install":
        if (state === "inbox-old") return invalidOption(config, a)
        if (a === "--install") return ok("")
        return ok(
          `WSL version: ${
            config.wslVersion ?? "2.6.1.0"
          }\nKernel version: 6.6.87.2-1\nWSLg version: 1.0.66\nMSRDC version: 1.2.6074\nDirect3D version: 1.611.1-81528511\nDXCore version: 10.0.26100.1-240331-1435.ge-release\nWindows version: 10.0.26100.4946\n`
        )
      case "-t":
      case "--terminate": {
        const name = args[i + 1]
        if (name === undefined) return invalidArgument(config, a)
        if (findDistro(config, name) === undefined) return notFound(config)
        return ok("The operation completed successfully. \n")
      }
      case "--shutdown":
        return ok("")
      case "-d":
      case "--distribution":
        distroName = value()
        if (distroName === undefined) return invalidArgument(config, a)
        continue
      case "-u":
      case "--user":
        user = value()
        continue
      case "--cd":
        cwd = value()
        continue
      case "~":
        cwd = "~"
        i++
        continue
      case "--shell-type":
        shellType = value()
        if (shellType !== "standard" && shellType !== "login" && shellType !== "none") {
          return invalidArgument(config, `--shell-type ${shellType ?? ""}`)
        }
        continue
      default:
        break
    }
    break
  }
  const rest = args.slice(i)
  const infos = distroInfos(config)
  const target = distroName === undefined
    ? config.distros.find((d) => d.name === infos.find((x) => x.isDefault)?.name)
    : findDistro(config, distroName)
  if (target === undefined) return distroName === undefined ? noDistros(config) : notFound(config)
  if (cwd !== undefined && !cwd.startsWith("/") && !cwd.startsWith("~") && !/^[A-Za-z]:[\\/]/.test(cwd)) {
    return wslError(config, fill(text(config).invalidArgument, `--cd ${cwd}`, "wsl.exe"), "Wsl/E_INVALIDARG")
  }
  const failed = startFailure(config, target)
  if (failed !== undefined) return failed
  const first = rest[0]
  if (first === "-e" || first === "--exec" || shellType === "none") {
    const argv = first === "-e" || first === "--exec" ? rest.slice(1) : rest
    if (argv.length === 0) return invalidArgument(config, first ?? "")
    return { kind: "Exec", distro: target, argv, user, cwd, viaShell: false, warnings: bootWarnings(config, target) }
  }
  if (first !== undefined && first.startsWith("-") && first !== "--") {
    return invalidArgument(config, first)
  }
  const line = (first === "--" ? rest.slice(1) : rest).join(" ")
  const shell = "sh"
  const argv = line.length === 0
    ? [shell, ...(shellType === "login" ? ["-l"] : [])]
    : [shell, ...(shellType === "login" ? ["-l"] : []), "-c", line]
  return { kind: "Exec", distro: target, argv, user, cwd, viaShell: true, warnings: bootWarnings(config, target) }
}

const setState = (
  config: FakeWslConfig,
  name: string,
  from: DistroList.DistroState,
  to: DistroList.DistroState
): FakeWslConfig => ({
  ...config,
  distros: config.distros.map((d) =>
    (name === "*" || DistroName.equals(d.name, name)) && (d.state ?? "Stopped") === from ? { ...d, state: to } : d
  )
})

/**
 * The model after a run of `args` that {@link interpret} answered with `step`: running a command
 * starts a stopped distribution, `--terminate` stops a running one and `--shutdown` stops every
 * running one. `undefined` when nothing changed.
 */
export const afterRun = (config: FakeWslConfig, args: ReadonlyArray<string>, step: Step): FakeWslConfig | undefined => {
  if (step.kind === "Exec") {
    return (step.distro.state ?? "Stopped") === "Stopped"
      ? setState(config, step.distro.name, "Stopped", "Running")
      : undefined
  }
  if (step.exitCode !== 0) return undefined
  if (args[0] === "--terminate" || args[0] === "-t") return setState(config, args[1]!, "Running", "Stopped")
  if (args[0] === "--shutdown") return setState(config, "*", "Running", "Stopped")
  return undefined
}

/**
 * The warnings of a command that boots the VM: the first command while no WSL 2 distribution
 * runs. When `.wslconfig` asks for mirrored networking but the distro's mode in use (its
 * `wslinfo`) is NAT, mirrored silently fell back: WslCoreVm.cpp prints
 * `MessageMirroredNetworkingNotSupportedReason` (with the Windows version reason) as a
 * `wsl: …` warning, and only on that call (windows-reality.md §6.5).
 */
export const bootWarnings = (config: FakeWslConfig, target: FakeDistro): string => {
  if ((target.version ?? 2) !== 2 || (target.state ?? "Stopped") === "Running") return ""
  if (config.distros.some((d) => (d.version ?? 2) === 2 && d.state === "Running")) return ""
  const asked = config.wslConfig === undefined ? undefined : iniValue(config.wslConfig, "wsl2", "networkingMode")
  if (asked?.toLowerCase() !== "mirrored" || target.networkingMode?.toLowerCase() !== "nat") return ""
  const t = text(config)
  return `wsl: ${fill(t.mirroredFallback, fill(t.mirroredWindowsVersion, "10.0.19045", "5737"))}\n`
}

/** The default user's home in the model. */
export const homeOf = (distro: FakeDistro): string =>
  distro.home ?? ((distro.user ?? "user") === "root" ? "/root" : `/home/${distro.user ?? "user"}`)

/** The Linux user a command runs as: `--user`, else the distribution's default user. */
export const userOf = (exec: Exec): string | undefined => exec.user ?? exec.distro.user

/** The path context of a fake distro. */
export const pathContext = (distro: FakeDistro, cwd?: string): WslPath.Context => ({
  distro: distro.name,
  automountRoot: distro.automountRoot,
  mounts: distro.mounts,
  cwd
})

const resolveLinks = (distro: FakeDistro, path: string): string => {
  const links = distro.symlinks ?? {}
  let current = path
  for (let hops = 0; hops < 40; hops++) {
    const parts = current.split("/")
    let changed = false
    for (let n = parts.length; n > 1; n--) {
      const prefix = parts.slice(0, n).join("/") || "/"
      const target = links[prefix]
      if (target !== undefined) {
        const dir = prefix.slice(0, prefix.lastIndexOf("/")) || "/"
        const base = target.startsWith("/") ? target : `${dir === "/" ? "" : dir}/${target}`
        current = [base, ...parts.slice(n)].join("/")
        changed = true
        break
      }
    }
    if (!changed) return current
  }
  return current
}

const fail = (stderr: string): Output => ({ kind: "Output", exitCode: 1, stdout: "", stderr, fromWslExe: false })

/** Plays `/bin/wslpath` inside `distro` (symlinks and existing relative files from the model). */
export const wslpath = (distro: FakeDistro, argv: ReadonlyArray<string>, cwd: string | undefined): Output => {
  let mode: "u" | "w" | "m" | undefined
  let absolute = false
  let path: string | undefined
  let endOfOptions = false
  for (const a of argv.slice(1)) {
    if (!endOfOptions && a === "--") {
      endOfOptions = true
      continue
    }
    if (!endOfOptions && a.startsWith("-") && a.length > 1) {
      for (const f of a.slice(1)) {
        if (f === "a") absolute = true
        else if (f === "u" || f === "w" || f === "m") {
          if (mode !== undefined && mode !== f) return fail(`${usage}`)
          mode = f
        } else {return fail(
            `Invalid command line argument: ${a}\nPlease use 'wslpath --help' to get a list of supported arguments.\n`
          )}
      }
      continue
    }
    if (path !== undefined) return fail(`Invalid command line argument: ${a}\n`)
    path = a
  }
  if (path === undefined) {
    return { kind: "Output", exitCode: 1, stdout: usage, stderr: "wslpath: Invalid argument\n", fromWslExe: false }
  }
  const context = pathContext(distro, cwd)
  if (mode === undefined || mode === "u") {
    const r = WslPath.toLinux(path, context, { absolute })
    return typeof r === "string" ? ok(`${r}\n`, false) : fail(`wslpath: ${path}\n`)
  }
  const files = new Set(distro.files ?? [])
  let linux = path
  if (!linux.startsWith("/") && cwd !== undefined) {
    const joined = `${cwd.replace(/\/$/, "")}/${linux}`
    if (files.has(joined) || absolute) linux = joined
  }
  if (linux.startsWith("/")) linux = resolveLinks(distro, linux)
  const r = WslPath.toWindows(linux, context, { mixed: mode === "m", absolute })
  return typeof r === "string" ? ok(`${r}\n`, false) : fail(`wslpath: ${path}\n`)
}

const isShellReadingStdin = (argv: ReadonlyArray<string>): boolean => {
  const shell = argv[0]?.split("/").pop()
  if (shell !== "sh" && shell !== "bash" && shell !== "dash" && shell !== "zsh") return false
  // Only the shell's own options count (`bash -l -s`); after `-c` or the first operand, a `-s` is
  // an argument of the script (`sh -c '…' name -s TERM`).
  for (const arg of argv.slice(1)) {
    if (arg === "-c" || !arg.startsWith("-") || arg === "--") return false
    if (arg === "-s" || /^-[a-z]*s[a-z]*$/.test(arg)) return true
  }
  return false
}

/** `exec` without the `Wsl` service's pgid wrapper (`sh -c 'echo … $$ >&2; exec "$@"' sh argv…`). */
export const unwrapped = (exec: Exec): Exec => {
  const u = LinuxProcess.unwrapArgv(exec.argv)
  return u === undefined ? exec : { ...exec, argv: u.argv }
}

/** Whether `exec` reads a script from stdin that the model may answer ({@link answer}). */
export const readsScript = (exec: Exec): boolean => isShellReadingStdin(unwrapped(exec).argv)

/**
 * `wslinfo` in `distro` (`wslinfo.cpp`): the networking mode in use, `wsl1` on WSL 1; absent
 * when the model has no mode (a WSL release without it, windows-reality.md §6.6), which a shell's
 * `exec` reports as not found, 127.
 */
export const wslinfo = (distro: FakeDistro, argv: ReadonlyArray<string>): Output => {
  if (distro.version === 1) return ok(argv.includes("-n") ? "wsl1" : "wsl1\n", false)
  if (distro.networkingMode === undefined) {
    return { kind: "Output", exitCode: 127, stdout: "", stderr: "sh: 1: exec: wslinfo: not found\n", fromWslExe: false }
  }
  if (!argv.includes("--networking-mode")) {
    return { kind: "Output", exitCode: 1, stdout: "", stderr: "Usage: wslinfo [Options]\n", fromWslExe: false }
  }
  return ok(argv.includes("-n") ? distro.networkingMode : `${distro.networkingMode}\n`, false)
}

const defaultInterfaceOf = (distro: FakeDistro): string | undefined =>
  distro.defaultInterface ??
    distro.interfaces?.find((i) => !/^(lo|docker|br-|veth|virbr)/.test(i.name))?.name

/**
 * Answers a command from the model when it can: `wslinfo`, `wslpath`, and the service's probe
 * scripts (`script` is the stdin of a `sh -s` command). `undefined`: run the command for real.
 */
export const answer = (wrapped: Exec, script: string | undefined): Output | undefined => {
  const exec = unwrapped(wrapped)
  const distro = exec.distro
  const program = exec.argv[0]?.split("/").pop()
  if (program === "wslinfo") return wslinfo(distro, exec.argv)
  if (program === "wslpath") return wslpath(distro, exec.argv, exec.cwd)
  // The modelled Node, run by its path for its version: the model says what it is (fake-wsl
  // cannot put a Node of that version at a path like /usr/bin/node on this machine).
  if (
    distro.node !== undefined && distro.node !== null && exec.argv[0] === distro.node.path &&
    exec.argv[1] === "--version"
  ) {
    return ok(`${distro.node.version}\n`, false)
  }
  return answerScript(distro, script)
}

/** Answers the `Wsl` service's address, home and preflight probe scripts from the model, when it has the data. */
export const answerScript = (distro: FakeDistro, script: string | undefined): Output | undefined => {
  if (script === undefined) return undefined
  if (script.startsWith(probeMarkers.address) && distro.interfaces !== undefined) {
    const def = defaultInterfaceOf(distro)
    const route = def === undefined ? "" : `default via 172.20.0.1 dev ${def} proto kernel\n`
    const addr = distro.interfaces.map((i, n) =>
      `${
        n + 1
      }: ${i.name}    inet ${i.address}/20 brd 255.255.255.255 scope global ${i.name}\\       valid_lft forever preferred_lft forever\n`
    ).join("")
    return ok(`route:\n${route}addr:\n${addr}`, false)
  }
  if (script.startsWith(probeMarkers.account)) {
    const c = WslPath.toLinux("C:\\", pathContext(distro))
    return ok(
      `home:${homeOf(distro)}\nshell:${distro.shell ?? "/bin/bash"}\nroot:${typeof c === "string" ? c : ""}\n`,
      false
    )
  }
  return undefined
}

/**
 * The registered default `PATH` of a command started by `wsl.exe --exec`
 * (`wslservice.idl` `LXSS_DISTRO_DEFAULT_ENVIRONMENT`), then the Windows `PATH` when
 * `appendWindowsPath` is on (`config.cpp` `ConfigAppendNtPath`; windows-reality.md §5).
 */
export const execPath = (distro: FakeDistro): string =>
  [
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games",
    ...(distro.windowsPath ?? [])
  ].join(":")

/** What an executable of the distro is. */
export type ExecutableKind = "tool" | "windowsShim" | "node"

/** The distro's executables beyond the fakes' built-in programs: `node`, `tools`, `executables`. */
export const executables = (distro: FakeDistro): ReadonlyMap<string, ExecutableKind> => {
  const out = new Map<string, ExecutableKind>()
  for (const tool of distro.tools ?? []) out.set(`/usr/bin/${tool}`, "tool")
  for (const [path, kind] of Object.entries(distro.executables ?? {})) out.set(path, kind)
  if (distro.node !== undefined && distro.node !== null) out.set(distro.node.path, "node")
  return out
}

/**
 * What a shell's startup files do before it runs its command (windows-reality.md §5): a login
 * shell reads `~/.profile`; a bash login shell then sources `~/.bashrc` from it, whose stock
 * guard returns at once unless the shell is interactive; an interactive non-login bash or zsh
 * reads its rc file. Returns the `PATH` the command sees, what the files printed, and the program
 * a file `exec`s instead of the command (`env` decides its guard).
 */
export const startup = (
  distro: FakeDistro,
  shell: string,
  flags: { readonly login: boolean; readonly interactive: boolean },
  path: string,
  env: Readonly<Record<string, string | undefined>> = {}
): {
  readonly path: string
  readonly output: string
  readonly exec?: string | undefined
  readonly delayMillis: number
} => {
  const name = shell.split("/").pop() ?? shell
  const rcShell = name === "bash" || name === "zsh"
  const files: Array<FakeStartupFile> = []
  if (flags.login && distro.profile !== undefined) files.push(distro.profile)
  if (rcShell && (flags.login || flags.interactive) && flags.interactive && distro.bashrc !== undefined) {
    files.push(distro.bashrc)
  }
  let current = path
  let output = ""
  let delayMillis = 0
  for (const file of files) {
    if (file.path !== undefined && file.path.length > 0) current = `${file.path.join(":")}:${current}`
    output += file.output ?? ""
    delayMillis += file.delayMillis ?? 0
    const skip = file.exec?.unless !== undefined && (env[file.exec.unless] ?? "").length > 0
    if (file.exec !== undefined && !skip) return { path: current, output, exec: file.exec.program, delayMillis }
  }
  return { path: current, output, delayMillis }
}
