/**
 * `@isthmus/wsl/promise`: the `Wsl` service for hosts that do not use Effect. `createWsl()`
 * returns the same service run by a `ManagedRuntime`; every method returns a Promise that rejects
 * with the same typed errors (`error._tag`: `"WslUnavailableError"`, `"WslExeError"`,
 * `"WslTimeoutError"`, `"InvalidDistroNameError"`, …, and `"WslClosedError"` after `close()`).
 * Answers are plain data: an optional value is `undefined` instead of an `Option`. Node only.
 *
 * @example
 * ```ts
 * import { createWsl } from "@isthmus/wsl/promise"
 *
 * const wsl = createWsl()
 * if (await wsl.isAvailable()) {
 *   console.log(await wsl.status())
 *   const { stdout } = await wsl.exec("Ubuntu", ["uname", "-r"])
 * }
 * await wsl.close()
 * ```
 *
 * @module
 */
import { Effect, ManagedRuntime, Option, Schema } from "effect"
import type * as DistroList from "./DistroList.ts"
import type * as Networking from "./Networking.ts"
import type * as Preflight from "./node/Preflight.ts"
import * as Wsl from "./node/Wsl.ts"
import type * as WslHost from "./node/WslHost.ts"

export type { ExecOptions, ExecResult, ScriptOptions, WslPathMode, WslPathOptions, WslTimeouts } from "./node/Wsl.ts"
export * from "./WslError.ts"

/**
 * A call on a client after `close()`.
 *
 * @since 0.1.0
 * @category errors
 */
export class WslClosedError extends Schema.TaggedError<WslClosedError>()("WslClosedError", {
  message: Schema.String
}) {}

/**
 * `T` with every `Option<A>` in it (deeply) replaced by `A | undefined`: what the facade returns.
 *
 * @since 0.1.0
 * @category models
 */
export type Plain<T> = T extends string | number | boolean | bigint | symbol | null | undefined ? T // branded too
  : T extends Option.Option<infer A> ? Plain<A> | undefined
  : T extends Uint8Array ? T
  : T extends ReadonlyArray<infer E> ? ReadonlyArray<Plain<E>>
  : T extends object ? { readonly [K in keyof T]: Plain<T[K]> }
  : T

const plain = <T>(value: T): Plain<T> => {
  const go = (v: unknown): unknown => {
    if (Option.isOption(v)) return Option.isSome(v) ? go(v.value) : undefined
    if (Array.isArray(v)) return v.map(go)
    if (typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, go(x)]))
    }
    return v
  }
  return go(value) as Plain<T>
}

/**
 * Options of {@link createWsl}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateWslOptions {
  /**
   * How to run `wsl.exe`: the executable (default `%WINDIR%\System32\wsl.exe` on Windows; none
   * elsewhere, so WSL is reported unavailable), its environment, `.wslconfig`'s path.
   */
  readonly host?: WslHost.WslHostOptions | undefined
  /** Overrides of the default timeouts (`Wsl.defaultTimeouts`). */
  readonly timeouts?: Partial<Wsl.WslTimeouts> | undefined
}

