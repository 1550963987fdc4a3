/**
 * Day-one checks before a local spawn: the working directory exists, the command exists and is
 * executable (through `PATH` the way `execvp` searches it). A failure here is final (the spec is
 * wrong, retrying cannot help) and its message names the path and the fix. The checks are async
 * file-system calls; nothing is spawned when one fails.
 *
 * @module
 */
import { Context, Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** Why a command cannot be run. */
export interface CommandProblem {
  readonly code: "ENOENT" | "EACCES" | "ENOTDIR" | "EISDIR" | "EINVAL"
  readonly message: string
}

const stat = (path: string) =>
  Effect.promise(() => NodeFs.promises.stat(path).then((s) => s, (e: NodeJS.ErrnoException) => e))

const executable = (path: string) =>
  Effect.promise(() => NodeFs.promises.access(path, NodeFs.constants.X_OK).then(() => true, () => false))

/** What the check needs to know about the platform (injectable for the Windows model). */
export interface CheckContext {
  readonly platform: NodeJS.Platform
  /** The `PATH` the child will see. */
  readonly path: string | undefined
  /** Windows: `PATHEXT` (default `.COM;.EXE;.BAT;.CMD`). */
  readonly pathExt?: string | undefined
}

/**
 * Checks that `command` can be started in `cwd` (default: this process's). Returns the problem, or
 * `undefined` when the spawn may go ahead.
 */
export const check = (
  id: string,
  command: string,
  cwd: string | undefined,
  context: CheckContext
): Effect.Effect<CommandProblem | undefined> =>
  Effect.gen(function*() {
    const path = context.platform === "win32" ? NodePath.win32 : NodePath.posix
    if (cwd !== undefined) {
      const s = yield* stat(cwd)
      if (s instanceof Error) {
        return {
          code: "ENOENT",
          message: `the working directory ${
            JSON.stringify(cwd)
          } of ${id} does not exist: create it, or fix the spec's cwd`
        } as const
      }
      if (!s.isDirectory()) {
        return {
          code: "ENOTDIR",
          message: `the working directory ${JSON.stringify(cwd)} of ${id} is not a directory: fix the spec's cwd`
        } as const
      }
    }
    const base = cwd ?? process.cwd()
    const windows = context.platform === "win32"
    const exts = windows
      ? (context.pathExt ?? ".COM;.EXE;.BAT;.CMD").split(";").filter((e) => e.length > 0)
      : []
    const hasSeparator = windows ? /[\\/]/.test(command) : command.includes("/")
    const candidatesFor = (file: string) =>
      windows && path.extname(file) === "" ? [file, ...exts.map((e) => file + e.toLowerCase())] : [file]
    const shim = (file: string) => windows && /\.(cmd|bat)$/i.test(file)
    const shimProblem = (file: string): CommandProblem => ({
      code: "EINVAL",
      message: `${JSON.stringify(file)} (the command of ${id}) is a .cmd/.bat script, which Windows cannot start ` +
        `without a shell: run the real executable (e.g. node.exe with the script's path)`
    })

    if (hasSeparator) {
      const file = path.resolve(base, command)
      let denied: string | undefined
      for (const candidate of candidatesFor(file)) {
        const s = yield* stat(candidate)
        if (s instanceof Error) continue
        if (s.isDirectory()) {
          return {
            code: "EISDIR",
            message: `${JSON.stringify(candidate)} (the command of ${id}) is a directory: give the executable's path`
          } as const
        }
        if (shim(candidate)) return shimProblem(candidate)
        if (windows || (yield* executable(candidate))) return undefined
        denied = candidate
      }
      if (denied !== undefined) {
        return {
          code: "EACCES",
          message: `${JSON.stringify(denied)} (the command of ${id}) is not executable by this user: ` +
            `make it executable (chmod +x ${denied}) or run it through its interpreter`
        } as const
      }
      return {
        code: "ENOENT",
        message: `${JSON.stringify(file)} (the command of ${id}) does not exist: fix the spec's command` +
          (cwd !== undefined && !path.isAbsolute(command) ? ` (it is relative to the cwd ${JSON.stringify(cwd)})` : "")
      } as const
    }

    const dirs = (context.path ?? "").split(windows ? ";" : ":").map((d) => (d === "" ? "." : d))
    let denied: string | undefined
    for (const dir of dirs) {
      for (const candidate of candidatesFor(path.resolve(base, dir, command))) {
        const s = yield* stat(candidate)
        if (s instanceof Error || s.isDirectory()) continue
        if (shim(candidate)) return shimProblem(candidate)
        if (windows || (yield* executable(candidate))) return undefined
        denied ??= candidate
      }
    }
    if (denied !== undefined) {
      return {
        code: "EACCES",
        message: `${JSON.stringify(denied)} (found on PATH for the command ${JSON.stringify(command)} of ${id}) ` +
          `is not executable by this user: make it executable (chmod +x ${denied}) or give another path`
      } as const
    }
    return {
      code: "ENOENT",
      message: `the command ${JSON.stringify(command)} of ${id} was not found on PATH (${
        context.path === undefined || context.path === "" ? "PATH is empty" : context.path
      }): install it, or give its absolute path`
    } as const
  })

/** The check launchers run before a spawn (replaced by the Windows model in tests). */
export interface CheckerShape {
  /** Checks a launch's command and cwd before anything is spawned; see {@link check}. */
  readonly check: typeof check
}

/** The command check in use: {@link check} on this machine's file system by default. */
export const Checker = Context.Reference<CheckerShape>("@isthmus/backend-pool/CommandCheck", {
  defaultValue: () => ({ check })
})
