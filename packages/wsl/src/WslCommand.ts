/**
 * Building `wsl.exe` command lines: one argument per value, no shell, and every dynamic value
 * validated first (distro names with `DistroName`, users, `--cd` values, variable names).
 * Launchers that spawn long-lived processes themselves (the backend pool) use these with
 * `Wslenv.forward` for the environment; the `Wsl` service uses them for every call.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Result from "effect/Result"
import * as DistroName from "./DistroName.ts"
import * as LinuxProcess from "./internal/linuxProcess.ts"
import { type InvalidDistroNameError, WslArgumentError } from "./WslError.ts"

/** Where and as whom a command runs. */
export interface Target {
  /** `-u/--user`: a Linux user name. */
  readonly user?: string | undefined
  /**
   * `--cd`: a Linux path starting with `/` or `~` (wsl.exe rejects anything else that is not an
   * absolute Windows path).
   */
  readonly cwd?: string | undefined
}

// shadow-utils' default allows more than Debian's NAME_REGEX: `first.last` (corporate and
// directory accounts) is common. The first character is never `-` or `.`, so no option and no
// `.`/`..`.
const userPattern = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i
const hasControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true
  return false
}
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Checks a Linux user name (`-u`). */
export const validateUser = (operation: string, user: string): Result.Result<string, WslArgumentError> =>
  userPattern.test(user)
    ? Result.succeed(user)
    : Result.fail(
      new WslArgumentError({
        operation,
        argument: "user",
        value: user,
        reason: "a Linux user name is 1-32 characters from [A-Za-z0-9_.-] starting with a letter or '_'"
      })
    )

/** Checks a `--cd` value: a Linux path (`/…` or `~…`) without control characters. */
export const validateCwd = (operation: string, cwd: string): Result.Result<string, WslArgumentError> =>
  (cwd.startsWith("/") || cwd.startsWith("~")) && !hasControl(cwd)
    ? Result.succeed(cwd)
    : Result.fail(
      new WslArgumentError({
        operation,
        argument: "cwd",
        value: cwd,
        reason: "give a Linux path starting with / or ~ (convert Windows paths with WslPath.toLinux first)"
      })
    )

/** Checks an environment variable name forwarded through `WSLENV`. */
export const validateEnvName = (operation: string, name: string): Result.Result<string, WslArgumentError> =>
  envNamePattern.test(name)
    ? Result.succeed(name)
    : Result.fail(
      new WslArgumentError({
        operation,
        argument: "environment variable name",
        value: name,
        reason: "WSLENV can only forward names matching [A-Za-z_][A-Za-z0-9_]*"
      })
    )

/** Validates a distribution name for use on a command line. */
export const validateDistro = (distro: string): Result.Result<DistroName.DistroName, InvalidDistroNameError> =>
  DistroName.make(distro)

const targetArgs = (operation: string, target: Target | undefined): Result.Result<Array<string>, WslArgumentError> => {
  const out: Array<string> = []
  if (target?.user !== undefined) {
    const user = validateUser(operation, target.user)
    if (Result.isFailure(user)) return Result.fail(user.failure)
    out.push("--user", user.success)
  }
  if (target?.cwd !== undefined) {
    const cwd = validateCwd(operation, target.cwd)
    if (Result.isFailure(cwd)) return Result.fail(cwd.failure)
    out.push("--cd", cwd.success)
  }
  return Result.succeed(out)
}

/**
 * `wsl.exe` arguments that run `argv` in `distro` without a shell:
 * `--distribution <distro> [--user u] [--cd dir] --exec <argv…>`.
 *
 * @example
 * ```ts
 * execArgs("Ubuntu", ["node", "server.js", "--port", "3000"])
 * // Success(["--distribution", "Ubuntu", "--exec", "node", "server.js", "--port", "3000"])
 * ```
 */
export const execArgs = (
  distro: string,
  argv: ReadonlyArray<string>,
  target?: Target,
  operation = "WslCommand.execArgs"
): Result.Result<Array<string>, InvalidDistroNameError | WslArgumentError> => {
  const name = validateDistro(distro)
  if (Result.isFailure(name)) return Result.fail(name.failure)
  if (argv.length === 0 || argv[0]!.length === 0) {
    return Result.fail(
      new WslArgumentError({ operation, argument: "argv", value: "", reason: "give the program to run as argv[0]" })
    )
  }
  const nul = argv.find((a) => a.includes("\0"))
  if (nul !== undefined) {
    return Result.fail(
      new WslArgumentError({ operation, argument: "argument", value: nul, reason: "arguments cannot contain NUL" })
    )
  }
  const t = targetArgs(operation, target)
  if (Result.isFailure(t)) return Result.fail(t.failure)
  return Result.succeed(["--distribution", name.success, ...t.success, "--exec", ...argv])
}