/**
 * WSL from the Windows side, with Promises. See `Wsl.WslShape` in `@isthmus/wsl/node` for what
 * each call runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface WslClient {
  /** Whether `wsl.exe` exists here. Never rejects. */
  isAvailable(): Promise<boolean>
  /** Every distribution with state, version and default marker; `[]` when none. */
  listDistros(): Promise<ReadonlyArray<Plain<DistroList.DistroInfo>>>
  /** The default distribution, or `undefined`. */
  defaultDistro(): Promise<string | undefined>
  /** `wsl.exe --status`, parsed. */
  status(): Promise<Plain<DistroList.Status>>
  /** `wsl.exe --version`, parsed; `undefined` for an inbox `wsl.exe`, which does not know it. */
  version(): Promise<DistroList.Version | undefined>
  /** Runs `argv` in `distro` with `--exec`: no shell, one argument per value; env through `WSLENV`. */
  exec(distro: string, argv: ReadonlyArray<string>, options?: Wsl.ExecOptions): Promise<Wsl.ExecResult>
  /** Sends `script` on stdin to a login shell in `distro`. */
  runScript(distro: string, script: string, options?: Wsl.ScriptOptions): Promise<Wsl.ExecResult>
  /** The distro's real `wslpath` (symlinks, realpath), cached. */
  wslpath(distro: string, path: string, mode: Wsl.WslPathMode, options?: Wsl.WslPathOptions): Promise<string>
  /** The distro's address past docker and bridge interfaces, or `undefined`. */
  distroIp(distro: string): Promise<Plain<Networking.DistroAddress> | undefined>
  /** The networking mode in use and which source decided it. */
  networkingMode(distro: string): Promise<Plain<Networking.NetworkingModeReport>>
  /** Where Windows reaches a server that binds `bind` inside `distro`, and why. */
  reachableHost(distro: string, bind?: string): Promise<Plain<Networking.ReachableHost>>
  /** The default user's home directory in `distro`. */
  userHome(distro: string): Promise<string>
  /** Starts `distro` so the next call does not pay the cold start. */
  preWarm(distro: string): Promise<void>
  /** `wsl.exe --terminate <distro>`. */
  terminate(distro: string): Promise<void>
  /** `wsl.exe --shutdown`. */
  shutdown(): Promise<void>
  /** Can `distro` run a Node backend? A report with a message a user can act on. */
  preflight(distro: string, requirements: Preflight.PreflightRequirements): Promise<Plain<Preflight.PreflightReport>>
  /** Stops what is still running and releases the client. Idempotent. */
  close(): Promise<void>
}

/**
 * A client over `wsl.exe` (or the executable in `options.host`). Nothing starts until the first call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createWsl = (options: CreateWslOptions = {}): WslClient => {
  const runtime = ManagedRuntime.make(Wsl.layer({ host: options.host, timeouts: options.timeouts }))
  let closing: Promise<void> | undefined
  const run = <A, E>(f: (wsl: Wsl.WslShape) => Effect.Effect<A, E>): Promise<Plain<A>> =>
    closing === undefined
      ? runtime.runPromise(Wsl.Wsl.use(f).pipe(Effect.map(plain)))
      : Promise.reject(
        new WslClosedError({ message: "close() was called on this WSL client; create a new one with createWsl()" })
      )
  return {
    isAvailable: () => run((wsl) => wsl.isAvailable),
    listDistros: () => run((wsl) => wsl.listDistros),
    defaultDistro: () => run((wsl) => wsl.defaultDistro),
    status: () => run((wsl) => wsl.status),
    version: () => run((wsl) => wsl.version),
    exec: (distro, argv, execOptions) => run((wsl) => wsl.exec(distro, argv, execOptions)),
    runScript: (distro, script, scriptOptions) => run((wsl) => wsl.runScript(distro, script, scriptOptions)),
    wslpath: (distro, path, mode, pathOptions) => run((wsl) => wsl.wslpath(distro, path, mode, pathOptions)),
    distroIp: (distro) => run((wsl) => wsl.distroIp(distro)),
    networkingMode: (distro) => run((wsl) => wsl.networkingMode(distro)),
    reachableHost: (distro, bind) => run((wsl) => wsl.reachableHost(distro, bind)),
    userHome: (distro) => run((wsl) => wsl.userHome(distro)),
    preWarm: (distro) => run((wsl) => wsl.preWarm(distro)),
    terminate: (distro) => run((wsl) => wsl.terminate(distro)),
    shutdown: () => run((wsl) => wsl.shutdown),
    preflight: (distro, requirements) => run((wsl) => wsl.preflight(distro, requirements)),
    close: () => (closing ??= runtime.dispose())
  }
}
