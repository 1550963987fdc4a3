/**
 * The `Wsl` service: WSL from the Windows host side, through `wsl.exe`.
 *
 * Every method validates its arguments before anything runs (a bad distro name never reaches a
 * command line), runs `wsl.exe` without a shell with one argument per value, has a timeout after
 * which what it started is killed, and fails with a typed error. Secrets go through the
 * environment and `WSLENV` (appended, never rewritten), never through arguments.
 *
 * The service is built on {@link WslHost}: `Wsl.layer` runs the real executable, and
 * `@isthmus/wsl/testing` runs the same service against an in-memory fake host.
 * @module
 */
import * as Cache from "effect/Cache"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as DistroList from "../DistroList.ts"
import * as DistroName from "../DistroName.ts"
import * as Networking from "../Networking.ts"
import * as WslCommand from "../WslCommand.ts"
import * as Wslenv from "../Wslenv.ts"
import {
  type InvalidDistroNameError,
  WslArgumentError,
  WslCommandError,
  type WslError,
  WslExeError,
  WslParseError,
  WslTimeoutError,
  WslUnsupportedError
} from "../WslError.ts"
import * as WslState from "../WslState.ts"
import * as Preflight from "./Preflight.ts"
import * as WslHost from "./WslHost.ts"
import { accountScript, addressScript, environmentScript, lookupScript } from "./WslProbes.ts"

export type { DistroAddress, NetworkFacts, NetworkingModeReport, ReachableHost } from "../Networking.ts"
export type { PreflightReport, PreflightRequirements, Resolution } from "./Preflight.ts"

/** The user's shell as their terminal starts it, in one distro (see {@link WslShape.shellEnvironment}). */
export interface ShellEnvironment {
  readonly distro: string
  /** The user's login shell (passwd). */
  readonly shell: string
  /** `PATH` as the interactive login shell has it after its startup files. */
  readonly path: string
  /** Where Windows drives are mounted (`/mnt/` by default); commands under it are Windows shims. */
  readonly automountRoot: string
  /** What the startup files printed around the probe's markers (banners, `nvm` chatter). */
  readonly output: string
}

/** Options of {@link WslShape.exec}. */
export interface ExecOptions {
  /** `--cd`: a Linux working directory (`/…` or `~…`). */
  readonly cwd?: string | undefined
  /** `--user`: run as this Linux user. */
  readonly user?: string | undefined
  /**
   * Variables for the Linux process, which always arrive as given. Values go in wsl.exe's
   * environment (never on the command line) and their names are appended to the user's `WSLENV`
   * with the `/u` flag; a name the user's `WSLENV` lists with flags that would not deliver it
   * verbatim (`/w`, `/p`, …) is taken over for this call (`Wslenv.appendVerbatim`).
   */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Written to the process's stdin, which is then closed. */
  readonly stdin?: string | Uint8Array | undefined
  /** Default 30 seconds. After it the process is killed and the call fails with `WslTimeoutError`. */
  readonly timeout?: Duration.Input | undefined
}

/** Options of {@link WslShape.runScript}. */
export interface ScriptOptions extends Omit<ExecOptions, "stdin"> {
  /** The shell that reads the script from stdin (default `bash`), started as a login shell. */
  readonly shell?: string | undefined
}

/** What a Linux command produced. A non-zero `exitCode` is the command's own, not a failure of the call. */
export interface ExecResult {
  /** The Linux command's exit code (wsl.exe's own failures are `WslExeError`s instead). */
  readonly exitCode: number
  /** stdout decoded as UTF-8. */
  readonly stdout: string
  /** stderr decoded as UTF-8. */
  readonly stderr: string
  /** stdout as received, for binary output. */
  readonly stdoutBytes: Uint8Array
  /**
   * wsl.exe's own `wsl: …` warnings of this call, apart from the command's stderr (e.g.
   * "Mirrored networking mode is not supported … Falling back to NAT" when the call booted the
   * VM, windows-reality.md §6.5); localised, for display only. Read the mode from `wslinfo`.
   */
  readonly warnings: ReadonlyArray<string>
}

/** Options of {@link WslShape.state}. */
export interface StateOptions {
  /**
   * Start the default distribution (`--exec true`) to learn whether WSL 2 can run (default
   * `true`): virtualization being off shows only then. A cold start can take seconds.
   */
  readonly start?: boolean | undefined
}

/** `wslpath` modes: `-u`, `-w`, `-m`. */
export type WslPathMode = "toLinux" | "toWindows" | "mixed"

/** Options of {@link WslShape.wslpath}. */
export interface WslPathOptions {
  /** `-a`: make a relative result absolute. */
  readonly absolute?: boolean | undefined
  /** The Linux directory relative paths are resolved from. */
  readonly cwd?: string | undefined
}

