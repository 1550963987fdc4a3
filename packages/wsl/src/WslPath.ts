/**
 * Windows ⇄ Linux path conversion with the semantics of `wslpath` (`wsl.md` §1.1), for inputs
 * that need no filesystem lookup. Symlinks and `realpath` need the distro's real filesystem:
 * use `Wsl.wslpath`, which runs the real `wslpath` inside the distro.
 *
 * - {@link toLinux} is `wslpath -u` (`-a` with `{ absolute: true }`).
 * - {@link toWindows} is `wslpath -w`, or `wslpath -m` with `{ mixed: true }`.
 * - {@link parseUnc} reads `\\wsl.localhost\<distro>\…` and `\\wsl$\<distro>\…`.
 *
 * Both conversions return a `Result` and never throw.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as DistroName from "./DistroName.ts"
import * as Core from "./internal/pathCore.ts"

export type { Context, Mount, ToLinuxOptions, ToWindowsOptions } from "./internal/pathCore.ts"
export {
  /** Escapes NTFS-illegal characters of a Linux name to U+F000+byte, as `wslpath -w` does. */
  escapeName,
  /** Whether a Windows path is absolute for wslpath: at least 3 characters, `X:` or two separators first. */
  isAbsoluteWindows,
  /** Reverses `escapeName`. */
  unescapeName
} from "./internal/pathCore.ts"

/** Why a conversion failed. */
export const WslPathErrorReason = Schema.Literals([
  "Empty",
  "ClimbsAboveRoot",
  "NotMounted",
  "OtherDistro",
  "ExtendedUnc",
  "NoDistroName",
  "InvalidDistroName",
  "NeedsCwd",
  "InvalidCwd",
  "EmptyResult"
])

/** Raised by {@link toLinux} and {@link toWindows}; names the input and why it cannot be converted. */
export class WslPathError extends Schema.TaggedError<WslPathError>()("WslPathError", {
  input: Schema.String,
  direction: Schema.Literals(["toLinux", "toWindows"]),
  reason: WslPathErrorReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `wslpath ${this.direction === "toLinux" ? "-u" : "-w"} "${this.input}": ${this.detail}`
  }
}

/** A WSL UNC path, as returned by {@link parseUnc}. */
export interface UncPath {
  /** The distribution named in the path (as written; compare with `DistroName.equals`). */
  readonly distro: DistroName.DistroName
  /** The Linux path inside that distribution, always absolute. */
  readonly linuxPath: string
  /** Which prefix the path used. */
  readonly prefix: "wsl.localhost" | "wsl$"
}

const wrap = (outcome: Core.PathOutcome): Result.Result<string, WslPathError> =>
  typeof outcome === "string" ? Result.succeed(outcome) : Result.fail(new WslPathError(outcome))

/**
 * Converts a Windows path to a Linux path like `wslpath -u` (`-a` with `{ absolute: true }`):
 * separators normalized, `\\?\` stripped, `.`/`..` folded, the longest mount source matched
 * (case-insensitively, on whole components), else `\\wsl.localhost\<distro>` / `\\wsl$\<distro>`
 * of this distro. Relative input stays relative unless `absolute` (then `context.cwd` is used).
 *
 * @example
 * ```ts
 * toLinux("C:\\Program Files\\Git", { distro: "Ubuntu" }) // Success("/mnt/c/Program Files/Git")
 * toLinux("\\\\wsl$\\Ubuntu\\proc\\stat", { distro: "Ubuntu" }) // Success("/proc/stat")
 * toLinux("\\\\server\\share\\x", { distro: "Ubuntu" }) // Failure(WslPathError NotMounted)
 * ```
 */
export const toLinux = (
  windowsPath: string,
  context: Core.Context,
  options?: Core.ToLinuxOptions
): Result.Result<string, WslPathError> => wrap(Core.toLinux(windowsPath, context, options))

/**
 * Converts a Linux path to a Windows path like `wslpath -w` (`-m` with `{ mixed: true }`), for
 * paths that need no filesystem lookup: the longest mount point is replaced by its Windows
 * source; anything else becomes `\\wsl.localhost\<distro>\…`. NTFS-illegal characters are
 * escaped to U+F000+byte; a trailing `/` is kept. Relative input is returned as given (as
 * `wslpath -w` does for a path that does not exist) unless `absolute`.
 *
 * @example
 * ```ts
 * toWindows("/mnt/c/Users", { distro: "Ubuntu" }) // Success("C:\\Users")
 * toWindows("/home/u", { distro: "Ubuntu" }, { mixed: true }) // Success("//wsl.localhost/Ubuntu/home/u")
 * ```
 */
export const toWindows = (
  linuxPath: string,
  context: Core.Context,
  options?: Core.ToWindowsOptions
): Result.Result<string, WslPathError> => wrap(Core.toWindows(linuxPath, context, options))

/**
 * Reads a WSL UNC path (`\\wsl.localhost\<distro>\…` or `\\wsl$\<distro>\…`, either separator,
 * any case) into the distro and the Linux path. Other paths, invalid distro names and paths
 * whose `..` climbs above the distro root give `None`.
 */
export const parseUnc = (path: string): Option.Option<UncPath> => {
  const parts = Core.parseUnc(path)
  return parts === undefined ? Option.none() : Option.some(parts as UncPath)
}

/** `\\wsl.localhost\<distro>` + `linuxPath` (escaped), the form `wslpath -w` prints. */
export const toUnc = (distro: DistroName.DistroName, linuxPath: string): string => Core.toUnc(distro, linuxPath)