/**
 * `wsl.exe` arguments that run `shell` reading a script from stdin: `… --exec <shell> [-l] -s`.
 * Scripts never go on the command line (wsl.exe re-quotes arguments); write them to stdin.
 */
export const scriptArgs = (
  distro: string,
  options?: Target & { readonly shell?: string | undefined; readonly login?: boolean | undefined },
  operation = "WslCommand.scriptArgs"
): Result.Result<Array<string>, InvalidDistroNameError | WslArgumentError> =>
  execArgs(
    distro,
    [options?.shell ?? "bash", ...(options?.login === false ? [] : ["-l"]), "-s"],
    options,
    operation
  )

/** `wsl.exe --terminate <distro>`. */
export const terminateArgs = (distro: string): Result.Result<Array<string>, InvalidDistroNameError> => {
  const name = validateDistro(distro)
  return Result.isFailure(name) ? Result.fail(name.failure) : Result.succeed(["--terminate", name.success])
}

/**
 * The exit code wsl.exe uses for its own failures: -1, seen as 4294967295 on Windows and as 255
 * where only 8 bits survive (`fake-wsl`).
 */
export const isWslExeFailureCode = (exitCode: number): boolean => exitCode === -1 || exitCode === 4294967295

/**
 * WSL's error code token: the entry context (`Wsl`, `Bash`, `WslConfig`, `Wslg`), then contexts
 * joined by `/`, ending in a symbolic HRESULT name or `0x…` (`wslutil.cpp` `ErrorToString`; an
 * unknown context prints as `?(n)`). It is never localised; the label before it is
 * (`Error code:`, `Fehlercode:`, `エラー コード:`, `Code d'erreur :`; windows-reality.md §4).
 */
const errorToken = /\b(?:WslConfig|Wslg|Wsl|Bash)(?:\/[A-Za-z0-9_?()]+)+/gu

/**
 * Extracts the `Wsl/…` error code from wsl.exe's output in any display language: the last token
 * that matches WSL's grammar, wherever it is (never by the localised `Error code:` label).
 */
export const errorCodeOf = (output: string): string | undefined => {
  let last: string | undefined
  for (const m of output.matchAll(errorToken)) last = m[0]
  return last
}

/**
 * Whether `output` is `wsl.exe`'s usage text: it lists the `--exec` and `--distribution`
 * options, which are literals in every language. An inbox or stub `wsl.exe` answers an option it
 * does not know this way, with no error code.
 */
export const isUsageText = (output: string): boolean =>
  /(^|\s)--exec\b/.test(output) && /(^|\s)--distribution\b/.test(output) && errorCodeOf(output) === undefined

/**
 * The option `wsl.exe` refused in its usage text: the first of `args` starting with `-` that the
 * text names (its first line is "Invalid command line option: --status" in the user's language),
 * else the first option of `args`.
 */
export const refusedOption = (output: string, args: ReadonlyArray<string>): string => {
  const options = args.filter((a) => a.startsWith("-"))
  const first = output.split(/\r*\n/).find((l) => l.trim().length > 0) ?? ""
  const words = first.split(/[\s:：]+/)
  return options.find((o) => words.includes(o)) ?? options[0] ?? args[0] ?? ""
}

/**
 * `argv` wrapped so the Linux side reports its process group before anything else:
 * `sh -c 'echo @@isthmus-pgid:<token> $$ >&2; exec "$@"' sh <argv…>`. In WSL the launched program
 * is a session leader (the relay `forkpty`s it), so `$$` is its pid, pgid and sid, and `exec`
 * keeps them. Arguments are never re-parsed (`"$@"`). One difference from a bare `--exec`: a
 * program that is not found is `sh`'s exit 127, not wsl.exe's 1.
 */
export const reportGroup: (argv: ReadonlyArray<string>, token: string) => Array<string> = LinuxProcess.wrapArgv

/** The token and the original `argv` of a {@link reportGroup} command line, else `undefined`. */
export const unwrapReportGroup: (
  argv: ReadonlyArray<string>
) => { readonly token: string; readonly argv: ReadonlyArray<string> } | undefined = LinuxProcess.unwrapArgv

/**
 * A POSIX `sh` script that stops Linux process group `pgid` from inside the distro: SIGTERM (and
 * SIGCONT), a check every 100 ms for `graceMillis`, then SIGKILL and up to a second for the group to
 * be gone. Its exit code is one of
 * {@link stopExit}. Run it with one wsl.exe call: `--exec sh -c <script> sh`.
 */
export const stopGroupScript: (pgid: number, graceMillis: number, pollMillis?: number) => string =
  LinuxProcess.stopScript

/**
 * Exit codes of {@link stopGroupScript}: the group was already gone, left after SIGTERM, was
 * killed, or still had a member a second after SIGKILL.
 */
export const stopExit: { readonly gone: 0; readonly graceful: 10; readonly forced: 11; readonly survived: 12 } =
  LinuxProcess.stopExit