/** The `Wsl` service shape. */
export interface WslShape {
  /** The `wsl.exe` in use (launchers spawn it with `WslCommand.execArgs`). */
  readonly executable: string
  /**
   * Whether the `wsl.exe` file exists here. Never fails. It exists on machines without WSL too
   * (the installer stub, KB5004296): use {@link state} to know whether WSL works.
   */
  readonly isAvailable: Effect.Effect<boolean>
  /**
   * Whether WSL is usable, as a typed {@link WslState.WslState} with advice
   * (`WslState.advice`): not installed (missing or the installer stub), virtualization disabled,
   * a component missing, no distributions, ready, or unknown with the raw output. Decided like
   * VS Code and usbipd-win do: `--status` exit 0 means installed (an old inbox `wsl.exe` falls back
   * to `--list --quiet`), a non-empty `--list --quiet` means distributions, and — unless
   * `start: false` — starting the default distribution (`--exec true`) tells whether WSL 2 can
   * run at all (its `HCS_E_…` code). Never fails: a failure to run `wsl.exe` is a state too.
   */
  readonly state: (options?: StateOptions) => Effect.Effect<WslState.WslState>
  /** Every distribution with state, version and default marker (`--list --verbose`); `[]` when none. */
  readonly listDistros: Effect.Effect<ReadonlyArray<DistroList.DistroInfo>, WslError>
  /** The default distribution, if any. */
  readonly defaultDistro: Effect.Effect<Option.Option<DistroName.DistroName>, WslError>
  /**
   * `wsl.exe --status`, read by rules (its labels are localised, its lines come and go). An
   * inbox `wsl.exe` that does not know `--status` fails with `WslUnsupportedError`.
   */
  readonly status: Effect.Effect<DistroList.Status, WslError>
  /**
   * `wsl.exe --version`; `None` for inbox wsl.exe, which does not know it. A wsl.exe failure with
   * an error code is a `WslExeError`.
   */
  readonly version: Effect.Effect<Option.Option<DistroList.Version>, WslError>
  /**
   * Runs `argv` in `distro` through `--exec` (no shell, one argument per value). Fails with
   * `WslExeError` when wsl.exe itself failed (exit -1, i.e. 4294967295; or 255 with wsl.exe's
   * `Error code: Wsl/…` line on stdout); otherwise returns the command's own exit code.
   */
  readonly exec: (
    distro: string,
    argv: ReadonlyArray<string>,
    options?: ExecOptions
  ) => Effect.Effect<ExecResult, WslError>
  /** Sends `script` on stdin to a login shell (`bash -l -s` by default) in `distro`. */
  readonly runScript: (distro: string, script: string, options?: ScriptOptions) => Effect.Effect<ExecResult, WslError>
  /**
   * Runs the real `wslpath` in `distro` (symlinks, realpath, relative paths). Results are
   * cached per distro, mode, options and path.
   */
  readonly wslpath: (
    distro: string,
    path: string,
    mode: WslPathMode,
    options?: WslPathOptions
  ) => Effect.Effect<string, WslError>
  /** The distro's IPv4 address on its primary interface; docker/bridge/virtual addresses are skipped. */
  readonly distroIp: (distro: string) => Effect.Effect<Option.Option<Networking.DistroAddress>, WslError>
  /**
   * The networking mode in use: `wslinfo --networking-mode` (the effective mode, after any silent
   * fallback), else WSL 1 from the distro list, else NAT for an inbox `wsl.exe` (which predates
   * the other modes), else `.wslconfig` (what was asked for, a hint), else an IP collision check.
   * `source` says which.
   */
  readonly networkingMode: (distro: string) => Effect.Effect<Networking.NetworkingModeReport, WslError>
  /**
   * Everything {@link Networking.reachableHost} needs: the mode, `localhostForwarding` and
   * `hostAddressLoopback` from `.wslconfig`, and the distro's address. Gather it once per launch,
   * then answer for each URL with the pure `Networking.reachableHost` / `Networking.reachableUrl`.
   */
  readonly networkFacts: (distro: string) => Effect.Effect<Networking.NetworkFacts, WslError>
  /**
   * Where Windows reaches a server that binds `bind` (`"127.0.0.1"`, `"0.0.0.0"`, `"::"`, …)
   * inside `distro`: {@link networkFacts} then `Networking.reachableHost(bind, facts)` (see its
   * table). Fails with `WslUnreachableError`, saying what to change, when nothing reaches it
   * (mode `none`, a loopback bind with `localhostForwarding=false`, …).
   *
   * Without `bind` (deprecated): the answer for a `0.0.0.0` bind that does not lean on the
   * localhost relay — the distro address under NAT when there is one, loopback in mirrored mode
   * and on WSL 1.
   */
  readonly reachableHost: (distro: string, bind?: string) => Effect.Effect<Networking.ReachableHost, WslError>
  /** The default user's home directory in `distro` (cached). */
  readonly userHome: (distro: string) => Effect.Effect<string, WslError>
  /**
   * The user's `PATH` as their terminal has it: their login shell started interactive and login
   * (`-ilc`; `-ic` for csh), so `~/.bashrc` runs past its interactive-only guard and nvm, fnm,
   * volta and asdf are on it (windows-reality.md §5). The output is read between random markers
   * (startup files that print are fine), stdin is empty, `VSCODE_RESOLVING_ENVIRONMENT=1` and
   * `ISTHMUS_RESOLVING_ENVIRONMENT=1` are set (rc files can skip slow or `exec tmux` parts), and
   * it has its own timeout (`timeouts.environment`, 10 s as in VS Code). Cached per distro for
   * `timeouts.environmentTtl`; failures are not cached.
   */
  readonly shellEnvironment: (distro: string) => Effect.Effect<ShellEnvironment, WslError>
  /**
   * Where each command resolves on {@link shellEnvironment}'s `PATH`: `Found` with its absolute
   * path (launch with it: `--exec` alone uses the distro's default `PATH` and finds another
   * program or none), `WindowsShim` when only a Windows program under the automount root
   * matches (`/mnt/c/…/npm`, which fails in Linux), or `Missing`. Names must be plain command names.
   */
  readonly resolveCommands: (
    distro: string,
    names: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Preflight.Resolution>, WslError>
  /** Starts `distro` (runs `true`) so the next call does not pay the cold start. */
  readonly preWarm: (distro: string, options?: { readonly timeout?: Duration.Input }) => Effect.Effect<void, WslError>
  /** `wsl.exe --terminate <distro>`. */
  readonly terminate: (distro: string) => Effect.Effect<void, WslError>
  /** `wsl.exe --shutdown`. */
  readonly shutdown: Effect.Effect<void, WslError>
  /**
   * Checks that `distro` can run a Node backend as the user's terminal sees it: `node` and the
   * tools resolved with {@link resolveCommands}, Node's version from running it by its absolute
   * path, against a semver range. Windows shims count as missing and are named. Returns a report
   * (with an actionable `message` and the `nodePath` to launch with) rather than failing when
   * something is missing; fails only when the probes could not run.
   */
  readonly preflight: (
    distro: string,
    requirements: Preflight.PreflightRequirements
  ) => Effect.Effect<Preflight.PreflightReport, WslError>
}

/** Timeouts of the calls that do not take one as an option. */
export interface WslTimeouts {
  /** `--list`, `--status`, `--version` and `--terminate`. */
  readonly list: Duration.Input
  /** `exec` without its own `timeout`. */
  readonly exec: Duration.Input
  /** `runScript` without its own `timeout`, and `preflight`. */
  readonly script: Duration.Input
  /** The small probes: `wslpath`, `distroIp`, `networkingMode`, `userHome`, command lookups. */
  readonly probe: Duration.Input
  /** The interactive shell probe of `shellEnvironment` (VS Code's default: 10 s). */
  readonly environment: Duration.Input
  /** How long `shellEnvironment` and `userHome` answers are kept. */
  readonly environmentTtl: Duration.Input
  /** `preWarm` without its own `timeout` (a cold distro can take long to start). */
  readonly preWarm: Duration.Input
  /** `--shutdown`. */
  readonly shutdown: Duration.Input
  /**
   * When a call times out or is interrupted, how long its Linux process group gets between
   * SIGTERM and SIGKILL (and how long the service waits for a command that has not reported its
   * group yet).
   */
  readonly stopGrace: Duration.Input
  /** On top of `stopGrace`: how long the wsl.exe call that stops a group may take. */
  readonly stop: Duration.Input
}

/** Default timeouts. */
export const defaultTimeouts: WslTimeouts = {
  list: "10 seconds",
  exec: "30 seconds",
  script: "60 seconds",
  probe: "15 seconds",
  environment: "10 seconds",
  environmentTtl: "5 minutes",
  preWarm: "60 seconds",
  shutdown: "60 seconds",
  stopGrace: "2 seconds",
  stop: "30 seconds"
}

/** Options of {@link make}. */
export interface WslOptions {
  /** Overrides of {@link defaultTimeouts}. */
  readonly timeouts?: Partial<WslTimeouts> | undefined
  /** Entries kept in the `wslpath` cache (default 1024). */
  readonly wslpathCacheSize?: number | undefined
}

/** WSL from the Windows side. */
export class Wsl extends Context.Service<Wsl, WslShape>()("@isthmus/wsl/Wsl") {}

const utf8 = new TextDecoder("utf-8")

const fromResult = <A, E>(r: Result.Result<A, E>): Effect.Effect<A, E> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

const failExe = (operation: string, exitCode: number, text: string, distro?: string) =>
  new WslExeError({ operation, distro, exitCode, output: text, errorCode: WslCommand.errorCodeOf(text) })

/**
 * A failure of wsl.exe itself: a usage banner (an option this wsl.exe does not know) is
 * `WslUnsupportedError` with the whole text; anything else a `WslExeError`.
 */
const failWsl = (operation: string, args: ReadonlyArray<string>, exitCode: number, text: string, distro?: string) =>
  WslCommand.isUsageText(text)
    ? new WslUnsupportedError({ operation, feature: WslCommand.refusedOption(text, args), exitCode, output: text })
    : failExe(operation, exitCode, text, distro)

const unknownState = (command: string, exitCode: number, text: string): WslState.WslState => ({
  _tag: "Unknown",
  command,
  exitCode,
  errorCode: Option.fromNullishOr(WslCommand.errorCodeOf(text)),
  output: text
})

/** 64 random bits in hex: tells this run's marker line apart from anything a program prints. */
const randomToken = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("")

const toBytes = (stdin: string | Uint8Array | undefined) =>
  stdin === undefined ? undefined : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin

const requireSuccess = (operation: string, distro: string, command: string, r: ExecResult) =>
  r.exitCode === 0
    ? Effect.succeed(r)
    : Effect.fail(new WslCommandError({ operation, distro, command, exitCode: r.exitCode, stderr: r.stderr }))

const validateTools = (operation: string, names: ReadonlyArray<string>) =>
  Effect.forEach(names, (name) =>
    Preflight.toolPattern.test(name)
      ? Effect.void
      : Effect.fail(
        new WslArgumentError({
          operation,
          argument: "command name",
          value: name,
          reason: "give a plain command name ([A-Za-z0-9._+-])"
        })
      ), { discard: true })

/** Builds the service from a {@link WslHost.WslHost}. */
export const make = Effect.fnUntraced(function*(serviceOptions: WslOptions = {}) {
  const host = yield* WslHost.WslHost
  const timeouts = { ...defaultTimeouts, ...serviceOptions.timeouts }
  const cacheSize = serviceOptions.wslpathCacheSize ?? 1024
  const wslpathCache = new Map<string, string>()

  /** Runs a wsl.exe command that is not `--exec` and needs exit 0. */
  const runWsl = (operation: string, args: ReadonlyArray<string>, timeout: Duration.Input, distro?: string) =>
    Effect.gen(function*() {
      const result = yield* host.run({ operation, args, timeout: Duration.fromInputUnsafe(timeout), distro })
      const text = DistroList.decode(result.stdout)
      return { result, text }
    })

  const listVerbose = Effect.gen(function*() {
    const { result, text } = yield* runWsl("Wsl.listDistros", ["--list", "--verbose"], timeouts.list)
    if (result.exitCode === 0) return DistroList.parseVerbose(text)
    // `-l -v` fails with -1 when there are no distros; `-l -q` then succeeds with no output.
    const quiet = yield* runWsl("Wsl.listDistros", ["--list", "--quiet"], timeouts.list)
    if (quiet.result.exitCode === 0 && DistroList.parseQuiet(quiet.text).length === 0) {
      return [] as ReadonlyArray<DistroList.DistroInfo>
    }
    return yield* failExe("Wsl.listDistros", result.exitCode, text)
  })

  const listDistros = listVerbose.pipe(Effect.withSpan("Wsl.listDistros"))

  const defaultDistro = listVerbose.pipe(
    Effect.map((ds) => Option.fromNullishOr(ds.find((d) => d.isDefault)?.name)),
    Effect.withSpan("Wsl.defaultDistro")
  )

  const status = Effect.gen(function*() {
    const { result, text } = yield* runWsl("Wsl.status", ["--status"], timeouts.list)
    if (result.exitCode !== 0) return yield* failWsl("Wsl.status", ["--status"], result.exitCode, text)
    return DistroList.parseStatus(text)
  }).pipe(Effect.withSpan("Wsl.status"))

  const version = Effect.gen(function*() {
    const { result, text } = yield* runWsl("Wsl.version", ["--version"], timeouts.list)
    const parsed = DistroList.parseVersion(text)
    // Inbox wsl.exe rejects --version as a usage error, without an `Error code:` line: that is
    // `None`. A failure with an error code (the service is broken, …) is wsl.exe's own failure.
    if (Option.isNone(parsed) && result.exitCode !== 0 && WslCommand.errorCodeOf(text) !== undefined) {
      return yield* failExe("Wsl.version", result.exitCode, text)
    }
    return parsed
  }).pipe(Effect.withSpan("Wsl.version"))

  const state = Effect.fn("Wsl.state")(function*(options?: StateOptions) {
    const notInstalled = (reason: string, output = ""): WslState.WslState => ({
      _tag: "NotInstalled",
      executable: host.executable,
      reason,
      output
    })
    if (!(yield* host.isAvailable)) {
      return notInstalled(`${host.executable} does not exist`)
    }
    const attempt = (args: ReadonlyArray<string>, timeout: Duration.Input = timeouts.list) =>
      host.run({ operation: "Wsl.state", args, timeout: Duration.fromInputUnsafe(timeout) }).pipe(
        Effect.map((result) => ({ result, text: DistroList.decode(result.stdout) })),
        Effect.result
      )
    const failed = (command: string, error: WslError): WslState.WslState =>
      error._tag === "WslUnavailableError" || error._tag === "WslSpawnError"
        ? notInstalled(error.message)
        : { _tag: "Unknown", command, exitCode: -1, errorCode: Option.none(), output: error.message }
    // Installed? `--status` exits 0 (VS Code `testWSLFeatureInstalled`).
    const st = yield* attempt(["--status"])
    if (Result.isFailure(st)) return failed("wsl.exe --status", st.failure)
    const quiet = yield* attempt(["--list", "--quiet"])
    if (Result.isFailure(quiet)) return failed("wsl.exe --list --quiet", quiet.failure)
    if (st.success.result.exitCode !== 0) {
      if (WslCommand.errorCodeOf(st.success.text) !== undefined) {
        return WslState.fromStartFailure(
          "wsl.exe --status",
          st.success.result.exitCode,
          WslCommand.errorCodeOf(st.success.text),
          st.success.text
        )
      }
      // A usage text and no code: an old inbox wsl.exe (then `--list --quiet` works) or the
      // installer stub (then it does not either).
      if (quiet.success.result.exitCode !== 0) {
        return WslCommand.isUsageText(quiet.success.text) || WslCommand.isUsageText(st.success.text)
          ? notInstalled(
            `${host.executable} is the installer stub: it answers every command with its usage text (exit ${quiet.success.result.exitCode})`,
            quiet.success.text
          )
          : unknownState("wsl.exe --list --quiet", quiet.success.result.exitCode, quiet.success.text)
      }
    } else if (quiet.success.result.exitCode !== 0) {
      return unknownState("wsl.exe --list --quiet", quiet.success.result.exitCode, quiet.success.text)
    }
    const installedVersion = yield* version.pipe(Effect.orElseSucceed(() => Option.none<DistroList.Version>()))
    if (DistroList.parseQuiet(quiet.success.text).length === 0) {
      return { _tag: "NoDistributions", version: installedVersion } satisfies WslState.WslState
    }
    const distros = yield* listVerbose.pipe(Effect.result)
    if (Result.isFailure(distros)) return failed("wsl.exe --list --verbose", distros.failure)
    const chosen = Option.fromNullishOr(distros.success.find((d) => d.isDefault)?.name)
    const ready: WslState.Ready = {
      _tag: "Ready",
      version: installedVersion,
      distros: distros.success,
      defaultDistro: chosen,
      started: false
    }
    if (options?.start === false || Option.isNone(chosen)) return ready
    // Only starting a distribution shows whether WSL 2 can run (windows-reality.md §3).
    const args = ["--distribution", chosen.value, "--exec", "true"]
    const started = yield* attempt(args, timeouts.preWarm)
    if (Result.isFailure(started)) return failed(`wsl.exe ${args.join(" ")}`, started.failure)
    const { result, text } = started.success
    if (result.exitCode === 0) return { ...ready, started: true }
    return WslState.fromStartFailure(`wsl.exe ${args.join(" ")}`, result.exitCode, WslCommand.errorCodeOf(text), text)
  })

  const envFor = (operation: string, env: Readonly<Record<string, string>> | undefined) =>
    Effect.gen(function*() {
      if (env === undefined || Object.keys(env).length === 0) return undefined
      const names: Array<string> = []
      for (const name of Object.keys(env)) {
        yield* fromResult(WslCommand.validateEnvName(operation, name))
        if (name === "WSLENV") {
          return yield* new WslArgumentError({
            operation,
            argument: "environment variable name",
            value: name,
            reason: "WSLENV is managed by the service (names are appended to the user's value)"
          })
        }
        names.push(name)
      }
      return { ...env, WSLENV: Wslenv.appendVerbatim(host.env["WSLENV"], names) }
    })

  /**
   * Runs `argv` in `distro` through `--exec`, wrapped so it reports its process group first
   * (windows-reality.md §2.4). On timeout or interruption the group is stopped *inside* the
   * distro by a second wsl.exe call (TERM, grace, KILL), then wsl.exe is killed as the backstop:
   * killing wsl.exe alone leaves the Linux process running (microsoft/WSL#2496).
   */
  const runExec = (
    operation: string,
    distro: string,
    argv: ReadonlyArray<string>,
    target: WslCommand.Target | undefined,
    options: Omit<ExecOptions, "cwd" | "user"> & { readonly defaultTimeout: Duration.Input }
  ) =>
    Effect.gen(function*() {
      yield* fromResult(WslCommand.execArgs(distro, argv, target, operation))
      const env = yield* envFor(operation, options.env)
      const token = randomToken()
      const args = yield* fromResult(
        WslCommand.execArgs(distro, WslCommand.reportGroup(argv, token), target, operation)
      )
      const group = yield* Deferred.make<number>()
      const timeout = Duration.fromInputUnsafe(options.timeout ?? options.defaultTimeout)
      const run = host.run({
        operation,
        args,
        env,
        stdin: toBytes(options.stdin),
        // The backstop: the service stops the Linux side first, within its own bounds.
        timeout: Duration.sum(timeout, Duration.sum(stopBudget, Duration.fromInputUnsafe(timeouts.stop))),
        distro,
        linuxGroup: { token, onGroup: (pgid) => Deferred.succeed(group, pgid).pipe(Effect.asVoid) }
      })
      const fiber = yield* Effect.forkChild(run, { startImmediately: true })
      const stop = stopLinux(operation, distro, group, fiber)
      const finished = yield* Fiber.join(fiber).pipe(
        Effect.timeoutOption(timeout),
        Effect.onInterrupt(() => stop)
      )
      if (Option.isNone(finished)) {
        const linuxStop = yield* stop
        return yield* new WslTimeoutError({
          operation,
          distro,
          timeoutMillis: Duration.toMillis(timeout),
          linuxStop
        })
      }
      const result = finished.value
      // -1 (4294967295) is always wsl.exe's own failure. 255 is ambiguous where only 8 bits
      // survive: a Linux command may exit 255 itself; it is wsl.exe's only with its error code
      // or its usage text on stdout.
      if (WslCommand.isWslExeFailureCode(result.exitCode) || result.exitCode === 255) {
        const text = DistroList.decode(result.stdout)
        if (
          WslCommand.isWslExeFailureCode(result.exitCode) || WslCommand.errorCodeOf(text) !== undefined ||
          WslCommand.isUsageText(text)
        ) {
          return yield* failWsl(operation, args, result.exitCode, text, distro)
        }
      }
      return {
        exitCode: result.exitCode,
        stdout: utf8.decode(result.stdout),
        stderr: utf8.decode(result.stderr),
        stdoutBytes: result.stdout,
        warnings: result.warnings === undefined || result.warnings.byteLength === 0
          ? []
          : DistroList.lines(DistroList.decode(result.warnings)).filter((l) => l.trim().length > 0)
      } satisfies ExecResult
    })

  /** How long a stop may wait for the pgid of a command that has not reported it yet. */
  const stopBudget = Duration.fromInputUnsafe(timeouts.stopGrace)

  /**
   * Stops what a run started: its Linux process group inside the distro (one wsl.exe call running
   * `WslCommand.stopGroupScript`: TERM, `stopGrace`, KILL), then wsl.exe. When the command has not
   * reported its group yet (a cold distro is still starting), it waits for it up to
   * `stopGrace`; without it only wsl.exe can be killed, and the Linux side may run on.
   */
  const stopLinux = (
    operation: string,
    distro: string,
    group: Deferred.Deferred<number>,
    fiber: Fiber.Fiber<unknown, unknown>
  ) =>
    Effect.gen(function*() {
      const pgid = yield* Deferred.await(group).pipe(Effect.timeoutOption(stopBudget))
      if (Option.isNone(pgid)) {
        yield* Fiber.interrupt(fiber)
        return "its Linux process had not reported its process group, so only wsl.exe was killed; the Linux side may still run (microsoft/WSL#2496)"
      }
      const outcome = yield* stopGroup(operation, distro, pgid.value)
      yield* Fiber.interrupt(fiber)
      return outcome
    }).pipe(Effect.uninterruptible)

  /** One wsl.exe call that stops process group `pgid` in `distro`; says what happened. */
  const stopGroup = (operation: string, distro: string, pgid: number) =>
    Effect.gen(function*() {
      const grace = Duration.toMillis(Duration.fromInputUnsafe(timeouts.stopGrace))
      const args = yield* fromResult(
        WslCommand.execArgs(distro, ["sh", "-c", WslCommand.stopGroupScript(pgid, grace), "sh"], undefined, operation)
      )
      const r = yield* host.run({
        operation: `${operation} (stop)`,
        args,
        timeout: Duration.sum(Duration.millis(grace), Duration.fromInputUnsafe(timeouts.stop)),
        distro
      })
      switch (r.exitCode) {
        case WslCommand.stopExit.gone:
          return `its Linux process group ${pgid} had already ended`
        case WslCommand.stopExit.graceful:
          return `its Linux process group ${pgid} was stopped inside the distro with SIGTERM`
        case WslCommand.stopExit.forced:
          return `its Linux process group ${pgid} was killed inside the distro (SIGKILL after ${grace} ms)`
        case WslCommand.stopExit.survived:
          return `its Linux process group ${pgid} still had a member a second after SIGKILL inside the distro`
        default:
          return `stopping its Linux process group ${pgid} failed (exit ${r.exitCode}); it may still run`
      }
    }).pipe(
      Effect.catch((e) =>
        Effect.succeed(`stopping its Linux process group ${pgid} failed (${e.message}); it may still run`)
      )
    )

  const exec = Effect.fn("Wsl.exec")(function*(distro: string, argv: ReadonlyArray<string>, options?: ExecOptions) {
    return yield* runExec("Wsl.exec", distro, argv, options, { ...options, defaultTimeout: timeouts.exec })
  })

  const script = (
    operation: string,
    distro: string,
    text: string,
    options: ScriptOptions & { readonly login?: boolean; readonly defaultTimeout: Duration.Input }
  ) =>
    Effect.gen(function*() {
      const argv = [options.shell ?? "bash", ...(options.login === false ? [] : ["-l"]), "-s"]
      const body = text.endsWith("\n") ? text : `${text}\n`
      return yield* runExec(operation, distro, argv, options, { ...options, stdin: body })
    })

  const runScript = Effect.fn("Wsl.runScript")(function*(distro: string, text: string, options?: ScriptOptions) {
    return yield* script("Wsl.runScript", distro, text, { ...options, defaultTimeout: timeouts.script })
  })

  const probe = (operation: string, distro: string, text: string) =>
    script(operation, distro, text, { shell: "sh", login: false, defaultTimeout: timeouts.probe })

  const wslpath = Effect.fn("Wsl.wslpath")(
    function*(distro: string, path: string, mode: WslPathMode, options?: WslPathOptions) {
      const flag = (mode === "toLinux" ? "-u" : mode === "toWindows" ? "-w" : "-m") +
        (options?.absolute === true ? "a" : "")
      const key = `${distro.toLowerCase()}\0${flag}\0${options?.cwd ?? ""}\0${path}`
      const hit = wslpathCache.get(key)
      if (hit !== undefined) return hit
      if (path.length === 0 || path.includes("\0")) {
        return yield* new WslArgumentError({
          operation: "Wsl.wslpath",
          argument: "path",
          value: path,
          reason: "give a non-empty path without NUL"
        })
      }
      const r = yield* runExec("Wsl.wslpath", distro, ["wslpath", flag, "--", path], { cwd: options?.cwd }, {
        defaultTimeout: timeouts.probe
      })
      yield* requireSuccess("Wsl.wslpath", distro, `wslpath ${flag} -- ${path}`, r)
      const out = r.stdout.replace(/\r?\n$/, "")
      if (wslpathCache.size >= cacheSize) {
        const oldest = wslpathCache.keys().next()
        if (oldest.done !== true) wslpathCache.delete(oldest.value)
      }
      wslpathCache.set(key, out)
      return out
    }
  )

  const distroIp = Effect.fn("Wsl.distroIp")(function*(distro: string) {
    const r = yield* probe("Wsl.distroIp", distro, addressScript)
    yield* requireSuccess("Wsl.distroIp", distro, "ip -o -4 addr show", r)
    return Option.fromNullishOr(Networking.parseAddressProbe(r.stdout)[0])
  })

  const networkingMode = Effect.fn("Wsl.networkingMode")(function*(distro: string) {
    const info = yield* runExec("Wsl.networkingMode", distro, ["wslinfo", "--networking-mode", "-n"], undefined, {
      defaultTimeout: timeouts.probe
    })
    if (info.exitCode === 0) {
      const mode = Networking.parseWslinfo(info.stdout)
      if (Option.isSome(mode)) {
        return {
          mode: mode.value,
          source: "wslinfo",
          detail: `wslinfo --networking-mode printed ${info.stdout.trim()}`
        } satisfies Networking.NetworkingModeReport
      }
    }
    // No wslinfo (an older WSL, or a WSL 1 distro without it): infer, and say so.
    const listed = (yield* listVerbose).find((d) => DistroName.equals(d.name, distro))
    if (listed?.version === 1) {
      return {
        mode: "wsl1",
        source: "distroVersion",
        detail: `${distro} is a WSL 1 distribution (wsl.exe --list --verbose); it shares the Windows network stack`
      } satisfies Networking.NetworkingModeReport
    }
    const installed = yield* version.pipe(Effect.orElseSucceed(() => Option.none<DistroList.Version>()))
    if (Option.isNone(installed)) {
      return {
        mode: "nat",
        source: "inbox",
        detail: "inbox wsl.exe (no --version, no wslinfo) predates mirrored networking: inferred nat"
      } satisfies Networking.NetworkingModeReport
    }
    const config = yield* host.wslConfig
    if (Option.isSome(config)) {
      const mode = Networking.parseWslConfig(config.value)
      if (Option.isSome(mode)) {
        return {
          mode: mode.value,
          source: "wslconfig",
          detail:
            `.wslconfig asks for networkingMode=${mode.value}; wslinfo was not available to confirm it (WSL falls back from mirrored to nat, or to none, without failing)`
        } satisfies Networking.NetworkingModeReport
      }
    }
    const address = yield* distroIp(distro)
    if (Option.isNone(address)) {
      return {
        mode: "nat",
        source: "default",
        detail: "no wslinfo, no networkingMode in .wslconfig and no distro address: assuming the default, nat"
      } satisfies Networking.NetworkingModeReport
    }
    const hostAddresses = yield* host.hostAddresses
    const collides = hostAddresses.includes(address.value.address)
    return {
      mode: collides ? "mirrored" : "nat",
      source: "ipCollision",
      detail: collides
        ? `the distro address ${address.value.address} is also a Windows interface address`
        : `the distro address ${address.value.address} is not a Windows interface address`
    } satisfies Networking.NetworkingModeReport
  })

  const networkFacts = Effect.fn("Wsl.networkFacts")(function*(distro: string) {
    const mode = yield* networkingMode(distro)
    const config = Option.getOrUndefined(yield* host.wslConfig)
    const distroAddress = mode.mode === "mirrored" || mode.mode === "wsl1" || mode.mode === "none"
      ? Option.none<Networking.DistroAddress>()
      : yield* distroIp(distro)
    return {
      distro,
      mode,
      localhostForwarding: Networking.parseLocalhostForwarding(config),
      hostAddressLoopback: Networking.parseHostAddressLoopback(config),
      distroAddress
    } satisfies Networking.NetworkFacts
  })

  const reachableHost = Effect.fn("Wsl.reachableHost")(function*(distro: string, bind?: string) {
    const facts = yield* networkFacts(distro)
    const answer = yield* fromResult(Networking.reachableHost(bind ?? "0.0.0.0", facts))
    if (bind !== undefined) return answer
    const direct = answer.alternatives.find((e) => e.route === "distroAddress")
    return direct === undefined ? answer : { ...answer, ...direct, alternatives: [], reason: `${answer.reason}` }
  })

  // WSL looks distro names up case-insensitively: the caches are keyed by the lower-case name
  // and run commands with the spelling first asked for.
  const spellings = new Map<string, string>()
  const cacheKey = (distro: string) => {
    const key = distro.toLowerCase()
    if (!spellings.has(key)) spellings.set(key, distro)
    return key
  }

  /** The user's home and login shell (`getent passwd`), cached per distro. */
  const accounts = yield* Cache.makeWith(
    (key: string) =>
      Effect.gen(function*() {
        const distro = spellings.get(key) ?? key
        const r = yield* probe("Wsl.userHome", distro, accountScript)
        yield* requireSuccess("Wsl.userHome", distro, "getent passwd $(id -un)", r)
        const home = /^home:(.*)$/m.exec(r.stdout)?.[1]?.trim() ?? ""
        const shell = /^shell:(.*)$/m.exec(r.stdout)?.[1]?.trim() ?? ""
        if (!home.startsWith("/")) {
          return yield* new WslParseError({
            operation: "Wsl.userHome",
            output: r.stdout,
            reason: "no absolute home path"
          })
        }
        // `<root>c/` is where drive C: is mounted (wslpath -u 'C:\\'); without it the default /mnt/.
        const c = /^root:(.*)$/m.exec(r.stdout)?.[1]?.trim() ?? ""
        const automountRoot = /\/c\/?$/.test(c) ? c.replace(/c\/?$/, "") : "/mnt/"
        return { home, shell: shell.startsWith("/") ? shell : "/bin/sh", automountRoot }
      }),
    { capacity: 256, timeToLive: (exit) => (Exit.isSuccess(exit) ? timeouts.environmentTtl : 0) }
  )

  const userHome = Effect.fn("Wsl.userHome")(function*(distro: string) {
    yield* fromResult(WslCommand.validateDistro(distro))
    return (yield* Cache.get(accounts, cacheKey(distro))).home
  })

  const environments = yield* Cache.makeWith(
    (key: string) =>
      Effect.gen(function*() {
        const distro = spellings.get(key) ?? key
        const { automountRoot, shell } = yield* Cache.get(accounts, key)
        const marker = `@@isthmus-env-${randomToken()}`
        const r = yield* runExec(
          "Wsl.shellEnvironment",
          distro,
          [shell, Preflight.interactiveFlags(shell), environmentScript(marker)],
          undefined,
          {
            env: { VSCODE_RESOLVING_ENVIRONMENT: "1", ISTHMUS_RESOLVING_ENVIRONMENT: "1" },
            defaultTimeout: timeouts.environment
          }
        )
        const path = Preflight.parseEnvironment(r.stdout, marker)
        if (Option.isNone(path)) {
          return yield* new WslParseError({
            operation: "Wsl.shellEnvironment",
            output: `${r.stdout}${r.stderr}`,
            reason: `${shell} ${
              Preflight.interactiveFlags(shell)
            } exited ${r.exitCode} without printing PATH between its markers: a startup file may exec another program (tmux, zsh) or fail; it can skip that when VSCODE_RESOLVING_ENVIRONMENT or ISTHMUS_RESOLVING_ENVIRONMENT is set`
          })
        }
        const around = r.stdout.split(marker).filter((_, i) => i !== 1).join("").trim()
        return {
          distro,
          shell,
          path: path.value,
          automountRoot,
          output: around
        } satisfies ShellEnvironment
      }),
    { capacity: 256, timeToLive: (exit) => (Exit.isSuccess(exit) ? timeouts.environmentTtl : 0) }
  )

  const shellEnvironment = Effect.fn("Wsl.shellEnvironment")(function*(distro: string) {
    yield* fromResult(WslCommand.validateDistro(distro))
    return yield* Cache.get(environments, cacheKey(distro))
  })

  const resolveCommands = Effect.fn("Wsl.resolveCommands")(function*(distro: string, names: ReadonlyArray<string>) {
    yield* fromResult(WslCommand.validateDistro(distro))
    yield* validateTools("Wsl.resolveCommands", names)
    if (names.length === 0) return []
    const environment = yield* shellEnvironment(distro)
    const marker = `@@isthmus-cmd-${randomToken()}`
    const r = yield* runExec("Wsl.resolveCommands", distro, ["sh", "-c", lookupScript(marker, names)], undefined, {
      env: { ISTHMUS_PATH: environment.path },
      defaultTimeout: timeouts.probe
    })
    return Preflight.parseLookup(r.stdout, marker, names, environment.automountRoot)
  })

  const preWarm = Effect.fn("Wsl.preWarm")(function*(distro: string, options?: { readonly timeout?: Duration.Input }) {
    const r = yield* exec(distro, ["true"], { timeout: options?.timeout ?? timeouts.preWarm })
    yield* requireSuccess("Wsl.preWarm", distro, "true", r)
  })

  const terminate = Effect.fn("Wsl.terminate")(function*(distro: string) {
    const args = yield* fromResult(WslCommand.terminateArgs(distro))
    const { result, text } = yield* runWsl("Wsl.terminate", args, timeouts.list, distro)
    if (result.exitCode !== 0) return yield* failExe("Wsl.terminate", result.exitCode, text, distro)
    yield* Cache.invalidate(accounts, distro.toLowerCase())
    yield* Cache.invalidate(environments, distro.toLowerCase())
  })

  const shutdown = Effect.gen(function*() {
    const { result, text } = yield* runWsl("Wsl.shutdown", ["--shutdown"], timeouts.shutdown)
    if (result.exitCode !== 0) return yield* failExe("Wsl.shutdown", result.exitCode, text)
    yield* Cache.invalidateAll(accounts)
    yield* Cache.invalidateAll(environments)
  }).pipe(Effect.withSpan("Wsl.shutdown"))

  const preflight = Effect.fn("Wsl.preflight")(
    function*(distro: string, requirements: Preflight.PreflightRequirements) {
      const tools = requirements.tools ?? []
      yield* fromResult(WslCommand.validateDistro(distro))
      yield* validateTools("Wsl.preflight", tools)
      if (requirements.node !== undefined && !Preflight.isValidRange(requirements.node)) {
        return yield* new WslArgumentError({
          operation: "Wsl.preflight",
          argument: "node range",
          value: requirements.node,
          reason: "not a semver range (e.g. \"^22.16 || >=24.10\")"
        })
      }
      const environment = yield* shellEnvironment(distro)
      const [node, ...found] = yield* resolveCommands(distro, ["node", ...tools])
      // Run Node by the path found: what a launch will run (windows-reality.md §5).
      const nodeVersion = node?._tag === "Found"
        ? yield* runExec("Wsl.preflight", distro, [node.path, "--version"], undefined, {
          defaultTimeout: timeouts.probe
        }).pipe(
          Effect.map((
            r
          ) => (r.exitCode === 0 && r.stdout.trim().length > 0 ? Option.some(r.stdout.trim()) : Option.none()))
        )
        : Option.none<string>()
      return Preflight.report(distro, requirements, {
        shell: environment.shell,
        node: node ?? { _tag: "Missing", name: "node" },
        nodeVersion,
        tools: found
      })
    }
  )

  return Wsl.of({
    executable: host.executable,
    isAvailable: host.isAvailable,
    state,
    listDistros,
    defaultDistro,
    status,
    version,
    exec,
    runScript,
    wslpath,
    distroIp,
    networkingMode,
    networkFacts,
    reachableHost,
    userHome,
    shellEnvironment,
    resolveCommands,
    preWarm,
    terminate,
    shutdown,
    preflight
  })
})

/** The service on top of whatever {@link WslHost.WslHost} is provided (the fake host in tests). */
export const layerNoDeps = (options: WslOptions = {}): Layer.Layer<Wsl, never, WslHost.WslHost> =>
  Layer.effect(Wsl, make(options))

/**
 * The service on the real `wsl.exe` (Node). On non-Windows hosts pass `host.executable`
 * (e.g. `fakeWslExecutable` from `@isthmus/wsl/testing`).
 */
export const layer = (
  options: WslOptions & { readonly host?: WslHost.WslHostOptions | undefined } = {}
): Layer.Layer<Wsl> => layerNoDeps(options).pipe(Layer.provide(WslHost.layer(options.host)))

/** Re-exported so `Wsl.InvalidDistroNameError` etc. are at hand. */
export type { InvalidDistroNameError }
